import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { HttpError, listen, parseTarget, readBody, sendJson } from "@lake/http";
import { isValidName, UnknownDomainError, InvalidNameError } from "@lake/contracts";
import type { Logger } from "@lake/telemetry";
import { RequestError, replyStatus } from "../domain/classify.ts";
import type { Publisher } from "../nats/publisher.ts";

export function errorBody(e: unknown): { status: number; body: { error: string; message: string } } {
  if (e instanceof HttpError) return { status: e.status, body: { error: e.code, message: e.message } };
  if (e instanceof UnknownDomainError) return { status: 404, body: { error: "unknown_domain", message: e.message } };
  if (e instanceof InvalidNameError) return { status: 400, body: { error: "invalid_name", message: e.message } };
  return { status: 503, body: { error: "unavailable", message: `ingest could not complete the request: ${(e as Error).message}; retry with the same event ids` } };
}

export function startHttp(opts: { publisher: Publisher; host: string; port: number; maxBodyBytes: number; log: Logger }): Promise<Server> {
  const server = createServer((req, res) => {
    void handle(req, res).catch((e) => {
      opts.log.error("request failed", { err: e });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse) {
    try {
      const { segments } = parseTarget(req.url);
      const path = "/" + segments.join("/");
      if (path === "/healthz") return sendJson(res, 200, { ok: true });
      if (path === "/v1/stats") return sendJson(res, 200, opts.publisher.stats);
      if (segments.length !== 4 || segments[0] !== "v1" || segments[1] !== "domains" || segments[3] !== "events") {
        throw new HttpError(404, "not_found", `no route ${req.method} ${req.url?.slice(0, 200)}; POST /v1/domains/<domain>/events`);
      }
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      const domain = segments[2]!;
      if (!isValidName(domain)) throw new InvalidNameError("domain", domain);
      opts.publisher.contract(domain); // 404 before reading the body
      const body = await readBody(req, opts.maxBodyBytes);
      const { batch, reply } = await opts.publisher.ingest(domain, body, "http");
      sendJson(res, replyStatus(batch, reply), reply);
    } catch (e) {
      const { status, body } = errorBody(e);
      if (status === 413 || status >= 500) res.setHeader("connection", "close");
      sendJson(res, status, body);
    }
  }
  return listen(server, opts.port, opts.host).then(() => server);
}
