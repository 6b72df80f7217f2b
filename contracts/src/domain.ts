// Domain contracts: the Avro schema of a domain's events plus the constraints Avro can't express
// (ranges, lengths, patterns), read from `lake.constraints` attributes in the .avsc file.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import type avro from "avsc";

import {
  clipText,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  futureEventTimeProblem,
  headerValueProblem,
  illFormedTextPath,
  MAX_DATE_MS,
  MAX_HEADER_VALUE_LENGTH,
} from "./bounds.ts";
import { type MaintenancePolicy, parseMaintenancePolicy } from "./maintenance.ts";
import { isValidName } from "./names.ts";
import { type ParquetSettings, parseParquetSettings } from "./parquet.ts";
import { avroCodec, safeTypeForSchema } from "./safe-avro.ts";

export interface FieldConstraints {
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}

export interface RawField {
  name: string;
  type: unknown;
  default?: unknown;
  "lake.constraints"?: FieldConstraints;
}

export interface RawDomainSchema {
  type: "record";
  name: string;
  fields: RawField[];
  "lake.domain": {
    name: string;
    version: number;
    key: string;
    event_time: string;
    partition_by: string;
    policy: string;
    cdc?: boolean;
    /** How far past the ingest clock an event time may be, ms (default DEFAULT_MAX_FUTURE_SKEW_MS). */
    max_future_skew_ms?: number;
  };
  /** How the dataset's Parquet files are written (contracts/src/parquet.ts); absent: the defaults. */
  "lake.parquet"?: unknown;
  /** How the dataset is compacted, expired and collected without anyone asking (contracts/src/maintenance.ts); absent: the defaults. */
  "lake.maintenance"?: unknown;
}

export type ValidationResult =
  { ok: true; value: Record<string, unknown>; eventId: string; eventTime: number } | { ok: false; reason: string; path: string; eventId: string | null };

/** One field's value checked on its own (a CDC delete's key): normalised, or why not, relative to the field. */
export type FieldCheck = { ok: true; value: unknown } | { ok: false; reason: string; path: string };

export interface DomainContract {
  readonly name: string;
  readonly version: number;
  readonly fingerprint: string;
  readonly keyField: string;
  readonly eventTimeField: string;
  readonly policy: string;
  /** How far past `now` an event time may be (lake.domain.max_future_skew_ms). */
  readonly maxFutureSkewMs: number;
  /** How the dataset's Parquet files are written (lake.parquet). */
  readonly parquet: ParquetSettings;
  /** How the dataset is maintained (lake.maintenance). */
  readonly maintenance: MaintenancePolicy;
  readonly schema: Readonly<RawDomainSchema>;
  readonly fields: readonly { name: string; avroType: string; timestampMillis: boolean; nullable: boolean; constraints: FieldConstraints | undefined }[];
  /**
   * Checks one JSON record against the contract; normalises ISO-8601 timestamps to epoch millis.
   * `now` (epoch millis, the caller's clock) bounds the event time: at most maxFutureSkewMs past it.
   */
  validate(record: unknown, now: number): ValidationResult;
  /** Checks one value of one field with the same rules (path `$.<field>`). */
  validateField(field: string, value: unknown, now: number): FieldCheck;
  encode(value: Record<string, unknown>): Uint8Array;
  decode(bytes: Uint8Array): Record<string, unknown>;
  /** Decodes bytes written with an older version of this contract (Avro schema resolution). */
  decodeFrom(writer: DomainContract, bytes: Uint8Array): Record<string, unknown>;
  readonly avroType: avro.Type;
}

export class IncompatibleSchemaError extends Error {
  constructor(
    readonly domain: string,
    message: string,
  ) {
    super(`schema for ${domain} is not compatible with the registered one: ${message}`);
    this.name = "IncompatibleSchemaError";
  }
}

export class InvalidContractError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidContractError";
  }
}

