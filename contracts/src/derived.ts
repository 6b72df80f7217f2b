// Derived-dataset contracts: contracts/avro/derived/<name>.avsc is the Avro record of the OUTPUT row,
// and its `lake.derived` attribute describes the job that produces it (source domain, key, window,
// value field, watermark and lateness). Validated against the source domain's contract, so a typo in a
// job spec stops a service at start with a message naming the field. The aggregator runs the job; the
// committer writes its results (one row per merge key, the highest revision wins).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import type avro from "avsc";

import { describeFields, type DomainContract, domainContract } from "./domain.ts";
import type { LakeDerived } from "./generated.ts";
import { type MaintenancePolicy, parseMaintenancePolicy } from "./maintenance.ts";
import { isValidName } from "./names.ts";
import { type ParquetSettings, parseParquetSettings } from "./parquet.ts";
import { avroCodec, safeTypeForSchema } from "./safe-avro.ts";

export type LateEvent = LakeDerived.LateEvent;
export type WindowPosition = LakeDerived.WindowPosition;

export type WindowSpec = { type: "tumbling"; sizeMs: number; slideMs: number } | { type: "sliding"; sizeMs: number; slideMs: number };

/** The job a derived contract describes, with names resolved against its source domain. */
export interface DerivedJob {
  name: string;
  version: number;
  source: string;
  /** Source fields the results are grouped by; also output fields. */
  key: readonly string[];
  window: WindowSpec;
  /** Numeric source field that is summed, counted, min'ed and max'ed. */
  valueField: string;
  /** Source field holding the event time (from the source domain's contract). */
  eventTimeField: string;
  /** Source field identifying an event (its dedupe key), quoted in the late side output. */
  eventIdField: string;
  outOfOrdernessMs: number;
  allowedLatenessMs: number;
  policy: "critical" | "non-critical";
  mergeKey: readonly string[];
}

export interface DerivedContract {
  readonly name: string;
  readonly version: number;
  /** sha256 of the canonical Avro schema of the output row; the `Lake-Schema` header of every result. */
  readonly fingerprint: string;
  readonly job: DerivedJob;
  readonly schema: Readonly<Record<string, unknown>>;
  /** Output field names, in schema order. */
  readonly fields: readonly string[];
  /** Output fields with their Avro types (for writers such as the committer's Parquet files). */
  readonly columns: DomainContract["fields"];
  /** How the dataset's Parquet files are written (lake.parquet). */
  readonly parquet: ParquetSettings;
  /** How the dataset is maintained (lake.maintenance). */
  readonly maintenance: MaintenancePolicy;
  /**
   * Every version of the output row, oldest first, the current one last (earlier ones from
   * contracts/avro/derived/history/<name>.v<N>.avsc): Iceberg field ids and old results follow them.
   */
  readonly history: readonly { version: number; fingerprint: string; columns: DomainContract["fields"] }[];
  /** Encodes one output row; throws if the row does not fit the schema. */
  encode(row: Record<string, unknown>): Uint8Array;
  /**
   * Decodes one output row written with the version whose fingerprint is `writer` (the Lake-Schema
   * header; the current version when absent) into the current one: fields added since read as their
   * defaults. An unknown fingerprint is a DerivedContractError.
   */
  decode(bytes: Uint8Array, writer?: string): Record<string, unknown>;
}

export class DerivedContractError extends Error {
  constructor(
    readonly dataset: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`derived contract ${JSON.stringify(dataset)}: ${detail}`, options);
    this.name = "DerivedContractError";
  }
}

export class UnknownDerivedDatasetError extends Error {
  constructor(readonly dataset: string) {
    super(
      `unknown derived dataset ${JSON.stringify(dataset.length > 80 ? dataset.slice(0, 80) + "…" : dataset)}: no contract with a lake.derived attribute at contracts/avro/derived/<name>.avsc`,
    );
    this.name = "UnknownDerivedDatasetError";
  }
}

