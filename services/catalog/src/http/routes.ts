// Catalog HTTP API: authentication and authorization, then routing to the handlers, by kind: reads.ts
// (the read API), commands.ts (promote, rollback, tag, expire, collected) and admin.ts.
// With a tokens file, every request but /healthz is authenticated (bearer token) and authorized
// (domain/auth.ts) before it is routed; refusals are answered 401/403, logged and kept for admins.
// Prometheus metrics are not served here but on a listener of their own (main.ts).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { DEFAULT_HTTP_TIMEOUTS, HttpError, closesConnection, createHttpServer, listen, parseTarget, sendJson, type HttpTimeouts } from "@lake/http";
import type { Logger } from "@lake/telemetry";
import type { Catalog } from "../catalog.ts";
import { CommandError } from "../domain/commands.ts";
import { authenticate, decide, routeOf, type AuthDecision, type Caller, type Identity, type TokenEntry } from "../domain/auth.ts";
import * as admin from "./admin.ts";
import * as commands from "./commands.ts";
import { DenialLog } from "./denials.ts";
import { FileListCache } from "./file-lists.ts";
import * as reads from "./reads.ts";
import { datasetParam, type Api, type ApiRequest, type Handler } from "./request.ts";

const REALM = 'Bearer realm="lake-catalog"';

/** POST /v1/datasets/<d>/<command> */
const COMMANDS: Readonly<Record<string, Handler>> = { promote: commands.promote, rollback: commands.rollback, tags: commands.tag, expire: commands.expire, collected: commands.collected };

export function startHttp(opts: {
  catalog: Catalog;
  host: string;
  port: number;
  maxWaitMs: number;
  log: Logger;
  /** Configured tokens; undefined = authentication off (every request is allowed, commands take the body's actor). */
  tokens?: readonly TokenEntry[] | undefined;
  /** How many refused requests to keep for GET /v1/admin/denials. */
  denialsKeep?: number;
  /** How long a client may take over a request (headers, body, keep-alive). */
  timeouts?: HttpTimeouts;
}): Promise<{ server: Server; port: number }> {
  const { tokens } = opts;
  const api: Api = {
    catalog: opts.catalog,
    log: opts.log,
    tokens,
    denials: new DenialLog(opts.denialsKeep ?? 1000),
    fileLists: new FileListCache(),
    maxWaitMs: opts.maxWaitMs,
    timeouts: opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS,
  };
  const server = createHttpServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError || e instanceof CommandError) {
        return sendJson(res, e.status, { error: e.code, message: e.message }, closesConnection(e.status) ? { connection: "close" } : {});
      }
      opts.log.error("request failed", { err: e, url: req.url });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    });
  }, api.timeouts);

  function deny(req: IncomingMessage, res: ServerResponse, caller: Caller, d: Extract<AuthDecision, { kind: "deny" }>, method: string, path: string): void {
    const known = caller.kind === "token" ? caller : undefined;
    const entry = api.denials.add({
      at: new Date().toISOString(),
      status: d.status,
      error: d.code,
      message: d.message,
      method: method.slice(0, 16),
      path: path.slice(0, 256),
      token: known?.name ?? null,
      role: known?.role ?? null,
      presented_sha256_prefix: caller.kind === "unauthenticated" ? (caller.sha256Prefix ?? null) : null,
      remote: req.socket.remoteAddress ?? null,
    });
    const { seq, at: _at, ...fields } = entry;
    opts.log.warn("request denied", { denial_seq: seq, ...fields });
    // The body of a refused command is never read: drain it so the connection can be kept alive.
    req.resume();
    const challenge = d.status === 401 ? (d.code === "missing_token" ? REALM : `${REALM}, error="${d.code === "invalid_token" ? "invalid_token" : "invalid_request"}"`) : `${REALM}, error="insufficient_scope"`;
    sendJson(res, d.status, { error: d.code, message: d.message }, { "www-authenticate": challenge });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { segments: parts, query } = parseTarget(req.url);
    const pathname = "/" + parts.join("/");
    const method = req.method ?? "GET";
    let identity: Identity | undefined;
    const serve = (handler: Handler, params: Record<string, string> = {}) => handler(api, { req, res, method, pathname, query, params, identity } satisfies ApiRequest);
    if (pathname === "/healthz") return serve(reads.health);
    // Authentication and authorization come before routing: an unauthenticated caller learns nothing
    // about which routes or datasets exist.
    if (tokens !== undefined) {
      const caller = authenticate(tokens, req.headers.authorization);
      const d = decide(caller, method, routeOf(parts));
      if (d.kind === "deny") return deny(req, res, caller, d, method, pathname);
      identity = caller.kind === "token" ? caller : undefined;
    }
    const notFound = () => new HttpError(404, "not_found", `no route ${method} ${pathname}`);
    if (parts[0] !== "v1") throw notFound();

    if (parts[1] === "admin") {
      if (parts[2] === "denials" && parts.length === 3 && method === "GET") return serve(admin.denials);
      if (parts[2] === "rebuild" && method === "POST") return serve(admin.rebuild);
      if (parts[2] === "dump" && method === "GET") return serve(admin.dump);
      throw notFound();
    }
    if (parts[1] !== "datasets") throw notFound();

    if (method === "POST" && parts.length === 4) {
      const dataset = datasetParam(parts[2]!);
      const command = Object.hasOwn(COMMANDS, parts[3]!) ? COMMANDS[parts[3]!] : undefined;
      if (command === undefined) throw notFound();
      return serve(command, { dataset });
    }
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", `${method} not allowed on ${pathname}`);

    if (parts.length === 2) return serve(reads.listDatasets);
    const dataset = datasetParam(parts[2]!);
    if (parts.length === 3) return serve(reads.dataset, { dataset });
    if (parts[3] === "versions" && parts.length === 4) return serve(reads.versions, { dataset });
    if (parts[3] === "files" && parts.length === 4) return serve(reads.files, { dataset });
    if (parts[3] === "tags" && parts.length === 4) return serve(reads.tags, { dataset });
    if (parts[3] === "tags" && parts.length === 5) return serve(reads.tag, { dataset, tag: parts[4]! });
    if (parts[3] === "audit" && parts.length === 4) return serve(reads.audit, { dataset });
    if (parts[3] === "versions" && parts.length === 6 && parts[5] === "quality") return serve(reads.quality, { dataset, version: parts[4]! });
    if (parts[3] === "versions" && parts.length === 5) return serve(reads.version, { dataset, version: parts[4]! });
    if (parts[3] === "covering" && parts.length === 4) return serve(reads.covering, { dataset });
    throw notFound();
  }

  return listen(server, opts.port, opts.host).then((port) => ({ server, port }));
}
