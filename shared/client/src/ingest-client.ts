// Sends events to ingest over HTTP or NATS request/reply (both answer with the same per-record reply),
// and lists and replays its quarantine over HTTP.
import type { NatsConnection } from "@nats-io/nats-core";

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

export async function sendNats(nc: NatsConnection, domain: string, body: unknown, timeoutMs = 10_000): Promise<IngestReply> {
  const msg = await nc.request(`lake.ingest.${domain}`, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  return JSON.parse(new TextDecoder().decode(msg.data)) as IngestReply;
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
