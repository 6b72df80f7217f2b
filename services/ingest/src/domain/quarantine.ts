// Pure part of quarantine inspection and replay: request parameters and bodies in, decisions out.
// No I/O: the wiring (src/nats/quarantine.ts) loads the quarantined record and its replay-ledger
// entry, asks decideReplay what to do, and does it.
import type { DomainContract, QuarantinedEntry, QuarantinedRecord, ReplayReply, ReplayResult, UndecodableEntry } from "@lake/contracts";
import { isoInstant, quarantinedRecordCodec, quarantineReplayCodec } from "@lake/contracts";

import { type Classified, classify, RequestError, type WireLimits } from "./classify.ts";

export const QUARANTINE_LIST_DEFAULT_LIMIT = 100;
export const QUARANTINE_LIST_MAX_LIMIT = 500;
/** A page stops early once its raw copies reach this size: each may be up to LAKE_QUARANTINE_MAX_BYTES. */
export const QUARANTINE_LIST_MAX_RAW_BYTES = 4 * 1024 * 1024;
export const REPLAY_MAX_ITEMS = 100;

// ---- list ------------------------------------------------------------------------------------

export interface ListQuery {
  /** Quarantine stream sequence to start after (0 = from the beginning). */
  after: number;
  limit: number;
}

const LIST_PARAMS = new Set(["after", "limit"]);

/** Parses `?after=&limit=` strictly: unknown, repeated or non-integer parameters are a 400. */
export function parseListQuery(query: URLSearchParams): ListQuery {
  for (const key of new Set(query.keys())) {
    if (!LIST_PARAMS.has(key)) throw new RequestError(400, "unknown_parameter", `unknown query parameter ${clip(key)}; use after and limit`);
    if (query.getAll(key).length > 1) throw new RequestError(400, "repeated_parameter", `query parameter ${key} is given more than once`);
  }
  const after = query.get("after");
  const limit = query.get("limit");
  const out: ListQuery = { after: 0, limit: QUARANTINE_LIST_DEFAULT_LIMIT };
  if (after !== null) {
    const n = nonNegativeInt(after);
    if (n === undefined) throw new RequestError(400, "invalid_after", `after must be a non-negative integer (a quarantine sequence), got ${clip(after)}`);
    out.after = n;
  }
  if (limit !== null) {
    const n = nonNegativeInt(limit);
    if (n === undefined || n < 1 || n > QUARANTINE_LIST_MAX_LIMIT) {
      throw new RequestError(400, "invalid_limit", `limit must be an integer from 1 to ${QUARANTINE_LIST_MAX_LIMIT}, got ${clip(limit)}`);
    }
    out.limit = n;
  }
  return out;
}

/** A quarantine message as loaded: the record, or why it does not stand. */
export type StoredQuarantine = { kind: "record"; record: QuarantinedRecord } | { kind: "undecodable"; error: string; bytes: number; storedAt: number };

export function toListEntry(seq: number, q: QuarantinedRecord, ledger: ReplayLedgerEntry | undefined): QuarantinedEntry {
  return {
    seq,
    status: "quarantined",
    event_id: q.event_id,
    reason: q.reason,
    path: q.path,
    raw: q.raw,
    truncated: q.truncated,
    received_at: isoInstant(q.received_at),
    source: q.source,
    // A claim without a completion is a replay in flight (or one that crashed and will be resumed
    // by the next attempt): the record is not in the domain stream for sure, so it is not "replayed".
    replayed: ledger?.state === "done" ? { offset: ledger.offset, at: isoInstant(ledger.at) } : null,
  };
}

export function toUndecodableEntry(seq: number, s: Extract<StoredQuarantine, { kind: "undecodable" }>): UndecodableEntry {
  return { seq, status: "undecodable", event_id: null, error: s.error, bytes: s.bytes, stored_at: isoInstant(s.storedAt) };
}

/**
 * Reads a stored quarantine message of `domain`. Anything that does not decode as a QuarantinedRecord,
 * or names another domain than the subject it was stored on, is undecodable: void, never replayed.
 */
