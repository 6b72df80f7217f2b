// The HTTP wiring of authentication (http/routes.ts) in process: a real projection and HTTP server, a
// stand-in for the NATS side of commands. Status codes, headers and bodies of refusals, the filtered
// dataset list, the authenticated actor, the denials ring and its log lines, and auth off as before.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";
import type { Logger } from "@lake/telemetry";

import type { Catalog } from "../src/catalog.ts";
import { Projection } from "../src/db/projection.ts";
import { parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { CommandError, type Decision } from "../src/domain/commands.ts";
import { type FreshnessFacts, freshnessOf, freshnessTargets } from "../src/domain/freshness.ts";
import { startHttp } from "../src/http/routes.ts";
import { T0, versionRecord } from "./fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-auth-http-"));

function committed(dataset: string, version: number, seq: number): { seq: number; record: LogRecord } {
  return { seq, record: { kind: "VersionCommitted", body: versionRecord(dataset, version, { committed_at: T0 + version }) } };
}

const TOKENS = { reader: "tok-reader", operator: "tok-operator", admin: "tok-admin" };
const tokens = parseTokensFile(
  JSON.stringify([
    { name: "bi-dashboard", sha256: tokenSha256(TOKENS.reader), role: "reader", datasets: ["domain_events"] },
    { name: "alice", sha256: tokenSha256(TOKENS.operator), role: "operator" },
    { name: "root", sha256: tokenSha256(TOKENS.admin), role: "admin" },
  ]),
);

/** The catalog with its NATS side replaced: commands are decided on the projection and kept, not appended. */
function fakeCatalog(projection: Projection) {
  const appended: unknown[] = [];
  let rebuilds = 0;
  const catalog = {
    projection,
    waitFor: <T>(ready: () => T | undefined) => Promise.resolve(ready()),
    async command(dataset: string, _kind: string, decide: (facts: NonNullable<ReturnType<Projection["facts"]>>, now: number) => Decision<unknown>) {
      const facts = projection.facts(dataset);
      if (!facts) throw new CommandError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
      const d = decide(facts, T0);
      if (d.kind === "noop") return { changed: false, seq: 0, message: d.message };
      appended.push(d.body);
      return { changed: true, seq: 100 + appended.length };
    },
    async rebuild() {
      rebuilds++;
      return { seq: projection.lastSeq, ms: 1 };
    },
    // Caught up from the start; freshness without NATS: unmeasured.
    catchingUp: () => undefined,
    assertServing() {},
    // No live updates here (the console's event stream subscribes to them).
    onApplied: () => () => {},
    freshness: (v: FreshnessFacts) => Promise.resolve(freshnessOf(v, freshnessTargets(v), [], T0)),
  };
  return { catalog: catalog as unknown as Catalog, appended, rebuilds: () => rebuilds };
}

function capturingLogger(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log = {
    lines,
    info: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: "info", msg, fields }),
    warn: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: "warn", msg, fields }),
    error: (msg: string, fields?: Record<string, unknown>) => void lines.push({ level: "error", msg, fields }),
    child: () => log,
  };
  return log;
}

async function start(withTokens: boolean) {
  const projection = new Projection(join(root, `catalog-${withTokens ? "auth" : "open"}.db`));
  projection.applyBatch([committed("domain_events", 1, 1), committed("payments", 1, 2), committed("domain_events", 2, 3)]);
  const fake = fakeCatalog(projection);
  const log = capturingLogger();
  const { server, port } = await startHttp({
    catalog: fake.catalog,
    host: "127.0.0.1",
    port: 0,
    maxWaitMs: 1000,
    log,
    tokens: withTokens ? tokens : undefined,
    denialsKeep: 50,
  });
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };
  return { server, projection, call, log, ...fake };
}

