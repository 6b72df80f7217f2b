// Catalog read API and admin commands. Reads without a token are served from the projection as it is
// (eventual, and the reply says so with its log position); covering reads wait, bounded, for the
// version that contains the caller's offset, and never answer with an older one.
// With a tokens file, every request but /healthz is authenticated (bearer token) and authorized
// (domain/auth.ts) before it is routed; refusals are answered 401/403, logged and kept for admins.
// Prometheus metrics are not served here but on a listener of their own (main.ts).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { isValidName, isoInstant } from "@lake/contracts";
import { DEFAULT_HTTP_TIMEOUTS, HttpError, closesConnection, createHttpServer, listen, parseTarget, readBody, sendJson, type HttpTimeouts } from "@lake/http";
import type { Logger } from "@lake/telemetry";
import type { Catalog } from "../catalog.ts";
import type { VersionRow } from "../db/projection.ts";
import {
  CommandError,
  MAX_EXPIRE_PER_RECORD,
  decideCollected,
  decideExpire,
  decidePromote,
  decideRollback,
  decideTag,
  validatePolicy,
  versionRanges,
  type RetentionPolicy,
  type Who,
} from "../domain/commands.ts";
import { authenticate, decide, mayRead, routeOf, type AuthDecision, type Caller, type Identity, type TokenEntry } from "../domain/auth.ts";
import { DenialLog } from "./denials.ts";
import { FileListCache, sendJsonWithFiles } from "./file-lists.ts";

const MAX_COMMAND_BYTES = 16 * 1024;
/** A FilesCollected record names up to MAX_COLLECTED_KEYS keys of up to 1 KiB each. */
const MAX_COLLECTED_BYTES = 1024 * 1024;

/**
 * The fields each command takes. Anything else is refused: a misspelt field (`"to": 3` for
 * `"to_version": 3`) would otherwise be ignored and the command would do its default, e.g. roll back
 * to the previous version instead of the one asked for.
 */
const COMMAND_FIELDS = {
  promote: ["version", "reason", "actor"],
  rollback: ["to_version", "reason", "actor"],
  tags: ["tag", "version", "reason", "actor"],
  expire: ["keep_last", "keep_ms", "reason", "actor"],
  collected: ["keys", "bytes", "orphans", "actor"],
} as const satisfies Record<string, readonly string[]>;
type Command = keyof typeof COMMAND_FIELDS;

function isCommand(s: string | undefined): s is Command {
  return s !== undefined && Object.hasOwn(COMMAND_FIELDS, s);
}

async function commandBody(req: IncomingMessage, command: Command, bodyMs: number, limit = MAX_COMMAND_BYTES): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit, bodyMs);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "malformed_json", `command body is not valid JSON: ${(e as Error).message}`);
  }
  const fields: readonly string[] = COMMAND_FIELDS[command];
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "invalid_command", `command body must be a JSON object with ${fields.join(", ")}`);
  for (const k of Object.keys(body)) {
    if (!fields.includes(k)) throw new HttpError(400, "unknown_field", `${command} takes ${fields.join(", ")}; unknown field ${JSON.stringify(k.slice(0, 60))}`);
  }
  return body as Record<string, unknown>;
}

/**
 * Who asks and why: both are recorded in the commit log and the audit trail. With authentication on,
 * the actor is the token's name and an `actor` in the body (or X-Lake-Actor) is ignored: the audit
 * trail records who was authenticated, not who a client says it is.
 */
function who(req: IncomingMessage, body: Record<string, unknown>, identity: Identity | undefined): Who {
  const actor = actorOf(req, body, identity);
  const reason = body.reason;
  if (typeof reason !== "string" || reason.trim().length === 0 || reason.length > 1000) throw new HttpError(400, "invalid_reason", "give a reason (1-1000 characters): it goes into the audit trail");
  return { actor, reason };
}

