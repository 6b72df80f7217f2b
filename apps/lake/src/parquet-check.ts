// What a data file's Parquet footer says, read by a Parquet reader the lake does not write with
// (hyparquet), and how it differs from what the dataset's contract says: the columns and types of the
// schema version that wrote it (a difference is a problem: readers of the version may fail or misread),
// and the codec of the dataset's current settings (a difference is drift: readable, but not as
// configured; compaction rewrites such files with the current settings).
import { type FileMetaData, parquetMetadata, type SchemaElement } from "hyparquet";

import { CREATED_BY, OFFSET_COLUMN } from "@lake/committer";
import { parquetCodecName, type ParquetSettings } from "@lake/contracts";

/** A contract column as the committer writes it (DatasetSpec.columns). */
export interface ExpectedColumn {
  name: string;
  avroType: string;
  timestampMillis: boolean;
  nullable: boolean;
}

export interface ParquetFacts {
  createdBy: string | undefined;
  rows: number;
  rowGroups: number;
  /** Distinct codecs of the file's column chunks, as Parquet names them (ZSTD, SNAPPY, UNCOMPRESSED, ...). */
  codecs: string[];
  columns: { name: string; type: string }[];
}

/** Reads the footer; throws with the reason when the bytes are not a Parquet file. */
export function parquetFacts(bytes: Uint8Array): ParquetFacts {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta: FileMetaData = parquetMetadata(buffer);
  const codecs = new Set<string>();
  for (const rg of meta.row_groups) for (const c of rg.columns) if (c.meta_data) codecs.add(c.meta_data.codec);
  const columns = meta.schema.slice(1).map((e) => ({ name: e.name, type: parquetTypeOf(e) }));
  return { createdBy: meta.created_by, rows: Number(meta.num_rows), rowGroups: meta.row_groups.length, codecs: [...codecs].sort(), columns };
}

/** A schema element's type as `PHYSICAL` or `PHYSICAL/LOGICAL` (e.g. BYTE_ARRAY/STRING, INT64/TIMESTAMP(MILLIS,UTC)). */
function parquetTypeOf(e: SchemaElement): string {
  if (e.num_children) return "GROUP";
  const physical = String(e.type ?? "?");
  const l = e.logical_type as { type?: string; unit?: string; isAdjustedToUTC?: boolean; bitWidth?: number; isSigned?: boolean } | undefined;
  if (l?.type === "TIMESTAMP") return `${physical}/TIMESTAMP(${l.unit},${l.isAdjustedToUTC ? "UTC" : "local"})`;
  if (l?.type === "INTEGER")
    return l.bitWidth === (physical === "INT64" ? 64 : 32) && l.isSigned ? physical : `${physical}/INT(${l.bitWidth},${l.isSigned ? "signed" : "unsigned"})`;
  if (l?.type) return `${physical}/${l.type}`;
  if (e.converted_type === "UTF8") return `${physical}/STRING`;
  if (e.converted_type === "TIMESTAMP_MILLIS") return `${physical}/TIMESTAMP(MILLIS,UTC)`;
  return physical;
}

/** The Parquet type the committer writes for a contract column (services/committer/src/parquet.ts). */
export function expectedParquetType(c: ExpectedColumn): string {
  if (c.timestampMillis) return "INT64/TIMESTAMP(MICROS,UTC)";
  switch (c.avroType) {
    case "string":
    case "enum":
      return "BYTE_ARRAY/STRING";
    case "long":
      return "INT64";
    case "int":
      return "INT32";
    case "double":
      return "DOUBLE";
    case "float":
      return "FLOAT";
    case "boolean":
      return "BOOLEAN";
    default:
      return `unmapped Avro type ${c.avroType}`;
  }
}

/**
 * Differences between a file's columns and the columns its schema version implies (plus `_offset`):
 * a missing, extra or retyped column, each named.
 */
export function schemaDifferences(facts: ParquetFacts, expected: readonly ExpectedColumn[]): string[] {
  const want = new Map<string, string>(expected.map((c) => [c.name, expectedParquetType(c)]));
  want.set(OFFSET_COLUMN, "INT64");
  const have = new Map(facts.columns.map((c) => [c.name, c.type]));
  const out: string[] = [];
  for (const [name, type] of want) {
    const got = have.get(name);
    if (got === undefined) out.push(`column ${name} (${type}) is missing`);
    // Files written before timestamps were stored as Iceberg wants them (microseconds) hold milliseconds: as good.
    else if (got !== type && !(type === "INT64/TIMESTAMP(MICROS,UTC)" && got === "INT64/TIMESTAMP(MILLIS,UTC)"))
      out.push(`column ${name} is ${got}, the schema says ${type}`);
  }
  for (const [name, type] of have) if (!want.has(name)) out.push(`column ${clip(name)} (${type}) is not in the schema`);
  return out;
}

/** How a file differs from the dataset's current Parquet settings: its codec(s), and a writer other than the lake's. */
export function settingsDrift(facts: ParquetFacts, settings: ParquetSettings): string[] {
  const out: string[] = [];
  const want = parquetCodecName(settings.compression);
  const other = facts.codecs.filter((c) => c !== want);
  if (other.length > 0) out.push(`codec ${facts.codecs.join("+")}, the dataset's setting is ${want} (lake.parquet.compression)`);
  if (facts.createdBy !== CREATED_BY) out.push(`written by ${JSON.stringify(clip(facts.createdBy ?? "an unnamed writer"))}, not by the lake's committer`);
  return out;
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);