export function isDerivedContractError(e: unknown): e is DerivedContractError {
  return e instanceof DerivedContractError;
}

const derivedDir = join(import.meta.dirname, "..", "avro", "derived");
const LATE_EVENT_FILE = "late_event.avsc";
const WINDOW_POSITION_FILE = "window_position.avsc";
/** Earlier versions of each derived contract: history/<name>.v<N>.avsc, kept so their results still decode. */
const HISTORY_DIR = "history";

function readSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(derivedDir, file), "utf8")) as Record<string, unknown>;
}

/** Names of the derived datasets: the .avsc files in contracts/avro/derived with a `lake.derived` attribute. */
export function derivedNames(): string[] {
  return readdirSync(derivedDir)
    .filter((f) => f.endsWith(".avsc") && f !== LATE_EVENT_FILE && f !== WINDOW_POSITION_FILE)
    .map((f) => f.slice(0, -".avsc".length))
    .filter((n) => isValidName(n) && "lake.derived" in readSchema(`${n}.avsc`))
    .sort();
}

const cache = new Map<string, DerivedContract>();

export function derivedContract(name: string): DerivedContract {
  const hit = cache.get(name);
  if (hit) return hit;
  // The name check comes before any file access: the name comes from the environment.
  if (!isValidName(name) || !derivedNames().includes(name)) throw new UnknownDerivedDatasetError(name);
  const contract = loadDerivedContract(readSchema(`${name}.avsc`), { fileName: name, history: historyOf(name) });
  cache.set(name, contract);
  return contract;
}

/** The earlier versions of a derived contract, oldest first (history/<name>.v<N>.avsc). */
function historyOf(name: string): Record<string, unknown>[] {
  const prefix = `${name}.v`;
  let files: string[];
  try {
    files = readdirSync(join(derivedDir, HISTORY_DIR));
  } catch {
    return [];
  }
  return files
    .filter((f) => f.startsWith(prefix) && /^\d+\.avsc$/.test(f.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length, -5)) - Number(b.slice(prefix.length, -5)))
    .map((f) => readSchema(join(HISTORY_DIR, f)));
}

// ---- validation ----------------------------------------------------------------------------------

type AvroField = { name: string; type: unknown };

/** Avro type of a field as "string", "long", "timestamp-millis", … ; "union" for anything nullable. */
function typeTag(t: unknown): string {
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return "union";
  if (typeof t === "object" && t !== null) {
    const o = t as { type?: unknown; logicalType?: unknown };
    if (o.logicalType === "timestamp-millis" && o.type === "long") return "timestamp-millis";
    return typeof o.type === "string" ? o.type : "complex";
  }
  return "unknown";
}

/** `T?` for a union of null and one other type (an optional field), else typeTag. */
function optionalTag(t: unknown): string {
  if (Array.isArray(t) && t.length === 2 && t[0] === "null") return `${typeTag(t[1])}?`;
  return typeTag(t);
}

const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0;
const isNonNegativeInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const show = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));

/** More windows per event than this makes every event cost that many updates: refuse the spec instead. */
const MAX_WINDOWS_PER_EVENT = 1000;
export const DEFAULT_ALLOWED_LATENESS_MS = 5 * 60_000;

/**
 * Validates a derived contract (the parsed .avsc) and returns it ready to use. `fileName` (without
 * .avsc) must match `lake.derived.name`; `source` resolves the source domain (injectable for tests).
 */
