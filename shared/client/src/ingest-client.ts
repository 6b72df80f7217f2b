// Sends events to ingest over HTTP or NATS request/reply; both answer with the same per-record reply.
import type { NatsConnection } from "@nats-io/nats-core";
import type { IngestReply as WireReply } from "@lake/ingest";

export type { RecordResult as IngestRecordResult } from "@lake/ingest";

/** Ingest's reply (the same over HTTP and NATS) with the HTTP status folded in. */
export type IngestReply = Partial<WireReply> & { status: number; results: WireReply["results"]; max_offset: number | null; error?: string; message?: string };

export async function sendHttp(baseUrl: string, domain: string, body: unknown, rawBody?: string | Uint8Array): Promise<IngestReply> {
  const res = await fetch(new URL(`/v1/domains/${encodeURIComponent(domain)}/events`, baseUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: rawBody ?? JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { error: "unparseable_reply", message: text };
  }
  return { ...(parsed as unknown as IngestReply), status: res.status };
}

export async function sendNats(nc: NatsConnection, domain: string, body: unknown, timeoutMs = 10_000): Promise<IngestReply> {
  const msg = await nc.request(`lake.ingest.${domain}`, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  return JSON.parse(new TextDecoder().decode(msg.data)) as IngestReply;
}
