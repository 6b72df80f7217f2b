// The `lake` CLI as a user runs it: the demo end to end, and up → produce → query → versions →
// catalog rebuild → Ctrl-C.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { acceptsConnections, waitFor } from "@lake/testing";

const cli = resolve(import.meta.dirname, "../shared/client/src/cli.ts");
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
    const info = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as { nats_url: string };

    const produced = await lake(["produce", "--data-dir", dataDir, "--count", "800", "--rate", "0", "--wait", "--seed", "5"]);
    assert.match(produced.stdout, /committed: version \d+ of domain_events covers offset \d+/);
    const offset = Number(/read-after-write token: offset (\d+)/.exec(produced.stdout)![1]);

    const q = await lake(["query", "--data-dir", dataDir, "SELECT count(DISTINCT event_id) AS n FROM domain_events"]);
    assert.match(q.stdout, /^800\s*$/m);
    const raw = await lake(["query", "--data-dir", dataDir, "--offset", String(offset), "SELECT max(_offset) AS top FROM domain_events"]);
    assert.match(raw.stdout, /covering your offset/);
    assert.match(raw.stdout, new RegExp(`^${offset}\\s*$`, "m"));

    const versions = await lake(["versions", "domain_events", "--data-dir", dataDir]);
    assert.match(versions.stdout, /^1\s+\S+\s+\d+/m);
    const rebuilt = await lake(["catalog", "rebuild", "--data-dir", dataDir]);
    assert.match(rebuilt.stdout, /catalog rebuilt from the commit log/);

    const bad = await lake(["query", "--data-dir", dataDir, "--version", "abc", "SELECT 1"]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 1);
    assert.match((bad as { stderr: string }).stderr, /--version must be latest or a positive integer/);

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
