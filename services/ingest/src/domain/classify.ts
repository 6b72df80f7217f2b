// Pure part of ingest: a request body becomes a list of records, each valid (ready to publish) or
// refused with a reason. No I/O.
import { cdcChangeCodec, type DomainContract, type IngestReply, isCdcContract, type RecordResult, validateChange } from "@lake/contracts";
import { HttpError } from "@lake/http";

export type Classified =
  /** `bytes`: the record as published (Avro), when classify was given wire limits. */
  | { index: number; ok: true; eventId: string; value: Record<string, unknown>; bytes?: Uint8Array }
  | { index: number; ok: false; eventId: string | null; reason: string; path: string; raw: unknown };

/** A request that is not records at all (bad JSON, too many records): refused whole. */
export class RequestError extends HttpError {
  override name = "RequestError";
}

export interface ParsedBody {
  batch: boolean;
  records: unknown[];
}

/** Parses a JSON body: one object, or an array of them (a batch). */
export function parseBody(text: string, maxBatch: number): ParsedBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RequestError(400, "malformed_json", `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new RequestError(400, "empty_batch", "batch is empty: send at least one record");
    if (parsed.length > maxBatch) throw new RequestError(413, "batch_too_large", `batch has ${parsed.length} records; the limit is ${maxBatch}`);
    return { batch: true, records: parsed };
  }
  return { batch: false, records: [parsed] };
}

/** What a valid record must also fit: the NATS message that carries it to the domain stream. */
export interface WireLimits {
  /** Largest record (as Avro) a NATS message carries beside its headers: the server's max_payload less room for them. */
  maxRecordBytes: number;
}

/** Room left for an event's NATS headers (Nats-Msg-Id ≤ ~210 bytes, Lake-Schema, traceparent) within max_payload. */
export const HEADER_ALLOWANCE_BYTES = 1024;

/**
 * Checks each record against the contract at `now` (the ingest clock: it bounds event times). With
 * `limits`, valid records are also encoded (the bytes travel with them to the publish) and one too
 * large for a NATS message is refused at `$`: its publish could never succeed.
 */
export function classify(records: readonly unknown[], contract: DomainContract, now: number, limits?: WireLimits): Classified[] {
  let out: Classified[];
  if (isCdcContract(contract)) {
    // A change's identity is its key at its source log position: the same change delivered twice has
    // the same id, so JetStream dedupes it like any producer retry.
    out = records.map((raw, index) => {
      const r = validateChange(contract, raw, now);
      return r.ok
        ? { index, ok: true, eventId: `${r.key}@${r.lsn}`, value: r.change }
        : { index, ok: false, eventId: r.key, reason: r.reason, path: r.path, raw };
    });
  } else {
    out = records.map((raw, index) => {
      const r = contract.validate(raw, now);
      return r.ok ? { index, ok: true, eventId: r.eventId, value: r.value } : { index, ok: false, eventId: r.eventId, reason: r.reason, path: r.path, raw };
    });
  }
  if (!limits) return out;
  const encode = isCdcContract(contract) ? cdcChangeCodec(contract).encode : contract.encode;
  // In place: the hot path allocates nothing per record beyond its encoding.
  for (let i = 0; i < out.length; i++) {
    const c = out[i]!;
    if (!c.ok) continue;
    const bytes = encode(c.value);
    if (bytes.byteLength <= limits.maxRecordBytes) {
      c.bytes = bytes;
      continue;
    }
    out[i] = {
      index: c.index,
      ok: false,
      eventId: c.eventId,
      reason: `the record is ${bytes.byteLength} bytes as Avro, more than the ${limits.maxRecordBytes} bytes a NATS message carries beside its headers (the server's max_payload): it could never be published`,
      path: "$",
      raw: records[c.index],
    };
  }
  return out;
}

/** A failed publish's reason is cut to this many characters, so a reply's size has a bound before publishing. */
export const MAX_FAILED_REASON = 120;

/**
 * The reason of a record whose publish failed: printable ASCII without quotes or backslashes (so its
 * JSON is exactly as long as it is), at most MAX_FAILED_REASON characters.
 */
export function failedReason(what: string, e: unknown): string {
  const text = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  return text
    .replace(/[^\x20-\x7e]/g, "?")
    .replace(/["\\]/g, "'")
    .slice(0, MAX_FAILED_REASON);
}

/** The largest offset a reply can carry (JetStream sequences are uint64; JSON numbers stay below 2^53). */
const MAX_OFFSET_TEXT = String(Number.MAX_SAFE_INTEGER);

/**
 * An upper bound of the bytes of the reply (as JSON, UTF-8, with the NATS endpoint's `status`) to a
 * request of these classified records, known before anything is published: a refused record's entry
 * is exact, a valid one's is the larger of accepted/duplicate (with the largest offset) and failed
 * (with the longest reason). The NATS endpoint refuses a request whose reply could exceed the server's
 * max_payload: it could never be answered, and the producer would retry a request already processed.
 */
export function replyBound(domain: string, classified: readonly Classified[]): number {
  const envelope = {
    status: 503,
    domain,
    accepted: classified.length,
    duplicates: classified.length,
    rejected: classified.length,
    failed: classified.length,
    max_offset: Number.MAX_SAFE_INTEGER,
    results: [],
  };
  let bytes = Buffer.byteLength(JSON.stringify(envelope));
  const failed = "x".repeat(MAX_FAILED_REASON);
  for (const c of classified) {
    // Each entry, plus the comma between entries.
    if (!c.ok) {
      bytes += Buffer.byteLength(JSON.stringify({ index: c.index, event_id: c.eventId, status: "rejected", reason: c.reason, path: c.path })) + 1;
      continue;
    }
    const id = Buffer.byteLength(JSON.stringify(c.eventId));
    const stored = `{"index":${c.index},"event_id":,"status":"duplicate","offset":${MAX_OFFSET_TEXT}}`.length;
    const failedEntry = `{"index":${c.index},"event_id":,"status":"failed","reason":"${failed}","retryable":true}`.length;
    bytes += id + Math.max(stored, failedEntry) + 1;
  }
  return bytes;
}

export function summarise(domain: string, results: RecordResult[]): IngestReply {
  const reply: IngestReply = { domain, accepted: 0, duplicates: 0, rejected: 0, failed: 0, max_offset: null, results };
  for (const r of results) {
    if (r.status === "accepted") reply.accepted++;
    else if (r.status === "duplicate") reply.duplicates++;
    else if (r.status === "rejected") reply.rejected++;
    else reply.failed++;
    if ((r.status === "accepted" || r.status === "duplicate") && (reply.max_offset === null || r.offset > reply.max_offset)) reply.max_offset = r.offset;
  }
  return reply;
}

/** HTTP status of a reply: a lone refused record is the client's error; a batch reports per record. */
export function replyStatus(batch: boolean, reply: IngestReply): number {
  if (reply.failed > 0) return 503;
  if (!batch && reply.rejected > 0) return 422;
  return 200;
}
