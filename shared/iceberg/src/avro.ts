// Manifests and manifest lists as Avro files (spec: "Manifests", "Manifest Lists"), written and read
// with avsc. Schemas carry Iceberg's field ids (`field-id`, `element-id`) as readers need them; maps
// with int keys are arrays of key/value records (`logicalType: map`), as Avro maps take string keys only.
// Sync markers derive from the file's name, so the same content always makes the same bytes.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { deflateRawSync } from "node:zlib";

import avro from "avsc";

import { type IcebergSchema, PARTITION_FIELD_ID, type PartitionLayout, type PartitionSpec, type PartitionValue } from "./schema.ts";
import { emptyStats, type FileStats } from "./stats.ts";

export const ENTRY_STATUS = { existing: 0, added: 1, deleted: 2 } as const;
export type EntryStatus = (typeof ENTRY_STATUS)[keyof typeof ENTRY_STATUS];

/** A data file as a manifest lists it. */
export interface DataFileInfo {
  /** Full URI (file:///…, s3://…). */
  path: string;
  partition: PartitionValue;
  recordCount: number;
  sizeBytes: number;
  stats: FileStats;
}

export interface ManifestEntry {
  status: EntryStatus;
  /** Where the file was added (or deleted, status 2); null: inherited from the manifest list (added entries). */
  snapshotId: number | null;
  /** Data sequence number; null: inherited (added entries). */
  sequenceNumber: number | null;
  fileSequenceNumber: number | null;
  file: DataFileInfo;
}

/** An entry of a manifest list: one manifest and what it holds. */
export interface ManifestFile {
  path: string;
  length: number;
  specId: number;
  sequenceNumber: number;
  minSequenceNumber: number;
  addedSnapshotId: number;
  addedFilesCount: number;
  existingFilesCount: number;
  deletedFilesCount: number;
  addedRowsCount: number;
  existingRowsCount: number;
  deletedRowsCount: number;
  /** One summary per partition field: bounds of the partition values of the manifest's live files. */
  partitions: { containsNull: boolean; lower: Uint8Array | null; upper: Uint8Array | null }[];
}

const intMap = (name: string, fieldId: number, keyId: number, valueId: number, valueType: string) => ({
  name,
  type: [
    "null",
    {
      type: "array",
      logicalType: "map",
      items: {
        type: "record",
        name: `k${keyId}_v${valueId}`,
        fields: [
          { name: "key", type: "int", "field-id": keyId },
          { name: "value", type: valueType, "field-id": valueId },
        ],
      },
    },
  ],
  default: null,
  "field-id": fieldId,
});

function partitionStruct(layout: PartitionLayout, spec: PartitionSpec) {
  const fields = spec.fields.map((f) => ({
    name: f.name,
    type: ["null", layout.kind === "day" ? { type: "int", logicalType: "date" } : "string"],
    default: null,
    "field-id": f["field-id"],
  }));
  return { type: "record", name: "r102", fields };
}

/** The manifest_entry schema (v2) for a partition spec. */
export function manifestEntrySchema(layout: PartitionLayout, spec: PartitionSpec) {
  return {
    type: "record",
    name: "manifest_entry",
    fields: [
      { name: "status", type: "int", "field-id": 0 },
      { name: "snapshot_id", type: ["null", "long"], default: null, "field-id": 1 },
      { name: "sequence_number", type: ["null", "long"], default: null, "field-id": 3 },
      { name: "file_sequence_number", type: ["null", "long"], default: null, "field-id": 4 },
      {
        name: "data_file",
        "field-id": 2,
        type: {
          type: "record",
          name: "r2",
          fields: [
            { name: "content", type: "int", "field-id": 134 },
            { name: "file_path", type: "string", "field-id": 100 },
            { name: "file_format", type: "string", "field-id": 101 },
            { name: "partition", type: partitionStruct(layout, spec), "field-id": 102 },
            { name: "record_count", type: "long", "field-id": 103 },
            { name: "file_size_in_bytes", type: "long", "field-id": 104 },
            intMap("column_sizes", 108, 117, 118, "long"),
            intMap("value_counts", 109, 119, 120, "long"),
            intMap("null_value_counts", 110, 121, 122, "long"),
            intMap("nan_value_counts", 137, 138, 139, "long"),
            intMap("lower_bounds", 125, 126, 127, "bytes"),
            intMap("upper_bounds", 128, 129, 130, "bytes"),
            { name: "key_metadata", type: ["null", "bytes"], default: null, "field-id": 131 },
            { name: "split_offsets", type: ["null", { type: "array", items: "long", "element-id": 133 }], default: null, "field-id": 132 },
            { name: "equality_ids", type: ["null", { type: "array", items: "int", "element-id": 136 }], default: null, "field-id": 135 },
            { name: "sort_order_id", type: ["null", "int"], default: null, "field-id": 140 },
          ],
        },
      },
    ],
  };
}

