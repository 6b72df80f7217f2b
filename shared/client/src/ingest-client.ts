// Sends events to ingest over HTTP or NATS request/reply (both answer with the same per-record reply),
// and lists and replays its quarantine over HTTP.
import type { Msg, NatsConnection } from "@nats-io/nats-core";

import type { IngestReply as WireReply, QuarantineList, ReplayReply, ReplayRequestItem } from "@lake/contracts";

import { fetchFrom, postJson } from "./reach.ts";

export type {
  RecordResult as IngestRecordResult,
  QuarantineEntry,
  QuarantinedEntry,
  UndecodableEntry,
  QuarantineList,
  ReplayResult,
  ReplayReply,
  ReplayRequestItem,
} from "@lake/contracts";

/** Ingest's reply (the same over HTTP and NATS) with the HTTP status folded in. */
export type IngestReply = Partial<WireReply> & { status: number; results: WireReply["results"]; max_offset: number | null; error?: string; message?: string };

/**
 * Where ingest's HTTP API is: its URL, or its URL and the bearer token to send (needed when ingest runs
 * with LAKE_INGEST_TOKENS_FILE: a producer token to send events, an operator token for the quarantine).
 */
export type IngestEndpoint = string | { url: string; token?: string | undefined };

function endpointOf(e: IngestEndpoint): { baseUrl: string; auth: Record<string, string> } {
  if (typeof e === "string") return { baseUrl: e, auth: {} };
  return { baseUrl: e.url, auth: e.token ? { authorization: `Bearer ${e.token}` } : {} };
}

export async function sendHttp(target: IngestEndpoint, domain: string, body: unknown, rawBody?: string | Uint8Array): Promise<IngestReply> {
  const { baseUrl, auth } = endpointOf(target);
  const res = await postJson(
    "ingest",
    new URL(`/v1/domains/${encodeURIComponent(domain)}/events`, baseUrl),
    { "content-type": "application/json", ...auth },
    rawBody ?? JSON.stringify(body),
  );
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    parsed = { error: "unparseable_reply", message: res.text };
  }
  return { ...(parsed as unknown as IngestReply), status: res.status };
}

/**
 * Sends a batch over NATS request/reply. A request in flight when the connection drops (a nats-server
 * restart, the loss of the node the client is on) is lost with it, and nats.js would wait out the whole
 * timeout: it is sent again as soon as the connection is back, after at most MAX_NATS_RECONNECTS
 * reconnects within `timeoutMs`, and whichever send is answered first is the answer (the first one may
 * have got through after all). Ingest keeps each event id once, so the events of an earlier send that
 * did land are answered as duplicates, with their offsets. Around a reconnect ingest may not be back on
 * the server yet (no responders): within RECENT_TROUBLE_MS of the connection dropping or coming back,
 * that is asked again every NO_RESPONDERS_PAUSE_MS until the timeout; otherwise no responders is thrown
 * (no ingest runs).
 */
export async function sendNats(nc: NatsConnection, domain: string, body: unknown, timeoutMs = 10_000): Promise<IngestReply> {
  const subject = `lake.ingest.${domain}`;
  const data = new TextEncoder().encode(JSON.stringify(body));
  const deadline = performance.now() + timeoutMs;
  let reconnects = 0;
  /** Earlier sends, still listened to: each settles with its answer or never (a lost one just times out). */
  const earlier: Promise<Msg>[] = [];
  // Bounded: by the deadline, and by MAX_NATS_RECONNECTS reconnects.
  for (;;) {
    const watch = watchOf(nc);
    let onReconnect = (): void => {};
    const reconnected = new Promise<typeof RECONNECTED>((r) => (onReconnect = () => r(RECONNECTED)));
    const reply = nc.request(subject, data, { timeout: Math.max(1, Math.round(deadline - performance.now())) });
    let first: Msg | typeof RECONNECTED;
    try {
      if (reconnects < MAX_NATS_RECONNECTS) watch.waiting.add(onReconnect);
      first = await Promise.race([reply, reconnected, ...earlier]);
    } catch (e) {
      if (!(isNoResponders(e) && performance.now() + NO_RESPONDERS_PAUSE_MS < deadline)) throw e;
      // The pause also lets the connection's status (a reconnect just now) be heard.
      await new Promise((r) => setTimeout(r, NO_RESPONDERS_PAUSE_MS));
      if (!(performance.now() - watch.troubleAt < RECENT_TROUBLE_MS)) throw e;
      continue;
    } finally {
      watch.waiting.delete(onReconnect);
    }
    if (first !== RECONNECTED) return JSON.parse(new TextDecoder().decode(first.data)) as IngestReply;
    reconnects++;
    earlier.push(reply.catch(() => new Promise<Msg>(() => {})));
    if (performance.now() >= deadline) return JSON.parse(new TextDecoder().decode((await reply).data)) as IngestReply;
  }
}

