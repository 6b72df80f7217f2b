// Catalog authentication and authorization end to end: a whole lake whose catalog has a tokens file.
// Unauthenticated and forbidden requests get 401/403 and are audited for admins; a reader sees only
// its datasets; an operator's commands are recorded under its token's name; an admin rebuilds; the
// `lake` CLI sends LAKE_TOKEN; a malformed tokens file stops the catalog at start.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { serviceEntry } from "@lake/app";
import { CatalogClient, CatalogRequestError, sampleEvents, sendHttp } from "@lake/client";
import { isServiceStartError, spawnService } from "@lake/testing";

import { DATASET, withLake } from "./helpers.ts";

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const TOKENS = { reader: "rdr-6f1c2e9a-reader-token", operator: "op-0b7d4e21-operator-token", admin: "adm-93aa5c10-admin-token" };
const GRANTED = ["domain_events", "daily_user_totals"];

const dir = mkdtempSync(join(tmpdir(), "lake-auth-"));
const tokensFile = join(dir, "tokens.json");
writeFileSync(
  tokensFile,
  JSON.stringify([
    { name: "bi-dashboard", sha256: sha256(TOKENS.reader), role: "reader", datasets: GRANTED },
    { name: "alice", sha256: sha256(TOKENS.operator), role: "operator" },
    { name: "root", sha256: sha256(TOKENS.admin), role: "admin" },
  ]),
);

let lake: Awaited<ReturnType<typeof withLake>>;
let reader: CatalogClient;
let operator: CatalogClient;
let admin: CatalogClient;
let n = 0;

async function commitBatch(size = 40) {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(size, { prefix: `auth${n++}`, seed: n }));
  return operator.covering(DATASET, r.max_offset!, 20_000);
}

const refused = (status: number, code: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof CatalogRequestError, String(e));
  assert.deepEqual([e.status, e.code], [status, code], e.message);
  if (message) assert.match(e.message, message);
  return true;
};

