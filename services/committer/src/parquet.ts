// Rows → one Parquet file, as the dataset's contract says (lake.parquet: codec, row group size; zstd
// by default), rows in the dataset's natural order, statistics and the page index on every column, a
// dictionary only where values repeat. Columns are built directly from typed arrays, one pass per
// column, then handed to parquet-wasm through Arrow IPC.
import {
  Bool,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  TimestampMicrosecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { Compression, EnabledStatistics, Encoding, readParquet, Table as WasmTable, writeParquet, WriterPropertiesBuilder, WriterVersion } from "parquet-wasm";

import { DEFAULT_PARQUET_SETTINGS, type ParquetCodec, type ParquetSettings } from "@lake/contracts";

import type { ColumnSpec } from "./domain/spec.ts";

/** Column holding the source stream sequence of each row: lineage, and the read-after-write proof. */
export const OFFSET_COLUMN = "_offset";

/**
 * Footer key (Parquet key-value metadata) of an upsert partition's tombstones: the keys deleted in it
 * and the source position of each delete, as JSON. Readers of the rows never see them; the next merge
 * of the partition reads them so an older change of a deleted key can't bring its row back.
 */
export const TOMBSTONES_KEY = "lake.tombstones";

/** Keys deleted from a partition and the position (version field) of each delete. */
export type Tombstones = Map<string, number>;

const CODECS: Record<ParquetCodec, Compression> = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  gzip: Compression.GZIP,
  brotli: Compression.BROTLI,
  lz4_raw: Compression.LZ4_RAW,
  uncompressed: Compression.UNCOMPRESSED,
};

/** `created_by` of every file the lake writes (readers and `lake fsck` tell our files by it). */
export const CREATED_BY = "lake committer";

/** What toParquet needs to know about a dataset: its columns, and optionally its row order and settings. */
export interface ParquetLayout {
  columns: readonly ColumnSpec[];
  /** Row order within the file (DatasetSpec.sortBy); ties and absent: offset order. */
  sortBy?: readonly string[];
  /** Codec and row group size (the contract's lake.parquet); absent: the defaults. */
  parquet?: ParquetSettings;
  /**
   * Iceberg: each column's field id (stored as the Parquet field id; `_offset` included) and the
   * Iceberg schema JSON (the `iceberg.schema` footer key). Absent: plain Parquet.
   */
  iceberg?: { fieldIds: ReadonlyMap<string, number>; schemaJson: string };
}

/** Footer key holding the Iceberg schema the file was written with (readers map columns by its ids). */
export const ICEBERG_SCHEMA_KEY = "iceberg.schema";

/** One column's encoding: see chooseEncoding. */
type Encoded = { dictionary: boolean; encoding?: Encoding };
type ColumnKind = "string" | "integer" | "boolean" | "other";

/**
 * How one column is encoded, from the file's first row group's rows (`n` values):
 * - a string the file is sorted by (an upsert's key): front coding (DELTA_BYTE_ARRAY), since sorted
 *   neighbours share prefixes (a week of daily totals' user ids: 15× smaller than a dictionary);
 * - otherwise a dictionary when values repeat (at most n/2 distinct: an enum, a user id, a window
 *   start), since for mostly-unique values a dictionary costs a dictionary page and indices on top;
 * - integers and timestamps that don't repeat: delta (sorted event times and offsets shrink to a few
 *   bits per row);
 * - other types plain, the rest left to the codec.
 */
function chooseEncoding(values: (i: number) => unknown, n: number, kind: ColumnKind, sortKey: boolean): Encoded {
  if (kind === "boolean" || n === 0) return { dictionary: false };
  if (kind === "string" && sortKey) return { dictionary: false, encoding: Encoding.DELTA_BYTE_ARRAY };
  const limit = Math.floor(n / 2);
  const seen = new Set<unknown>();
  for (let i = 0; i < n && seen.size <= limit; i++) seen.add(values(i));
  if (seen.size <= limit) return { dictionary: true };
  return kind === "integer" ? { dictionary: false, encoding: Encoding.DELTA_BINARY_PACKED } : { dictionary: false };
}

function kindOf(f: ColumnSpec): ColumnKind {
  if (f.timestampMillis || f.avroType === "long" || f.avroType === "int") return "integer";
  if (f.avroType === "string" || f.avroType === "enum") return "string";
  return f.avroType === "boolean" ? "boolean" : "other";
}

