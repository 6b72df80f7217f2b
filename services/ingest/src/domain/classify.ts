// Pure part of ingest: a request body becomes a list of records, each valid (ready to publish) or
// refused with a reason. No I/O.
import { type DomainContract, isCdcContract, validateChange } from "@lake/contracts";
import { HttpError } from "@lake/http";

export type Classified =
  | { index: number; ok: true; eventId: string; value: Record<string, unknown> }
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

export function classify(records: readonly unknown[], contract: DomainContract): Classified[] {
  if (isCdcContract(contract)) {
    // A change's identity is its key at its source log position: the same change delivered twice has
    // the same id, so JetStream dedupes it like any producer retry.
    return records.map((raw, index) => {
      const r = validateChange(contract, raw);
      return r.ok
        ? { index, ok: true, eventId: `${r.key}@${r.lsn}`, value: r.change }
        : { index, ok: false, eventId: r.key, reason: r.reason, path: r.path, raw };
    });
  }
  return records.map((raw, index) => {
    const r = contract.validate(raw);
    return r.ok
      ? { index, ok: true, eventId: r.eventId, value: r.value }
      : { index, ok: false, eventId: r.eventId, reason: r.reason, path: r.path, raw };
  });
}

export type RecordResult =
  | { index: number; event_id: string; status: "accepted"; offset: number }
  | { index: number; event_id: string; status: "duplicate"; offset: number }
  | { index: number; event_id: string | null; status: "rejected"; reason: string; path: string }
  | { index: number; event_id: string; status: "failed"; reason: string; retryable: true };

export interface IngestReply {
  domain: string;
  accepted: number;
  duplicates: number;
  rejected: number;
  failed: number;
  /** Highest offset among accepted/duplicate records: the read-after-write token for the whole request. */
  max_offset: number | null;
  results: RecordResult[];
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
