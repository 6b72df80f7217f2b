import type { IncomingMessage, Server, ServerResponse } from "node:http";

import { InvalidNameError, isValidName, UnknownDomainError } from "@lake/contracts";
import { closesConnection, createHttpServer, DEFAULT_HTTP_TIMEOUTS, HttpError, type HttpTimeouts, listen, parseTarget, readBody, sendJson } from "@lake/http";
import { authenticate, bearerChallenge, type TokenEntry } from "@lake/http";
import type { Logger } from "@lake/telemetry";
import { contextFromHeaders, metricsHandler, type Registry } from "@lake/telemetry";
import { Counter } from "@lake/telemetry";

import { decideIngest, type IngestAuthDecision, type IngestCaller, type IngestIdentity, ingestRouteOf } from "../domain/auth.ts";
import { replyStatus } from "../domain/classify.ts";
import { parseListQuery, parseReplayBody, replayStatus } from "../domain/quarantine.ts";
import type { Publisher } from "../nats/publisher.ts";
import type { Quarantine } from "../nats/quarantine.ts";

const headerValue = (req: IncomingMessage, key: string): string | undefined => {
  const v = req.headers[key];
  return Array.isArray(v) ? v[0] : v;
};

export function errorBody(e: unknown): { status: number; body: { error: string; message: string } } {
  if (e instanceof HttpError) return { status: e.status, body: { error: e.code, message: e.message } };
  if (e instanceof UnknownDomainError) return { status: 404, body: { error: "unknown_domain", message: e.message } };
  if (e instanceof InvalidNameError) return { status: 400, body: { error: "invalid_name", message: e.message } };
  return {
    status: 503,
    body: { error: "unavailable", message: `ingest could not complete the request: ${(e as Error).message}; retry with the same event ids` },
  };
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
  /** Configured tokens (LAKE_INGEST_TOKENS_FILE); undefined = authentication off (every request is allowed). */
  tokens?: readonly TokenEntry<IngestIdentity>[] | undefined;
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
  const denied = new Counter({
    name: "lake_ingest_http_denied_total",
    help: "HTTP requests refused for their token (401) or its role (403)",
    labelNames: ["status"],
    registers: [opts.metrics],
  });
  /** A refusal: a log line naming the token (never the token itself) and the answer, the body unread. */
  function deny(req: IncomingMessage, res: ServerResponse, caller: IngestCaller, d: Extract<IngestAuthDecision, { kind: "deny" }>, path: string): void {
    denied.inc({ status: String(d.status) });
    opts.log.warn("request denied", {
      status: d.status,
      error: d.code,
      message: d.message,
      method: (req.method ?? "").slice(0, 16),
      path: path.slice(0, 256),
      token: caller.kind === "token" ? caller.name : null,
      role: caller.kind === "token" ? caller.role : null,
      presented_sha256_prefix: caller.kind === "unauthenticated" ? (caller.sha256Prefix ?? null) : null,
      remote: req.socket.remoteAddress ?? null,
    });
    // The body is never read: close the connection rather than drain it, so a client without a valid
    // token can't hold a socket by trickling one.
    sendJson(
      res,
      d.status,
      { error: d.code, message: d.message },
      { "www-authenticate": bearerChallenge("lake-ingest", d.status, d.code), connection: "close" },
    );
  }
  async function handle(req: IncomingMessage, res: ServerResponse) {
    try {
      const { segments, query } = parseTarget(req.url);
      const path = "/" + segments.join("/");
      if (path === "/healthz") return sendJson(res, 200, { ok: true });
      // With a tokens file, every other request is authenticated and authorized (domain/auth.ts) before
      // it is routed: a caller without a valid token learns nothing about domains or routes.
      if (opts.tokens !== undefined) {
        const caller = authenticate(opts.tokens, req.headers.authorization);
        const d = decideIngest(caller, req.method ?? "GET", ingestRouteOf(segments));
        if (d.kind === "deny") return deny(req, res, caller, d, path);
      }
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
