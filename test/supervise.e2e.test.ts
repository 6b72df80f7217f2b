// `lake up` supervises, as an operator runs it: every endpoint (committers' metrics ports included) is
// printed once ready; a committer killed with -9 is restarted with backoff and says so; what was sent
// while it was down is committed exactly once; `lake status` reports the restart (and an unhealthy
// service, with a non-zero exit); `lake logs` shows the service's log, and `-f` follows it; nats-server
// killed with -9 comes back on its port and the lake goes on committing; Ctrl-C stops
// everything without a restart, and `lake status` then says the lake is not running.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";

import { readLakeSecrets } from "@lake/app";
import { CatalogClient, queryVersion, sendHttp } from "@lake/client";
import { openStore, storeConfigFromEnv } from "@lake/storage";
import { waitFor } from "@lake/testing";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const exec = promisify(execFile);
const env: NodeJS.ProcessEnv = { ...process.env, LAKE_COMMIT_MAX_AGE_MS: "200" };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_DEBUG"]) delete env[k];
const DS = "payments";
const SERVICE = `committer:${DS}`;
const dataDir = mkdtempSync(join(tmpdir(), "lake-supervise-"));
const dd = ["--data-dir", dataDir];

interface RunService {
  state: string;
  pid: number | null;
  restarts: number;
  metrics_url: string | null;
  log: string;
}
interface Run {
  pid: number;
  ingest_url: string;
  catalog_url: string;
  secrets_dir: string;
  store: Record<string, string>;
  stopped_at: string | null;
  nats: { pid: number; state?: string; restarts?: number } | null;
  services: Record<string, RunService>;
}
const runJson = () => JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as Run;
/** The GOMAXPROCS a running process was started with (its /proc environ), if any. */
const goMaxProcsOf = (pid: number) =>
  readFileSync(`/proc/${pid}/environ`, "utf8")
    .split("\0")
    .find((v) => v.startsWith("GOMAXPROCS="));

function lake(args: string[]) {
  return exec(process.execPath, ["--import", tsx, cli, ...args], { timeout: 60_000, env });
}
/** `lake args`, which must fail with one line on stderr and exit `code` (1 failed, 2 unknown name, 3 not running); returns it. */
async function lakeFails(args: string[], code = 1): Promise<string> {
  const e = await lake(args).then(
    (r) => assert.fail(`lake ${args.join(" ")} should have failed; stdout: ${r.stdout}`),
    (err: { code: number | null; stderr: string }) => err,
  );
  assert.equal(e.code, code, e.stderr);
  assert.equal(e.stderr.split("\n").filter(Boolean).length, 1, `one line, got:\n${e.stderr}`);
  return e.stderr;
}

let batch = 0;
function payments(n: number) {
  const b = batch++;
  return Array.from({ length: n }, (_, i) => ({
    payment_id: `sup-${b}-${i}`,
    user_id: `u${i % 5}`,
    timestamp: Date.UTC(2026, 5, 1) + b * 60_000 + i,
    amount: 5 + i,
    currency: ["EUR", "USD", "GBP"][i % 3]!,
    card_country: ["DE", "FR", "GB"][i % 3]!,
  }));
}