function writerProps(settings: ParquetSettings, encodings: Map<string, Encoded>, footer: Map<string, string>) {
  // Fresh for every file: writeParquet takes ownership of the properties it is given (reusing them
  // silently wrote every later file with the defaults, uncompressed). Each builder call consumes the
  // builder it is called on and returns the next one.
  let b = new WriterPropertiesBuilder()
    .setCompression(CODECS[settings.compression])
    .setCreatedBy(CREATED_BY)
    .setMaxRowGroupSize(settings.rowGroupRows)
    // Chunk and page statistics: the page index (column and offset index) lets readers skip pages too.
    .setStatisticsEnabled(EnabledStatistics.Page);
  for (const [name, e] of encodings) {
    b = b.setColumnDictionaryEnabled(name, e.dictionary);
    if (e.encoding !== undefined) b = b.setColumnEncoding(name, e.encoding);
  }
  // Front coding in version 1 data pages is valid Parquet, but readers that decode it only in version 2
  // pages exist (hyparquet before 1.2x, inside Iceberg readers such as icebird): such files get v2 pages.
  if ([...encodings.values()].some((e) => e.encoding === Encoding.DELTA_BYTE_ARRAY)) b = b.setWriterVersion(WriterVersion.V2);
  if (footer.size > 0) b = b.setKeyValueMetadata(footer);
  return b.build();
}

/** Orders values as the sort wants them: nulls first, numbers by value, strings by code unit, booleans false first. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  const x = typeof a === "string" ? a : String(a);
  const y = typeof b === "string" ? b : String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The file's row order: by `sortBy`, ties by offset then input position, so the same rows always make
 * the same file. Returns undefined when the input already is in that order (the common case for a
 * stream of events arriving in time order), to skip the copy.
 */
export function rowOrder(sortBy: readonly string[] | undefined, rows: readonly Record<string, unknown>[], offsets: readonly number[]): number[] | undefined {
  const cmp = (a: number, b: number): number => {
    for (const f of sortBy ?? []) {
      const c = compareValues(rows[a]![f], rows[b]![f]);
      if (c !== 0) return c;
    }
    return offsets[a]! - offsets[b]! || a - b;
  };
  let sorted = true;
  for (let i = 1; i < rows.length && sorted; i++) if (cmp(i - 1, i) > 0) sorted = false;
  if (sorted) return undefined;
  return Array.from({ length: rows.length }, (_, i) => i).sort(cmp);
}

function column(contractField: ColumnSpec, rows: readonly Record<string, unknown>[]): Vector {
  const n = rows.length;
  const name = contractField.name;
  const int64 = contractField.avroType === "long" && !contractField.timestampMillis;
  if (contractField.timestampMillis) {
    // Iceberg stores timestamps as microseconds (TIMESTAMP_MICROS, UTC); the contracts carry epoch millis.
    const a = new BigInt64Array(n);
    let nulls = 0;
    const valid = contractField.nullable ? new Uint8Array((n + 7) >> 3) : undefined;
    for (let i = 0; i < n; i++) {
      const v = rows[i]![name];
      if (v === null || v === undefined) {
        nulls++;
        continue;
      }
      a[i] = BigInt(v as number) * 1000n;
      if (valid) valid[i >> 3]! |= 1 << (i & 7);
    }
    return makeVector(makeData({ type: new TimestampMicrosecond("UTC"), length: n, nullCount: nulls, data: a, nullBitmap: nulls > 0 ? valid : undefined }));
  }
  if (contractField.avroType === "string" || contractField.avroType === "enum") return utf8Column(rows, name);
  if (contractField.nullable) {
    // Arrow's Int64 takes bigint; Avro longs arrive as (safe-integer) numbers.
    const values = rows.map((r) => (int64 && r[name] != null ? BigInt(r[name] as number) : (r[name] ?? null)));
    return vectorFromArray(values, arrowType(contractField));
  }
  switch (contractField.avroType) {
    case "double": {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = rows[i]![name] as number;
      return makeVector(a);
    }
    case "float": {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = rows[i]![name] as number;
      return makeVector(a);
    }
    case "long": {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(rows[i]![name] as number);
      return makeVector(a);
    }
    case "int": {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = rows[i]![name] as number;
      return makeVector(a);
    }
    default: {
      const values = new Array(n);
      for (let i = 0; i < n; i++) values[i] = rows[i]![name];
      return vectorFromArray(values, arrowType(contractField));
    }
  }
}

/**
 * A string (or enum symbol) column as Arrow Utf8, written straight into one buffer: the same bytes
 * Arrow's builder makes (null and undefined are nulls, anything else its String(), lone surrogates as
 * U+FFFD) without an encoded copy of every value.
 */
function utf8Column(rows: readonly Record<string, unknown>[], name: string): Vector {
  const n = rows.length;
  const offsets = new Int32Array(n + 1);
  const valid = new Uint8Array((n + 7) >> 3);
  let nulls = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const v = rows[i]![name];
    if (v === null || v === undefined) nulls++;
    else {
      bytes += Buffer.byteLength(typeof v === "string" ? v : String(v), "utf8");
      if (bytes > 0x7fffffff) throw new RangeError(`column ${name}: more than 2 GiB of strings in one file`);
      valid[i >> 3]! |= 1 << (i & 7);
    }
    offsets[i + 1] = bytes;
  }
  const data = new Uint8Array(bytes);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n; i++) {
    const v = rows[i]![name];
    if (v !== null && v !== undefined) buf.write(typeof v === "string" ? v : String(v), offsets[i]!, "utf8");
  }
  return makeVector(makeData({ type: new Utf8(), length: n, nullCount: nulls, valueOffsets: offsets, data, nullBitmap: nulls > 0 ? valid : undefined }));
}

