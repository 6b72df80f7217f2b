// The pure parts of `lake up`'s supervision: the restart backoff, the log files (names, rotation,
// tails, last error) and what `lake status` reads from a service's metrics.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { formatDuration, lagFromMetrics } from "../src/cli-status.ts";
import { lastErrorLine, LogFile, logFileName, serviceOfLogFile, servicesWithLogs, sinceLakeStart, tailLines } from "../src/log-files.ts";
import { keptPortsOf, type RunService } from "../src/run-file.ts";
import { BACKOFF_DEFAULTS, describeExit, formatDelay, nextBackoff } from "../src/supervisor.ts";

test("the restart delay doubles from 0.5 s to at most 30 s, and starts over after a minute up", () => {
  const delays: number[] = [];
  let streak = 0;
  for (let i = 0; i < 9; i++) {
    const next = nextBackoff(BACKOFF_DEFAULTS, streak, 1000);
    delays.push(next.delayMs);
    streak = next.streak;
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  assert.equal(streak, 9);
  assert.deepEqual(nextBackoff(BACKOFF_DEFAULTS, streak, 59_999), { delayMs: 30_000, streak: 10 }, "a crash within the minute continues the streak");
  assert.deepEqual(nextBackoff(BACKOFF_DEFAULTS, streak, 60_000), { delayMs: 500, streak: 1 }, "a minute up resets it");
  assert.deepEqual(nextBackoff({ ...BACKOFF_DEFAULTS, initialMs: 100, factor: 3, maxMs: 1000 }, 2, 0), { delayMs: 900, streak: 3 });
});

test("exits and delays read as a person says them", () => {
  assert.equal(describeExit({ code: null, signal: "SIGKILL" }), "signal SIGKILL");
  assert.equal(describeExit({ code: 1, signal: null }), "code 1");
  assert.equal(formatDelay(500), "500 ms");
  assert.equal(formatDelay(1000), "1 s");
  assert.equal(formatDelay(2500), "2.5 s");
  assert.equal(formatDelay(30_000), "30 s");
  assert.equal(formatDuration(42_000), "42 s");
  assert.equal(formatDuration(200_000), "3m 20s");
  assert.equal(formatDuration(7_500_000), "2h 5m");
  assert.equal(formatDuration(97_200_000), "1d 3h");
});

test("a service's log file name maps back to the service", () => {
  for (const s of ["ingest", "catalog", "nats", "committer:payments", "aggregator:daily_user_totals"]) assert.equal(serviceOfLogFile(logFileName(s)), s);
  assert.equal(logFileName("committer:payments"), "committer.payments.log");
  assert.equal(serviceOfLogFile("committer.payments.log.1"), undefined, "a rotated file is no service of its own");
  assert.equal(serviceOfLogFile("run.json"), undefined);
});

test("a log file rotates at its cap, keeping one old file, and its tail is read from the end", () => {
  const dir = mkdtempSync(join(tmpdir(), "lake-logs-"));
  try {
    const path = join(dir, logFileName("committer:payments"));
    const f = new LogFile(path, 1000);
    for (let i = 0; i < 100; i++) f.write(`line ${String(i).padStart(3, "0")} ${"x".repeat(20)}\n`); // 30 bytes each
    f.note("committer:payments exited (signal SIGKILL); restarting in 500 ms (restart 1)", new Date(0));
    f.close();
    assert.ok(statSync(path).size <= 1000, "the live file stays under the cap");
    assert.ok(existsSync(`${path}.1`) && statSync(`${path}.1`).size <= 1000, "one old file is kept");
    assert.ok(!existsSync(`${path}.2`));
    assert.ok(readFileSync(`${path}.1`, "utf8").endsWith("\n"), "rotation happens between writes, never inside one");
    assert.deepEqual(tailLines(path, 2), [
      `line 099 ${"x".repeat(20)}`,
      "[lake up 1970-01-01T00:00:00.000Z] committer:payments exited (signal SIGKILL); restarting in 500 ms (restart 1)",
    ]);
    assert.deepEqual(servicesWithLogs(dir), ["committer:payments"]);
    // A tail longer than one read chunk.
    const big = join(dir, "big.log");
    writeFileSync(big, Array.from({ length: 20_000 }, (_, i) => `row ${i}`).join("\n") + "\n");
    assert.deepEqual(tailLines(big, 3), ["row 19997", "row 19998", "row 19999"]);
    assert.equal(tailLines(big, 15_000).length, 15_000);
    assert.deepEqual(tailLines(join(dir, "missing.log"), 5), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the last error of a log: an error-level JSON line, an exit noted by lake up, or a plain error line", () => {
  const info = JSON.stringify({ t: "2026-06-01T00:00:00Z", level: "info", msg: "committed" });
  const err = JSON.stringify({ t: "2026-06-01T00:00:01Z", level: "error", msg: "commit failed", err: { name: "Error", message: "disk full" } });
  assert.equal(lastErrorLine([info, err, info]), "2026-06-01T00:00:01Z commit failed: disk full");
  assert.equal(
    lastErrorLine([
      err,
      "[lake up 2026-06-01T00:00:02.000Z] committer:payments exited (signal SIGKILL); restarting in 1 s (restart 2)",
      "[lake up x] starting committer:payments",
    ]),
    "[lake up 2026-06-01T00:00:02.000Z] committer:payments exited (signal SIGKILL); restarting in 1 s (restart 2)",
  );
  assert.equal(lastErrorLine([info, "TypeError: fetch failed", "    at foo (bar.ts:1:1)"]), "TypeError: fetch failed");
  assert.equal(lastErrorLine([info, "[lake up x] starting ingest", info]), undefined);
  assert.equal(lastErrorLine([]), undefined);
  // An error of an earlier run of the lake in the same data dir is not this run's.
  const log = [
    "[lake up 2026-06-01T00:00:00.000Z] committer:payments exited (signal SIGKILL)",
    "[lake up 2026-06-02T00:00:00.000Z] starting committer:payments",
    info,
  ];
  assert.equal(lastErrorLine(sinceLakeStart(log, "2026-06-01T12:00:00.000Z")), undefined);
  assert.match(lastErrorLine(sinceLakeStart(log, "2026-05-31T00:00:00.000Z"))!, /exited/);
});

test("consumer lag is read from a committer's or an aggregator's metrics", () => {
  const text = [
    "# HELP lake_committer_consumer_lag Events in the source stream not yet committed",
    "# TYPE lake_committer_consumer_lag gauge",
    'lake_committer_consumer_lag{dataset="payments",service="committer"} 42',
  ].join("\n");
  assert.equal(lagFromMetrics(text), 42);
  assert.equal(lagFromMetrics('lake_aggregator_consumer_lag{dataset="daily_user_totals"} 7\n'), 7);
  assert.equal(lagFromMetrics('lake_aggregator_consumer_lag{dataset="daily_user_totals"} NaN\n'), null);
  assert.equal(lagFromMetrics("lake_committer_version 3\n"), null);
});

test("a new lake up in the same data dir asks again for the metrics ports the last one had", () => {
  const svc = (kind: string, url: string | null, metrics: string | null) => ({ kind, url, metrics_url: metrics }) as RunService;
  const ports = keptPortsOf({
    services: {
      ingest: svc("ingest", "http://127.0.0.1:7070", "http://127.0.0.1:7070/metrics"),
      catalog: svc("catalog", "http://127.0.0.1:7071", "http://127.0.0.1:41001/metrics"),
      "committer:payments": svc("committer", null, "http://127.0.0.1:41002/metrics"),
      "aggregator:daily_user_totals": svc("aggregator", "http://127.0.0.1:41003", "http://127.0.0.1:41003/metrics"),
      quality: svc("quality", null, "not a url"),
    },
  });
  assert.deepEqual(Object.fromEntries(ports), { catalog: "41001", "committer:payments": "41002", "aggregator:daily_user_totals": "41003" });
  assert.equal(keptPortsOf({}).size, 0);
});
