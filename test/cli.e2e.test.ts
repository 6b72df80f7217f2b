// The `lake` CLI as a user runs it: the demo end to end, and up → produce → query → versions →
// catalog rebuild → Ctrl-C.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

import { connectNats } from "@lake/messaging";
import { acceptsConnections, waitFor } from "@lake/testing";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI must start its own nats-server: make sure nothing in the environment points it elsewhere.
const env = { ...process.env };
delete env.NATS_URL;
delete env.LAKE_CATALOG_URL;
delete env.LAKE_INGEST_URL;
delete env.LAKE_STORE_ROOT;

function lake(args: string[]) {
  return run(process.execPath, ["--import", tsx, cli, ...args], { timeout: 120_000, env });
}

test("lake demo runs the whole pipeline and proves exactly-once on its own data", async () => {
  const { stdout } = await lake(["demo", "--count", "3000"]);
  assert.match(stdout, /acknowledged distinct events: 3000; rows in version \d+: 3000; distinct ids: 3000/);
  assert.match(stdout, /exactly once: every acknowledged event is in the committed version once\./);
  assert.match(stdout, /2026-06-01\s+click/);
});

test("lake up, produce --wait, query, versions, catalog rebuild, then Ctrl-C stops everything", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "lake-cli-"));
  const up = spawn(process.execPath, ["--import", tsx, cli, "up", "--data-dir", dataDir, "--ingest-port", "0", "--catalog-port", "0"], {
    env,
  });
  let out = "";
  up.stdout.on("data", (c) => (out += c));
  up.stderr.on("data", (c) => (out += c));
  const exited = new Promise<number | null>((r) => up.on("exit", (code) => r(code)));
  try {
    await waitFor("lake up to be ready", () => (out.includes("ready.") ? true : undefined), { timeoutMs: 60_000 });
    const info = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as { nats_url: string; ingest_url: string; secrets_dir: string };
    // Secure as deployed: NATS users and ingest tokens, generated into the data dir for its owner only;
    // the CLI below uses them (produce with the producer token, schema register as NATS admin).
    assert.match(out, /secrets {3}\S+ \(NATS users, ingest tokens: readable by you only/);
    assert.equal(statSync(info.secrets_dir).mode & 0o777, 0o700);
    await assert.rejects(
      connectNats({ url: info.nats_url, name: "anonymous", auth: {} }),
      /Authorization Violation/i,
      "NATS refuses a client without a password",
    );
    const noToken = await fetch(new URL("/v1/domains/domain_events/events", info.ingest_url), { method: "POST", body: "{}" });
    assert.equal(noToken.status, 401, "ingest refuses events without a token");

    const produced = await lake(["produce", "--data-dir", dataDir, "--count", "800", "--rate", "0", "--wait", "--seed", "5"]);
    assert.match(produced.stdout, /committed: version \d+ of domain_events covers offset \d+/);
    const offset = Number(/read-after-write token: offset (\d+)/.exec(produced.stdout)![1]);

    const q = await lake(["query", "--data-dir", dataDir, "SELECT count(DISTINCT event_id) AS n FROM domain_events"]);
    assert.match(q.stdout, /^800\s*$/m);
    const raw = await lake(["query", "--data-dir", dataDir, "--offset", String(offset), "SELECT max(_offset) AS top FROM domain_events"]);
    assert.match(raw.stdout, /covering your offset/);
    assert.match(raw.stdout, new RegExp(`^${offset}\\s*$`, "m"));

    // Time travel: as of the moment version 1 was committed, the latest was version 1.
    const catalogUrl = (JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as { catalog_url: string }).catalog_url;
    const v1At = Date.parse(
      ((await (await fetch(new URL("/v1/datasets/domain_events/versions/1", catalogUrl))).json()) as { committed_at: string }).committed_at,
    );
    const travelled = await lake(["query", "--data-dir", dataDir, "--as-of", new Date(v1At).toISOString(), "SELECT count(*) AS n FROM domain_events"]);
    assert.match(travelled.stdout, /-- domain_events version 1 .*as of/);
    const tooEarly = await lake(["query", "--data-dir", dataDir, "--as-of", "2001-01-01T00:00:00Z", "SELECT 1"]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.match((tooEarly as { stderr: string }).stderr, /had no version at 2001-01-01/);

    const versions = await lake(["versions", "domain_events", "--data-dir", dataDir]);
    // version, current marker, committed_at, operation, rows added.
    assert.match(versions.stdout, /^1\s+\*?\s+\S+Z\s+append\s+\d+/m);
    const rebuilt = await lake(["catalog", "rebuild", "--data-dir", dataDir]);
    assert.match(rebuilt.stdout, /catalog rebuilt from the commit log/);

    // Operations: tag, roll back, promote, audit, and read by tag and by current.
    const tagged = await lake(["tag", "domain_events", "first", "--version", "1", "--reason", "cli test", "--data-dir", dataDir]);
    assert.match(tagged.stdout, /tag first: recorded at commit-log sequence \d+/);
    const byTag = await lake(["query", "--data-dir", dataDir, "--tag", "first", "SELECT count(*) AS n FROM domain_events"]);
    assert.match(byTag.stdout, /-- domain_events version 1 /);
    const latestNo = Number(/committed: version (\d+)/.exec(produced.stdout)![1]);
    if (latestNo > 1) {
      const rb = await lake(["rollback", "domain_events", "--reason", "cli drill", "--actor", "tester", "--data-dir", dataDir]);
      assert.match(rb.stdout, new RegExp(`current version ${latestNo - 1}, latest ${latestNo}`));
      const cur = await lake(["query", "--data-dir", dataDir, "--version", "current", "SELECT 1 AS one"]);
      assert.match(cur.stdout, new RegExp(`-- domain_events version ${latestNo - 1} `));
      await lake(["promote", "domain_events", "--version", String(latestNo), "--reason", "cli drill over", "--data-dir", dataDir]);
      const audit = await lake(["audit", "domain_events", "--data-dir", dataDir]);
      assert.match(audit.stdout, /rollback\s+\d+\s+\d+\s+tester\s+cli drill/);
    }
    const noReason = await lake(["promote", "domain_events", "--version", "1", "--data-dir", dataDir]).catch((e: { code: number; stderr: string }) => e);
    assert.match((noReason as { stderr: string }).stderr, /--reason is required/);

    // Schema registry: list, register a compatible version, refuse an incompatible one.
    const list = await lake(["schema", "list", "domain_events", "--data-dir", dataDir]);
    assert.match(list.stdout, /domain_events\s+1\s/);
    const v1 = JSON.parse(readFileSync(resolve(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as {
      fields: { name: string; type: unknown }[];
    };
    const v2file = join(dataDir, "v2.avsc");
    writeFileSync(v2file, JSON.stringify({ ...v1, fields: [...v1.fields, { name: "channel", type: ["null", "string"], default: null }] }));
    const reg = await lake(["schema", "register", v2file, "--reason", "add channel", "--data-dir", dataDir]);
    assert.match(reg.stdout, /registered domain_events version 2/);
    const badFile = join(dataDir, "bad.avsc");
    writeFileSync(badFile, JSON.stringify({ ...v1, fields: v1.fields.map((f) => (f.name === "amount" ? { ...f, type: "string" } : f)) }));
    const refused = await lake(["schema", "register", badFile, "--reason", "oops", "--data-dir", dataDir]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((refused as { code: number }).code, 1);
    assert.match((refused as { stderr: string }).stderr, /not compatible/);

    const bad = await lake(["query", "--data-dir", dataDir, "--version", "abc", "SELECT 1"]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 2, "a usage error");
    assert.match((bad as { stderr: string }).stderr, /--version must be latest, current or a positive integer/);

    up.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.match(out, /stopped\./);
    const port = Number(new URL(info.nats_url).port);
    assert.equal(await acceptsConnections(port, 500), false, "the nats-server it started is gone");
  } finally {
    if (up.exitCode === null) up.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.ok(!existsSync(join(dataDir, "run.json")));
});
