// Change data capture. A CDC domain's contract describes the table's row; producers send Debezium-style
// change events ({ before, after, op, source: { lsn }, ts_ms }). On the wire (stream EVENTS) a change is
// the row with every non-key field optional, plus `_op`, `_lsn` (the source log position: the order of
// changes and their dedupe id) and `_ts_ms`.
import type avro from "avsc";

import { clipText, futureEventTimeProblem, illFormedTextPath, MAX_AVRO_LONG, MAX_DATE_MS } from "./bounds.ts";
import type { DomainContract } from "./domain.ts";
import { avroCodec, safeTypeForSchema } from "./safe-avro.ts";

export const CDC_OPS = ["c", "u", "d", "r"] as const;
export type CdcOp = (typeof CDC_OPS)[number];

export const CDC_COLUMNS = [
  { name: "_op", avroType: "string", timestampMillis: false, nullable: false, constraints: undefined },
  { name: "_lsn", avroType: "long", timestampMillis: false, nullable: false, constraints: undefined },
  { name: "_ts_ms", avroType: "long", timestampMillis: true, nullable: false, constraints: undefined },
] as const;

export interface CdcChangeCodec {
  /** The row's fields (non-key ones nullable on the wire) followed by the CDC columns. */
  readonly fields: DomainContract["fields"];
  readonly fingerprint: string;
  encode(change: Record<string, unknown>): Uint8Array;
  decode(bytes: Uint8Array): Record<string, unknown>;
  /** Decodes a change written with an older version's codec (Avro schema resolution). */
  decodeFrom(writer: CdcChangeCodec, bytes: Uint8Array): Record<string, unknown>;
  readonly avroType: avro.Type;
}

const codecs = new WeakMap<DomainContract, CdcChangeCodec>();

export function isCdcContract(c: DomainContract): boolean {
  return c.schema["lake.domain"].cdc === true;
}

export function cdcChangeCodec(c: DomainContract): CdcChangeCodec {
  const hit = codecs.get(c);
  if (hit) return hit;
  const fields = c.schema.fields.map((f) => {
    if (f.name === c.keyField) return { name: f.name, type: f.type };
    const t = Array.isArray(f.type) ? f.type : ["null", f.type];
    return { name: f.name, type: t.includes("null") ? t : ["null", ...t], default: null };
  });
  const schema = {
    type: "record",
    name: `${c.schema.name}Change`,
    namespace: `lake.cdc.${c.name}`,
    fields: [
      ...fields,
      { name: "_op", type: "string" },
      { name: "_lsn", type: "long" },
      { name: "_ts_ms", type: { type: "long", logicalType: "timestamp-millis" } },
    ],
  };
  const type: avro.Type = safeTypeForSchema(schema as avro.Schema);
  const avroc = avroCodec(type);
  const codec: CdcChangeCodec = {
    fields: [...c.fields.map((f) => (f.name === c.keyField ? f : { ...f, nullable: true })), ...CDC_COLUMNS],
    fingerprint: avroc.fingerprint,
    encode: avroc.encode,
    decode: avroc.decode,
    decodeFrom: avroc.decodeFrom,
    avroType: type,
  };
  codecs.set(c, codec);
  return codec;
}

export type CdcValidation =
  { ok: true; change: Record<string, unknown>; key: string; lsn: number; op: CdcOp } | { ok: false; reason: string; path: string; key: string | null };

/**
 * Checks one Debezium-style change against the row contract: c/u/r need a valid `after` row, d needs
 * a `before` carrying a key the contract accepts; `source.lsn` orders changes and identifies
 * duplicates; `ts_ms` is bounded like an event time (at most the contract's skew past `now`, the
 * caller's clock). Whatever passes can be encoded and published: nothing fails after this.
 */