/** Checks an untrusted schema document is a domain contract, before anything builds on it. */
export function parseDomainSchema(doc: unknown): RawDomainSchema {
  const bad = (why: string) => new InvalidContractError(`not a domain contract: ${why}`);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("expected a JSON object");
  const s = doc as Partial<RawDomainSchema>;
  if (s.type !== "record") throw bad(`"type" must be "record"`);
  if (!Array.isArray(s.fields) || s.fields.length === 0) throw bad(`"fields" must be a non-empty array`);
  const meta = s["lake.domain"];
  if (!meta || typeof meta !== "object") throw bad(`"lake.domain" (name, version, key, event_time, partition_by, policy) is missing`);
  if (!isValidName(meta.name)) throw bad(`"lake.domain".name ${JSON.stringify(meta.name)} is not a valid name`);
  const names = new Set(s.fields.map((f) => f?.name));
  if (!names.has(meta.key)) throw bad(`"lake.domain".key ${JSON.stringify(meta.key)} is not a field`);
  if (!names.has(meta.event_time)) throw bad(`"lake.domain".event_time ${JSON.stringify(meta.event_time)} is not a field`);
  if (meta.policy !== "critical" && meta.policy !== "non-critical") throw bad(`"lake.domain".policy must be critical or non-critical`);
  const skew = meta.max_future_skew_ms;
  if (skew !== undefined && (typeof skew !== "number" || !Number.isSafeInteger(skew) || skew < 0 || skew > MAX_DATE_MS)) {
    throw bad(`"lake.domain".max_future_skew_ms must be a non-negative integer (milliseconds), got ${JSON.stringify(skew)}`);
  }
  parseParquetSettings(s["lake.parquet"], bad);
  parseMaintenancePolicy(s["lake.maintenance"], bad);
  try {
    safeTypeForSchema(doc as avro.Schema);
  } catch (cause) {
    throw new InvalidContractError(`not a valid Avro schema: ${(cause as Error).message}`, { cause });
  }
  return s as RawDomainSchema;
}

/**
 * Backward compatibility (what a registry enforces): data written with `older` must be readable with
 * `newer` through Avro resolution (so added fields need defaults and types may only be promoted), and
 * the domain's identity (name, key, event time, partitioning) must not change.
 */
export function checkCompatible(older: DomainContract, newer: DomainContract): void {
  const a = older.schema["lake.domain"];
  const b = newer.schema["lake.domain"];
  // policy too: turning a dataset critical would leave an unchecked version current.
  for (const k of ["name", "key", "event_time", "partition_by", "cdc", "policy"] as const) {
    if (a[k] !== b[k]) throw new IncompatibleSchemaError(older.name, `"lake.domain".${k} changed from ${JSON.stringify(a[k])} to ${JSON.stringify(b[k])}`);
  }
  try {
    newer.avroType.createResolver(older.avroType);
  } catch (e) {
    throw new IncompatibleSchemaError(older.name, (e as Error).message);
  }
  for (const f of newer.fields) {
    const before = older.fields.find((o) => o.name === f.name);
    if (!before && !Object.hasOwn(newer.schema.fields.find((x) => x.name === f.name) ?? {}, "default")) {
      throw new IncompatibleSchemaError(older.name, `new field ${f.name} has no default, so older records can't be read`);
    }
  }
}

export class UnknownDomainError extends Error {
  constructor(readonly domain: string) {
    super(`unknown domain ${JSON.stringify(domain)}: no contract at contracts/avro/domains/${domain}.avsc`);
    this.name = "UnknownDomainError";
  }
}

const domainsDir = join(import.meta.dirname, "..", "avro", "domains");
const cache = new Map<string, DomainContract>();

export function domainNames(): string[] {
  return readdirSync(domainsDir)
    .filter((f) => f.endsWith(".avsc"))
    .map((f) => f.slice(0, -".avsc".length))
    .sort();
}

export function domainContract(name: string): DomainContract {
  const hit = cache.get(name);
  if (hit) return hit;
  // The name check comes before any file access: the name is user input.
  if (!isValidName(name) || !domainNames().includes(name)) throw new UnknownDomainError(name);
  const contract = loadDomainContract(JSON.parse(readFileSync(join(domainsDir, `${name}.avsc`), "utf8")) as RawDomainSchema);
  cache.set(name, contract);
  return contract;
}

/** Each field's Avro type, timestamp-ness, nullability and constraints, as writers and checkers need them. */
export function describeFields(fields: readonly RawField[]): DomainContract["fields"] {
  return fields.map((f) => ({ name: f.name, ...describeType(f.type), constraints: f["lake.constraints"] }));
}

function describeType(t: unknown): { avroType: string; timestampMillis: boolean; nullable: boolean } {
  if (Array.isArray(t)) {
    const nonNull = t.filter((b) => b !== "null");
    return { ...describeType(nonNull[0]), nullable: t.includes("null") };
  }
  if (typeof t === "string") return { avroType: t, timestampMillis: false, nullable: false };
  const o = t as { type: string; logicalType?: string };
  return { avroType: o.type, timestampMillis: o.logicalType === "timestamp-millis", nullable: false };
}

function clip(s: string): string {
  return s.length > 60 ? JSON.stringify(clipText(s, 60)) + "…" : JSON.stringify(s);
}

