// NATS request/reply ingest: lake.ingest.<domain>, body = the same JSON as HTTP, reply = the same
// JSON plus a `status` mirroring the HTTP status. Queue group "ingest" so instances share the load.
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { isValidName, InvalidNameError } from "@lake/contracts";
import { subjects } from "@lake/messaging";
import { contextFromHeaders, type Logger } from "@lake/telemetry";
import { RequestError, replyStatus } from "../domain/classify.ts";
import { errorBody } from "../http/server.ts";
import type { Publisher } from "./publisher.ts";

export const INGEST_QUEUE = "ingest";

/** nats-server's default max_payload, if the connection has not reported the server's yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export function startNatsEndpoint(opts: { nc: NatsConnection; publisher: Publisher; maxBodyBytes: number; log: Logger }): Subscription {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  return opts.nc.subscribe(subjects.allIngest, {
    queue: INGEST_QUEUE,
    callback: (err, msg) => {
      if (err) {
        opts.log.error("ingest subscription error", { err });
        return;
      }
      void (async () => {
        const domain = msg.subject.slice(subjects.ingest("").length);
        let status: number;
        let body: unknown;
        try {
          if (!isValidName(domain)) throw new InvalidNameError("domain", domain);
          if (msg.data.byteLength > opts.maxBodyBytes) throw new RequestError(413, "body_too_large", `request of ${msg.data.byteLength} bytes exceeds the ${opts.maxBodyBytes}-byte limit`);
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
          out = encoder.encode(JSON.stringify({ status: 500, error: "internal", message: `the reply (${out.byteLength} bytes) exceeds max_payload (${limit} bytes); retry with smaller batches and the same event ids` }));
        }
        msg.respond(out);
      })().catch((e) => opts.log.error("ingest request failed", { err: e }));
    },
  });
}
