// Compaction as an operator runs it (`lake compact`, its own process, one more writer of the commit
// log) against a lake taking a steady stream of appends: nothing lost, nothing twice, history linear,
// the same rows in fewer files; and a forced race where the compaction is held between writing its
// files and appending while a committer commits: it rebases and lands.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { queryVersion, sampleEvents, sendHttp } from "@lake/client";
import type { VersionCommitted } from "@lake/contracts";
import { foldCommitLog, readCommitHead } from "@lake/messaging";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { assertExactlyOnce, covering, DATASET, settled, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI finds the lake through --data-dir's run.json only.
const env = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE", "LAKE_STORE_ROOT", "LAKE_COMPACT_FAILPOINTS"]) delete env[k];

let lake: Awaited<ReturnType<typeof withLake>>;
const accepted = new Set<string>();
let maxOffset = 0;
let batchNo = 0;

before(async () => {
  lake = await withLake({ without: ["aggregator"] });
});
after(async () => {
  await lake?.cleanup();
});

async function send(n: number): Promise<number> {
  const no = batchNo++;
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(n, { prefix: `c${no}`, seed: no + 1 }));
  assert.equal(r.status, 200);
  assert.equal(r.accepted, n);
  for (const res of r.results) accepted.add(res.event_id!);
  maxOffset = Math.max(maxOffset, r.max_offset!);
  return r.max_offset!;
}

function compact(args: string[] = [], extraEnv: Record<string, string> = {}) {
  return run(process.execPath, ["--import", tsx, cli, "compact", DATASET, "--data-dir", lake.dataDir, ...args], {
    timeout: 120_000,
    env: { ...env, ...extraEnv },
  });
}

/** Every data version in the commit log, in order. */
async function logVersions(): Promise<VersionCommitted[]> {
  const nc = await lake.connect("admin", "compaction-test");
  try {
    const head = await readCommitHead(await jetstreamManager(nc), DATASET);
    const out: VersionCommitted[] = [];
    await foldCommitLog(jetstream(nc), DATASET, head.seq, (rec) => {
      if (rec.kind === "VersionCommitted") out.push(rec.body);
    });
    return out;
  } finally {
    await nc.close();
  }
}

const ROWS_SQL = `SELECT event_id, user_id, event_type, epoch_ms(timestamp) AS t, amount, _offset FROM ${DATASET} ORDER BY _offset`;

async function rowsOf(version: number) {
  const v = await lake.catalog.version(DATASET, version);
  return (await queryVersion(await openStore(lake.storeConfig), v, ROWS_SQL)).rows;
}