let up: ChildProcessWithoutNullStreams | undefined;
after(async () => {
  // A failed test leaves lake up running: Ctrl-C stops it with everything it started (a SIGKILL alone
  // would leave its services and nats-server behind), SIGKILL only if it hasn't gone within 30 s.
  if (up && up.exitCode === null && up.signalCode === null) {
    const gone = new Promise<boolean>((r) => up!.once("exit", () => r(true)));
    up.kill("SIGINT");
    if (!(await Promise.race([gone, new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref())]))) up.kill("SIGKILL");
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test("lake up restarts a killed committer with backoff; nothing is lost or doubled; status and logs tell it", { timeout: 240_000 }, async () => {
  up = spawn(process.execPath, ["--import", tsx, cli, "up", ...dd, "--ingest-port", "0", "--catalog-port", "0"], { env });
  let out = "";
  up.stdout.on("data", (c) => (out += c));
  up.stderr.on("data", (c) => (out += c));
  const exited = new Promise<number | null>((r) => up!.on("exit", (code) => r(code)));
  await waitFor("lake up to be ready", () => (out.includes("ready.") ? true : undefined), { timeoutMs: 120_000 });

  // Every endpoint once, committers' metrics ports included, and each answers.
  const run = runJson();
  const endpoints = out.slice(out.indexOf("endpoints:"), out.indexOf("ready."));
  for (const [name, s] of Object.entries(run.services)) {
    assert.equal(s.state, "running", name);
    assert.ok(s.metrics_url, `${name} has a metrics URL`);
    assert.match(endpoints, new RegExp(`^  ${name}\\s.*metrics ${s.metrics_url.replace(/[.?]/g, "\\$&")}$`, "m"), `${name}'s metrics are printed`);
    assert.equal((await fetch(s.metrics_url)).status, 200, `${name}'s metrics answer`);
  }
  assert.match(endpoints, /^ {2}nats\s+nats:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(endpoints, new RegExp(`^logs\\s+${dataDir}/logs/<service>\\.log`, "m"));

  const producer = { url: run.ingest_url, token: (await readLakeSecrets(run.secrets_dir)).tokens.producer };
  const catalog = new CatalogClient(run.catalog_url);
  const sent: string[] = [];
  const send = async (n: number) => {
    const rows = payments(n);
    const r = await sendHttp(producer, DS, rows);
    assert.equal(r.accepted, n, JSON.stringify(r));
    sent.push(...rows.map((p) => p.payment_id));
    return r.max_offset!;
  };
  await catalog.covering(DS, await send(30), 30_000);

  // kill -9 the payments committer; what is sent meanwhile waits in the stream.
  const before = run.services[SERVICE]!;
  process.kill(before.pid!, "SIGKILL");
  const lastOffset = await send(40);
  await waitFor("the restart line", () => (out.includes(`${SERVICE} exited (signal SIGKILL); restarting in 500 ms (restart 1)`) ? true : undefined), {
    timeoutMs: 10_000,
  });
  const restarted = await waitFor(
    "a new committer process in run.json",
    () => {
      const s = runJson().services[SERVICE]!;
      return s.state === "running" && s.pid !== before.pid ? s : undefined;
    },
    { timeoutMs: 60_000 },
  );
  // run.json is written before the line reaches our end of the pipe: wait for the line too.
  const restartedLine = new RegExp(`${SERVICE} restarted \\(pid ${restarted.pid}, restart 1\\)`);
  await waitFor("the restarted line", () => (restartedLine.test(out) ? true : undefined), { timeoutMs: 10_000 });
  assert.equal(restarted.restarts, 1);
  assert.equal(restarted.metrics_url, before.metrics_url, "a restart keeps the metrics port");

  // Caught up: the published version holds every accepted payment exactly once.
  const v = await catalog.covering(DS, lastOffset, 30_000);
  const rows = await queryVersion(
    await openStore(storeConfigFromEnv(run.store)),
    await catalog.version(DS, v.version, { files: "reference" }),
    `SELECT payment_id, count(*) AS n FROM ${DS} GROUP BY payment_id`,
  );
  assert.equal(rows.rows.length, sent.length, "every accepted payment is there");
  assert.deepEqual(new Set(rows.rows.map((r) => r.payment_id as string)), new Set(sent));
  assert.ok(
    rows.rows.every((r) => Number(r.n) === 1),
    "and once",
  );

  // lake status reports the restart, the health, the lag and the datasets.
  const status = JSON.parse((await lake(["status", "--json", ...dd])).stdout) as {
    ok: boolean;
    services: { name: string; state: string; pid: number; restarts: number; health: string; lag: number | null; last_error: string | null }[];
    datasets: { name: string; current_version: number; staleness_ms: number | null }[];
  };
  assert.equal(status.ok, true, JSON.stringify(status.services));
  const pay = status.services.find((s) => s.name === SERVICE)!;
  assert.deepEqual(
    { state: pay.state, pid: pay.pid, restarts: pay.restarts, health: pay.health },
    { state: "running", pid: restarted.pid, restarts: 1, health: "ok" },
  );
  assert.match(pay.last_error!, /committer:payments exited \(signal SIGKILL\)/);
  for (const s of status.services) assert.equal(s.state, "running", s.name);
  assert.ok(status.datasets.find((d) => d.name === DS)!.current_version >= v.version);

  // A service that doesn't answer its health check makes status exit 1, naming it.
  process.kill(restarted.pid!, "SIGSTOP");
  try {
    assert.equal(await lakeFails(["status", ...dd]), `lake: ${SERVICE} is unhealthy (no answer)\n`);
  } finally {
    process.kill(restarted.pid!, "SIGCONT");
  }

  // lake logs: the service's own log, across both processes, with lake up's notes.
  const logs = (await lake(["logs", SERVICE, "--lines", "500", ...dd])).stdout;
  assert.match(logs, /\[lake up \S+\] committer:payments exited \(signal SIGKILL\); restarting in 500 ms \(restart 1\)/);
  assert.equal(logs.match(/"msg":"ready"/g)?.length, 2, "two processes' ready lines");
  assert.equal((await lake(["logs", SERVICE, "-n", "2", ...dd])).stdout.split("\n").filter(Boolean).length, 2);
  const all = (await lake(["logs", ...dd])).stdout;
  assert.match(all, /^ingest\s+\| .*"msg":"ready"/m, "every service's tail, prefixed");
  assert.match(await lakeFails(["logs", "nope", ...dd], 2), /^lake: no log for service "nope" in \S+; services with logs: .*committer:payments/);

  // lake logs -f follows: a second crash within the minute shows there, with a longer delay.
  const follower = spawn(process.execPath, ["--import", tsx, cli, "logs", SERVICE, "-f", "-n", "1", ...dd], { env });
  let followed = "";
  follower.stdout.on("data", (c) => (followed += c));
  const followerExit = new Promise<number | null>((r) => follower.on("exit", (code) => r(code)));
  try {
    await waitFor("the follower's first line", () => (followed.length > 0 ? true : undefined), { timeoutMs: 30_000 });
    process.kill(restarted.pid!, "SIGKILL");
    await waitFor("the second crash in the followed log", () => (/restarting in 1 s \(restart 2\)/.test(followed) ? true : undefined), {
      timeoutMs: 15_000,
    });
    await waitFor("the second restart, followed", () => (/committer:payments restarted \(pid \d+, restart 2\)/.test(followed) ? true : undefined), {
      timeoutMs: 60_000,
    });
  } finally {
    follower.kill("SIGINT");
  }
  assert.equal(await followerExit, 0, "Ctrl-C ends lake logs -f cleanly");

  // kill -9 nats-server: lake up starts it again on the same port and store, the services reconnect,
  // and what is sent once it is back is committed; nothing before it is lost or doubled.
  const natsBefore = runJson().nats!;
  // The lake's own nats-server runs with one Go scheduler thread unless the environment says otherwise
  // (ownNatsEnv), and so does the one started again.
  const goMaxProcs = `GOMAXPROCS=${env.GOMAXPROCS || "1"}`;
  assert.equal(goMaxProcsOf(natsBefore.pid), goMaxProcs);
  process.kill(natsBefore.pid, "SIGKILL");
  await waitFor("the nats restart line", () => (out.includes("nats exited (signal SIGKILL); restarting in 500 ms (restart 1)") ? true : undefined), {
    timeoutMs: 10_000,
  });
  const natsAfter = await waitFor(
    "a new nats-server in run.json",
    () => {
      const n = runJson().nats!;
      return n.state === "running" && n.pid !== natsBefore.pid ? n : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(natsAfter.restarts, 1);
  assert.equal(goMaxProcsOf(natsAfter.pid), goMaxProcs, "the restarted nats-server runs with the same GOMAXPROCS");
  // The same rows until ingest takes them (a refusal while it reconnects is not an acceptance; a
  // retried row that did get in is deduplicated).
  const again = payments(25);
  const afterNats = await waitFor(
    "ingest to accept again",
    async () => {
      const r = await sendHttp(producer, DS, again).catch(() => undefined);
      return r?.status === 200 && r.accepted === again.length ? r.max_offset! : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  sent.push(...again.map((p) => p.payment_id));
  const v2 = await catalog.covering(DS, afterNats, 30_000);
  const rows2 = await queryVersion(
    await openStore(storeConfigFromEnv(run.store)),
    await catalog.version(DS, v2.version, { files: "reference" }),
    `SELECT payment_id, count(*) AS n FROM ${DS} GROUP BY payment_id`,
  );
  assert.deepEqual(new Set(rows2.rows.map((r) => r.payment_id as string)), new Set(sent), "every payment, after nats-server came back");
  assert.ok(
    rows2.rows.every((r) => Number(r.n) === 1),
    "and once",
  );
  const status2 = JSON.parse((await lake(["status", "--json", ...dd])).stdout) as typeof status;
  const natsRow = status2.services.find((s) => s.name === "nats")!;
  assert.deepEqual({ state: natsRow.state, pid: natsRow.pid, restarts: natsRow.restarts }, { state: "running", pid: natsAfter.pid, restarts: 1 });
  assert.match(natsRow.last_error!, /nats exited \(signal SIGKILL\)/);

  // Ctrl-C: everything stops, nothing restarts, and status says the lake is not running.
  const stopFrom = out.length;
  up.kill("SIGINT");
  assert.equal(await exited, 0);
  assert.match(out.slice(stopFrom), /stopped\./);
  assert.doesNotMatch(out.slice(stopFrom), /restarting in/);
  const final = runJson();
  assert.ok(final.stopped_at);
  for (const [name, s] of Object.entries(final.services)) assert.equal(s.state, "stopped", name);
  assert.equal(final.nats!.state, "stopped", "nats-server stopped with the lake, not restarted");
  assert.match(await lakeFails(["status", ...dd], 3), /^lake: the lake in \S+ is not running: it was stopped at \S+\. Start it with `lake up`\.\n$/);
});