/** The manifest_file schema (v2) of manifest lists. */
export const MANIFEST_LIST_SCHEMA = {
  type: "record",
  name: "manifest_file",
  fields: [
    { name: "manifest_path", type: "string", "field-id": 500 },
    { name: "manifest_length", type: "long", "field-id": 501 },
    { name: "partition_spec_id", type: "int", "field-id": 502 },
    { name: "content", type: "int", "field-id": 517 },
    { name: "sequence_number", type: "long", "field-id": 515 },
    { name: "min_sequence_number", type: "long", "field-id": 516 },
    { name: "added_snapshot_id", type: "long", "field-id": 503 },
    { name: "added_files_count", type: "int", "field-id": 504 },
    { name: "existing_files_count", type: "int", "field-id": 505 },
    { name: "deleted_files_count", type: "int", "field-id": 506 },
    { name: "added_rows_count", type: "long", "field-id": 512 },
    { name: "existing_rows_count", type: "long", "field-id": 513 },
    { name: "deleted_rows_count", type: "long", "field-id": 514 },
    {
      name: "partitions",
      type: [
        "null",
        {
          type: "array",
          "element-id": 508,
          items: {
            type: "record",
            name: "r508",
            fields: [
              { name: "contains_null", type: "boolean", "field-id": 509 },
              { name: "contains_nan", type: ["null", "boolean"], default: null, "field-id": 518 },
              { name: "lower_bound", type: ["null", "bytes"], default: null, "field-id": 510 },
              { name: "upper_bound", type: ["null", "bytes"], default: null, "field-id": 511 },
            ],
          },
        },
      ],
      default: null,
      "field-id": 507,
    },
    { name: "key_metadata", type: ["null", "bytes"], default: null, "field-id": 519 },
  ],
};

/**
 * Deflate in this thread: a manifest is a few KiB, and zlib's thread pool round trip cost more than the
 * compression itself (and waited behind the store's fsyncs).
 */
const SYNC_CODECS = {
  null: (buf: Buffer, cb: (err: Error | null, out?: Buffer) => void) => cb(null, buf),
  deflate: (buf: Buffer, cb: (err: Error | null, out?: Buffer) => void) => {
    let out: Buffer;
    try {
      out = deflateRawSync(buf);
    } catch (e) {
      cb(e as Error);
      return;
    }
    cb(null, out);
  },
};

/**
 * Parsed schemas, by their JSON: parsing one costs more than encoding a manifest. The header is then
 * written from the type with its attributes (the field ids) exported.
 */
const types = new Map<string, avro.Type>();
function typeOf(schema: object): avro.Type {
  const key = JSON.stringify(schema);
  let t = types.get(key);
  if (!t) {
    t = avro.Type.forSchema(schema as avro.Schema);
    if (types.size >= 64) types.clear();
    types.set(key, t);
  }
  return t;
}

/** Writes an Avro object container file in memory (deflate, as Iceberg's writers do). */
async function containerFile(schema: object, records: readonly unknown[], metadata: Record<string, string>, name: string): Promise<Uint8Array> {
  const syncMarker = createHash("sha256").update(`iceberg-sync:${name}`).digest().subarray(0, 16);
  const meta: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = Buffer.from(v);
  const encoder = new avro.streams.BlockEncoder(typeOf(schema), {
    codec: "deflate",
    codecs: SYNC_CODECS,
    syncMarker,
    metadata: meta,
    writeHeader: true,
  } as never);
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    encoder.on("data", (c: Buffer) => chunks.push(c));
    encoder.on("end", () => resolve());
    encoder.on("error", reject);
  });
  for (const r of records) encoder.write(r);
  encoder.end();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