export function validateChange(c: DomainContract, input: unknown, now: number): CdcValidation {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return { ok: false, reason: "expected a change event object", path: "$", key: null };
  const e = input as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!["before", "after", "op", "source", "ts_ms", "transaction"].includes(k)) {
      const short = clipText(k, 64);
      const path = illFormedTextPath(short) === undefined ? `$.${short}` : `$[${JSON.stringify(short)}]`;
      return { ok: false, reason: `unknown field ${JSON.stringify(short)} in a change event`, path, key: null };
    }
  }
  const op = e.op;
  if (typeof op !== "string" || !(CDC_OPS as readonly string[]).includes(op))
    return { ok: false, reason: `op must be one of ${CDC_OPS.join(", ")}`, path: "$.op", key: null };
  const image = (op === "d" ? e.before : e.after) as Record<string, unknown> | null | undefined;
  const imageName = op === "d" ? "before" : "after";
  const rawKey = image && typeof image === "object" ? image[c.keyField] : undefined;
  // Reported with a refusal (and kept in quarantine): only a key that can be stored as it is.
  const key = typeof rawKey === "string" && rawKey.length <= 128 && illFormedTextPath(rawKey) === undefined ? rawKey : null;
  const source = e.source as Record<string, unknown> | undefined;
  const lsn = source && typeof source === "object" ? source.lsn : undefined;
  // The Avro encoder takes longs up to 2^53 − 2 only: a larger lsn would pass here and fail to publish.
  if (typeof lsn !== "number" || !Number.isSafeInteger(lsn) || lsn < 0 || lsn > MAX_AVRO_LONG) {
    return { ok: false, reason: `source.lsn (the change's log position) must be an integer from 0 to ${MAX_AVRO_LONG}`, path: "$.source.lsn", key };
  }
  const ts = e.ts_ms;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0 || ts > MAX_DATE_MS) {
    return { ok: false, reason: `ts_ms (epoch milliseconds) must be an integer from 0 to ${MAX_DATE_MS}`, path: "$.ts_ms", key };
  }
  // ts_ms is the CDC table's event time (freshness, a version's max event time): bounded the same way.
  const future = futureEventTimeProblem("ts_ms", ts, now, c.maxFutureSkewMs);
  if (future) return { ok: false, reason: future, path: "$.ts_ms", key };
  if (!image || typeof image !== "object" || Array.isArray(image))
    return { ok: false, reason: `op ${op} needs the ${imageName} image`, path: `$.${imageName}`, key };
  let change: Record<string, unknown>;
  let changeKey: string;
  if (op === "d") {
    // A delete carries only its key, but the key is checked like any row's: the contract's
    // constraints, and what its use as the dedupe id in a NATS header needs.
    const raw = image[c.keyField];
    if (typeof raw !== "string") return { ok: false, reason: `a delete needs ${c.keyField} in before`, path: `$.before.${c.keyField}`, key };
    const k = c.validateField(c.keyField, raw, now);
    if (!k.ok) return { ok: false, reason: k.reason, path: `$.before${k.path.slice(1)}`, key };
    if (typeof k.value !== "string") return { ok: false, reason: `a delete needs ${c.keyField} in before`, path: `$.before.${c.keyField}`, key };
    change = {};
    for (const f of c.fields) change[f.name] = null;
    change[c.keyField] = k.value;
    changeKey = k.value;
  } else {
    const r = c.validate(image, now);
    if (!r.ok) return { ok: false, reason: r.reason, path: `$.after${r.path.slice(1)}`, key };
    change = { ...r.value };
    changeKey = r.eventId;
  }
  change = { ...change, _op: op, _lsn: lsn, _ts_ms: ts };
  // Last line of defence, as for rows: what passed must be a value the change codec encodes.
  const errors: string[] = [];
  if (!cdcChangeCodec(c).avroType.isValid(change, { errorHook: (p) => errors.push(p.join(".")) })) {
    const first = errors[0] ?? "";
    const path = first === "_lsn" ? "$.source.lsn" : first === "_ts_ms" ? "$.ts_ms" : first === "_op" ? "$.op" : `$.${imageName}.${first}`;
    return { ok: false, reason: `does not conform to the change schema at ${errors.join(", ")}`, path, key };
  }
  return { ok: true, change, key: changeKey, lsn, op: op as CdcOp };
}
