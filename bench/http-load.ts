// The load generator of the one-event-per-request HTTP runs: a producer sending one event per request on
// kept-alive connections, through undici's Pool (one connection per request in flight), the client a
// load tool like wrk or autocannon would be. The load generator shares the lake's two cores: through
// node:http's client it cost 110-160 µs of CPU per request, as much as ingest itself, and the run
// measured the client as much as the lake; through undici it costs about a third of that. The client
// still answers for its CPU per request (the bench prints it), and the floor runs the same client.
import { Pool } from "undici";

import type { IngestReply } from "@lake/client";

export interface SingleSender {
  /** Posts one event to ingest's /v1/domains/<domain>/events; the reply with its HTTP status. */
  send(domain: string, event: unknown): Promise<IngestReply>;
  close(): Promise<void>;
}

export function singleSender(target: { url: string; token?: string | undefined }, connections: number): SingleSender {
  const pool = new Pool(target.url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  return {
    async send(domain, event) {
      const res = await pool.request({ method: "POST", path: `/v1/domains/${encodeURIComponent(domain)}/events`, headers, body: JSON.stringify(event) });
      const text = await res.body.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { error: "unparseable_reply", message: text.slice(0, 500) };
      }
      return { ...(parsed as unknown as IngestReply), status: res.statusCode };
    },
    close: () => pool.close(),
  };
}
