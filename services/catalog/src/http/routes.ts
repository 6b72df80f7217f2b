// The catalog's HTTP API as one table: each route is a method, a path pattern, who may call it and its
// handler (reads.ts, commands.ts, admin.ts). Who may call a request is read from the route it matches,
// so a route can't be served without an access rule, and a request that matches none is for admins
// only (domain/auth.ts decides). With a tokens file, every request but /healthz is authenticated (bearer
// token) and authorized before anything else; refusals are answered 401/403, logged and kept for
// admins. Prometheus metrics are not served here but on a listener of their own (main.ts).
import type { IncomingMessage, Server, ServerResponse } from "node:http";

import { LOG_POSITION_HEADER } from "@lake/contracts";
import { closesConnection, createHttpServer, DEFAULT_HTTP_TIMEOUTS, HttpError, type HttpTimeouts, listen, parseTarget, sendJson } from "@lake/http";
import { isNatsUnavailable } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";

import { type Catalog, isCatchingUp } from "../catalog.ts";
import { ACCESS, type Access, type AuthDecision, authenticate, type Caller, decide, type Identity, operate, type TokenEntry } from "../domain/auth.ts";
import { CommandError } from "../domain/commands.ts";
import type { AlertFeed } from "../nats/alerts.ts";
import * as admin from "./admin.ts";
import * as commands from "./commands.ts";
import * as console from "./console.ts";
import { ConsoleFiles, type IngestLink } from "./console.ts";
import { DenialLog } from "./denials.ts";
import { EventHub } from "./events.ts";
import { FileListCache } from "./file-lists.ts";
import * as iceberg from "./iceberg.ts";
import { type IcebergStore, isIcebergPath, sendIcebergError } from "./iceberg.ts";
import * as lineage from "./lineage.ts";
import * as reads from "./reads.ts";
import { type Api, type ApiRequest, datasetParam, type Handler } from "./request.ts";

export interface Route {
  /** An HTTP method, or "*" for any. */
  method: string;
  /**
   * Path segments: literals, `:name` (any one segment, given to the handler as `params.name`), and
   * last `**` (any number of segments, none included). A `:dataset` that is not a valid dataset name
   * is answered 400 before the handler runs.
   */
  pattern: string;
  access: Access;
  handler: Handler;
}

/** The catch-alls' answer: no such route. */
const notFound: Handler = (_api, r) => {
  throw new HttpError(404, "not_found", `no route ${r.method} ${r.pathname}`);
};

