// NATS request/reply ingest: lake.ingest.<domain>, body = the same JSON as HTTP, reply = the same
// JSON plus a `status` mirroring the HTTP status. Queue group "ingest" so instances share the load.
//
// Answers go to inbox subjects only. The reply subject is the requester's choice, and ingest publishes
// its answer with its own permissions: a reply subject of `lake.commits.x` would put a record in the
// commit log, `$JS.API.STREAM.PURGE.EVENTS` would empty the events stream. Such a request is refused
// before anything is read or published (not answered, counted, logged); the deployment's permissions
// refuse the publish as well (deploy/nats/permissions.ts: ingest replies only to `_INBOX.>`).
import type { NatsConnection, Subscription } from "@nats-io/nats-core";

import { InvalidNameError, isValidName } from "@lake/contracts";
import { isInboxSubject, subjects } from "@lake/messaging";
import { contextFromHeaders, Counter, type Logger, type Registry } from "@lake/telemetry";

import { replyStatus, RequestError } from "../domain/classify.ts";
import { errorBody } from "../http/server.ts";
import type { Publisher } from "./publisher.ts";

export const INGEST_QUEUE = "ingest";

/** nats-server's default max_payload, if the connection has not reported the server's yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** At most one "request refused" log line per this many ms (a hostile client can send thousands); the counter counts all. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export function startNatsEndpoint(opts: { nc: NatsConnection; publisher: Publisher; maxBodyBytes: number; log: Logger; metrics: Registry }): Subscription {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  const refused = new Counter({
    name: "lake_ingest_requests_refused_total",
    help: "NATS requests refused unread (reason reply_not_inbox: the reply subject is not an _INBOX subject)",
    labelNames: ["reason"],
    registers: [opts.metrics],
  });
  let lastLogAt = -Infinity;
  let unlogged = 0;
  const refuse = (subject: string, reply: string) => {
    refused.inc({ reason: "reply_not_inbox" });
    unlogged++;
    const now = Date.now();
    if (now - lastLogAt < REFUSAL_LOG_INTERVAL_MS) return;
    opts.log.warn("request refused: its reply subject is not an inbox", {
      subject: subject.slice(0, 200),
      reply: reply.slice(0, 200),
      refused_since_last_line: unlogged,
    });
    lastLogAt = now;
    unlogged = 0;
  };
  return opts.nc.subscribe(subjects.allIngest, {
    queue: INGEST_QUEUE,
    callback: (err, msg) => {
      if (err) {
        opts.log.error("ingest subscription error", { err });
        return;
      }
      // A request without a reply subject is still served (fire and forget); one naming anything but an
      // inbox is not served at all.
      if (msg.reply && !isInboxSubject(msg.reply)) return refuse(msg.subject, msg.reply);
      void (async () => {
        const domain = msg.subject.slice(subjects.ingest("").length);
        let status: number;
        let body: unknown;
        try {
          if (!isValidName(domain)) throw new InvalidNameError("domain", domain);
          if (msg.data.byteLength > opts.maxBodyBytes)
            throw new RequestError(413, "body_too_large", `request of ${msg.data.byteLength} bytes exceeds the ${opts.maxBodyBytes}-byte limit`);
          let text: string;
          try {
            text = decoder.decode(msg.data);
          } catch {
            throw new RequestError(400, "invalid_utf8", "request body is not valid UTF-8");
          }
          // The reply must fit in one NATS message: a request whose answer could not be sent is refused
          // before anything is published (the producer would otherwise time out and retry it).
          const maxReplyBytes = opts.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
          const { batch, reply } = await opts.publisher.ingest(domain, text, "nats", contextFromHeaders(msg.headers), { maxReplyBytes });
          status = replyStatus(batch, reply);
          body = reply;
        } catch (e) {
          ({ status, body } = errorBody(e));
        }
        if (!msg.reply) return;
        let out = encoder.encode(JSON.stringify({ status, ...(body as object) }));
        const limit = opts.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
        if (out.byteLength > limit) {
          // replyBound makes this unreachable; if it ever isn't, say so instead of leaving the requester to time out.
          opts.log.error("ingest reply larger than max_payload", { domain, bytes: out.byteLength, max_payload: limit });
          out = encoder.encode(
            JSON.stringify({
              status: 500,
              error: "internal",
              message: `the reply (${out.byteLength} bytes) exceeds max_payload (${limit} bytes); retry with smaller batches and the same event ids`,
            }),
          );
        }
        msg.respond(out);
      })().catch((e) => opts.log.error("ingest request failed", { err: e }));
    },
  });
}