function arrowType(f: ColumnSpec) {
  if (f.timestampMillis) return new TimestampMicrosecond("UTC");
  switch (f.avroType) {
    case "string":
    case "enum":
      return new Utf8();
    case "long":
      return new Int64();
    case "int":
      return new Int32();
    case "double":
      return new Float64();
    case "float":
      return new Float32();
    case "boolean":
      return new Bool();
    default:
      throw new Error(`field ${f.name}: Avro type ${f.avroType} has no Parquet mapping yet`);
  }
}

/** The table with each column's field id in its Arrow metadata, which the Parquet writer stores as the field id. */
function withFieldIds(table: Table, ids: ReadonlyMap<string, number>): Table {
  const fields = table.schema.fields.map((f) => {
    const id = ids.get(f.name);
    if (id === undefined) throw new Error(`column ${f.name} has no Iceberg field id`);
    return new Field(f.name, f.type, f.nullable, new Map([["PARQUET:field_id", String(id)]]));
  });
  const schema = new Schema(fields);
  const batches = table.batches.map(
    (b) => new RecordBatch(schema, makeData({ type: new Struct(fields), length: b.numRows, nullCount: 0, children: b.data.children })),
  );
  return new Table(schema, batches);
}

export function toParquet(
  layout: ParquetLayout,
  input: readonly Record<string, unknown>[],
  inputOffsets: readonly number[],
  tombstones?: Tombstones,
): Uint8Array {
  if (input.length !== inputOffsets.length) throw new RangeError(`toParquet: ${input.length} rows but ${inputOffsets.length} offsets`);
  const settings = layout.parquet ?? DEFAULT_PARQUET_SETTINGS;
  const order = rowOrder(layout.sortBy, input, inputOffsets);
  const rows = order ? order.map((i) => input[i]!) : input;
  const offsets = order ? order.map((i) => inputOffsets[i]!) : inputOffsets;
  const sample = Math.min(rows.length, settings.rowGroupRows);
  const columns: Record<string, Vector> = {};
  const encodings = new Map<string, Encoded>();
  for (const f of layout.columns) {
    columns[f.name] = column(f, rows);
    encodings.set(
      f.name,
      chooseEncoding((i) => rows[i]![f.name], sample, kindOf(f), layout.sortBy?.includes(f.name) ?? false),
    );
  }
  const off = new BigInt64Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) off[i] = BigInt(offsets[i]!);
  columns[OFFSET_COLUMN] = makeVector(off);
  encodings.set(
    OFFSET_COLUMN,
    chooseEncoding((i) => offsets[i], sample, "integer", false),
  );
  let table = new Table(columns);
  const footer = new Map<string, string>();
  if (tombstones && tombstones.size > 0) footer.set(TOMBSTONES_KEY, JSON.stringify(Object.fromEntries(tombstones)));
  if (layout.iceberg) {
    table = withFieldIds(table, layout.iceberg.fieldIds);
    footer.set(ICEBERG_SCHEMA_KEY, layout.iceberg.schemaJson);
  }
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(table, "stream"));
  return writeParquet(wasmTable, writerProps(settings, encodings, footer));
}

/**
 * Reads back a file this committer wrote (upsert merges rewrite partitions): rows with the same JS
 * values the Avro decoder gives (timestamps and longs as numbers), and each row's offset.
 */
export function fromParquet(
  spec: { columns: readonly ColumnSpec[] },
  bytes: Uint8Array,
): { rows: Record<string, unknown>[]; offsets: number[]; tombstones: Tombstones } {
  const table = tableFromIPC(readParquet(bytes).intoIPCStream());
  const tombstones: Tombstones = new Map();
  const stored = table.schema.metadata.get(TOMBSTONES_KEY);
  if (stored !== undefined) for (const [k, v] of Object.entries(JSON.parse(stored) as Record<string, number>)) tombstones.set(k, v);
  const n = table.numRows;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
  for (const f of spec.columns) {
    const col = table.getChild(f.name);
    if (!col) {
      // A file written before the contract gained this (optional) field: the rows read it as null.
      if (!f.nullable) throw new Error(`parquet file has no column ${f.name}, and the field is not nullable`);
      for (let i = 0; i < n; i++) rows[i]![f.name] = null;
      continue;
    }
    const int64 = f.avroType === "long" && !f.timestampMillis;
    for (let i = 0; i < n; i++) {
      const v = col.get(i) as unknown;
      rows[i]![f.name] = v === null ? null : int64 || typeof v === "bigint" ? Number(v) : v instanceof Date ? v.getTime() : v;
    }
  }
  const off = table.getChild(OFFSET_COLUMN);
  const offsets = new Array<number>(n);
  for (let i = 0; i < n; i++) offsets[i] = Number(off!.get(i));
  return { rows, offsets, tombstones };
}
