// Table metadata JSON (spec: "Table Metadata", Appendix C). Everything in it derives from the lake's
// versions: snapshot id = sequence number = version, the table UUID from the dataset's name, times
// from the commit records. The same versions always give the same bytes.
import { createHash } from "node:crypto";

import { type IcebergSchema, lastColumnId, PARTITION_FIELD_ID, type PartitionSpec } from "./schema.ts";

export interface SnapshotInfo {
  version: number;
  timestampMs: number;
  /** URI of the snapshot's manifest list. */
  manifestList: string;
  schemaId: number;
  summary: Record<string, string>;
}

export interface TableRefs {
  /** What engines read by default: the dataset's current (published) version. */
  main?: number;
  /** The newest version (a branch). */
  latest?: number;
  tags?: ReadonlyMap<string, number>;
}

export interface TableState {
  dataset: string;
  /** The table's base location (URI). */
  location: string;
  schemas: readonly IcebergSchema[];
  currentSchemaId: number;
  spec: PartitionSpec;
  /** Retained snapshots, oldest first. */
  snapshots: readonly SnapshotInfo[];
  refs: TableRefs;
  lastUpdatedMs: number;
  properties?: Record<string, string>;
}

/** A stable UUID (v4 layout, name-derived bits) for a dataset's table. */
export function tableUuid(dataset: string): string {
  const h = createHash("sha256").update(`lake-table:${dataset}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** A snapshot as table metadata lists it (Appendix C). */
export interface SnapshotJson {
  "snapshot-id": number;
  "parent-snapshot-id"?: number;
  "sequence-number": number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: Record<string, string>;
  "schema-id": number;
}

export function snapshotJson(s: SnapshotInfo): SnapshotJson {
  const out: SnapshotJson = {
    "snapshot-id": s.version,
    "sequence-number": s.version,
    "timestamp-ms": s.timestampMs,
    "manifest-list": s.manifestList,
    summary: s.summary,
    "schema-id": s.schemaId,
  };
  if (s.version > 1) out["parent-snapshot-id"] = s.version - 1;
  return out;
}

/** The table's metadata: schemas, spec, retained snapshots and refs (`main`, `latest`, tags). */
export function tableMetadata(t: TableState) {
  const snapshots = [...t.snapshots].sort((a, b) => a.version - b.version);
  const known = new Set(snapshots.map((s) => s.version));
  const refs: Record<string, { "snapshot-id": number; type: "branch" | "tag" }> = {};
  const main = t.refs.main !== undefined && known.has(t.refs.main) ? t.refs.main : undefined;
  if (main !== undefined) refs.main = { "snapshot-id": main, type: "branch" };
  if (t.refs.latest !== undefined && known.has(t.refs.latest)) refs.latest = { "snapshot-id": t.refs.latest, type: "branch" };
  for (const [name, v] of [...(t.refs.tags ?? new Map<string, number>())].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
    if (known.has(v) && name !== "main" && name !== "latest") refs[name] = { "snapshot-id": v, type: "tag" };
  const last = snapshots.at(-1)?.version ?? 0;
  return {
    "format-version": 2,
    "table-uuid": tableUuid(t.dataset),
    location: t.location,
    "last-sequence-number": last,
    "last-updated-ms": t.lastUpdatedMs,
    "last-column-id": lastColumnId(t.schemas),
    "current-schema-id": t.currentSchemaId,
    schemas: t.schemas,
    "default-spec-id": t.spec["spec-id"],
    "partition-specs": [t.spec],
    "last-partition-id": t.spec.fields.length ? PARTITION_FIELD_ID : PARTITION_FIELD_ID - 1,
    "default-sort-order-id": 0,
    "sort-orders": [{ "order-id": 0, fields: [] }],
    properties: { ...t.properties },
    "current-snapshot-id": main ?? -1,
    refs,
    snapshots: snapshots.map(snapshotJson),
    "snapshot-log":
      main !== undefined ? snapshots.filter((s) => s.version <= main).map((s) => ({ "timestamp-ms": s.timestampMs, "snapshot-id": s.version })) : [],
    "metadata-log": [],
  };
}

export type TableMetadata = ReturnType<typeof tableMetadata>;

/** What a lake version says about itself, as an Iceberg snapshot summary (standard keys, then lake.*). */
export interface VersionSummary {
  operation: string;
  addedFiles: number;
  removedFiles: number;
  addedRecords: number;
  removedRecords: number;
  totalRecords: number;
  totalFiles: number;
  addedBytes: number;
  lake: Record<string, string | number | null>;
}

/** Iceberg's operation for a lake version: append without removals, replace for compaction, overwrite otherwise. */
export function icebergOperation(lakeOperation: string, removedFiles: number): string {
  if (removedFiles === 0) return "append";
  return lakeOperation === "compaction" ? "replace" : "overwrite";
}

export function snapshotSummary(v: VersionSummary): Record<string, string> {
  const s: Record<string, string> = {
    operation: icebergOperation(v.operation, v.removedFiles),
    "added-data-files": String(v.addedFiles),
    "deleted-data-files": String(v.removedFiles),
    "added-records": String(v.addedRecords),
    "deleted-records": String(v.removedRecords),
    "added-files-size": String(v.addedBytes),
    "total-records": String(v.totalRecords),
    "total-data-files": String(v.totalFiles),
    "total-delete-files": "0",
    "total-position-deletes": "0",
    "total-equality-deletes": "0",
  };
  for (const [k, val] of Object.entries(v.lake)) if (val !== null) s[`lake.${k}`] = String(val);
  return s;
}

export const metadataJsonBytes = (m: TableMetadata) => new TextEncoder().encode(JSON.stringify(m));