test("compaction racing a steady append stream loses nothing and never duplicates", async (t) => {
  // A steady stream: a batch of 40 events about every 40 ms, each committed as a version of
  // (over three days of event time) about three small files.
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      await send(40);
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  const runs: string[] = [];
  try {
    await waitFor("a dozen versions", async () => ((await lake.catalog.version(DATASET, "latest").catch(() => undefined))?.version ?? 0) >= 12 || undefined, {
      timeoutMs: 60_000,
    });
    for (let i = 0; i < 4; i++) {
      const before = (await lake.catalog.version(DATASET, "latest")).version;
      const { stdout } = await compact();
      runs.push(stdout);
      assert.match(stdout, /version \d+ \(parent \d+, commit-log sequence \d+\) rewrote \d+ files into \d+/);
      // Let the stream commit a few more versions on top before the next run.
      await waitFor("appends after the compaction", async () => (await lake.catalog.version(DATASET, "latest")).version >= before + 4 || undefined, {
        timeoutMs: 30_000,
      });
    }
  } finally {
    streaming = false;
    await stream;
  }
  await covering(lake, maxOffset);

  // One last run with the stream stopped: the latest version then holds one file per partition.
  const beforeLast = await lake.catalog.version(DATASET, "latest");
  const started = performance.now();
  const { stdout: last } = await compact(["--target-bytes", "64MiB", "--max-files", "5000"]);
  const ms = performance.now() - started;
  runs.push(last);
  const afterLast = await lake.catalog.version(DATASET, "latest");
  const partitions = new Set(beforeLast.files.map((f) => f.partition));
  assert.equal(afterLast.version, beforeLast.version + 1);
  assert.ok(afterLast.files.length < beforeLast.files.length, `fewer files: ${beforeLast.files.length} → ${afterLast.files.length}`);
  assert.equal(afterLast.files.length, partitions.size, "one file per partition");
  assert.equal(afterLast.total_rows, beforeLast.total_rows);
  t.diagnostic(
    `last run: ${beforeLast.files.length} files → ${afterLast.files.length} (${beforeLast.total_rows} rows) in ${Math.round(ms)} ms wall (CLI process included)`,
  );
  for (const out of runs) t.diagnostic(out.trim().split("\n").slice(1).join(" | "));

  await assertExactlyOnce(lake, accepted);

  // The log: compaction versions with operation "compaction", removed files, same rows, empty range.
  const versions = await logVersions();
  const compactions = versions.filter((v) => v.operation === "compaction");
  const rowsByKey = new Map(versions.flatMap((v) => v.added_files.map((f) => [f.key, f.rows] as const)));
  assert.equal(compactions.length, 5, "every run committed a compaction version");
  for (const c of compactions) {
    const parent = versions[c.parent_version - 1]!;
    assert.equal(parent.version, c.parent_version);
    assert.ok(c.removed_files.length >= 2 && c.added_files.length >= 1 && c.added_files.length < c.removed_files.length);
    assert.equal(c.total_rows, parent.total_rows, "same rows");
    assert.equal(c.row_count, 0);
    assert.deepEqual([c.source.first_seq, c.source.last_seq], [parent.source.last_seq + 1, parent.source.last_seq], "an empty source range after the parent's");
    const removedRows = c.removed_files.reduce((n, k) => n + rowsByKey.get(k)!, 0);
    assert.equal(
      c.added_files.reduce((n, f) => n + f.rows, 0),
      removedRows,
      "the rewritten files hold the replaced files' rows",
    );
    // Queries on the version before and the compaction give the same rows, values and offsets.
    assert.deepEqual(await rowsOf(c.version), await rowsOf(c.parent_version), `version ${c.version} reads like ${c.parent_version}`);
  }
  // Appends went on between the compactions, and were not lost to them: the stream committed on top of each.
  assert.ok(versions.filter((v) => v.operation !== "compaction").length > compactions.length * 4);

  // Read after write is unchanged: an offset is covered by the append that brought it, never by a compaction.
  const cov = await covering(lake, maxOffset);
  assert.notEqual(versions[cov.version - 1]!.operation, "compaction");
  assert.ok(cov.source.last_offset >= maxOffset && versions[cov.version - 2]!.source.last_seq < maxOffset);

  // Quality judges compaction versions like any other, and they pass.
  await settled(lake);
  for (const c of compactions) assert.equal((await lake.catalog.version(DATASET, c.version)).quality, "passed", `version ${c.version} passed quality`);
});

test("a compaction held between writing its files and appending while a committer commits rebases and lands", async () => {
  await covering(lake, await send(60));
  await covering(lake, await send(60));
  const before = await lake.catalog.version(DATASET, "latest");
  const proc = spawn(process.execPath, ["--import", tsx, cli, "compact", DATASET, "--data-dir", lake.dataDir], {
    env: { ...env, LAKE_COMPACT_FAILPOINTS: "compact_before_commit@1=wait" },
  });
  let out = "";
  proc.stdout.on("data", (c) => (out += c));
  proc.stderr.on("data", (c) => (out += c));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  let raced: Awaited<ReturnType<typeof covering>>;
  try {
    await waitFor("the compaction to hold at its commit point", () => (out.includes('"failpoint":"compact_before_commit"') ? true : undefined), {
      timeoutMs: 60_000,
    });
    // The committer commits while the compaction's files and manifest are written but not committed.
    raced = await covering(lake, await send(60));
    assert.equal(raced.version, before.version + 1);
    proc.kill("SIGUSR2");
    assert.equal(await exited, 0, out);
  } finally {
    proc.kill("SIGKILL");
  }
  assert.match(out, /rebased onto newer versions 1 time/);
  assert.match(out, new RegExp(`version ${before.version + 2} \\(parent ${before.version + 1},`));
  const latest = await lake.catalog.version(DATASET, "latest");
  assert.equal(latest.version, before.version + 2);
  assert.ok(latest.files.length < before.files.length + 3, "the small files were rewritten");
  assert.equal(latest.total_rows, (await lake.catalog.version(DATASET, raced.version)).total_rows);
  const versions = await logVersions();
  assert.equal(versions.at(-1)!.operation, "compaction");
  assert.deepEqual(await rowsOf(latest.version), await rowsOf(raced.version));
  // The committer carries on from the compaction: one more batch, and everything is there once.
  await covering(lake, await send(30));
  await assertExactlyOnce(lake, accepted);
});
