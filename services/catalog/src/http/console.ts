// The web console's server side: its static files (services/catalog/console: plain HTML, CSS and one
// script, no build step), who the caller is (so the page shows only what its role may do), recent
// alerts, and ingest's quarantine API reached through the catalog.
//
// Why the catalog proxies the quarantine rather than the page calling ingest: the console then needs one
// origin and one token (the catalog's, whose roles decide: operators and admins only), no CORS on ingest,
// and no ingest token in a browser. The catalog holds an ingest operator token of its own
// (LAKE_CATALOG_INGEST_TOKEN_FILE), logs every replay with the catalog token's name as actor, and
// forwards ingest's answer unchanged, so the page sees exactly what `lake quarantine` sees.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { derivedNames, domainNames, isValidName } from "@lake/contracts";
import { HttpError, readBody, sendJson } from "@lake/http";

import { type Identity, mayRead } from "../domain/auth.ts";
import { diffFiles, timelineEvents, timelineVersions } from "../domain/timeline.ts";
import type { AlertEntry } from "../nats/alerts.ts";
import { type Api, type ApiRequest, CANONICAL_INT, intParam } from "./request.ts";

/** Where the console's files are: services/catalog/console (the same two levels up from src/http or a compiled copy of it). */
export const CONSOLE_DIR = fileURLToPath(new URL("../../console/", import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * The page may load only its own files and talk only to this catalog: no inline script, no third-party
 * origin, and no framing (a token typed into the page can't be lifted by a page that embeds it).
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

interface StaticFile {
  body: Buffer;
  gzip: Buffer;
  type: string;
  etag: string;
}

/** The console's files, read once: they ship with the catalog and change only with it. */
export class ConsoleFiles {
  private readonly files = new Map<string, StaticFile>();

  constructor(dir: string = CONSOLE_DIR) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
      this.files.set(name, { body, gzip: gzipSync(body, { level: 9 }), type, etag });
    }
    if (!this.files.has("index.html")) throw new Error(`the console's index.html is missing from ${dir}`);
  }

  /** Bytes of every file, as sent without and with gzip (the page's weight). */
  sizes(): { name: string; bytes: number; gzip: number }[] {
    return [...this.files].map(([name, f]) => ({ name, bytes: f.body.length, gzip: f.gzip.length }));
  }

  readonly serve = (r: ApiRequest): void => {
    const name = r.params.file ?? "index.html";
    const f = this.files.get(name);
    if (!f) throw new HttpError(404, "not_found", `the console has no file ${JSON.stringify(name.slice(0, 80))}`);
    // Revalidated on every load (no-cache), so a new catalog's console is picked up at once.
    const headers: Record<string, string> = { ...SECURITY_HEADERS, "content-type": f.type, etag: f.etag, "cache-control": "no-cache", vary: "accept-encoding" };
    if (r.req.headers["if-none-match"] === f.etag) {
      r.res.writeHead(304, headers);
      r.res.end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(r.req.headers["accept-encoding"] ?? ""));
    const body = gzip ? f.gzip : f.body;
    r.res.writeHead(200, { ...headers, ...(gzip ? { "content-encoding": "gzip" } : {}), "content-length": String(body.length) });
    r.res.end(r.method === "HEAD" ? undefined : body);
  };
}

/** GET /console and its files. */
export function serveConsole(api: Api, r: ApiRequest): void {
  if (!api.consoleFiles) throw new HttpError(404, "not_found", "the console is off on this catalog (LAKE_CATALOG_CONSOLE=off)");
  api.consoleFiles.serve(r);
}

/** GET /v1/events: live updates (events.ts). */
export function events(api: Api, r: ApiRequest): void {
  api.events.attach(r);
}

/** GET /v1/whoami: the caller's name and role, what it may read, and what the console can offer it. */
export function whoami(api: Api, r: ApiRequest): void {
  const id = r.identity;
  const role = id?.role ?? "admin";
  sendJson(r.res, 200, {
    auth: api.tokens === undefined ? "off" : "bearer",
    name: id?.name ?? null,
    role,
    datasets: !id || id.datasets === "all" ? "all" : [...id.datasets].sort(),
    // The domains ingest takes (each dataset of the same name is fed by it) and the derived datasets.
    domains: domainNames(),
    derived: derivedNames(),
    quarantine: api.ingest !== undefined && role !== "reader",
  });
}

/** The most audit entries a timeline reads (verdicts included) to find the events of its versions. */
const MAX_AUDIT_SCAN = 5000;

/**
 * GET /v1/datasets/<d>/timeline?limit=N: the newest N versions (default 50, at most 500) as the console's
 * timeline shows them, and the audit trail's events (promote, rollback, tag, expire, gc) since the oldest.
 */
export function timeline(api: Api, r: ApiRequest): void {
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const limit = intParam(r.query, "limit", 50, 1, 500)!;
  // Read in one go (nothing awaits): the versions, events and position agree.
  const ds = p.dataset(dataset);
  if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
  const after = Math.max(0, ds.latest_version - limit);
  const rows = p.versions(dataset, after, limit);
  const fromSeq = rows[0]?.commit_seq ?? 0;
  const audit = [];
  for (let cursor = fromSeq - 1; audit.length < MAX_AUDIT_SCAN;) {
    const page = p.auditTrail(dataset, cursor, 1000);
    audit.push(...page);
    if (page.length < 1000) break;
    cursor = page.at(-1)!.seq;
  }
  const versions = timelineVersions(rows, {
    current: ds.current_version,
    expired: (v) => p.expiredSeq(dataset, v) !== undefined,
    tags: p.tags(dataset),
    failedRules: (v) => {
      const q = p.qualityResult(dataset, v);
      return q ? (JSON.parse(q.rules) as { rule: string; passed: boolean }[]).filter((x) => !x.passed).map((x) => x.rule) : [];
    },
    parentFingerprint: after > 0 ? p.version(dataset, after)?.schema_fingerprint : undefined,
  });
  sendJson(r.res, 200, {
    dataset,
    policy: ds.policy,
    current_version: ds.current_version || null,
    latest_version: ds.latest_version,
    versions: versions.reverse(),
    events: timelineEvents(audit, fromSeq).reverse(),
    events_complete: audit.length < MAX_AUDIT_SCAN,
    consistency: "eventual",
    projected_through_seq: p.lastSeq,
  });
}

/** How many files of each side a diff lists (the counts are always whole). */
const DIFF_LIST_LIMIT = 200;

function versionQuery(r: ApiRequest, name: string): number {
  const raw = r.query.get(name);
  if (raw === null || !CANONICAL_INT.test(raw) || Number(raw) < 1)
    throw new HttpError(
      400,
      "invalid_parameter",
      `${name} must be a version number (a positive decimal integer), got ${JSON.stringify((raw ?? "").slice(0, 40))}`,
    );
  return Number(raw);
}

/**
 * GET /v1/datasets/<d>/diff?from=A&to=B: what changed between two versions: files added and removed
 * (the first 200 of each, and their counts), rows, and the schema of each.
 */
export function diff(api: Api, r: ApiRequest): void {
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const [a, b] = [versionQuery(r, "from"), versionQuery(r, "to")];
  const va = p.version(dataset, a);
  const vb = p.version(dataset, b);
  for (const [n, v] of [
    [a, va],
    [b, vb],
  ] as const)
    if (!v) throw new HttpError(404, "unknown_version", `dataset ${dataset} has no version ${n}`);
  const side = (v: NonNullable<typeof va>) => ({
    version: v.version,
    total_rows: v.total_rows,
    operation: v.operation ?? "append",
    quality: v.quality,
    committed_at: new Date(v.committed_at).toISOString(),
    schema: { name: v.schema_name, version: v.schema_version, fingerprint: v.schema_fingerprint },
    expired: p.expiredSeq(dataset, v.version) !== undefined,
  });
  const d = diffFiles(p.files(dataset, a), p.files(dataset, b), DIFF_LIST_LIMIT);
  sendJson(r.res, 200, {
    dataset,
    from: side(va!),
    to: side(vb!),
    schema_changed: va!.schema_fingerprint !== vb!.schema_fingerprint,
    rows_delta: vb!.total_rows - va!.total_rows,
    ...d,
    consistency: "eventual",
    projected_through_seq: p.lastSeq,
  });
}

/** Pure: the alerts `identity` may see (about a dataset it may read), newest first, and those firing now. */
export function visibleAlerts(entries: readonly AlertEntry[], identity: Identity | undefined): { alerts: AlertEntry[]; firing: AlertEntry[] } {
  const alerts = identity ? entries.filter((a) => mayRead(identity, a.subject)) : [...entries];
  const latest = new Map<string, AlertEntry>();
  // Newest first: the first entry seen of an (alert, subject) is its state now.
  for (const a of alerts) if (!latest.has(`${a.alert}\u0000${a.subject}`)) latest.set(`${a.alert}\u0000${a.subject}`, a);
  return { alerts, firing: [...latest.values()].filter((a) => a.state === "firing") };
}

/** GET /v1/alerts: recent alert transitions (the last LAKE_CATALOG_ALERTS_KEEP), and what fires now. */
export function alerts(api: Api, r: ApiRequest): void {
  if (!api.alerts) throw new HttpError(503, "alerts_unavailable", "this catalog does not follow the alerts stream");
  sendJson(r.res, 200, visibleAlerts(api.alerts.recent(), r.identity));
}

/** Where the catalog reaches ingest's quarantine API, and with which (operator) token. */
export interface IngestLink {
  url: string;
  token: string | undefined;
}

/** The longest the catalog waits for ingest on a quarantine request. */
const INGEST_TIMEOUT_MS = 30_000;
/** A replay body: at most 100 items of corrected records (ingest's own limit is what counts; this bounds the proxy). */
const MAX_REPLAY_BODY = 4 * 1024 * 1024;

function domainOf(r: ApiRequest): string {
  const d: string = r.params.domain!;
  if (!isValidName(d))
    throw new HttpError(400, "invalid_name", `invalid domain name ${JSON.stringify(String(d).slice(0, 80))}: must match ^[a-z][a-z0-9_]{0,62}$`);
  return d;
}

async function forward(api: Api, r: ApiRequest, path: string, init: { method: string; body?: string }): Promise<void> {
  const link = api.ingest;
  if (!link) throw new HttpError(503, "quarantine_unavailable", "the catalog has no ingest to reach the quarantine through (set LAKE_CATALOG_INGEST_URL)");
  let res: Response;
  try {
    res = await fetch(new URL(path, link.url), {
      method: init.method,
      headers: { ...(link.token ? { authorization: `Bearer ${link.token}` } : {}), ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
      body: init.body,
      signal: AbortSignal.timeout(INGEST_TIMEOUT_MS),
    });
  } catch (e) {
    throw new HttpError(502, "ingest_unreachable", `ingest at ${link.url} did not answer: ${(e as Error).message}`, { cause: e });
  }
  const text = await res.text();
  // Ingest's answer as it is (status and JSON body); anything else from it is a gateway error.
  if (!(res.headers.get("content-type") ?? "").includes("application/json"))
    throw new HttpError(502, "ingest_bad_answer", `ingest answered ${res.status} with ${res.headers.get("content-type") ?? "no content type"}`);
  r.res.writeHead(res.status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  r.res.end(text);
}

/** GET /v1/domains/<d>/quarantine?after=&limit=: ingest's quarantine listing of the domain (operators). */
export async function quarantineList(api: Api, r: ApiRequest): Promise<void> {
  const domain = domainOf(r);
  const q = new URLSearchParams();
  for (const k of ["after", "limit"]) if (r.query.has(k)) q.set(k, r.query.get(k)!);
  await forward(api, r, `/v1/domains/${domain}/quarantine${q.size ? `?${q}` : ""}`, { method: "GET" });
}

/** POST /v1/domains/<d>/quarantine/replay: ingest's replay, with the catalog token's name logged as who asked. */
export async function quarantineReplay(api: Api, r: ApiRequest): Promise<void> {
  const domain = domainOf(r);
  const body = await readBody(r.req, MAX_REPLAY_BODY, api.timeouts.bodyMs);
  api.log.info("quarantine replay asked through the console", { domain, actor: r.identity?.name ?? "anonymous", body_bytes: Buffer.byteLength(body) });
  await forward(api, r, `/v1/domains/${domain}/quarantine/replay`, { method: "POST", body });
}
