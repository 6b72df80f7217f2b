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

export interface VersionFacts {
  /** The lake's operation (append, compaction, backfill, ...). */
  operation: string;
  committedAt: number;
  addedBytes: number;
  removedBytes: number;
  removedRecords: number;
  /** lake.* keys of the snapshot summary (write id, source range, ...). */
  lake: Record<string, string | number | null>;
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

/** The snapshot of one version (what table metadata lists for it), from its manifest list and facts. */
export function versionSnapshot(
  version: number,
  manifestListUri: string,
  schemaId: number,
  facts: VersionFacts,
  totals: { files: number; records: number; addedFiles: number; removedFiles: number; addedRecords: number },
): SnapshotInfo {
  return {
    version,
    timestampMs: facts.committedAt,
    manifestList: manifestListUri,
    schemaId,
    summary: snapshotSummary({
      operation: facts.operation,
      addedFiles: totals.addedFiles,
      removedFiles: totals.removedFiles,
      addedRecords: totals.addedRecords,
      removedRecords: facts.removedRecords,
      totalRecords: totals.records,
      totalFiles: totals.files,
      addedBytes: facts.addedBytes,
      removedBytes: facts.removedBytes,
      lake: facts.lake,
    }),
  };
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
  facts: VersionFacts,
  opts: SnapshotOptions = {},
): Promise<WrittenVersion> {
  const schema = currentSchema(table);
  const written = await new SnapshotWriter(io, cache, opts).write({ dataset: table.dataset, schema, spec: table.spec, layout: table.layout }, parent, change);
  let files = 0;
  let records = 0;
  for (const m of written.manifests) {
    files += m.addedFilesCount + m.existingFilesCount;
    records += m.addedRowsCount + m.existingRowsCount;
  }
  const snapshot = versionSnapshot(change.version, io.uri(written.manifestListKey), schema["schema-id"], facts, {
    files,
    records,
    addedFiles: change.added.length,
    removedFiles: change.removed.length - written.missing.length,
    addedRecords: change.added.reduce((t, f) => t + f.recordCount, 0),
  });
  const metadata = tableMetadata({
    dataset: table.dataset,
    location: tableLocation(io, table.dataset),
    schemas: table.schemas,
    currentSchemaId: table.currentSchemaId,
    spec: table.spec,
    snapshots: [snapshot],
    refs: { main: change.version, latest: change.version },
    lastUpdatedMs: facts.committedAt,
    properties: table.properties,
  });
  const metadataKey = icebergKeys.metadata(table.dataset, change.version, change.writeId);
  await io.put(metadataKey, new TextEncoder().encode(JSON.stringify(metadata)));
  return {
    manifestListKey: written.manifestListKey,
    metadataKey,
    schemaId: schema["schema-id"],
    totalFiles: files,
    totalRecords: records,
    manifests: written.manifests,
    missing: written.missing,
    metadata,
  };
}