/**
 * nats.js's RequestError for "no responders", told by its own method: nats-core is not loaded for it
 * (the CLI's start loads none of the heavy packages, and a producer may have its own copy).
 */
function isNoResponders(e: unknown): boolean {
  const f = (e as { isNoResponders?: unknown } | null)?.isNoResponders;
  return typeof f === "function" && (f as () => unknown).call(e) === true;
}

/** The pause before asking again when no ingest answers just after a reconnect. */
const NO_RESPONDERS_PAUSE_MS = 100;

/** Reconnects after which a batch is sent again (so it is sent at most this many times plus one, besides no-responders retries). */
const MAX_NATS_RECONNECTS = 4;
const RECONNECTED = Symbol("reconnected");

/** How long after the connection dropped or came back a missing ingest is taken for one not back yet. */
const RECENT_TROUBLE_MS = 10_000;

/** A connection's status as sendNats needs it: who waits for its next reconnect; when it last dropped or came back. */
interface ConnectionWatch {
  waiting: Set<() => void>;
  troubleAt: number;
}

/** One status listener per connection, not per request; a request waits in `waiting` only while it is in flight. */
const watches = new WeakMap<NatsConnection, ConnectionWatch>();

function watchOf(nc: NatsConnection): ConnectionWatch {
  let w = watches.get(nc);
  if (!w) {
    const watch: ConnectionWatch = { waiting: new Set(), troubleAt: -Infinity };
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnecting") watch.troubleAt = performance.now();
        if (s.type !== "reconnect") continue;
        watch.troubleAt = performance.now();
        const waiting = [...watch.waiting];
        watch.waiting.clear();
        for (const f of waiting) f();
      }
    })().catch(() => {});
    watches.set(nc, (w = watch));
  }
  return w;
}

/** A request ingest refused as a whole (bad parameters, unknown domain, unavailable), with its stable code. */
export class IngestRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "IngestRequestError";
  }
}

async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { error: "unparseable_reply", message: text.slice(0, 500) };
  }
}

function requestError(status: number, body: Record<string, unknown>): IngestRequestError {
  const code = typeof body.error === "string" ? body.error : "error";
  const message = typeof body.message === "string" ? body.message : `ingest answered ${status}`;
  return new IngestRequestError(status, code, message, body);
}

/** A page of a domain's quarantined records, oldest first. Throws IngestRequestError unless 200. */
export async function listQuarantine(target: IngestEndpoint, domain: string, opts: { after?: number; limit?: number } = {}): Promise<QuarantineList> {
  const { baseUrl, auth } = endpointOf(target);
  const url = new URL(`/v1/domains/${encodeURIComponent(domain)}/quarantine`, baseUrl);
  if (opts.after !== undefined) url.searchParams.set("after", String(opts.after));
  if (opts.limit !== undefined) url.searchParams.set("limit", String(opts.limit));
  const res = await fetchFrom("ingest", url, { headers: auth });
  const body = await readJson(res);
  if (res.status !== 200) throw requestError(res.status, body);
  return body as unknown as QuarantineList;
}

/**
 * Replays quarantined records through ingest's validation and publish path. Answers per item (with
 * the HTTP status folded in: 503 when an item failed and may be retried); throws IngestRequestError
 * when the request was refused whole.
 */
export async function replayQuarantine(target: IngestEndpoint, domain: string, items: readonly ReplayRequestItem[]): Promise<ReplayReply & { status: number }> {
  const { baseUrl, auth } = endpointOf(target);
  const res = await fetchFrom("ingest", new URL(`/v1/domains/${encodeURIComponent(domain)}/quarantine/replay`, baseUrl), {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ items }),
  });
  const body = await readJson(res);
  if (!Array.isArray(body.results)) throw requestError(res.status, body);
  return { ...(body as unknown as ReplayReply), status: res.status };
}