export function readStoredQuarantine(domain: string, bytes: Uint8Array, storedAt: number): StoredQuarantine {
  let record: QuarantinedRecord;
  try {
    record = quarantinedRecordCodec.decode(bytes);
  } catch (e) {
    return { kind: "undecodable", error: (e as Error).message, bytes: bytes.byteLength, storedAt };
  }
  if (record.domain !== domain) {
    return {
      kind: "undecodable",
      error: `the record names domain ${JSON.stringify(record.domain.slice(0, 80))}, not ${domain} (the subject it is stored on)`,
      bytes: bytes.byteLength,
      storedAt,
    };
  }
  return { kind: "record", record };
}

// ---- replay request --------------------------------------------------------------------------

/** One item of a replay request: the quarantine sequence, and the corrected record if one was sent. */
export type ReplayItem = { seq: number; corrected: false } | { seq: number; corrected: true; record: unknown };

const REPLAY_SHAPE = `expected {"items": [{"seq": N}, {"seq": N, "record": {...corrected record...}}, ...]}`;

/** Parses a replay body. Throws RequestError (400/413) for a request that is not a list of items. */
export function parseReplayBody(text: string, maxItems = REPLAY_MAX_ITEMS): ReplayItem[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RequestError(400, "malformed_json", `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(parsed) || !Array.isArray(parsed.items))
    throw new RequestError(400, "invalid_replay", `request body must be an object with an items array; ${REPLAY_SHAPE}`);
  for (const k of Object.keys(parsed)) {
    if (k !== "items") throw new RequestError(400, "invalid_replay", `unknown field ${clip(k)}; ${REPLAY_SHAPE}`);
  }
  const items = parsed.items as unknown[];
  if (items.length === 0) throw new RequestError(400, "empty_batch", "items is empty: name at least one quarantined record");
  if (items.length > maxItems) throw new RequestError(413, "batch_too_large", `replay has ${items.length} items; the limit is ${maxItems}`);
  const seen = new Set<number>();
  return items.map((item, i) => {
    if (!isPlainObject(item)) throw new RequestError(400, "invalid_replay", `items[${i}] must be an object; ${REPLAY_SHAPE}`);
    for (const k of Object.keys(item)) {
      if (k !== "seq" && k !== "record") throw new RequestError(400, "invalid_replay", `items[${i}] has unknown field ${clip(k)}; ${REPLAY_SHAPE}`);
    }
    const seq = item.seq;
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
      throw new RequestError(400, "invalid_seq", `items[${i}].seq must be a positive integer (a quarantine sequence), got ${show(seq)}`);
    }
    // Two items for one record would race each other for its single replay: say so instead.
    if (seen.has(seq)) throw new RequestError(400, "duplicate_seq", `seq ${seq} appears more than once in items`);
    seen.add(seq);
    // A present `record` (even null) is a correction: the validator then says what is wrong with it.
    return Object.hasOwn(item, "record") ? { seq, corrected: true, record: item.record } : { seq, corrected: false };
  });
}

// ---- replay ledger ---------------------------------------------------------------------------

/**
 * What the replay ledger remembers of one quarantined record. A replay first appends a claim (with a
 * compare-and-set on "nothing there yet"), then publishes, then appends `done` (CAS on the claim).
 * The claim pins the event id before anything is published, so two racing replays with different
 * corrected ids can't both reach the domain stream; `done` keeps the offset forever, so a replay
 * after JetStream's duplicate window has passed is still recognised.
 */
export type ReplayLedgerEntry = { state: "claimed"; event_id: string; at: number } | { state: "done"; event_id: string; offset: number; at: number };

/** A ledger entry that does not parse: written by something else, or by a newer build. */
export class LedgerEntryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LedgerEntryError";
  }
}

export function encodeLedgerEntry(e: ReplayLedgerEntry): Uint8Array {
  return quarantineReplayCodec.encode({ state: e.state, event_id: e.event_id, offset: e.state === "done" ? e.offset : null, at: e.at });
}

export function decodeLedgerEntry(bytes: Uint8Array): ReplayLedgerEntry {
  let v: ReturnType<typeof quarantineReplayCodec.decode>;
  try {
    v = quarantineReplayCodec.decode(bytes);
  } catch (cause) {
    throw new LedgerEntryError("replay ledger entry is not a QuarantineReplay record", { cause });
  }
  if (v.state === "claimed") return { state: "claimed", event_id: v.event_id, at: v.at };
  if (v.offset !== null && Number.isSafeInteger(v.offset) && v.offset > 0) return { state: "done", event_id: v.event_id, offset: v.offset, at: v.at };
  throw new LedgerEntryError(`replay ledger entry is done but has no offset (${JSON.stringify(v.event_id)})`);
}

/** Entries a ledger read walks through before giving up: a real ledger holds two (claim, done). */
export const LEDGER_MAX_ENTRIES = 100;

/**
 * The ledger of one record from its messages, oldest first: the tail is the last message, the state
 * the last entry that decodes (void entries are skipped by every reader alike).
 */
export function foldLedger(messages: readonly { seq: number; data: Uint8Array }[]): LedgerView | undefined {
  const last = messages.at(-1);
  if (!last) return undefined;
  let entry: ReplayLedgerEntry | undefined;
  for (const m of messages) {
    try {
      entry = decodeLedgerEntry(m.data);
    } catch (e) {
      if (!(e instanceof LedgerEntryError)) throw e;
    }
  }
  return { seq: last.seq, entry };
}

// ---- replay decision -------------------------------------------------------------------------

/**
 * A record's replay ledger as read. `seq` is the sequence of the last message on the ledger subject:
 * the compare-and-set token for the next entry, whatever that message holds. `entry` is the last entry
 * that stands: one that does not decode (junk another client published there) is void and skipped,
 * so it can neither erase a replay nor block one. `unreadable` says why the ledger could not be read
 * (more void entries than a read walks through).
 */
export interface LedgerView {
  seq: number;
  entry: ReplayLedgerEntry | undefined;
  unreadable?: string;
}

export interface ReplayState {
  /** The quarantine message at the item's seq, or undefined if that seq holds none of this domain's. */
  quarantined: StoredQuarantine | undefined;
  /** The record's ledger; undefined when nothing was ever appended to it. */
  ledger: LedgerView | undefined;
}

export type ReplayDecision =
  | { kind: "not_found"; reason: string }
  | { kind: "duplicate"; eventId: string; offset: number }
  | { kind: "rejected"; eventId: string | null; reason: string; path: string }
  /** The stored message (or its ledger) does not stand: no replay of it can ever succeed. */
  | { kind: "undecodable"; reason: string }
  /**
   * Publish `record`. `claimSeq` undefined: append a claim first, expecting the record's ledger to
   * still end at `expectedLedgerSeq` (0: empty). A number: resume the claim an earlier attempt made
   * with the same event id and did not finish; the completion expects the ledger to end at that
   * sequence (the claim's, or a void entry's after it).
   */
  | { kind: "publish"; record: Classified & { ok: true }; expectedLedgerSeq: number; claimSeq: number | undefined };

/**
 * Decides one replay item. Order matters: a record that was already replayed answers `duplicate`
 * whatever was sent this time ("replay twice is still once"); a still-invalid record is refused with
 * the validator's own reason (ingest's classify, not a second validator), at `now`, the ingest clock:
 * a record refused for an event time in the future replays once its time has come.
 */
export function decideReplay(domain: string, item: ReplayItem, state: ReplayState, contract: DomainContract, now: number, limits?: WireLimits): ReplayDecision {
  const stored = state.quarantined;
  if (!stored) return { kind: "not_found", reason: `no quarantined record of domain ${domain} at seq ${item.seq}` };
  if (stored.kind === "undecodable") {
    return {
      kind: "undecodable",
      reason: `the quarantine message at seq ${item.seq} is not a readable quarantined record (${stored.error}); it cannot be replayed`,
    };
  }
  const q = stored.record;
  if (state.ledger?.unreadable)
    return { kind: "undecodable", reason: `the replay ledger of seq ${item.seq} cannot be read (${state.ledger.unreadable}); it cannot be replayed` };
  const ledger = state.ledger?.entry;
  if (ledger?.state === "done") return { kind: "duplicate", eventId: ledger.event_id, offset: ledger.offset };

  let candidate: unknown;
  if (item.corrected) candidate = item.record;
  else if (q.truncated) {
    return {
      kind: "rejected",
      eventId: q.event_id,
      reason: `the quarantined copy of seq ${item.seq} was truncated; replay it with a corrected record`,
      path: "$",
    };
  } else {
    try {
      candidate = JSON.parse(q.raw);
    } catch {
      return {
        kind: "rejected",
        eventId: q.event_id,
        reason: `the quarantined copy of seq ${item.seq} is not valid JSON; replay it with a corrected record`,
        path: "$",
      };
    }
  }

  const c = classify([candidate], contract, now, limits)[0]!;
  if (!c.ok) return { kind: "rejected", eventId: c.eventId, reason: c.reason, path: c.path };

  // The event id is the dedupe key end to end: a correction may fix any field but the identity of
  // the event, unless the id itself is what got the record quarantined.
  const keyPath = `$.${contract.keyField}`;
  if (q.event_id !== null && q.path !== keyPath && c.eventId !== q.event_id) {
    return {
      kind: "rejected",
      eventId: c.eventId,
      reason: `${contract.keyField} must stay ${JSON.stringify(q.event_id)} (the quarantined record's); the corrected record has ${JSON.stringify(c.eventId)}`,
      path: keyPath,
    };
  }
  if (ledger?.state === "claimed") {
    if (ledger.event_id !== c.eventId) {
      return {
        kind: "rejected",
        eventId: c.eventId,
        reason: `a replay of seq ${item.seq} with ${contract.keyField} ${JSON.stringify(ledger.event_id)} is in progress or unfinished; replay it with that ${contract.keyField}`,
        path: keyPath,
      };
    }
    return { kind: "publish", record: c, expectedLedgerSeq: state.ledger!.seq, claimSeq: state.ledger!.seq };
  }
  return { kind: "publish", record: c, expectedLedgerSeq: state.ledger?.seq ?? 0, claimSeq: undefined };
}