describe("catalog HTTP with a tokens file", () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start(true);
  });
  after(() => {
    s.server.close();
    s.projection.close();
  });

  test("no token: 401 missing_token with WWW-Authenticate: Bearer and { error, message }; unknown routes say nothing more", async () => {
    for (const path of ["/v1/datasets", "/v1/datasets/domain_events/versions/latest", "/v1/no/such/route", "/v1/admin/dump"]) {
      const r = await s.call("GET", path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="lake-catalog"');
      assert.deepEqual(Object.keys(r.body), ["error", "message"]);
      assert.equal(r.body.error, "missing_token");
    }
  });

  test("an unknown token or another scheme: 401 with the RFC 6750 error in the challenge", async () => {
    const r = await s.call("GET", "/v1/datasets", "wrong");
    assert.deepEqual([r.status, r.body.error], [401, "invalid_token"]);
    assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="lake-catalog", error="invalid_token"');
    const basic = await fetch(`http://127.0.0.1:${(s.server.address() as { port: number }).port}/v1/datasets`, { headers: { authorization: "Basic YTpi" } });
    assert.equal(basic.status, 401);
    assert.equal(((await basic.json()) as { error: string }).error, "malformed_authorization");
  });

  test("/healthz needs no token", async () => {
    const r = await s.call("GET", "/healthz");
    assert.deepEqual([r.status, r.body.ok], [200, true]);
  });

  test("a reader lists only its datasets, reads them, and gets 403 on another dataset and on promote", async () => {
    const list = await s.call("GET", "/v1/datasets", TOKENS.reader);
    assert.deepEqual(
      (list.body.datasets as { name: string }[]).map((d) => d.name),
      ["domain_events"],
    );
    assert.equal((await s.call("GET", "/v1/datasets/domain_events/versions/latest", TOKENS.reader)).body.version, 2);
    const other = await s.call("GET", "/v1/datasets/payments/versions/latest", TOKENS.reader);
    assert.deepEqual([other.status, other.body.error], [403, "forbidden"]);
    assert.match(String(other.body.message), /role reader\) lacks read access to dataset "payments"/);
    assert.equal(other.headers.get("www-authenticate"), 'Bearer realm="lake-catalog", error="insufficient_scope"');
    const promote = await s.call("POST", "/v1/datasets/domain_events/promote", TOKENS.reader, { version: 2, reason: "r" });
    assert.deepEqual([promote.status, promote.body.error], [403, "forbidden"]);
    assert.equal(s.appended.length, 0, "a refused command decides nothing");
  });

  test("an operator sees every dataset; its commands are recorded under its token's name, whatever actor the body claims", async () => {
    const list = await s.call("GET", "/v1/datasets", TOKENS.operator);
    assert.deepEqual(
      (list.body.datasets as { name: string }[]).map((d) => d.name),
      ["domain_events", "payments"],
    );
    const r = await s.call("POST", "/v1/datasets/domain_events/rollback", TOKENS.operator, { actor: "mallory", reason: "drill" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.actor, "alice");
    const noActor = await s.call("POST", "/v1/datasets/domain_events/tags", TOKENS.operator, { tag: "t1", version: 1, reason: "no actor needed" });
    assert.equal(noActor.status, 200, JSON.stringify(noActor.body));
    assert.deepEqual(
      s.appended.map((b) => (b as LakeLog.VersionPromoted).actor),
      ["alice", "alice"],
    );
    // Body validation still applies to authorized callers.
    assert.equal((await s.call("POST", "/v1/datasets/domain_events/promote", TOKENS.operator, { version: 2 })).body.error, "invalid_reason");
    const rebuild = await s.call("POST", "/v1/admin/rebuild", TOKENS.operator);
    assert.deepEqual([rebuild.status, rebuild.body.error], [403, "forbidden"]);
    assert.equal(s.rebuilds(), 0);
  });

  test("an admin rebuilds, dumps and lists every denial so far, with token names and no secrets; each was a log line", async () => {
    assert.equal((await s.call("POST", "/v1/admin/rebuild", TOKENS.admin)).status, 200);
    assert.equal(s.rebuilds(), 1);
    const r = await s.call("GET", "/v1/admin/denials?limit=1000", TOKENS.admin);
    assert.equal(r.status, 200);
    const denials = r.body.denials as {
      seq: number;
      status: number;
      error: string;
      token: string | null;
      role: string | null;
      method: string;
      path: string;
      presented_sha256_prefix: string | null;
    }[];
    assert.deepEqual(
      denials.map((d) => [d.status, d.error, d.token, d.method, d.path]),
      [
        [401, "missing_token", null, "GET", "/v1/datasets"],
        [401, "missing_token", null, "GET", "/v1/datasets/domain_events/versions/latest"],
        [401, "missing_token", null, "GET", "/v1/no/such/route"],
        [401, "missing_token", null, "GET", "/v1/admin/dump"],
        [401, "invalid_token", null, "GET", "/v1/datasets"],
        [401, "malformed_authorization", null, "GET", "/v1/datasets"],
        [403, "forbidden", "bi-dashboard", "GET", "/v1/datasets/payments/versions/latest"],
        [403, "forbidden", "bi-dashboard", "POST", "/v1/datasets/domain_events/promote"],
        [403, "forbidden", "alice", "POST", "/v1/admin/rebuild"],
      ],
    );
    assert.equal(denials[4]!.presented_sha256_prefix, tokenSha256("wrong").slice(0, 12));
    assert.deepEqual([r.body.total, r.body.dropped, r.body.capacity, r.body.next_after], [9, 0, 50, null]);
    const logged = s.log.lines.filter((l) => l.msg === "request denied");
    assert.equal(logged.length, 9);
    const f = logged[6]!.fields ?? {};
    assert.deepEqual([f.status, f.token, f.role, f.path, f.denial_seq], [403, "bi-dashboard", "reader", "/v1/datasets/payments/versions/latest", 7]);
    const everything = JSON.stringify(s.log.lines) + JSON.stringify(r.body);
    for (const secret of Object.values(TOKENS)) assert.ok(!everything.includes(secret), "no token appears in logs or denials");
    assert.equal((await s.call("GET", "/v1/admin/dump", TOKENS.admin)).status, 200);
  });

  test("the denials are admin only", async () => {
    assert.equal((await s.call("GET", "/v1/admin/denials", TOKENS.operator)).status, 403);
    assert.equal((await s.call("GET", "/v1/admin/denials", TOKENS.reader)).status, 403);
  });
});

describe("catalog HTTP without a tokens file (auth off: as before)", () => {
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start(false);
  });
  after(() => {
    s.server.close();
    s.projection.close();
  });

  test("everything is open, a command records the body's actor, nothing is denied", async () => {
    assert.equal((await s.call("GET", "/v1/datasets")).status, 200);
    assert.equal((await s.call("GET", "/v1/datasets/payments/versions/latest", "whatever")).status, 200);
    const r = await s.call("POST", "/v1/datasets/domain_events/rollback", undefined, { actor: "bob", reason: "drill" });
    assert.equal(r.body.actor, "bob");
    assert.equal((await s.call("POST", "/v1/datasets/domain_events/promote", undefined, { version: 2, reason: "r" })).body.error, "invalid_actor");
    const denials = await s.call("GET", "/v1/admin/denials");
    assert.deepEqual([denials.body.auth, denials.body.total], ["off", 0]);
  });
});

after(() => rmSync(root, { recursive: true, force: true }));
