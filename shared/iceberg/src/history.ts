// A dataset's history as commit records with real Iceberg snapshots, for tests and benchmarks that append
// (imported as @lake/iceberg/history, outside the package's main surface)
// records straight onto the commit log: each version's manifests and manifest list are written to the
// store by @lake/iceberg's writeVersion (what the committer, compaction and backfill call), on top of the
// previous version's, so a version's reference names exactly the file set its records imply.
import { randomBytes } from "node:crypto";

import type { LakeLog, VersionCommitted } from "@lake/contracts";
import type { ObjectStore } from "@lake/storage";

import type { ManifestFile } from "./avro.ts";
import { icebergSchema, type PartitionLayout, partitionSpec, partitionValue } from "./schema.ts";
import { ManifestCache, type SnapshotIO, storeIO } from "./snapshot.ts";
import { emptyStats } from "./stats.ts";
import { type LakeTable, writeVersion } from "./table.ts";

export interface HistoryChange {
  added: readonly LakeLog.DataFile[];
  /** Keys of live files the version removes. */
  removed?: readonly string[];
  /** null or "append", "upsert" (CDC), "compaction", "backfill". */
  operation?: string | null;
  /** Iceberg metadata written, but the record names none (a version from before the lake wrote Iceberg metadata). */
  withoutSnapshot?: boolean;
}

const T0 = Date.UTC(2026, 5, 1, 12);

export class IcebergHistory {
  readonly io: SnapshotIO;
  readonly table: LakeTable;
  private readonly cache: ManifestCache;
  private manifests: ManifestFile[] = [];
  private readonly live = new Map<string, LakeLog.DataFile>();
  private version = 0;
  private totalRows = 0;
  private offset = 0;

  constructor(
    store: ObjectStore,
    readonly dataset: string,
    layout: PartitionLayout = { kind: "day", source: "timestamp" },
  ) {
    this.io = storeIO(store);
    this.cache = new ManifestCache(this.io);
    const columns = [
      { name: "event_id", avroType: "string", timestampMillis: false, nullable: false },
      { name: "timestamp", avroType: "long", timestampMillis: true, nullable: false },
      { name: "amount", avroType: "double", timestampMillis: false, nullable: true },
    ];
    const ids = new Map(columns.map((c, i) => [c.name, i + 2]));
    const schema = icebergSchema(1, columns, ids);
    this.table = { dataset, schemas: [schema], currentSchemaId: 1, spec: partitionSpec(layout, ids), layout, properties: {} };
  }

  /** The files of the newest version, by key. */
  liveFiles(): LakeLog.DataFile[] {
    return [...this.live.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Writes the next version's Iceberg snapshot and returns its commit record (for the caller to append). */
  async next(change: HistoryChange): Promise<VersionCommitted> {
    const version = ++this.version;
    const writeId = `w${version}-${randomBytes(4).toString("hex")}`;
    const removed = (change.removed ?? []).map((key) => {
      const f = this.live.get(key);
      if (!f) throw new Error(`version ${version} removes ${key}, which no live version holds`);
      return f;
    });
    const rows = change.added.reduce((t, f) => t + f.rows, 0);
    const gone = removed.reduce((t, f) => t + f.rows, 0);
    const parentRows = this.totalRows;
    this.totalRows += rows - gone;
    const first = this.offset + 1;
    this.offset += Math.max(1, rows);
    const record: VersionCommitted = {
      dataset: this.dataset,
      version,
      parent_version: version - 1,
      write_id: writeId,
      committer_id: "history-fixture",
      committed_at: T0 + version * 60_000,
      schema_name: this.dataset,
      schema_version: 1,
      schema_fingerprint: "f".repeat(64),
      manifest: { key: `datasets/${this.dataset}/manifests/v${String(version).padStart(12, "0")}-${writeId}.json`, sha256: "0".repeat(64), bytes: 1 },
      added_files: [...change.added],
      removed_files: removed.map((f) => f.key),
      source: { stream: "EVENTS", subject: `lake.events.${this.dataset}`, first_seq: first, last_seq: this.offset },
      row_count: rows,
      total_rows: this.totalRows,
      min_event_time: T0,
      max_event_time: T0 + version,
      policy: "non-critical",
      max_source_position: null,
      operation: change.operation ?? null,
      iceberg: null,
      lineage: null,
    };
    const layout = this.table.layout;
    const w = await writeVersion(
      this.io,
      this.cache,
      this.table,
      this.manifests,
      {
        version,
        writeId,
        added: change.added.map((f) => ({
          path: this.io.uri(f.key),
          partition: partitionValue(layout, f.partition),
          recordCount: f.rows,
          sizeBytes: f.bytes,
          stats: emptyStats(),
        })),
        removed: removed.map((f) => ({ path: this.io.uri(f.key), partition: partitionValue(layout, f.partition) })),
      },
      record,
      parentRows,
    );
    this.manifests = w.manifests;
    for (const f of removed) this.live.delete(f.key);
    for (const f of change.added) this.live.set(f.key, f);
    if (!change.withoutSnapshot)
      record.iceberg = { manifest_list: w.manifestListKey, metadata: w.metadataKey, schema_id: w.schemaId, total_files: w.totalFiles };
    return record;
  }
}
