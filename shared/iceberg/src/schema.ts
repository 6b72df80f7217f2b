// A dataset's columns as an Iceberg schema: types mapped from the Avro contract, field ids that stay
// with a column across schema versions (the registry's history decides them), and the partition spec
// that matches how the committer lays out files.

/** What a column is, as the contracts describe it (the committer's ColumnSpec has the same shape). */
export interface ColumnLike {
  name: string;
  avroType: string;
  timestampMillis: boolean;
  nullable: boolean;
}

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: string;
  doc?: string;
}

export interface IcebergSchema {
  type: "struct";
  "schema-id": number;
  fields: IcebergField[];
}

/**
 * The `_offset` lineage column (the source stream sequence of each row) has field id 1 in every table;
 * contract fields take 2, 3, ... in the order they first appear in the contract's history.
 */
export const OFFSET_FIELD_ID = 1;
export const OFFSET_FIELD_NAME = "_offset";
const FIRST_CONTRACT_FIELD_ID = 2;

/** The Iceberg type of a contract column (Appendix A of the spec for how each is stored in Parquet). */
export function icebergType(c: ColumnLike): string {
  if (c.timestampMillis) return "timestamptz";
  switch (c.avroType) {
    case "string":
    case "enum":
      return "string";
    case "long":
    case "int":
    case "double":
    case "float":
    case "boolean":
      return c.avroType;
    default:
      throw new Error(`column ${c.name}: Avro type ${c.avroType} has no Iceberg mapping`);
  }
}

/**
 * Field ids for each version of a contract, oldest first: a column keeps the id it got when its name
 * first appeared (so a reader that projects by id finds it in files of every version), and a column
 * new in a version gets the next unused id. Deterministic: the same history always gives the same ids.
 */
export function assignFieldIds(history: readonly (readonly { name: string }[])[]): Map<string, number>[] {
  const ids = new Map<string, number>();
  let next = FIRST_CONTRACT_FIELD_ID;
  return history.map((fields) => {
    const version = new Map<string, number>();
    for (const f of fields) {
      let id = ids.get(f.name);
      if (id === undefined) ids.set(f.name, (id = next++));
      version.set(f.name, id);
    }
    return version;
  });
}

/** The Iceberg schema of one contract version: its columns with their ids, then `_offset`. */
export function icebergSchema(schemaId: number, columns: readonly ColumnLike[], ids: ReadonlyMap<string, number>): IcebergSchema {
  const fields: IcebergField[] = columns.map((c) => {
    const id = ids.get(c.name);
    if (id === undefined) throw new Error(`column ${c.name} has no field id`);
    return { id, name: c.name, required: !c.nullable, type: icebergType(c) };
  });
  fields.push({ id: OFFSET_FIELD_ID, name: OFFSET_FIELD_NAME, required: true, type: "long", doc: "Source stream sequence of the row (lineage)." });
  return { type: "struct", "schema-id": schemaId, fields };
}

export function lastColumnId(schemas: readonly IcebergSchema[]): number {
  let max = 0;
  for (const s of schemas) for (const f of s.fields) if (f.id > max) max = f.id;
  return max;
}

/**
 * How the table is partitioned, in Iceberg terms:
 * - `day`: `dt=YYYY-MM-DD` of an event-time column (domain datasets): Iceberg's day transform;
 * - `identity`: `dt=<value>` of a string column (derived datasets partitioned by their `day`);
 * - `none`: layouts Iceberg has no transform for (CDC tables' hash buckets): unpartitioned to readers.
 */
export type PartitionLayout = { kind: "day"; source: string } | { kind: "identity"; source: string } | { kind: "none" };

/** The partition field id (Iceberg numbers partition fields from 1000). */
export const PARTITION_FIELD_ID = 1000;
/** Its name in the partition tuple and the manifest's partition struct. */
export const PARTITION_FIELD_NAME = "dt";

export interface PartitionSpec {
  "spec-id": number;
  fields: { "source-id": number; "field-id": number; name: string; transform: string }[];
}

export function partitionSpec(layout: PartitionLayout, ids: ReadonlyMap<string, number>): PartitionSpec {
  if (layout.kind === "none") return { "spec-id": 0, fields: [] };
  const sourceId = ids.get(layout.source);
  if (sourceId === undefined) throw new Error(`partition source column ${layout.source} has no field id`);
  const name = layout.kind === "identity" ? layout.source : PARTITION_FIELD_NAME;
  return { "spec-id": 0, fields: [{ "source-id": sourceId, "field-id": PARTITION_FIELD_ID, name, transform: layout.kind }] };
}

/** A file's partition value (the tuple has one field at most): days since the epoch, a string, or none. */
export type PartitionValue = number | string | null;

const INT32_MAX = 2 ** 31 - 1;

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil); any year. */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const DAY = /^(-?\d{4,})-(\d{2})-(\d{2})$/;

/**
 * The Iceberg partition value of a lake partition string (`dt=2026-06-01`, `bucket=03`): days since
 * 1970-01-01 for a day layout, the value after `dt=` for identity, null when unpartitioned. Total: a
 * day Iceberg's 32-bit date can't hold (only a forged event time past ingest's bounds makes one) is
 * null rather than a failed commit.
 */
export function partitionValue(layout: PartitionLayout, partition: string): PartitionValue {
  if (layout.kind === "none") return null;
  const eq = partition.indexOf("=");
  const raw = eq < 0 ? partition : partition.slice(eq + 1);
  if (layout.kind === "identity") return raw;
  const m = DAY.exec(raw);
  if (!m) return null;
  const days = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
  return Number.isSafeInteger(days) && Math.abs(days) <= INT32_MAX ? days : null;
}