export function loadDerivedContract(
  schema: Record<string, unknown>,
  opts: { fileName?: string; source?: (name: string) => DomainContract; history?: readonly Record<string, unknown>[] } = {},
): DerivedContract {
  const meta = schema["lake.derived"] as Record<string, unknown> | undefined;
  const label = typeof meta?.name === "string" ? meta.name : (opts.fileName ?? String(schema.name));
  const fail = (detail: string, cause?: unknown): never => {
    throw new DerivedContractError(label, detail, cause === undefined ? undefined : { cause });
  };
  if (schema.type !== "record" || !Array.isArray(schema.fields)) fail("must be an Avro record with fields");
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return fail("has no lake.derived object describing its job");

  const name = meta.name;
  if (!isValidName(name)) return fail(`lake.derived.name must match ^[a-z][a-z0-9_]{0,62}$, got ${show(name)}`);
  if (opts.fileName !== undefined && opts.fileName !== name) fail(`lake.derived.name ${show(name)} does not match the file name ${show(opts.fileName)}`);
  if (!isPositiveInt(meta.version)) fail(`lake.derived.version must be a positive integer, got ${show(meta.version)}`);
  if (!isValidName(meta.source)) return fail(`lake.derived.source must name a domain, got ${show(meta.source)}`);
  let source: DomainContract;
  try {
    source = (opts.source ?? domainContract)(meta.source);
  } catch (e) {
    return fail(`lake.derived.source ${show(meta.source)} is not a known domain`, e);
  }
  const sourceField = new Map(source.fields.map((f) => [f.name, f]));

  const key = meta.key;
  if (!Array.isArray(key) || key.length === 0 || !key.every((k) => typeof k === "string"))
    return fail(`lake.derived.key must be a non-empty array of field names, got ${show(key)}`);
  if (new Set(key).size !== key.length) fail(`lake.derived.key lists a field twice: ${show(key)}`);
  for (const k of key as string[]) {
    const f = sourceField.get(k);
    if (!f) fail(`lake.derived.key field ${show(k)} is not a field of ${source.name}`);
    else if (f.nullable || !["string", "int", "long"].includes(f.avroType) || f.timestampMillis)
      fail(`lake.derived.key field ${show(k)} must be a non-null string, int or long in ${source.name}, it is ${f.nullable ? "nullable " : ""}${f.avroType}`);
  }

  const w = meta.window as Record<string, unknown> | undefined;
  let window: WindowSpec;
  if (typeof w !== "object" || w === null) return fail(`lake.derived.window must be an object, got ${show(w)}`);
  if (!isPositiveInt(w.size_ms)) return fail(`lake.derived.window.size_ms must be a positive integer (milliseconds), got ${show(w.size_ms)}`);
  if (w.type === "tumbling") {
    if (w.slide_ms !== undefined && w.slide_ms !== w.size_ms)
      fail(`lake.derived.window: a tumbling window has no slide_ms (or slide_ms = size_ms), got ${show(w.slide_ms)}`);
    window = { type: "tumbling", sizeMs: w.size_ms, slideMs: w.size_ms };
  } else if (w.type === "sliding") {
    if (!isPositiveInt(w.slide_ms)) return fail(`lake.derived.window.slide_ms must be a positive integer (milliseconds), got ${show(w.slide_ms)}`);
    if (w.slide_ms > w.size_ms)
      fail(`lake.derived.window.slide_ms (${w.slide_ms}) must not exceed size_ms (${w.size_ms}): events between windows would belong to none`);
    if (Math.ceil(w.size_ms / w.slide_ms) > MAX_WINDOWS_PER_EVENT)
      fail(`lake.derived.window: size_ms / slide_ms puts each event in more than ${MAX_WINDOWS_PER_EVENT} windows`);
    window = { type: "sliding", sizeMs: w.size_ms, slideMs: w.slide_ms };
  } else return fail(`lake.derived.window.type must be "tumbling" or "sliding", got ${show(w.type)}`);

  const valueField = meta.value_field;
  if (typeof valueField !== "string") return fail(`lake.derived.value_field must be a field name, got ${show(valueField)}`);
  const vf = sourceField.get(valueField);
  if (!vf) fail(`lake.derived.value_field ${show(valueField)} is not a field of ${source.name}`);
  else if (vf.nullable || !["double", "float", "int", "long"].includes(vf.avroType) || vf.timestampMillis)
    fail(`lake.derived.value_field ${show(valueField)} must be a non-null number in ${source.name}, it is ${vf.nullable ? "nullable " : ""}${vf.avroType}`);

  if (!isNonNegativeInt(meta.out_of_orderness_ms))
    fail(`lake.derived.out_of_orderness_ms must be an integer ≥ 0 (milliseconds), got ${show(meta.out_of_orderness_ms)}`);
  const lateness = meta.allowed_lateness_ms ?? DEFAULT_ALLOWED_LATENESS_MS;
  if (!isNonNegativeInt(lateness)) fail(`lake.derived.allowed_lateness_ms must be an integer ≥ 0 (milliseconds), got ${show(lateness)}`);
  if (meta.policy !== "critical" && meta.policy !== "non-critical") fail(`lake.derived.policy must be "critical" or "non-critical", got ${show(meta.policy)}`);

  // The output row: exactly the key fields plus the window columns. The aggregator fills every field,
  // so a field it does not know (or a missing one) is a contract error, not a runtime surprise.
  const expected = new Map<string, string>();
  for (const k of key as string[]) expected.set(k, sourceField.get(k)!.avroType);
  for (const [f, t] of [
    ["window_start", "timestamp-millis"],
    ["window_end", "timestamp-millis"],
    ["day", "string"],
    [`total_${valueField}`, "double"],
    ["event_count", "long"],
    [`min_${valueField}`, "double"],
    [`max_${valueField}`, "double"],
    ["revision", "int"],
    ["watermark", "timestamp-millis"],
    // Optional (null first, default null) so rows and files written before version 2 still read.
    ["provisional", "boolean?"],
    ["through_seq", "long?"],
  ] as const) {
    if (expected.has(f)) fail(`key field ${show(f)} collides with the window column of the same name`);
    expected.set(f, t);
  }
  const fields = schema.fields as AvroField[];
  const seen = new Set<string>();
  for (const f of fields) {
    const want = expected.get(f.name);
    if (want === undefined) fail(`output field ${show(f.name)} is not produced by the aggregator (expected exactly: ${[...expected.keys()].join(", ")})`);
    else if (want.endsWith("?")) {
      if (optionalTag(f.type) !== want) fail(`output field ${show(f.name)} must be ["null", "${want.slice(0, -1)}"] (optional), got ${show(f.type)}`);
    } else if (typeTag(f.type) !== want) fail(`output field ${show(f.name)} must be ${want}, got ${typeTag(f.type)}`);
    seen.add(f.name);
  }
  const missing = [...expected.keys()].filter((f) => !seen.has(f));
  if (missing.length > 0) fail(`output fields missing: ${missing.join(", ")}`);

  const mergeKey = meta.merge_key;
  if (!Array.isArray(mergeKey) || !mergeKey.every((k) => typeof k === "string"))
    return fail(`lake.derived.merge_key must be an array of output field names, got ${show(mergeKey)}`);
  for (const k of mergeKey as string[]) if (!expected.has(k)) fail(`lake.derived.merge_key field ${show(k)} is not an output field`);
  // A merge key that misses the window or part of the key would merge different results into one row.
  for (const k of ["window_start", ...(key as string[])])
    if (!mergeKey.includes(k)) fail(`lake.derived.merge_key must include ${show(k)} (it identifies a result), got ${show(mergeKey)}`);

  let type: avro.Type;
  try {
    type = safeTypeForSchema(schema as unknown as avro.Schema);
  } catch (e) {
    return fail(`is not a valid Avro schema: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  const job: DerivedJob = {
    name,
    version: meta.version as number,
    source: source.name,
    key: key as string[],
    window,
    valueField,
    eventTimeField: source.eventTimeField,
    eventIdField: source.keyField,
    outOfOrdernessMs: meta.out_of_orderness_ms as number,
    allowedLatenessMs: lateness as number,
    policy: meta.policy as "critical" | "non-critical",
    mergeKey: mergeKey as string[],
  };
  const codec = avroCodec(type);
  const columns = describeFields(fields);
  // Earlier versions: only their Avro types matter (to read their results) and their columns (field ids).
  const previous = (opts.history ?? []).map((h, i) => {
    const v = (h["lake.derived"] as Record<string, unknown> | undefined)?.version;
    if (!isPositiveInt(v) || v >= job.version) fail(`history entry ${i + 1} must have a lake.derived.version below ${job.version}, got ${show(v)}`);
    let avroType: avro.Type;
    try {
      avroType = safeTypeForSchema(h as unknown as avro.Schema);
      type.createResolver(avroType);
    } catch (e) {
      return fail(`version ${String(v)} (history) is not a schema the current one can read: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    return { version: v as number, fingerprint: avroType.fingerprint("sha256").toString("hex"), avroType, columns: describeFields(h.fields as AvroField[]) };
  });
  for (let i = 1; i < previous.length; i++)
    if (previous[i]!.version <= previous[i - 1]!.version) fail(`history versions must increase, got ${previous[i]!.version} after ${previous[i - 1]!.version}`);
  const writers = new Map(previous.map((p) => [p.fingerprint, p]));
  return {
    name,
    version: job.version,
    fingerprint: codec.fingerprint,
    job,
    schema,
    fields: fields.map((f) => f.name),
    columns,
    history: [
      ...previous.map((p) => ({ version: p.version, fingerprint: p.fingerprint, columns: p.columns })),
      { version: job.version, fingerprint: codec.fingerprint, columns },
    ],
    parquet: parseParquetSettings(schema["lake.parquet"], (why) => new DerivedContractError(label, why)),
    maintenance: parseMaintenancePolicy(schema["lake.maintenance"], (why) => new DerivedContractError(label, why)),
    encode: (row) => codec.encode(row),
    decode: (bytes, writer) => {
      if (writer === undefined || writer === codec.fingerprint) return codec.decode(bytes);
      const w = writers.get(writer);
      if (!w) throw new DerivedContractError(label, `no version of the contract has schema fingerprint ${JSON.stringify(writer.slice(0, 80))}`);
      return codec.decodeFrom(w, bytes);
    },
  };
}