// ---- replay reply ----------------------------------------------------------------------------

export function summariseReplay(domain: string, results: ReplayResult[]): ReplayReply {
  const reply: ReplayReply = { domain, accepted: 0, duplicates: 0, rejected: 0, not_found: 0, undecodable: 0, failed: 0, max_offset: null, results };
  for (const r of results) {
    if (r.status === "accepted") reply.accepted++;
    else if (r.status === "duplicate") reply.duplicates++;
    else if (r.status === "rejected") reply.rejected++;
    else if (r.status === "not_found") reply.not_found++;
    else if (r.status === "undecodable") reply.undecodable++;
    else reply.failed++;
    if ((r.status === "accepted" || r.status === "duplicate") && (reply.max_offset === null || r.offset > reply.max_offset)) reply.max_offset = r.offset;
  }
  return reply;
}

/**
 * A replay always reports per item; only an item that may succeed on retry makes it a 503, and a
 * request naming nothing but messages that can never be replayed (undecodable) is a 422.
 */
export function replayStatus(reply: ReplayReply): number {
  if (reply.failed > 0) return 503;
  if (reply.results.length > 0 && reply.undecodable === reply.results.length) return 422;
  return 200;
}

// ---- helpers ---------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonNegativeInt(s: string): number | undefined {
  if (!/^\d{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A JSON value as the client sent it, cut short for an error message. */
function show(v: unknown): string {
  const s = v === undefined ? "nothing" : JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 60) + "…" : s;
}

function clip(s: string): string {
  return s.length > 60 ? JSON.stringify(s.slice(0, 60)) + "…" : JSON.stringify(s);
}
