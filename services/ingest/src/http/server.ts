import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { DEFAULT_HTTP_TIMEOUTS, HttpError, closesConnection, createHttpServer, listen, parseTarget, readBody, sendJson, type HttpTimeouts } from "@lake/http";
import { contextFromHeaders, metricsHandler, type Registry } from "@lake/telemetry";

const headerValue = (req: IncomingMessage, key: string): string | undefined => {
  const v = req.headers[key];
  return Array.isArray(v) ? v[0] : v;
};
import { isValidName, UnknownDomainError, InvalidNameError } from "@lake/contracts";
import type { Logger } from "@lake/telemetry";
import { replyStatus } from "../domain/classify.ts";
import { parseListQuery, parseReplayBody, replayStatus } from "../domain/quarantine.ts";
import type { Publisher } from "../nats/publisher.ts";
import type { Quarantine } from "../nats/quarantine.ts";

export function errorBody(e: unknown): { status: number; body: { error: string; message: string } } {
  if (e instanceof HttpError) return { status: e.status, body: { error: e.code, message: e.message } };
  if (e instanceof UnknownDomainError) return { status: 404, body: { error: "unknown_domain", message: e.message } };
  if (e instanceof InvalidNameError) return { status: 400, body: { error: "invalid_name", message: e.message } };
  return { status: 503, body: { error: "unavailable", message: `ingest could not complete the request: ${(e as Error).message}; retry with the same event ids` } };
}

const ROUTES = "POST /v1/domains/<domain>/events, GET /v1/domains/<domain>/quarantine, POST /v1/domains/<domain>/quarantine/replay";

type Route = "events" | "quarantine" | "replay";

function route(segments: readonly string[]): Route | undefined {
  if (segments[0] !== "v1" || segments[1] !== "domains") return undefined;
  if (segments.length === 4 && segments[3] === "events") return "events";
  if (segments.length === 4 && segments[3] === "quarantine") return "quarantine";
  if (segments.length === 5 && segments[3] === "quarantine" && segments[4] === "replay") return "replay";
  return undefined;
}

export function startHttp(opts: {
  publisher: Publisher;
  quarantine: Quarantine;
  host: string;
  port: number;
  maxBodyBytes: number;
  log: Logger;
  metrics: Registry;
  /** How long a client may take over a request (headers, body, keep-alive). */
  timeouts?: HttpTimeouts;
}): Promise<Server> {
  const timeouts = opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const server = createHttpServer((req, res) => {
    void handle(req, res).catch((e) => {
      opts.log.error("request failed", { err: e });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    });
  }, timeouts);
  async function handle(req: IncomingMessage, res: ServerResponse) {
    try {
      const { segments, query } = parseTarget(req.url);
      const path = "/" + segments.join("/");
      if (path === "/healthz") return sendJson(res, 200, { ok: true });
      if (path === "/v1/stats") return sendJson(res, 200, opts.publisher.stats);
      if (await metricsHandler(opts.metrics, req, res)) return;
      const r = route(segments);
      if (!r) throw new HttpError(404, "not_found", `no route ${req.method} ${req.url?.slice(0, 200)}; ${ROUTES}`);
      const method = r === "quarantine" ? "GET" : "POST";
      if (req.method !== method) throw new HttpError(405, "method_not_allowed", `use ${method}`);
      const domain = segments[2]!;
      // The same checks for every route, before any lookup: the name ends up in a subject.
      if (!isValidName(domain)) throw new InvalidNameError("domain", domain);
      opts.publisher.contract(domain); // 404 before reading the body
      if (r === "quarantine") return sendJson(res, 200, await opts.quarantine.list(domain, parseListQuery(query)));
      const body = await readBody(req, opts.maxBodyBytes, timeouts.bodyMs);
      if (r === "replay") {
        const reply = await opts.quarantine.replay(domain, parseReplayBody(body));
        return sendJson(res, replayStatus(reply), reply);
      }
      const { batch, reply } = await opts.publisher.ingest(domain, body, "http", contextFromHeaders({ get: (k) => headerValue(req, k) }));
      sendJson(res, replyStatus(batch, reply), reply);
    } catch (e) {
      const { status, body } = errorBody(e);
      if (closesConnection(status) || status >= 500) res.setHeader("connection", "close");
      sendJson(res, status, body);
    }
  }
  return listen(server, opts.port, opts.host).then(() => server);
}
