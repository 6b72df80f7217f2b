// Rows → one Parquet file (zstd). Columns are built directly from typed arrays, one pass per column,
// then handed to parquet-wasm through Arrow IPC.
import { Table, tableFromIPC, Utf8, Float64, Float32, Int64, Int32, Bool, TimestampMillisecond, vectorFromArray, makeVector, tableToIPC, type Vector } from "apache-arrow";
import { Table as WasmTable, readParquet, writeParquet, WriterPropertiesBuilder, Compression } from "parquet-wasm";
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

function writerProps(tombstones: Tombstones | undefined) {
  // Fresh for every file: writeParquet takes ownership of the properties it is given.
  // Each builder call consumes the builder it is called on and returns the next one.
  let b = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).setCreatedBy("lake committer");
  if (tombstones && tombstones.size > 0) b = b.setKeyValueMetadata(new Map([[TOMBSTONES_KEY, JSON.stringify(Object.fromEntries(tombstones))]]));
  return b.build();
}

function column(contractField: ColumnSpec, rows: readonly Record<string, unknown>[]): Vector {
  const n = rows.length;
  const name = contractField.name;
  const int64 = contractField.avroType === "long" && !contractField.timestampMillis;
  if (contractField.nullable) {
    // Arrow's Int64 takes bigint; Avro longs arrive as (safe-integer) numbers.
    const values = rows.map((r) => (int64 && r[name] != null ? BigInt(r[name] as number) : (r[name] ?? null)));
    return vectorFromArray(values, arrowType(contractField));
  }
  switch (contractField.timestampMillis ? "ts" : contractField.avroType) {
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

function arrowType(f: ColumnSpec) {
  if (f.timestampMillis) return new TimestampMillisecond("UTC");
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

export function toParquet(spec: { columns: readonly ColumnSpec[] }, rows: readonly Record<string, unknown>[], offsets: readonly number[], tombstones?: Tombstones): Uint8Array {
  const columns: Record<string, Vector> = {};
  for (const f of spec.columns) columns[f.name] = column(f, rows);
  const off = new BigInt64Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) off[i] = BigInt(offsets[i]!);
  columns[OFFSET_COLUMN] = makeVector(off);
  const table = new Table(columns);
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(table, "stream"));
  return writeParquet(wasmTable, writerProps(tombstones));
}

/**
 * Reads back a file this committer wrote (upsert merges rewrite partitions): rows with the same JS
 * values the Avro decoder gives (timestamps and longs as numbers), and each row's offset.
 */
export function fromParquet(spec: { columns: readonly ColumnSpec[] }, bytes: Uint8Array): { rows: Record<string, unknown>[]; offsets: number[]; tombstones: Tombstones } {
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