before(async () => {
  lake = await withLake({ env: { LAKE_CATALOG_TOKENS_FILE: tokensFile } });
  reader = new CatalogClient(lake.catalogUrl, TOKENS.reader);
  operator = new CatalogClient(lake.catalogUrl, TOKENS.operator);
  admin = new CatalogClient(lake.catalogUrl, TOKENS.admin);
  for (let i = 0; i < 3; i++) await commitBatch();
  // A dataset outside the reader's grant: one payment.
  const p = await sendHttp(lake.producer, "payments", [
    { payment_id: "auth-p1", user_id: "u1", timestamp: Date.UTC(2026, 5, 1), amount: 10, currency: "EUR", card_country: "DE" },
  ]);
  assert.equal(p.accepted, 1);
  await admin.covering("payments", p.max_offset!, 20_000);
});
after(async () => {
  await lake?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("the catalog starts with authentication on and says so; /healthz stays open", async () => {
  const catalog = lake.services.get("catalog")!;
  assert.equal(catalog.ready.auth, "bearer");
  assert.equal(catalog.ready.tokens, 3);
  assert.doesNotMatch(catalog.logs(), /authentication is off/);
  const res = await fetch(new URL("/healthz", lake.catalogUrl));
  assert.equal(res.status, 200);
});

test("without a token or with an unknown one: 401 with WWW-Authenticate: Bearer", async () => {
  const res = await fetch(new URL(`/v1/datasets/${DATASET}/versions/latest`, lake.catalogUrl));
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="lake-catalog"/);
  assert.deepEqual(Object.keys((await res.json()) as object), ["error", "message"]);
  await assert.rejects(lake.catalog.datasets(), refused(401, "missing_token", /Authorization: Bearer/));
  await assert.rejects(new CatalogClient(lake.catalogUrl, "not-a-token").version(DATASET, "latest"), refused(401, "invalid_token"));
  await assert.rejects(lake.catalog.promote(DATASET, 1, "mallory", "no token"), refused(401, "missing_token"));
});

test("a reader reads its datasets, lists only them, and gets 403 on another dataset and on promote", async () => {
  const latest = await reader.version(DATASET, "latest");
  assert.ok(latest.files.length > 0);
  const all = (await operator.datasets()).datasets.map((d) => d.name);
  const mine = (await reader.datasets()).datasets.map((d) => d.name);
  assert.ok(all.includes("payments"), `the operator sees payments: ${all.join(", ")}`);
  assert.ok(mine.includes(DATASET));
  assert.deepEqual(
    mine,
    all.filter((d) => GRANTED.includes(d)),
    "the reader's list is the full list filtered to its grant",
  );
  await assert.rejects(
    reader.version("payments", "latest"),
    refused(403, "forbidden", /"bi-dashboard" \(role reader\) lacks read access to dataset "payments"/),
  );
  await assert.rejects(
    reader.promote(DATASET, latest.version, "bi-dashboard", "try"),
    refused(403, "forbidden", /may not promote: that needs role operator or admin/),
  );
  await assert.rejects(reader.rebuild(), refused(403, "forbidden", /admin endpoints need role admin/));
});

test("an operator promotes, rolls back and tags, recorded as the actor whatever the body says; 403 on rebuild", async () => {
  const latest = await operator.version(DATASET, "latest");
  const rb = await operator.rollback(DATASET, "mallory", "auth test rollback");
  assert.equal(rb.changed, true);
  assert.equal(rb.actor, "alice");
  assert.equal(rb.current_version, latest.version - 1);
  const pr = await operator.promote(DATASET, latest.version, "someone-else", "auth test promote");
  assert.equal(pr.current_version, latest.version);
  const tg = await operator.tag(DATASET, "auth-v1", 1, "", "auth test tag");
  assert.equal(tg.changed, true);
  const mine = (await operator.audit(DATASET)).entries.filter((e) => e.reason.startsWith("auth test"));
  assert.deepEqual(
    mine.map((e) => [e.kind, e.actor, e.reason]),
    [
      ["rollback", "alice", "auth test rollback"],
      ["promote", "alice", "auth test promote"],
      ["tag", "alice", "auth test tag"],
    ],
  );
  await assert.rejects(operator.rebuild(), refused(403, "forbidden", /"alice" \(role operator\) may not call POST \/v1\/admin\/rebuild/));
  await assert.rejects(operator.dump(), refused(403, "forbidden"));
});

test("an admin rebuilds and dumps; the rebuilt catalog keeps the operator's commands under its name", async () => {
  const r = await admin.rebuild();
  assert.equal(r.rebuilt, true);
  const mine = (await reader.audit(DATASET)).entries.filter((e) => e.reason.startsWith("auth test"));
  assert.deepEqual(
    mine.map((e) => e.actor),
    ["alice", "alice", "alice"],
  );
  const dump = JSON.parse(await admin.dump()) as { tags: unknown[][] };
  assert.ok(dump.tags.some((t) => t[1] === "auth-v1"));
});

test("denials are listed for admins (401s and 403s, with token names) and logged, and no token appears in the logs", async () => {
  await assert.rejects(reader.denials(), refused(403, "forbidden"));
  await assert.rejects(operator.denials(), refused(403, "forbidden"));
  const page = await admin.denials(0, 1000);
  const seen = page.denials.map((d) => `${d.status} ${d.error} ${d.token ?? "-"} ${d.method} ${d.path}`);
  for (const expected of [
    `401 missing_token - GET /v1/datasets/${DATASET}/versions/latest`,
    "401 missing_token - GET /v1/datasets",
    `401 invalid_token - GET /v1/datasets/${DATASET}/versions/latest`,
    `401 missing_token - POST /v1/datasets/${DATASET}/promote`,
    "403 forbidden bi-dashboard GET /v1/datasets/payments/versions/latest",
    `403 forbidden bi-dashboard POST /v1/datasets/${DATASET}/promote`,
    "403 forbidden bi-dashboard POST /v1/admin/rebuild",
    "403 forbidden alice POST /v1/admin/rebuild",
    "403 forbidden alice GET /v1/admin/dump",
    "403 forbidden bi-dashboard GET /v1/admin/denials",
    "403 forbidden alice GET /v1/admin/denials",
  ]) {
    assert.ok(seen.includes(expected), `denial ${expected} is listed:\n${seen.join("\n")}`);
  }
  assert.ok(page.denials.every((d) => d.role === null || ["reader", "operator"].includes(d.role)));
  const logs = lake.services.get("catalog")!.logs();
  const logged = logs.split("\n").filter((l) => l.includes('"msg":"request denied"'));
  assert.ok(logged.length >= page.denials.length, `every denial is a log line (${logged.length} lines, ${page.denials.length} denials)`);
  for (const secret of Object.values(TOKENS)) assert.ok(!logs.includes(secret), "no token in the catalog's logs");
});

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);

