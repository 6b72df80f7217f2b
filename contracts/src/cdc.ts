// Change data capture. A CDC domain's contract describes the table's row; producers send Debezium-style
// change events ({ before, after, op, source: { lsn }, ts_ms }). On the wire (stream EVENTS) a change is
// the row with every non-key field optional, plus `_op`, `_lsn` (the source log position: the order of
// changes and their dedupe id) and `_ts_ms`.
import type avro from "avsc";
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
    fields: [...fields, { name: "_op", type: "string" }, { name: "_lsn", type: "long" }, { name: "_ts_ms", type: { type: "long", logicalType: "timestamp-millis" } }],
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
  | { ok: true; change: Record<string, unknown>; key: string; lsn: number; op: CdcOp }
  | { ok: false; reason: string; path: string; key: string | null };

/**
 * Checks one Debezium-style change against the row contract: c/u/r need a valid `after` row, d needs
 * a `before` carrying the key; `source.lsn` orders changes and identifies duplicates.
 */
export function validateChange(c: DomainContract, input: unknown): CdcValidation {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return { ok: false, reason: "expected a change event object", path: "$", key: null };
  const e = input as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!["before", "after", "op", "source", "ts_ms", "transaction"].includes(k)) return { ok: false, reason: `unknown field ${JSON.stringify(k.slice(0, 64))} in a change event`, path: `$.${k.slice(0, 64)}`, key: null };
  }
  const op = e.op;
  if (typeof op !== "string" || !(CDC_OPS as readonly string[]).includes(op)) return { ok: false, reason: `op must be one of ${CDC_OPS.join(", ")}`, path: "$.op", key: null };
  const image = (op === "d" ? e.before : e.after) as Record<string, unknown> | null | undefined;
  const imageName = op === "d" ? "before" : "after";
  const rawKey = image && typeof image === "object" ? image[c.keyField] : undefined;
  const key = typeof rawKey === "string" && rawKey.length <= 128 ? rawKey : null;
  const source = e.source as Record<string, unknown> | undefined;
  const lsn = source && typeof source === "object" ? source.lsn : undefined;
  if (typeof lsn !== "number" || !Number.isSafeInteger(lsn) || lsn < 0) return { ok: false, reason: "source.lsn (the change's log position, a non-negative integer) is required", path: "$.source.lsn", key };
  const ts = e.ts_ms;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) return { ok: false, reason: "ts_ms (epoch milliseconds) is required", path: "$.ts_ms", key };
  if (!image || typeof image !== "object" || Array.isArray(image)) return { ok: false, reason: `op ${op} needs the ${imageName} image`, path: `$.${imageName}`, key };
  if (op === "d") {
    if (key === null) return { ok: false, reason: `a delete needs ${c.keyField} in before`, path: `$.before.${c.keyField}`, key };
    const change: Record<string, unknown> = {};
    for (const f of c.fields) change[f.name] = null;
    change[c.keyField] = key;
    return { ok: true, change: { ...change, _op: op, _lsn: lsn, _ts_ms: ts }, key, lsn, op: "d" };
  }
  const r = c.validate(image);
  if (!r.ok) return { ok: false, reason: r.reason, path: `$.after${r.path.slice(1)}`, key };
  return { ok: true, change: { ...r.value, _op: op, _lsn: lsn, _ts_ms: ts }, key: r.eventId, lsn, op: op as CdcOp };
}
