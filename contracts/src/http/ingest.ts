// Ingest's HTTP API (and its NATS request/reply, which answers the same JSON): the request and reply
// bodies, typed once here for the service that answers and the clients that ask. The routes are
// documented in docs/http-api.md.

/** One record's outcome in an ingest reply (`results[i]` for the request's i-th record). */
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

/** One quarantined record as the list endpoint shows it. */
export interface QuarantinedEntry {
  seq: number;
  status: "quarantined";
  event_id: string | null;
  reason: string;
  path: string;
  raw: string;
  truncated: boolean;
  /** ISO-8601. */
  received_at: string;
  source: string;
  /** Set once the record has been replayed into the domain stream. */
  replayed: null | { offset: number; at: string };
}

/**
 * A message on lake.quarantine.<domain> that claims to be a quarantined record but does not stand
 * (junk from some other NATS client, or a record of another domain): shown as what it is, so one
 * bad message neither hides nor blocks the rest of the page. It can never be replayed.
 */
export interface UndecodableEntry {
  seq: number;
  status: "undecodable";
  /** No event id can be read from it. */
  event_id: null;
  /** Why it does not stand (the decode error). */
  error: string;
  /** Size of the stored message, bytes. */
  bytes: number;
  /** ISO-8601: when the stream stored it. */
  stored_at: string;
}

export type QuarantineEntry = QuarantinedEntry | UndecodableEntry;

export interface QuarantineList {
  domain: string;
  records: QuarantineEntry[];
  /** Pass as `after` for the next page; null when this page reached the end. */
  next_after: number | null;
}

/** One item of a quarantine replay's reply. */
export type ReplayResult =
  | { seq: number; event_id: string; status: "accepted"; offset: number }
  | { seq: number; event_id: string; status: "duplicate"; offset: number }
  | { seq: number; event_id: string | null; status: "rejected"; reason: string; path: string }
  | { seq: number; status: "not_found"; reason: string }
  | { seq: number; status: "undecodable"; reason: string }
  | { seq: number; event_id: string | null; status: "failed"; reason: string; retryable: true };

export interface ReplayReply {
  domain: string;
  accepted: number;
  duplicates: number;
  rejected: number;
  not_found: number;
  undecodable: number;
  failed: number;
  /** Highest offset among accepted/duplicate items: the read-after-write token for the request. */
  max_offset: number | null;
  results: ReplayResult[];
}

/** One item of a quarantine replay request: the quarantine sequence and, optionally, a corrected record to use instead. */
export interface ReplayRequestItem {
  seq: number;
  record?: unknown;
}