/** An object key as a path segment: as written, unless it is not valid Unicode (then escaped). */
function keyPath(k: string): string {
  const short = clipText(k, 64);
  return illFormedTextPath(short) === undefined ? `$.${short}` : `$[${JSON.stringify(short)}]`;
}

type Field = DomainContract["fields"][number];

/** The id reported with a refusal (and kept in quarantine): only one that can be stored as it was sent. */
function reportableId(rawKey: unknown): string | null {
  return typeof rawKey === "string" && rawKey.length <= MAX_HEADER_VALUE_LENGTH && illFormedTextPath(rawKey) === undefined ? rawKey : null;
}

/** Why one field's value is refused (checkValue's failure: a class, so success allocates nothing). */
class Refusal {
  constructor(readonly reason: string) {}
}
const refuse = (reason: string) => new Refusal(reason);

export function loadDomainContract(schema: RawDomainSchema): DomainContract {
  const meta = schema["lake.domain"];
  const type = safeTypeForSchema(schema as unknown as avro.Schema);
  const fingerprint = type.fingerprint("sha256").toString("hex");
  const codec = avroCodec(type);
  const maxFutureSkewMs = meta.max_future_skew_ms ?? DEFAULT_MAX_FUTURE_SKEW_MS;
  const parquet = parseParquetSettings(schema["lake.parquet"], (why) => new InvalidContractError(`not a domain contract: ${why}`));
  const maintenance = parseMaintenancePolicy(schema["lake.maintenance"], (why) => new InvalidContractError(`not a domain contract: ${why}`));
  const fields = schema.fields.map((f) => ({ name: f.name, ...describeType(f.type), constraints: f["lake.constraints"] }));
  const byName = new Map(fields.map((f) => [f.name, f]));
  const patterns = new Map(fields.filter((f) => f.constraints?.pattern).map((f) => [f.name, new RegExp(f.constraints!.pattern!)]));
  const fieldNames = new Set(fields.map((f) => f.name));
  const enumSymbols = new Map(
    schema.fields
      .filter((f) => typeof f.type === "object" && f.type !== null && (f.type as { type?: string }).type === "enum")
      .map((f) => [f.name, (f.type as { symbols: string[] }).symbols]),
  );

  /** One present (non-null) value of `f`: normalised, or a Refusal saying why not (the only allocation). */
  function checkValue(f: Field, input: unknown, now: number): unknown {
    const fail = refuse;
    let v = input;
    if (f.timestampMillis && typeof v === "string") {
      // JSON has no timestamp type: accept ISO-8601 with an explicit zone, as producers usually send.
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
        return fail(`${f.name} must be epoch milliseconds or an ISO-8601 timestamp with a zone, got ${clip(v)}`);
      }
      // Date.parse rolls a day past the month's end over (2026-02-30 → 2026-03-02): refuse it instead.
      const [y, mo, d] = v.slice(0, 10).split("-").map(Number) as [number, number, number];
      v = Date.parse(v);
      if (Number.isNaN(v) || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return fail(`${f.name} is not a valid date`);
    }
    const c = f.constraints;
    switch (f.avroType) {
      case "string":
      case "enum":
        if (typeof v !== "string") return fail(`${f.name} must be a string, got ${typeof v}`);
        break;
      case "long":
      case "int":
        if (typeof v !== "number" || !Number.isSafeInteger(v)) return fail(`${f.name} must be an integer, got ${typeof v === "number" ? String(v) : typeof v}`);
        if (f.avroType === "int" && (v < -2147483648 || v > 2147483647)) return fail(`${f.name} is out of int range: ${v}`);
        break;
      case "double":
      case "float":
        if (typeof v !== "number" || !Number.isFinite(v)) return fail(`${f.name} must be a finite number, got ${typeof v === "number" ? String(v) : typeof v}`);
        break;
      case "boolean":
        if (typeof v !== "boolean") return fail(`${f.name} must be a boolean, got ${typeof v}`);
        break;
    }
    // Text that is not valid Unicode would be stored changed (U+FFFD): refused, never repaired.
    const bad = illFormedTextPath(v);
    if (bad !== undefined) return fail(`${f.name}${bad} is not valid Unicode: it contains a UTF-16 surrogate without its pair (e.g. "\\ud800" in JSON)`);
    if (f.avroType === "enum") {
      const symbols = enumSymbols.get(f.name) ?? [];
      if (!symbols.includes(v as string)) return fail(`${f.name} must be one of ${symbols.join(", ")}; got ${clip(v as string)}`);
    }
    if (c) {
      if (typeof v === "string") {
        if (c.minLength !== undefined && v.length < c.minLength) return fail(`${f.name} is shorter than ${c.minLength} characters`);
        if (c.maxLength !== undefined && v.length > c.maxLength) return fail(`${f.name} is longer than ${c.maxLength} characters (${v.length})`);
        const re = patterns.get(f.name);
        if (re && !re.test(v)) return fail(`${f.name} ${clip(v)} does not match ${c.pattern}`);
      }
      if (typeof v === "number") {
        if (c.min !== undefined && v < c.min) return fail(`${f.name} ${v} is below the minimum ${c.min}`);
        if (c.max !== undefined && v > c.max) return fail(`${f.name} ${v} is above the maximum ${c.max}`);
      }
    }
    if (f.timestampMillis && typeof v === "number") {
      // Whatever the contract's own range: every timestamp must be a date (readers format them), and the
      // event time must not be from the future (it would move watermarks and freshness past the present).
      if (Math.abs(v) > MAX_DATE_MS) return fail(`${f.name} ${v} is outside the range of dates (±${MAX_DATE_MS} ms around 1970)`);
      if (f.name === meta.event_time) {
        const future = futureEventTimeProblem(f.name, v, now, maxFutureSkewMs);
        if (future) return fail(future);
      }
    }
    if (f.name === meta.key && typeof v === "string") {
      // The key becomes the record's dedupe id in a NATS header: it must arrive there unchanged.
      const header = headerValueProblem(f.name, v, MAX_HEADER_VALUE_LENGTH);
      if (header) return fail(header);
    }
    return v;
  }

  function assertClock(now: number): void {
    // A programming error, not bad input: the caller must pass its clock.
    if (typeof now !== "number" || !Number.isFinite(now)) throw new TypeError(`validate needs the caller's clock (epoch millis), got ${String(now)}`);
  }

  function validate(record: unknown, now: number): ValidationResult {
    assertClock(now);
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      return {
        ok: false,
        reason: `expected a JSON object, got ${Array.isArray(record) ? "an array" : record === null ? "null" : typeof record}`,
        path: "$",
        eventId: null,
      };
    }
    const input = record as Record<string, unknown>;
    const fail = (path: string, reason: string): ValidationResult => ({ ok: false, reason, path, eventId: reportableId(input[meta.key]) });
    for (const k of Object.keys(input)) {
      if (!fieldNames.has(k)) return fail(keyPath(k), `unknown field ${clip(k)} (contract ${schema.name} v${meta.version})`);
    }
    const value: Record<string, unknown> = {};
    for (const f of fields) {
      const path = `$.${f.name}`;
      const v = input[f.name];
      if (v === undefined || v === null) {
        if (f.nullable) {
          value[f.name] = null;
          continue;
        }
        return fail(path, `required field ${f.name} is ${v === null ? "null" : "missing"}`);
      }
      const r = checkValue(f, v, now);
      if (r instanceof Refusal) return fail(path, r.reason);
      value[f.name] = r;
    }
    // Last line of defence: whatever passed the checks above must also be a valid Avro value.
    const errors: string[] = [];
    if (!type.isValid(value, { errorHook: (p) => errors.push(p.join(".")) })) {
      return fail(`$.${errors[0] ?? ""}`, `does not conform to the Avro schema at ${errors.join(", ")}`);
    }
    return { ok: true, value, eventId: value[meta.key] as string, eventTime: value[meta.event_time] as number };
  }

  function validateField(name: string, v: unknown, now: number): FieldCheck {
    assertClock(now);
    const f = byName.get(name);
    if (!f) return { ok: false, reason: `unknown field ${clip(name)} (contract ${schema.name} v${meta.version})`, path: keyPath(name) };
    const path = `$.${f.name}`;
    if (v === undefined || v === null) {
      return f.nullable ? { ok: true, value: null } : { ok: false, reason: `required field ${f.name} is ${v === null ? "null" : "missing"}`, path };
    }
    const r = checkValue(f, v, now);
    if (r instanceof Refusal) return { ok: false, reason: r.reason, path };
    const fieldType = (type as avro.types.RecordType).fields.find((x) => x.name === f.name)!.type;
    if (!fieldType.isValid(r)) return { ok: false, reason: `${f.name} does not conform to the Avro schema`, path };
    return { ok: true, value: r };
  }

  return {
    name: meta.name,
    version: meta.version,
    fingerprint,
    keyField: meta.key,
    eventTimeField: meta.event_time,
    policy: meta.policy,
    maxFutureSkewMs,
    parquet,
    maintenance,
    schema,
    fields,
    validate,
    validateField,
    encode: codec.encode,
    decode: codec.decode,
    decodeFrom: codec.decodeFrom,
    avroType: type,
  };
}