// ---- the late-event side output --------------------------------------------------------------------

export interface LateEventCodec {
  readonly fingerprint: string;
  encode(value: LateEvent): Uint8Array;
  decode(bytes: Uint8Array): LateEvent;
}

let lateCodec: LateEventCodec | undefined;

/** Codec of contracts/avro/derived/late_event.avsc, the record on lake.late.<dataset>. */
export function lateEventCodec(): LateEventCodec {
  if (lateCodec) return lateCodec;
  const type = safeTypeForSchema(readSchema(LATE_EVENT_FILE) as unknown as avro.Schema);
  lateCodec = {
    fingerprint: type.fingerprint("sha256").toString("hex"),
    encode: (value) => type.toBuffer(value),
    decode: (bytes) => type.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as LateEvent,
  };
  return lateCodec;
}

// ---- the position marker on lake.windows.<dataset> ---------------------------------------------------

export interface WindowPositionCodec {
  readonly fingerprint: string;
  encode(value: WindowPosition): Uint8Array;
  decode(bytes: Uint8Array): WindowPosition;
}

let positionCodec: WindowPositionCodec | undefined;

/** Codec of contracts/avro/derived/window_position.avsc, the position marker an aggregator ends each batch with. */
export function windowPositionCodec(): WindowPositionCodec {
  if (positionCodec) return positionCodec;
  const codec = avroCodec(safeTypeForSchema(readSchema(WINDOW_POSITION_FILE) as unknown as avro.Schema));
  positionCodec = {
    fingerprint: codec.fingerprint,
    encode: (value) => codec.encode(value),
    decode: (bytes) => codec.decode(bytes) as unknown as WindowPosition,
  };
  return positionCodec;
}
