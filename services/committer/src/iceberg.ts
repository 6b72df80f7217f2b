// Every writer of versions (this committer, compaction, backfill) writes the version as an Iceberg
// snapshot before its commit point, on top of the parent version's snapshot. This keeps the parent's
// manifests at hand (the committer's own last commit) or reads them from the parent's manifest list.
import type { LakeLog, VersionCommitted } from "@lake/contracts";
import {
  type DataFileInfo,
  decodeManifestList,
  emptyStats,
  encodeManifest,
  ENTRY_STATUS,
  fileStats,
  icebergKeys,
  ManifestCache,
  type ManifestEntry,
  type ManifestFile,
  partitionValue,
  prepareVersion,
  type SnapshotIO,
  storeIO,
  type VersionLike,
} from "@lake/iceberg";
import type { ObjectStore } from "@lake/storage";

import type { DatasetSpec } from "./domain/spec.ts";

export interface IcebergWrite {
  ref: LakeLog.IcebergSnapshotRef;
  /** prepare(): the objects still to write before the commit record may name them. */
  puts: { key: string; bytes: Uint8Array }[];
  manifests: ManifestFile[];
  /** Removed files the parent snapshot did not list (a parent written by hand, or before Iceberg). */
  missing: string[];
}

export class IcebergVersions {
  private readonly io: SnapshotIO;
  private readonly cache: ManifestCache;
  /** The manifests of the last version this process committed (the usual parent of the next). */
  private last: { dataset: string; version: number; writeId: string; manifests: ManifestFile[] } | undefined;

  constructor(store: ObjectStore) {
    this.io = storeIO(store);
    this.cache = new ManifestCache(this.io);
  }

  /** A file the version adds, as its manifest entry will list it (metrics from the rows it was written from). */
  dataFile(
    spec: Pick<DatasetSpec, "columns" | "iceberg">,
    f: LakeLog.DataFile,
    rows: readonly Record<string, unknown>[],
    offsets: readonly number[],
  ): DataFileInfo {
    return {
      path: this.io.uri(f.key),
      partition: partitionValue(spec.iceberg.table.layout, f.partition),
      recordCount: f.rows,
      sizeBytes: f.bytes,
      stats: fileStats(spec.columns, spec.iceberg.fieldIds, rows, offsets),
    };
  }

  /** prepare(), then its writes: what compaction and backfill call. */
  async write(...args: Parameters<IcebergVersions["prepare"]>): Promise<IcebergWrite> {
    const w = await this.prepare(...args);
    await Promise.all(w.puts.map((p) => this.io.put(p.key, p.bytes)));
    return { ...w, puts: [] };
  }

  /**
   * Prepares `record`'s version of the dataset as a snapshot on top of `head` (its parent's commit
   * record): the manifests, manifest list and table metadata, encoded; the caller writes `puts` (with
   * its own objects, at once) before its commit point. `liveFiles` gives the parent's whole file set,
   * asked only when the parent has no snapshot (a version written before the lake wrote Iceberg
   * metadata): those files then enter as EXISTING.
   */
  async prepare(
    spec: Pick<DatasetSpec, "iceberg">,
    head: VersionCommitted | undefined,
    record: VersionLike,
    added: readonly DataFileInfo[],
    removed: readonly LakeLog.DataFile[],
    liveFiles: () => Promise<readonly LakeLog.DataFile[]>,
  ): Promise<IcebergWrite> {
    const table = spec.iceberg.table;
    const parent = await this.parentOf(spec, head, record.write_id, liveFiles);
    const w = await prepareVersion(
      this.io,
      this.cache,
      table,
      parent,
      {
        version: record.version,
        writeId: record.write_id,
        added,
        removed: removed.map((f) => ({ path: this.io.uri(f.key), partition: partitionValue(table.layout, f.partition) })),
      },
      record,
      head?.total_rows ?? 0,
    );
    return {
      ref: { manifest_list: w.manifestListKey, metadata: w.metadataKey, schema_id: w.schemaId, total_files: w.totalFiles },
      manifests: w.manifests,
      missing: w.missing,
      puts: w.puts,
    };
  }

  /** After the commit record stands: the version's manifests are the parent of the next one. */
  committed(dataset: string, version: number, writeId: string, manifests: ManifestFile[]): void {
    this.last = { dataset, version, writeId, manifests };
  }

  private async parentOf(
    spec: Pick<DatasetSpec, "iceberg">,
    head: VersionCommitted | undefined,
    writeId: string,
    liveFiles: () => Promise<readonly LakeLog.DataFile[]>,
  ): Promise<readonly ManifestFile[]> {
    if (!head) return [];
    const l = this.last;
    if (l && l.dataset === head.dataset && l.version === head.version && l.writeId === head.write_id) return l.manifests;
    if (head.iceberg) return decodeManifestList(await this.io.get(head.iceberg.manifest_list));
    // The parent predates Iceberg metadata: its whole file set enters as one manifest of EXISTING
    // entries (added by the parent's snapshot id, which no metadata lists: readers don't need it).
    const files = await liveFiles();
    const table = spec.iceberg.table;
    const entries: ManifestEntry[] = files.map((f) => ({
      status: ENTRY_STATUS.existing,
      snapshotId: head.version,
      sequenceNumber: head.version,
      fileSequenceNumber: head.version,
      file: { path: this.io.uri(f.key), partition: partitionValue(table.layout, f.partition), recordCount: f.rows, sizeBytes: f.bytes, stats: emptyStats() },
    }));
    if (entries.length === 0) return [];
    const key = icebergKeys.manifest(head.dataset, head.version + 1, writeId, 999);
    const schema = table.schemas.find((s) => s["schema-id"] === table.currentSchemaId)!;
    const bytes = await encodeManifest(entries, { schema, spec: table.spec, layout: table.layout, name: key });
    await this.io.put(key, bytes);
    this.cache.remember(this.io.uri(key), entries);
    return [
      {
        path: this.io.uri(key),
        length: bytes.byteLength,
        specId: table.spec["spec-id"],
        sequenceNumber: head.version,
        minSequenceNumber: head.version,
        addedSnapshotId: head.version,
        addedFilesCount: 0,
        existingFilesCount: entries.length,
        deletedFilesCount: 0,
        addedRowsCount: 0,
        existingRowsCount: entries.reduce((t, e) => t + e.file.recordCount, 0),
        deletedRowsCount: 0,
        // Unknown bounds: a reader can't skip this manifest by partition, which is correct, if slower.
        partitions: table.spec.fields.map(() => ({ containsNull: true, lower: null, upper: null })),
      },
    ];
  }
}
