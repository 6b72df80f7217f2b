// A lake version written as an Iceberg snapshot plus the table metadata of that version: what every
// writer of versions (the committer, compaction, backfill) calls before its commit point.
import type { ManifestFile } from "./avro.ts";
import { type SnapshotInfo, snapshotSummary, type TableMetadata, tableMetadata } from "./metadata.ts";
import type { IcebergSchema, PartitionLayout, PartitionSpec } from "./schema.ts";
import { icebergKeys, type ManifestCache, type SnapshotChange, type SnapshotIO, type SnapshotOptions, SnapshotWriter } from "./snapshot.ts";

/** A dataset as an Iceberg table. */
export interface LakeTable {
  dataset: string;
  /** Every schema of the table (one per contract version), oldest first. */
  schemas: readonly IcebergSchema[];
  currentSchemaId: number;
  spec: PartitionSpec;
  layout: PartitionLayout;
  properties: Record<string, string>;
}

/** A lake version as its commit record states it (the fields of VersionCommitted a snapshot summary needs). */
export interface VersionLike {
  version: number;
  parent_version: number;
  write_id: string;
  committer_id: string;
  committed_at: number;
  operation: string | null;
  policy: string;
  schema_name: string;
  schema_version: number;
  schema_fingerprint: string;
  source: { stream: string; subject: string; first_seq: number; last_seq: number };
  row_count: number;
  total_rows: number;
  min_event_time: number | null;
  max_event_time: number | null;
  max_source_position: number | null;
  added_files: readonly { rows: number; bytes: number }[];
  removed_files: readonly string[];
}

/**
 * The snapshot of a lake version, from its commit record alone (so the writer's table metadata and the
 * catalog's agree): standard summary keys, then every fact of the record as lake.* keys, from which
 * the record can be rebuilt. `parentTotalRows` gives the rows the version removed.
 */
export function lakeSnapshot(v: VersionLike, parentTotalRows: number, totalFiles: number, manifestListUri: string, schemaId: number): SnapshotInfo {
  const addedRecords = v.added_files.reduce((t, f) => t + f.rows, 0);
  return {
    version: v.version,
    timestampMs: v.committed_at,
    manifestList: manifestListUri,
    schemaId,
    summary: snapshotSummary({
      operation: v.operation ?? "append",
      addedFiles: v.added_files.length,
      removedFiles: v.removed_files.length,
      addedRecords,
      removedRecords: Math.max(0, parentTotalRows + addedRecords - v.total_rows),
      totalRecords: v.total_rows,
      totalFiles,
      addedBytes: v.added_files.reduce((t, f) => t + f.bytes, 0),
      lake: {
        version: v.version,
        "parent-version": v.parent_version,
        "write-id": v.write_id,
        "committer-id": v.committer_id,
        operation: v.operation,
        policy: v.policy,
        "schema-name": v.schema_name,
        "schema-version": v.schema_version,
        "schema-fingerprint": v.schema_fingerprint,
        "source-stream": v.source.stream,
        "source-subject": v.source.subject,
        "source-first-seq": v.source.first_seq,
        "source-last-seq": v.source.last_seq,
        "row-count": v.row_count,
        "total-rows": v.total_rows,
        "min-event-time": v.min_event_time,
        "max-event-time": v.max_event_time,
        "max-source-position": v.max_source_position,
      },
    }),
  };
}

export interface PreparedVersion extends WrittenVersion {
  /** The objects to write before the version's commit record may name them. */
  puts: { key: string; bytes: Uint8Array }[];
}

export interface WrittenVersion {
  manifestListKey: string;
  metadataKey: string;
  schemaId: number;
  totalFiles: number;
  totalRecords: number;
  manifests: ManifestFile[];
  /** Removed files the parent snapshot did not list. */
  missing: string[];
  metadata: TableMetadata;
}

export const tableLocation = (io: Pick<SnapshotIO, "uri">, dataset: string) => io.uri(`datasets/${dataset}`);

export function currentSchema(table: LakeTable): IcebergSchema {
  const s = table.schemas.find((x) => x["schema-id"] === table.currentSchemaId);
  if (!s) throw new Error(`table ${table.dataset} has no schema ${table.currentSchemaId}`);
  return s;
}

/**
 * Writes version `change.version` of `table` on top of the parent snapshot's manifests: manifests,
 * manifest list, and the table metadata of this version (its one snapshot, `main` and `latest` on it).
 * Returns the keys the commit record names; until that record stands they are unreferenced.
 */
export async function writeVersion(
  io: SnapshotIO,
  cache: ManifestCache,
  table: LakeTable,
  parent: readonly ManifestFile[],
  change: SnapshotChange,
  /** The version's commit record, as it will be appended (its Iceberg reference aside). */
  record: VersionLike,
  parentTotalRows: number,
  opts: SnapshotOptions = {},
): Promise<WrittenVersion> {
  const prepared = await prepareVersion(io, cache, table, parent, change, record, parentTotalRows, opts);
  await Promise.all(prepared.puts.map((p) => io.put(p.key, p.bytes)));
  return prepared;
}

/** writeVersion without the writes: `puts` are the objects to write (independent of each other and of the caller's own). */
export async function prepareVersion(
  io: SnapshotIO,
  cache: ManifestCache,
  table: LakeTable,
  parent: readonly ManifestFile[],
  change: SnapshotChange,
  record: VersionLike,
  parentTotalRows: number,
  opts: SnapshotOptions = {},
): Promise<PreparedVersion> {
  const schema = currentSchema(table);
  const planned = await new SnapshotWriter(io, cache, opts).plan({ dataset: table.dataset, schema, spec: table.spec, layout: table.layout }, parent, change);
  let files = 0;
  let records = 0;
  for (const m of planned.manifests) {
    files += m.addedFilesCount + m.existingFilesCount;
    records += m.addedRowsCount + m.existingRowsCount;
  }
  const snapshot = lakeSnapshot(record, parentTotalRows, files, io.uri(planned.manifestListKey), schema["schema-id"]);
  const metadata = tableMetadata({
    dataset: table.dataset,
    location: tableLocation(io, table.dataset),
    schemas: table.schemas,
    currentSchemaId: table.currentSchemaId,
    spec: table.spec,
    snapshots: [snapshot],
    refs: { main: change.version, latest: change.version },
    lastUpdatedMs: record.committed_at,
    properties: table.properties,
  });
  const metadataKey = icebergKeys.metadata(table.dataset, change.version, change.writeId);
  return {
    manifestListKey: planned.manifestListKey,
    metadataKey,
    schemaId: schema["schema-id"],
    totalFiles: files,
    totalRecords: records,
    manifests: planned.manifests,
    missing: planned.missing,
    metadata,
    puts: [...planned.puts, { key: metadataKey, bytes: new TextEncoder().encode(JSON.stringify(metadata)) }],
  };
}