function actorOf(req: IncomingMessage, body: Record<string, unknown>, identity: Identity | undefined): string {
  const actor = identity ? identity.name : typeof body.actor === "string" ? body.actor : req.headers["x-lake-actor"];
  if (typeof actor !== "string" || actor.length === 0 || actor.length > 128) throw new HttpError(400, "invalid_actor", "give actor (1-128 characters) in the body or the X-Lake-Actor header");
  return actor;
}

function policyOf(body: Record<string, unknown>): RetentionPolicy {
  const int = (name: string): number | undefined => {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new HttpError(400, "invalid_policy", `${name} must be an integer`);
    return v;
  };
  const policy: RetentionPolicy = {};
  const keepLast = int("keep_last");
  const keepMs = int("keep_ms");
  if (keepLast !== undefined) policy.keepLast = keepLast;
  if (keepMs !== undefined) policy.keepMs = keepMs;
  validatePolicy(policy);
  return policy;
}

function versionField(body: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new HttpError(400, "invalid_version", `${name} must be a positive integer`);
  return v;
}

function datasetParam(name: string): string {
  if (!isValidName(name)) throw new HttpError(400, "invalid_name", `invalid dataset name ${JSON.stringify(String(name).slice(0, 80))}: must match ^[a-z][a-z0-9_]{0,62}$`);
  return name;
}

/**
 * A number in a path or query as a client writes one: decimal digits, no sign, no leading zero, no
 * spaces. Number() would also take "0x1", "1e0", " 1", "+1" and "1.0", so two spellings of one version
 * would both work, and what a client sent would not be what the catalog read.
 */
const CANONICAL_INT = /^(0|[1-9][0-9]{0,15})$/;

function intParam(url: { searchParams: URLSearchParams }, name: string, def: number | undefined, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return def;
  const n = CANONICAL_INT.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new HttpError(400, "invalid_parameter", `${name}=${JSON.stringify(raw.slice(0, 40))}: expected a decimal integer in [${min}, ${max}]`);
  return n;
}

/** A version number in a path: a canonical positive decimal integer, or 400. */
function versionSegment(raw: string): number {
  const n = CANONICAL_INT.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new HttpError(400, "invalid_version", `version must be a positive decimal integer, got ${JSON.stringify(raw.slice(0, 40))}`);
  return n;
}

function versionView(v: VersionRow, expiredSeq: number | undefined) {
  return {
    dataset: v.dataset,
    version: v.version,
    parent_version: v.parent_version,
    commit_seq: v.commit_seq,
    write_id: v.write_id,
    committer_id: v.committer_id,
    committed_at: isoInstant(v.committed_at),
    schema: { name: v.schema_name, version: v.schema_version, fingerprint: v.schema_fingerprint },
    manifest: { key: v.manifest_key, sha256: v.manifest_sha256, bytes: v.manifest_bytes },
    source: { stream: v.source_stream, subject: v.source_subject, first_offset: v.first_offset, last_offset: v.last_offset },
    row_count: v.row_count,
    total_rows: v.total_rows,
    policy: v.policy,
    quality: v.quality,
    expired: expiredSeq !== undefined,
    expired_seq: expiredSeq ?? null,
    min_event_time: v.min_event_time === null ? null : isoInstant(v.min_event_time),
    max_event_time: v.max_event_time === null ? null : isoInstant(v.max_event_time),
  };
}