function lakeCli(args: string[], token: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["LAKE_TOKEN", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "NATS_URL", "LAKE_STORE_ROOT", "LAKE_ACTOR"]) delete env[k];
  if (token !== undefined) env.LAKE_TOKEN = token;
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 60_000, env });
}

async function cliFails(args: string[], token: string | undefined): Promise<string> {
  const e = (await lakeCli(args, token).then(
    () => assert.fail(`lake ${args.join(" ")} should have failed`),
    (err: unknown) => err,
  )) as { code: number; stderr: string };
  assert.equal(e.code, 1);
  return e.stderr;
}

test("the lake CLI sends LAKE_TOKEN: reads and commands work with the right role, and are refused clearly without", async () => {
  const versions = await lakeCli(["versions", DATASET], TOKENS.reader);
  // version 1: its commit time, operation and rows added (the current column is blank for it).
  assert.match(versions.stdout, /^1\s+\S+Z\s+append\s+\d+/m);
  const datasets = await lakeCli(["datasets"], TOKENS.reader);
  assert.match(datasets.stdout, new RegExp(`^${DATASET}\\s`, "m"));
  assert.doesNotMatch(datasets.stdout, /payments/);
  const q = await lakeCli(["query", "SELECT count(*) AS n FROM domain_events", "--version", "1"], TOKENS.reader);
  assert.match(q.stdout, /-- domain_events version 1 /);

  assert.match(await cliFails(["versions", DATASET], undefined), /lake: catalog: no bearer token: .*LAKE_TOKEN/);
  assert.match(
    await cliFails(["versions", "payments"], TOKENS.reader),
    /lake: catalog: token "bi-dashboard" \(role reader\) lacks read access to dataset "payments"/,
  );
  assert.match(
    await cliFails(["tag", DATASET, "cli-auth", "--version", "1", "--reason", "r"], TOKENS.reader),
    /may not tag: that needs role operator or admin/,
  );

  const tagged = await lakeCli(["tag", DATASET, "cli-auth", "--version", "1", "--reason", "cli auth tag", "--actor", "ignored"], TOKENS.operator);
  assert.match(tagged.stdout, /tag cli-auth: recorded at commit-log sequence \d+/);
  const audit = await lakeCli(["audit", DATASET], TOKENS.operator);
  assert.match(audit.stdout, /tag\s+1\s+NULL\s+alice\s+cli auth tag/);
  const rebuilt = await lakeCli(["catalog", "rebuild"], TOKENS.admin);
  assert.match(rebuilt.stdout, /catalog rebuilt from the commit log/);
});

test("a malformed tokens file stops the catalog at start with the problem named", async () => {
  const cases: [string, string | undefined, RegExp][] = [
    [
      "bad-role.json",
      JSON.stringify([{ name: "x", sha256: sha256("x"), role: "superuser" }]),
      /"role" must be one of reader, operator, admin, got "superuser"/,
    ],
    ["plain-token.json", JSON.stringify([{ name: "x", sha256: "my-secret-token", role: "admin" }]), /"sha256" must be the 64 hex digits/],
    ["missing.json", undefined, /cannot read it/],
  ];
  for (const [name, content, problem] of cases) {
    const file = join(dir, name);
    if (content !== undefined) writeFileSync(file, content);
    const started = spawnService({
      name: `catalog-${name}`,
      entry: serviceEntry("catalog"),
      env: { ...lake.natsEnv("catalog"), LAKE_CATALOG_DIR: join(dir, `catalog-${name}`), LAKE_CATALOG_PORT: "0", LAKE_CATALOG_TOKENS_FILE: file },
    });
    await assert.rejects(started, (e: unknown) => {
      assert.ok(isServiceStartError(e), String(e));
      assert.equal(e.exitCode, 1);
      assert.match(e.logTail, new RegExp(`LAKE_CATALOG_TOKENS_FILE=${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: `));
      assert.match(e.logTail, problem);
      return true;
    });
  }
});