/** Reads an Avro object container file in memory: its records and its key-value metadata. */
export async function readContainer(bytes: Uint8Array): Promise<{ records: unknown[]; metadata: Record<string, string> }> {
  const decoder = new avro.streams.BlockDecoder();
  const records: unknown[] = [];
  const metadata: Record<string, string> = {};
  const done = new Promise<void>((resolve, reject) => {
    decoder.on("metadata", (_type: unknown, _codec: unknown, header: { meta: Record<string, Buffer> }) => {
      for (const [k, v] of Object.entries(header.meta)) metadata[k] = v.toString("utf8");
    });
    decoder.on("data", (r: unknown) => records.push(r));
    decoder.on("end", () => resolve());
    decoder.on("error", reject);
  });
  Readable.from([Buffer.from(bytes)]).pipe(decoder);
  await done;
  return { records, metadata };
}

const mapOf = <V>(m: ReadonlyMap<number, V>) => (m.size === 0 ? null : [...m].sort((a, b) => a[0] - b[0]).map(([key, value]) => ({ key, value })));

function entryRecord(e: ManifestEntry, layout: PartitionLayout) {
  const f = e.file;
  const s = f.stats;
  const partition: Record<string, unknown> = {};
  if (layout.kind !== "none") partition[layout.kind === "identity" ? layout.source : "dt"] = f.partition;
  return {
    status: e.status,
    snapshot_id: e.snapshotId,
    sequence_number: e.sequenceNumber,
    file_sequence_number: e.fileSequenceNumber,
    data_file: {
      content: 0,
      file_path: f.path,
      file_format: "PARQUET",
      partition,
      record_count: f.recordCount,
      file_size_in_bytes: f.sizeBytes,
      column_sizes: null,
      value_counts: mapOf(s.valueCounts),
      null_value_counts: mapOf(s.nullCounts),
      nan_value_counts: mapOf(s.nanCounts),
      lower_bounds: mapOf(new Map([...s.lower].map(([k, v]) => [k, Buffer.from(v)]))),
      upper_bounds: mapOf(new Map([...s.upper].map(([k, v]) => [k, Buffer.from(v)]))),
      key_metadata: null,
      split_offsets: null,
      equality_ids: null,
      sort_order_id: null,
    },
  };
}

/** A manifest's bytes: its entries, and the metadata the spec requires (schema, spec, format version, content). */
export async function encodeManifest(
  entries: readonly ManifestEntry[],
  ctx: { schema: IcebergSchema; spec: PartitionSpec; layout: PartitionLayout; name: string },
): Promise<Uint8Array> {
  const schema = manifestEntrySchema(ctx.layout, ctx.spec);
  return containerFile(
    schema,
    entries.map((e) => entryRecord(e, ctx.layout)),
    {
      schema: JSON.stringify(ctx.schema),
      "schema-id": String(ctx.schema["schema-id"]),
      "partition-spec": JSON.stringify(ctx.spec.fields),
      "partition-spec-id": String(ctx.spec["spec-id"]),
      "format-version": "2",
      content: "data",
    },
    ctx.name,
  );
}

type KV<V> = { key: number; value: V }[] | null;

const toMap = <V, W>(kv: KV<V>, f: (v: V) => W) => new Map((kv ?? []).map(({ key, value }) => [key, f(value)]));