const REALM = 'Bearer realm="lake-catalog"';

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
  const { catalog, tokens } = opts;
  const timeouts = opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const denials = new DenialLog(opts.denialsKeep ?? 1000);
  const server = createHttpServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError || e instanceof CommandError) {
        return sendJson(res, e.status, { error: e.code, message: e.message }, closesConnection(e.status) ? { connection: "close" } : {});
      }
      opts.log.error("request failed", { err: e, url: req.url });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    });
  }, timeouts);

  const eventual = () => ({ consistency: "eventual" as const, projected_through_seq: catalog.projection.lastSeq });

  const fileLists = new FileListCache();

  /** A version readers may read, sent with its files; an expired one is 410 Gone (its files may be deleted). */
  function sendVersion(res: ServerResponse, v: VersionRow, extra: object): void {
    const expired = catalog.projection.expiredSeq(v.dataset, v.version);
    if (expired !== undefined) {
      throw new HttpError(
        410,
        "version_expired",
        `version ${v.version} of ${v.dataset} has expired (retention, commit-log seq ${expired}): it is no longer served and its files may have been deleted; read a newer version (latest or current)`,
      );
    }
    sendJsonWithFiles(res, { ...versionView(v, undefined), ...extra }, fileLists.get(catalog.projection, v.dataset, v.version));
  }

  function deny(req: IncomingMessage, res: ServerResponse, caller: Caller, d: Extract<AuthDecision, { kind: "deny" }>, method: string, path: string): void {
    const known = caller.kind === "token" ? caller : undefined;
    const entry = denials.add({
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
    const url = { pathname: "/" + parts.join("/"), searchParams: query };
    const method = req.method ?? "GET";
    const p = catalog.projection;
    if (url.pathname === "/healthz") return sendJson(res, 200, { ok: true, projected_through_seq: p.lastSeq });
    // Authentication and authorization come before routing: an unauthenticated caller learns nothing
    // about which routes or datasets exist.
    let identity: Identity | undefined;
    if (tokens !== undefined) {
      const caller = authenticate(tokens, req.headers.authorization);
      const d = decide(caller, method, routeOf(parts));
      if (d.kind === "deny") return deny(req, res, caller, d, method, url.pathname);
      identity = caller.kind === "token" ? caller : undefined;
    }
    if (parts[0] !== "v1") throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);

    if (parts[1] === "admin") {
      if (parts[2] === "denials" && parts.length === 3 && method === "GET") {
        const after = intParam(url, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
        const limit = intParam(url, "limit", 100, 1, 1000)!;
        return sendJson(res, 200, { ...denials.list(after, limit), capacity: denials.capacity, auth: tokens === undefined ? "off" : "bearer" });
      }
      if (parts[2] === "rebuild" && method === "POST") {
        const r = await catalog.rebuild();
        return sendJson(res, 200, { rebuilt: true, projected_through_seq: r.seq, ms: Math.round(r.ms) });
      }
      if (parts[2] === "dump" && method === "GET") {
        const text = catalog.projection.canonicalDump();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(text);
        return;
      }
      throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);
    }
    if (parts[1] !== "datasets") throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);

    if (method === "POST" && parts.length === 4 && parts[3] === "collected") {
      // `lake gc` deleted these objects and records it; the catalog appends the record to the log (the
      // commit log is written only by committers, quality and the catalog).
      const dataset = datasetParam(parts[2]!);
      const body = await commandBody(req, "collected", timeouts.bodyMs, MAX_COLLECTED_BYTES);
      const actor = actorOf(req, body, identity);
      const cmd = { keys: body.keys as string[], bytes: body.bytes as number, orphans: body.orphans as number, actor };
      const r = await catalog.command(dataset, "FilesCollected", (f, now) => decideCollected(f, cmd, now));
      return sendJson(res, 200, { ...r, dataset, actor, keys: cmd.keys.length });
    }
    if (method === "POST" && parts.length === 4 && parts[3] === "expire") {
      const dataset = datasetParam(parts[2]!);
      const body = await commandBody(req, "expire", timeouts.bodyMs);
      const w = who(req, body, identity);
      const policy = policyOf(body);
      // One record holds at most MAX_EXPIRE_PER_RECORD versions: a longer backlog takes several.
      const expired: number[] = [];
      let r: { changed: boolean; seq: number; message?: string } = { changed: false, seq: 0 };
      for (let round = 0; round < 1000; round++) {
        let decided: number[] = [];
        const step = await catalog.command(dataset, "VersionsExpired", (_f, now) => {
          const d = decideExpire(catalog.projection.retentionFacts(dataset)!, { ...w, ...policy }, now);
          decided = d.kind === "append" ? d.body.versions : [];
          return d;
        });
        if (!step.changed) {
          if (round === 0) r = step;
          break;
        }
        expired.push(...decided);
        r = { changed: true, seq: step.seq };
        if (decided.length < MAX_EXPIRE_PER_RECORD) break;
      }
      const ds = catalog.projection.dataset(dataset)!;
      return sendJson(res, 200, {
        ...r,
        dataset,
        actor: w.actor,
        expired_count: expired.length,
        expired: versionRanges(expired),
        current_version: ds.current_version || null,
        latest_version: ds.latest_version,
      });
    }
    if (method === "POST" && parts.length === 4) {
      const dataset = datasetParam(parts[2]!);
      const command = parts[3];
      if (!isCommand(command)) throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);
      const body = await commandBody(req, command, timeouts.bodyMs);
      const w = who(req, body, identity);
      let r: { changed: boolean; seq: number; message?: string };
      if (parts[3] === "promote") {
        const version = versionField(body, "version", true)!;
        r = await catalog.command(dataset, "VersionPromoted", (f, now) => decidePromote(f, { ...w, version }, now));
      } else if (parts[3] === "rollback") {
        const toVersion = versionField(body, "to_version", false);
        r = await catalog.command(dataset, "VersionPromoted", (f, now) => decideRollback(f, { ...w, toVersion }, now));
      } else if (parts[3] === "tags") {
        const version = versionField(body, "version", true)!;
        if (typeof body.tag !== "string") throw new HttpError(400, "invalid_tag", "tag must be a string");
        const tag = body.tag;
        r = await catalog.command(dataset, "VersionTagged", (f, now) => decideTag(f, { ...w, tag, version }, now));
      } else throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);
      const ds = catalog.projection.dataset(dataset)!;
      return sendJson(res, 200, { ...r, dataset, actor: w.actor, current_version: ds.current_version || null, latest_version: ds.latest_version });
    }
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", `${method} not allowed on ${url.pathname}`);

    if (parts.length === 2) {
      // A reader sees only the datasets it may read.
      const all = p.datasets();
      return sendJson(res, 200, { datasets: identity ? all.filter((d) => mayRead(identity, d.name)) : all, ...eventual() });
    }
    const dataset = datasetParam(parts[2]!);
    if (parts.length === 3) {
      const ds = p.dataset(dataset);
      if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
      return sendJson(res, 200, { dataset: ds, ...eventual() });
    }

    if (parts[3] === "versions" && parts.length === 4) {
      const after = intParam(url, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
      const limit = intParam(url, "limit", 100, 1, 1000)!;
      const versions = p.versions(dataset, after, limit).map((v) => versionView(v, p.expiredSeq(dataset, v.version)));
      return sendJson(res, 200, { dataset, versions, next_after: versions.length === limit ? versions.at(-1)!.version : null, ...eventual() });
    }

    if (parts[3] === "files" && parts.length === 4) {
      // Every data file the dataset's history references, paged by key, with its version range and
      // whether a live (not expired) version references it: what `lake gc` keeps and `lake fsck` checks.
      const after = url.searchParams.get("after") ?? "";
      if (after.length > 1024) throw new HttpError(400, "invalid_parameter", "after must be an object key (at most 1024 characters)");
      const limit = intParam(url, "limit", 1000, 1, 10_000)!;
      const ds = p.dataset(dataset);
      if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
      // Read in one go (no await in between): the page and the position it was read at agree.
      const files = p.fileRegistry(dataset, after, limit);
      return sendJson(res, 200, { dataset, files, next_after: files.length === limit ? files.at(-1)!.key : null, last_record_seq: ds.last_record_seq, latest_version: ds.latest_version, ...eventual() });
    }
    if (parts[3] === "tags" && parts.length === 4) return sendJson(res, 200, { dataset, tags: p.tags(dataset), ...eventual() });
    if (parts[3] === "tags" && parts.length === 5) {
      const version = p.tagVersion(dataset, parts[4]!);
      if (version === undefined) throw new HttpError(404, "unknown_tag", `dataset ${dataset} has no tag ${JSON.stringify(parts[4]!.slice(0, 80))}`);
      return sendVersion(res, p.version(dataset, version)!, { tag: parts[4], ...eventual() });
    }
    if (parts[3] === "audit" && parts.length === 4) {
      const after = intParam(url, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
      const limit = intParam(url, "limit", 100, 1, 1000)!;
      const entries = p.auditTrail(dataset, after, limit).map((a) => ({ ...a, at: isoInstant(a.at), detail: a.detail === null ? null : (JSON.parse(a.detail) as unknown) }));
      return sendJson(res, 200, { dataset, entries, next_after: entries.length === limit ? entries.at(-1)!.seq : null, ...eventual() });
    }
    if (parts[3] === "versions" && parts.length === 6 && parts[5] === "quality") {
      const q = p.qualityResult(dataset, versionSegment(parts[4]!));
      if (!q) throw new HttpError(404, "no_verdict", `version ${parts[4]} of ${dataset} has no quality verdict (yet)`);
      return sendJson(res, 200, { ...q, rules: JSON.parse(q.rules) as unknown, checked_at: isoInstant(q.checked_at), ...eventual() });
    }

    if (parts[3] === "versions" && parts.length === 5) {
      const which = parts[4]!;
      let v: VersionRow | undefined;
      if (which === "latest") {
        const ds = p.dataset(dataset);
        v = ds && p.version(dataset, ds.latest_version);
      } else if (which === "current") {
        // The version readers should use: for critical datasets the newest one that passed its checks
        // (or what an operator promoted or rolled back to).
        const ds = p.dataset(dataset);
        if (ds && !ds.current_version) throw new HttpError(404, "no_current_version", `dataset ${dataset} has no current version yet (no version has passed its quality checks)`);
        v = ds && p.version(dataset, ds.current_version);
      } else if (CANONICAL_INT.test(which)) {
        v = p.version(dataset, versionSegment(which));
      } else throw new HttpError(400, "invalid_version", `version must be "latest", "current" or a positive decimal integer, got ${JSON.stringify(which.slice(0, 40))}`);
      if (!v) throw new HttpError(404, "unknown_version", `dataset ${dataset} has no version ${which}`);
      return sendVersion(res, v, eventual());
    }

    if (parts[3] === "covering" && parts.length === 4) {
      const offset = intParam(url, "offset", undefined, 1, Number.MAX_SAFE_INTEGER);
      const commitSeq = intParam(url, "commit_seq", undefined, 1, Number.MAX_SAFE_INTEGER);
      if ((offset === undefined) === (commitSeq === undefined)) throw new HttpError(400, "invalid_parameter", "give exactly one token: offset=<ingest offset> or commit_seq=<commit-log sequence>");
      const timeoutMs = intParam(url, "timeout_ms", 5000, 0, opts.maxWaitMs)!;
      const started = performance.now();
      // quality=passed: the first covering version that also passed its checks (what a reader of a
      // critical dataset may be served); without it, the first covering version, whatever its verdict.
      const q = url.searchParams.get("quality");
      if (q !== null && q !== "passed") throw new HttpError(400, "invalid_parameter", `quality=${JSON.stringify(q.slice(0, 20))}: the only filter is quality=passed`);
      const passed = q === "passed";
      const find = () =>
        offset !== undefined ? catalog.projection.coveringOffset(dataset, offset, passed) : catalog.projection.coveringCommit(dataset, commitSeq!, passed);
      const v = await catalog.waitFor(find, timeoutMs);
      const waited = Math.round(performance.now() - started);
      if (!v) {
        const ds = catalog.projection.dataset(dataset);
        return sendJson(res, 504, {
          error: "covering_timeout",
          message: `no version of ${dataset} covers ${offset !== undefined ? `offset ${offset}` : `commit ${commitSeq}`} yet (waited ${waited} ms); retry later`,
          waited_ms: waited,
          latest_version: ds?.latest_version ?? null,
          projected_through_seq: catalog.projection.lastSeq,
        });
      }
      return sendVersion(res, v, { consistency: "covering", waited_ms: waited });
    }
    throw new HttpError(404, "not_found", `no route ${method} ${url.pathname}`);
  }

  return listen(server, opts.port, opts.host).then((port) => ({ server, port }));
}