/** Every route, first match wins. */
export const ROUTES: readonly Route[] = [
  // Probes carry no token.
  { method: "*", pattern: "/healthz", access: ACCESS.public, handler: reads.health },
  // The web console's page, style and script hold no data (the page asks for a token, then reads the API
  // below with it), so they load without one.
  { method: "GET", pattern: "/console", access: ACCESS.public, handler: console.serveConsole },
  { method: "GET", pattern: "/console/:file", access: ACCESS.public, handler: console.serveConsole },
  // Who the caller is, alerts and live updates: every caller with a token, each seeing only the datasets it may read.
  { method: "GET", pattern: "/v1/whoami", access: ACCESS.token, handler: console.whoami },
  { method: "GET", pattern: "/v1/alerts", access: ACCESS.token, handler: console.alerts },
  { method: "GET", pattern: "/v1/events", access: ACCESS.token, handler: console.events },
  // Ingest's quarantine, reached through the catalog (console.ts says why): raw producer input, operators only.
  { method: "GET", pattern: "/v1/domains/:domain/quarantine", access: operate("browse the quarantine"), handler: console.quarantineList },
  { method: "POST", pattern: "/v1/domains/:domain/quarantine/replay", access: operate("replay quarantined records"), handler: console.quarantineReplay },
  // Every caller with a token; a reader sees only the datasets it may read.
  { method: "GET", pattern: "/v1/datasets", access: ACCESS.token, handler: reads.listDatasets },
  // The reverse lineage question spans datasets: it answers only about those the caller may read.
  { method: "GET", pattern: "/v1/lineage", access: ACCESS.token, handler: lineage.sourceLineage },
  { method: "GET", pattern: "/v1/datasets/:dataset", access: ACCESS.read, handler: reads.dataset },
  { method: "GET", pattern: "/v1/datasets/:dataset/versions", access: ACCESS.read, handler: reads.versions },
  { method: "GET", pattern: "/v1/datasets/:dataset/versions/:version", access: ACCESS.read, handler: reads.version },
  { method: "GET", pattern: "/v1/datasets/:dataset/versions/:version/quality", access: ACCESS.read, handler: reads.quality },
  { method: "GET", pattern: "/v1/datasets/:dataset/versions/:version/lineage", access: ACCESS.read, handler: lineage.versionLineage },
  { method: "GET", pattern: "/v1/datasets/:dataset/files", access: ACCESS.read, handler: reads.files },
  { method: "GET", pattern: "/v1/datasets/:dataset/tags", access: ACCESS.read, handler: reads.tags },
  { method: "GET", pattern: "/v1/datasets/:dataset/tags/:tag", access: ACCESS.read, handler: reads.tag },
  { method: "GET", pattern: "/v1/datasets/:dataset/audit", access: ACCESS.read, handler: reads.audit },
  { method: "GET", pattern: "/v1/datasets/:dataset/covering", access: ACCESS.read, handler: reads.covering },
  // The console's views of a dataset's history: its timeline, and the diff of two versions.
  { method: "GET", pattern: "/v1/datasets/:dataset/timeline", access: ACCESS.read, handler: console.timeline },
  { method: "GET", pattern: "/v1/datasets/:dataset/diff", access: ACCESS.read, handler: console.diff },
  { method: "POST", pattern: "/v1/datasets/:dataset/promote", access: operate("promote"), handler: commands.promote },
  { method: "POST", pattern: "/v1/datasets/:dataset/rollback", access: operate("roll back"), handler: commands.rollback },
  { method: "POST", pattern: "/v1/datasets/:dataset/tags", access: operate("tag"), handler: commands.tag },
  { method: "POST", pattern: "/v1/datasets/:dataset/expire", access: operate("expire versions"), handler: commands.expire },
  { method: "POST", pattern: "/v1/datasets/:dataset/collected", access: operate("record collected files"), handler: commands.collected },
  { method: "GET", pattern: "/v1/admin/denials", access: ACCESS.admin, handler: admin.denials },
  // Rebuild and dump have always answered below their path too.
  { method: "POST", pattern: "/v1/admin/rebuild/**", access: ACCESS.admin, handler: admin.rebuild },
  { method: "GET", pattern: "/v1/admin/dump/**", access: ACCESS.admin, handler: admin.dump },
  // No such route, but who may learn that: whoever may read the dataset (GET anything below it), and
  // admins (an unknown command is 404, not 405; anything under /v1/admin is 404 whatever the method).
  // Any other request that matches no route is for admins only, and answered 405 if its path has
  // routes for other methods, otherwise 404.
  { method: "GET", pattern: "/v1/datasets/:dataset/**", access: ACCESS.read, handler: notFound },
  { method: "POST", pattern: "/v1/datasets/:dataset/:command", access: ACCESS.unlisted, handler: notFound },
  { method: "*", pattern: "/v1/admin/**", access: ACCESS.admin, handler: notFound },
  // The Iceberg REST catalog (iceberg.ts), read-only: the namespace `lake`, a table per dataset. Errors in
  // the Iceberg error model. Anyone with a token lists; a table is read with read access to its dataset.
  { method: "GET", pattern: "/iceberg/v1/config", access: ACCESS.token, handler: iceberg.config },
  { method: "GET", pattern: "/iceberg/v1/namespaces", access: ACCESS.token, handler: iceberg.listNamespaces },
  { method: "GET", pattern: "/iceberg/v1/namespaces/:namespace", access: ACCESS.token, handler: iceberg.namespace },
  { method: "HEAD", pattern: "/iceberg/v1/namespaces/:namespace", access: ACCESS.token, handler: iceberg.namespace },
  { method: "GET", pattern: "/iceberg/v1/namespaces/:namespace/tables", access: ACCESS.token, handler: iceberg.listTables },
  { method: "GET", pattern: "/iceberg/v1/namespaces/:namespace/tables/:dataset", access: ACCESS.read, handler: iceberg.loadTable },
  { method: "HEAD", pattern: "/iceberg/v1/namespaces/:namespace/tables/:dataset", access: ACCESS.read, handler: iceberg.tableExists },
  { method: "POST", pattern: "/iceberg/v1/namespaces/:namespace/tables/:dataset/metrics", access: ACCESS.read, handler: iceberg.metrics },
  // What would write: refused (403 ForbiddenException), the commit log being the tables' only writer.
  { method: "POST", pattern: "/iceberg/v1/namespaces", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "DELETE", pattern: "/iceberg/v1/namespaces/:namespace", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/namespaces/:namespace/properties", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/namespaces/:namespace/tables", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/namespaces/:namespace/register", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/namespaces/:namespace/tables/:table", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "DELETE", pattern: "/iceberg/v1/namespaces/:namespace/tables/:table", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/tables/rename", access: ACCESS.token, handler: iceberg.readOnly },
  { method: "POST", pattern: "/iceberg/v1/transactions/commit", access: ACCESS.token, handler: iceberg.readOnly },
  // Anything else under /iceberg: a read of what isn't there is 404, any other method is a write, refused.
  { method: "GET", pattern: "/iceberg/**", access: ACCESS.token, handler: iceberg.notFound },
  { method: "HEAD", pattern: "/iceberg/**", access: ACCESS.token, handler: iceberg.notFound },
  { method: "*", pattern: "/iceberg/**", access: ACCESS.token, handler: iceberg.readOnly },
];

interface Compiled {
  route: Route;
  segments: readonly string[];
  /** The pattern ends in `**`. */
  rest: boolean;
}

const COMPILED: readonly Compiled[] = ROUTES.map((route) => {
  const segments = route.pattern.split("/").filter((s) => s !== "");
  const rest = segments.at(-1) === "**";
  return { route, segments: rest ? segments.slice(0, -1) : segments, rest };
});

function matchesPath(c: Compiled, segments: readonly string[]): boolean {
  if (c.rest ? segments.length < c.segments.length : segments.length !== c.segments.length) return false;
  for (let i = 0; i < c.segments.length; i++) {
    const p = c.segments[i]!;
    if (!p.startsWith(":") && p !== segments[i]) return false;
  }
  return true;
}

/** The pattern's `:name` segments of a path it matches. */
function pathParams(c: Compiled, segments: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (let i = 0; i < c.segments.length; i++) if (c.segments[i]!.startsWith(":")) params[c.segments[i]!.slice(1)] = segments[i]!;
  return params;
}

/** The route a request is for, with its parameters; undefined if no route has this method and path. */
export function matchRoute(method: string, segments: readonly string[]): { route: Route; params: Record<string, string> } | undefined {
  for (const c of COMPILED) {
    if (c.route.method !== "*" && c.route.method !== method) continue;
    if (matchesPath(c, segments)) return { route: c.route, params: pathParams(c, segments) };
  }
  return undefined;
}

/** Who may make this request: the access rule of the route it matches (none matched: admins only). */
export function authorize(caller: Caller, method: string, segments: readonly string[]): AuthDecision {
  const m = matchRoute(method, segments);
  return decide(caller, m?.route.access ?? ACCESS.unlisted, { method, segments, dataset: m?.params.dataset });
}

const REALM = 'Bearer realm="lake-catalog"';

/** The path's segments, or none if it can't be parsed (the error path must not throw). */
function segmentsOf(url: string | undefined): string[] {
  try {
    return parseTarget(url).segments;
  } catch {
    return [];
  }
}

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
  /** The object store, for the Iceberg REST catalog's table loads (undefined: they answer 503). */
  iceberg?: IcebergStore | undefined;
  /** Recent alerts, for GET /v1/alerts and the event stream (undefined: GET /v1/alerts answers 503). */
  alerts?: AlertFeed | undefined;
  /** Ingest's quarantine API for the console (undefined: its routes answer 503). */
  ingest?: IngestLink | undefined;
  /** Serve the web console under /console (default true). */
  console?: boolean;
  /** The event stream's heartbeat and its limit on open streams. */
  events?: { heartbeatMs: number; maxClients: number };
}): Promise<{ server: Server; port: number; events: EventHub }> {
  const { tokens } = opts;
  const api: Api = {
    catalog: opts.catalog,
    log: opts.log,
    tokens,
    denials: new DenialLog(opts.denialsKeep ?? 1000),
    fileLists: new FileListCache(),
    maxWaitMs: opts.maxWaitMs,
    timeouts: opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS,
    iceberg: opts.iceberg,
    alerts: opts.alerts,
    ingest: opts.ingest,
    consoleFiles: opts.console === false ? undefined : new ConsoleFiles(),
    events: new EventHub({ catalog: opts.catalog, alerts: opts.alerts, log: opts.log, ...(opts.events ?? { heartbeatMs: 15_000, maxClients: 100 }) }),
  };
  const server = createHttpServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const underIceberg = isIcebergPath(segmentsOf(req.url));
      if (e instanceof HttpError || e instanceof CommandError) {
        const headers: Record<string, string> = closesConnection(e.status) ? { connection: "close" } : {};
        if (underIceberg) return sendIcebergError(res, e.status, e.code, e.message, headers);
        return sendJson(res, e.status, { error: e.code, message: e.message }, headers);
      }
      if (isCatchingUp(e)) {
        // Not an error of the request: the same read answers shortly, from a state no older than any served before.
        const retry = { "retry-after": "1" };
        if (underIceberg) return sendIcebergError(res, 503, "ServiceUnavailableException", e.message, retry);
        const catching_up = { target_seq: e.targetSeq, projected_through_seq: e.projectedSeq };
        return sendJson(res, 503, { error: "unavailable", reason: "catching_up", message: e.message, retryable: true, catching_up }, retry);
      }
      if (isNatsUnavailable(e) && !res.headersSent) {
        // NATS restarting or unreachable: nothing was refused, the request can be made again shortly.
        opts.log.warn("request met NATS unavailable; answered 503", { err: e, url: req.url });
        const message = "the commit log (NATS) can't be reached right now; retry shortly";
        if (underIceberg) return sendIcebergError(res, 503, "ServiceUnavailableException", message, { "retry-after": "1" });
        return sendJson(res, 503, { error: "unavailable", message, retryable: true }, { "retry-after": "1" });
      }
      opts.log.error("request failed", { err: e, url: req.url });
      if (res.headersSent) return;
      if (underIceberg) sendIcebergError(res, 500, "InternalServerError", "internal error");
      else sendJson(res, 500, { error: "internal", message: "internal error" });
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
    const challenge =
      d.status === 401
        ? d.code === "missing_token"
          ? REALM
          : `${REALM}, error="${d.code === "invalid_token" ? "invalid_token" : "invalid_request"}"`
        : `${REALM}, error="insufficient_scope"`;
    if (isIcebergPath(segmentsOf(req.url))) sendIcebergError(res, d.status, d.code, d.message, { "www-authenticate": challenge });
    else sendJson(res, d.status, { error: d.code, message: d.message }, { "www-authenticate": challenge });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { segments, query } = parseTarget(req.url);
    const pathname = "/" + segments.join("/");
    const method = req.method ?? "GET";
    const m = matchRoute(method, segments);
    // Authentication and authorization come before anything else: an unauthenticated caller learns
    // nothing about which routes or datasets exist.
    let identity: Identity | undefined;
    const access = m?.route.access ?? ACCESS.unlisted;
    if (tokens !== undefined && access.kind !== "public") {
      const caller = authenticate(tokens, req.headers.authorization);
      const d = decide(caller, access, { method, segments, dataset: m?.params.dataset });
      if (d.kind === "deny") return deny(req, res, caller, d, method, pathname);
      identity = caller.kind === "token" ? caller : undefined;
    }
    if (!m) {
      if (COMPILED.some((c) => matchesPath(c, segments))) throw new HttpError(405, "method_not_allowed", `${method} not allowed on ${pathname}`);
      throw new HttpError(404, "not_found", `no route ${method} ${pathname}`);
    }
    if (m.params.dataset !== undefined) datasetParam(m.params.dataset);
    // A catalog that started behind the log serves nothing but probes until it has caught up.
    if (access.kind !== "public") api.catalog.assertServing();
    // Every read says which log position it reflects; a handler that waits (covering, freshness) sets
    // it again to the position it read at.
    if ((method === "GET" || method === "HEAD") && access.kind !== "public") res.setHeader(LOG_POSITION_HEADER, String(api.catalog.projection.lastSeq));
    const r: ApiRequest = { req, res, method, pathname, query, params: m.params, identity };
    await m.route.handler(api, r);
  }

  // The event streams stay open until ended: whoever stops the server calls events.close() first.
  return listen(server, opts.port, opts.host).then((port) => ({ server, port, events: api.events }));
}