export async function decodeManifest(bytes: Uint8Array): Promise<ManifestEntry[]> {
  const { records } = await readContainer(bytes);
  return records.map((r) => {
    const e = r as {
      status: EntryStatus;
      snapshot_id: number | null;
      sequence_number: number | null;
      file_sequence_number: number | null;
      data_file: {
        file_path: string;
        partition: Record<string, PartitionValue>;
        record_count: number;
        file_size_in_bytes: number;
        value_counts: KV<number>;
        null_value_counts: KV<number>;
        nan_value_counts: KV<number>;
        lower_bounds: KV<Buffer>;
        upper_bounds: KV<Buffer>;
      };
    };
    const d = e.data_file;
    const stats = emptyStats();
    stats.valueCounts = toMap(d.value_counts, Number);
    stats.nullCounts = toMap(d.null_value_counts, Number);
    stats.nanCounts = toMap(d.nan_value_counts, Number);
    stats.lower = toMap(d.lower_bounds, (b) => new Uint8Array(b));
    stats.upper = toMap(d.upper_bounds, (b) => new Uint8Array(b));
    const values = Object.values(d.partition);
    return {
      status: e.status,
      snapshotId: e.snapshot_id,
      sequenceNumber: e.sequence_number,
      fileSequenceNumber: e.file_sequence_number,
      file: { path: d.file_path, partition: values.length ? (values[0] ?? null) : null, recordCount: d.record_count, sizeBytes: d.file_size_in_bytes, stats },
    };
  });
}

export async function encodeManifestList(
  manifests: readonly ManifestFile[],
  meta: { snapshotId: number; parentSnapshotId: number | null; sequenceNumber: number; name: string },
): Promise<Uint8Array> {
  const records = manifests.map((m) => ({
    manifest_path: m.path,
    manifest_length: m.length,
    partition_spec_id: m.specId,
    content: 0,
    sequence_number: m.sequenceNumber,
    min_sequence_number: m.minSequenceNumber,
    added_snapshot_id: m.addedSnapshotId,
    added_files_count: m.addedFilesCount,
    existing_files_count: m.existingFilesCount,
    deleted_files_count: m.deletedFilesCount,
    added_rows_count: m.addedRowsCount,
    existing_rows_count: m.existingRowsCount,
    deleted_rows_count: m.deletedRowsCount,
    partitions: m.partitions.map((p) => ({
      contains_null: p.containsNull,
      contains_nan: null,
      lower_bound: p.lower ? Buffer.from(p.lower) : null,
      upper_bound: p.upper ? Buffer.from(p.upper) : null,
    })),
    key_metadata: null,
  }));
  const metadata: Record<string, string> = { "snapshot-id": String(meta.snapshotId), "sequence-number": String(meta.sequenceNumber), "format-version": "2" };
  if (meta.parentSnapshotId !== null) metadata["parent-snapshot-id"] = String(meta.parentSnapshotId);
  return containerFile(MANIFEST_LIST_SCHEMA, records, metadata, meta.name);
}

export async function decodeManifestList(bytes: Uint8Array): Promise<ManifestFile[]> {
  const { records } = await readContainer(bytes);
  return records.map((r) => {
    const m = r as {
      manifest_path: string;
      manifest_length: number;
      partition_spec_id: number;
      sequence_number: number;
      min_sequence_number: number;
      added_snapshot_id: number;
      added_files_count: number;
      existing_files_count: number;
      deleted_files_count: number;
      added_rows_count: number;
      existing_rows_count: number;
      deleted_rows_count: number;
      partitions: { contains_null: boolean; lower_bound: Buffer | null; upper_bound: Buffer | null }[] | null;
    };
    return {
      path: m.manifest_path,
      length: m.manifest_length,
      specId: m.partition_spec_id,
      sequenceNumber: m.sequence_number,
      minSequenceNumber: m.min_sequence_number,
      addedSnapshotId: m.added_snapshot_id,
      addedFilesCount: m.added_files_count,
      existingFilesCount: m.existing_files_count,
      deletedFilesCount: m.deleted_files_count,
      addedRowsCount: m.added_rows_count,
      existingRowsCount: m.existing_rows_count,
      deletedRowsCount: m.deleted_rows_count,
      partitions: (m.partitions ?? []).map((p) => ({
        containsNull: p.contains_null,
        lower: p.lower_bound ? new Uint8Array(p.lower_bound) : null,
        upper: p.upper_bound ? new Uint8Array(p.upper_bound) : null,
      })),
    };
  });
}

export { PARTITION_FIELD_ID };
