import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { HttpError, listen, readBody, sendJson } from "@lake/http";
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

const ROUTE = /^\/v1\/domains\/([^/]+)\/events$/;

export function startHttp(opts: { publisher: Publisher; host: string; port: number; maxBodyBytes: number; log: Logger }): Promise<Server> {
  const server = createServer((req, res) => {
    void handle(req, res).catch((e) => {
      opts.log.error("request failed", { err: e });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/healthz") return sendJson(res, 200, { ok: true });
    if (url.pathname === "/v1/stats") return sendJson(res, 200, opts.publisher.stats);
    const m = ROUTE.exec(url.pathname);
    if (!m) return sendJson(res, 404, { error: "not_found", message: `no route ${req.method} ${url.pathname}; POST /v1/domains/<domain>/events` });
    if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed", message: "use POST" });
    let domain: string;
    try {
      domain = decodeURIComponent(m[1]!);
    } catch {
      domain = m[1]!;
    }
    try {
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
