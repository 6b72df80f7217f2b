// The compiled `lake` CLI (apps/lake/bin/lake.js → apps/lake/dist/cli.js) against a running lake, as an
// operator meets it: it starts without loading the heavy packages, unknown names are errors, produce
// sends each sample domain, versions and audit say what happened, and a wait says it is waiting.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { bundleFreshness, REPO_ROOT } from "@lake/app";
import { waitFor } from "@lake/testing";

import { build } from "../apps/lake/src/build.ts";
import { withLake } from "./helpers.ts";

const bin = resolve(REPO_ROOT, "apps/lake/bin/lake.js");
const run = promisify(execFile);
const env = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_DEBUG", "LAKE_TOKEN", "LAKE_INGEST_TOKEN"]) delete env[k];

let lake: Awaited<ReturnType<typeof withLake>>;
before(async () => {
  // scripts/setup.sh builds; a source edited since (a developer's run) is rebuilt here, once, not by each command.
  await build({ ifStale: true });
  lake = await withLake();
});
after(() => lake?.cleanup());

async function lakeCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [bin, ...args, "--data-dir", lake.dataDir], { timeout: 60_000, env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** The packages whose loading made every command take seconds: none may load before a command needs it. */
const HEAVY = [
  "@duckdb/node-api",
  "@nats-io/jetstream",
  "@nats-io/nats-core",
  "@nats-io/transport-node",
  "avsc",
  "apache-arrow",
  "parquet-wasm",
  "@aws-sdk/client-s3",
  "better-sqlite3",
  "prom-client",
];

test("the compiled CLI is fresh, and its start (lake --help, catalog commands) loads none of the heavy packages", { timeout: 60_000 }, async () => {
  assert.deepEqual(bundleFreshness(REPO_ROOT, "lake"), { fresh: true });
  // esbuild's metafile: the outputs the entry imports statically, transitively, and the packages they import.
  const meta = JSON.parse(readFileSync(join(REPO_ROOT, "apps/lake/dist/meta.json"), "utf8")) as {
    outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
  };
  const outputs = new Map(Object.entries(meta.outputs).map(([k, v]) => [basename(k), v]));
  const loaded = new Set<string>();
  const packages = new Set<string>();
  const queue = ["cli.js"];
  for (let n = 0; queue.length > 0 && n < 1000; n++) {
    const out = queue.shift()!;
    if (loaded.has(out)) continue;
    loaded.add(out);
    for (const i of outputs.get(out)?.imports ?? []) {
      if (i.kind !== "import-statement") continue;
      if (i.external) packages.add(i.path);
      else queue.push(basename(i.path));
    }
  }
  assert.deepEqual(
    HEAVY.filter((p) => packages.has(p)),
    [],
    `loaded at start: ${[...packages].filter((p) => !p.startsWith("node:")).join(", ")}`,
  );
  // And it runs compiled: no rebuild, no TypeScript, the usage on stdout.
  const help = await lakeCli(["--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, "");
  assert.match(help.stdout, /^lake: an event-driven data lake/);
});

test("unknown names are usage errors (exit 2) naming what there is; produce sends each sample domain", { timeout: 120_000 }, async () => {
  const nope = await lakeCli(["versions", "nope"]);
  assert.equal(nope.code, 2);
  assert.match(nope.stderr, /^lake: no dataset nope \(the catalog has /);
  const badDomain = await lakeCli(["produce", "--domain", "nope", "--count", "5"]);
  assert.equal(badDomain.code, 2);
  assert.equal(badDomain.stderr, 'lake: no sample domain "nope": lake produce sends samples of domain_events, payments, customers\n');

  // payments: valid payments (a critical dataset: the covering version passed its audit and is current).
  const paid = await lakeCli(["produce", "--domain", "payments", "--count", "200", "--rate", "0", "--invalid", "0", "--wait", "--seed", "3"]);
  assert.equal(paid.code, 0, paid.stderr);
  const version = Number(/committed: version (\d+) of payments covers offset \d+/.exec(paid.stdout)?.[1]);
  assert.ok(version >= 1, paid.stdout);
  const v = await lakeCli(["versions", "payments"]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^version\s+current\s+committed_at\s+operation\s+rows_added\s+total_rows\s+quality\s+first_offset\s+last_offset\s+expired/);
  assert.match(v.stdout, new RegExp(`^${version}\\s+\\*\\s+\\S+Z\\s+append\\s+\\d+\\s+200\\s+passed\\s`, "m"));
  assert.match(v.stdout, new RegExp(`^current: version ${version}; latest: version ${version} \\(critical\\)$`, "m"));
  const rows = await lake.catalog.version("payments", version);
  assert.equal(rows.total_rows, 200);

  // customers: Debezium-style changes, one row per customer in the committed table.
  const cdc = await lakeCli(["produce", "--domain", "customers", "--count", "150", "--rate", "0", "--invalid", "0", "--wait", "--seed", "4"]);
  assert.equal(cdc.code, 0, cdc.stderr);
  assert.match(cdc.stdout, /committed: version \d+ of customers covers offset \d+ \(100 rows/);
});

test("audit filters by kind, actor and time; quality_passed rows only when asked", { timeout: 120_000 }, async () => {
  const produced = await lakeCli(["produce", "--domain", "payments", "--count", "50", "--rate", "0", "--invalid", "0", "--wait", "--seed", "5"]);
  assert.equal(produced.code, 0, produced.stderr);
  const byDefault = await lakeCli(["audit", "payments"]);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  const row = (kind: string) => new RegExp(`^\\d+\\s+\\S+Z\\s+${kind}\\s`, "m");
  assert.match(byDefault.stdout, row("auto_promote"));
  assert.doesNotMatch(byDefault.stdout, row("quality_passed"));
  assert.match(byDefault.stdout, /quality_passed verdicts left out: --kind all shows them/);
  const passed = await lakeCli(["audit", "payments", "--kind", "quality_passed"]);
  assert.match(passed.stdout, row("quality_passed"));
  assert.doesNotMatch(passed.stdout, row("auto_promote"));
  const all = await lakeCli(["audit", "payments", "--kind", "all"]);
  assert.match(all.stdout, row("quality_passed"));
  assert.match(all.stdout, row("auto_promote"));
  assert.match((await lakeCli(["audit", "payments", "--actor", "nobody-at-all"])).stdout, /\(0 rows\)/);
  assert.match((await lakeCli(["audit", "payments", "--since", "2999-01-01T00:00:00Z"])).stdout, /\(0 rows\)/);
  assert.match((await lakeCli(["audit", "payments", "--until", "2000-01-01T00:00:00Z", "--kind", "all"])).stdout, /\(0 rows\)/);
  const bogus = await lakeCli(["audit", "payments", "--kind", "bogus"]);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /^lake: --kind "bogus": expected all or any of promote, rollback/);
  const unknown = await lakeCli(["audit", "nope"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^lake: no dataset nope/);
});

test("a read waiting for an offset nobody wrote says so on stderr every 5 s", { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [bin, "query", "--offset", "1000000000", "--data-dir", lake.dataDir, "SELECT 1"], { env });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  try {
    await waitFor("a progress line", () => (stderr.includes("(5 s)") ? true : undefined), { timeoutMs: 30_000 });
    assert.match(stderr, /^waiting for a version of domain_events covering offset 1000000000\.\.\. \(5 s\)\n/);
    assert.equal(stdout, "", "stdout keeps the answer only");
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
});
