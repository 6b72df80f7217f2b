// The checker against a real nats-server, a real local store and real Parquet files, with the commit
// log written directly (no committer): verdicts once per version, in order; a restart with versions
// already read but not judged; verdicts already in the log never repeated; data problems judged, not retried.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { LogRecord, QualityVerdict, VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats, decodeLogRecord, ensureStreams, HEADERS, readCommitHead, STREAMS } from "@lake/messaging";
import { type LocalDiskStore, openLocalStore } from "@lake/storage";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { QualityState } from "../src/db/state.ts";
import { QualityChecker } from "../src/nats/checker.ts";
import { putParquet, versionCommitted } from "./fixtures.ts";

let nats: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
let store: LocalDiskStore;
let duck: DuckDBInstance;
let con: DuckDBConnection;
const lines: { msg: string; fields: Record<string, unknown> | undefined }[] = [];

/** Collects log lines instead of printing them, for assertions. */
const log: Logger = {
  info: (msg, fields) => void lines.push({ msg, fields }),
  warn: (msg, fields) => void lines.push({ msg, fields }),
  error: (msg, fields) => void lines.push({ msg, fields }),
  child: () => log,
};

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "quality-test" });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  dir = await mkdtemp(join(tmpdir(), "lake-quality-checker-"));
  store = openLocalStore(join(dir, "store"));
  duck = await DuckDBInstance.create(":memory:");
  con = await duck.connect();
});
after(async () => {
  con?.closeSync();
  duck?.closeSync();
  await nc?.drain();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const running: QualityChecker[] = [];
after(async () => {
  for (const c of running) await c.stop().catch(() => undefined);
});

async function startChecker(db: string, id: string, beforeAppend?: (v: QualityVerdict, attempt: number) => Promise<void>): Promise<QualityChecker> {
  const c = new QualityChecker({ nc, store, dbPath: join(dir, db), checkerId: id, log, maxBatch: 100, ...(beforeAppend ? { beforeAppend } : {}) });
  await c.start();
  running.push(c);
  return c;
}

/** Appends a record to the dataset's log the way its writer would: CAS on the current head. */
async function append(dataset: string, record: LogRecord, msgId?: string): Promise<number> {
  const head = await readCommitHead(jsm, dataset);
  return appendLogRecord(jetstream(nc), dataset, record, { expectedLastSeq: head.seq, msgId });
}

/** Commits a version the way a committer does: its manifest is written first, and the record names it. */
async function commit(dataset: string, body: VersionCommitted): Promise<number> {
  const manifest = new TextEncoder().encode(JSON.stringify({ dataset, version: body.version, added_files: body.added_files }));
  await store.put(body.manifest.key, manifest);
  body = { ...body, manifest: { key: body.manifest.key, bytes: manifest.byteLength, sha256: createHash("sha256").update(manifest).digest("hex") } };
  return append(dataset, { kind: "VersionCommitted", body });
}

type Read = { seq: number; record: LogRecord | undefined; versionSeq: number | undefined };

/** The whole log of one dataset, read message by message. */
async function readLog(dataset: string): Promise<Read[]> {
  const last = (await jsm.streams.info(STREAMS.commits)).state.last_seq;
  const out: Read[] = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.commits, { seq });
    if (!m || m.subject !== `lake.commits.${dataset}`) continue;
    const vs = m.header?.get(HEADERS.versionSeq);
    out.push({ seq, record: decodeLogRecord({ data: m.data, headers: m.header }), versionSeq: vs ? Number(vs) : undefined });
  }
  return out;
}

async function verdicts(dataset: string): Promise<(QualityVerdict & { seq: number; versionSeq: number | undefined })[]> {
  return (await readLog(dataset)).flatMap((e) => (e.record?.kind === "QualityVerdict" ? [{ ...e.record.body, seq: e.seq, versionSeq: e.versionSeq }] : []));
}

function verdictFor(dataset: string, version: number) {
  return waitFor(`a verdict for ${dataset} v${version}`, async () => (await verdicts(dataset)).find((v) => v.version === version), {
    timeoutMs: 15_000,
    intervalMs: 25,
  });
}

const put = (rows: number, nulls = 0) => putParquet(con, store, dir, "payments", rows, { nulls });

describe("QualityChecker", () => {
  let total = 0;

  test("judges each committed version once, in version order; Lake-Version-Seq names the latest version", async () => {
    const checker = await startChecker("a.db", "qa");
    // Two versions land before the first verdict can: the verdict for v1 is appended when v2 is the latest.
    const f1 = await put(10);
    const f2 = await put(10, 2);
    const s1 = await commit("payments", versionCommitted("payments", 1, [f1], (total += 10)));
    const s2 = await commit("payments", versionCommitted("payments", 2, [f2], (total += 10)));
    await verdictFor("payments", 2);
    const vs = await verdicts("payments");
    assert.deepEqual(
      vs.map((v) => [v.version, v.outcome, v.checker_id]),
      [
        [1, "passed", "qa"],
        [2, "passed", "qa"],
      ],
    );
    for (const v of vs) assert.ok(v.versionSeq === s2 || (v.versionSeq === s1 && v.seq < s2), `verdict at ${v.seq} names the then-latest version`);
    assert.equal(vs[1]!.rules.find((r) => r.rule === "max_null_ratio(card_country)")?.measured, "0.1000 (2 of 20 rows null)");
    await checker.stop();
  });

  test("a restart whose state already read a version, with nothing new in the log, still judges it", async () => {
    const f3 = await put(10);
    const s3 = await commit("payments", versionCommitted("payments", 3, [f3], (total += 10)));
    // As if the checker applied v3 and was killed before appending its verdict.
    const state = new QualityState(join(dir, "a.db"));
    const head = await readCommitHead(jsm, "payments");
    assert.equal(head.seq, s3);
    state.applyBatch([{ seq: s3, subject: "lake.commits.payments", record: { kind: "VersionCommitted", body: head.version!.record } }]);
    assert.equal(state.lastSeq, (await jsm.streams.info(STREAMS.commits)).state.last_seq, "the state is at the end of the log");
    state.close();
    const checker = await startChecker("a.db", "qa");
    const v3 = await verdictFor("payments", 3);
    assert.equal(v3.outcome, "passed");
    await checker.stop();
  });

  test("a verdict already in the log is never judged again, by a restarted or a fresh checker", async () => {
    const f4 = await put(10);
    await commit("payments", versionCommitted("payments", 4, [f4], (total += 10)));
    await append(
      "payments",
      { kind: "QualityVerdict", body: { dataset: "payments", version: 4, outcome: "failed", rules: [], checked_at: 0, checker_id: "someone-else" } },
      "other:payments:4",
    );
    const f5 = await put(10);
    await commit("payments", versionCommitted("payments", 5, [f5], (total += 10)));
    const fresh = await startChecker("b.db", "qb");
    const restarted = await startChecker("a.db", "qa");
    await verdictFor("payments", 5);
    await fresh.stop();
    await restarted.stop();
    const vs = await verdicts("payments");
    assert.deepEqual(
      vs.map((v) => v.version),
      [1, 2, 3, 4, 5],
      "one verdict per version, in order",
    );
    assert.equal(vs[3]!.checker_id, "someone-else");
  });

  test("a verdict that loses its compare-and-set to a new version is appended again on the new head, judged once", async () => {
    // Under a steady stream of commits most verdict appends lose their race; judging again each time
    // never caught up. The verdict still holds for its version: it rebases, like a committer does.
    const f = await put(10);
    const sBase = await commit("payments", versionCommitted("payments", 6, [f], (total += 10)));
    let landed: number | undefined;
    const checker = await startChecker("a.db", "qa", async (v, attempt) => {
      // Two new versions land between judging v6 and appending its verdict.
      if (v.version === 6 && attempt === 1) {
        await commit("payments", versionCommitted("payments", 7, [await put(10)], (total += 10)));
        landed = await commit("payments", versionCommitted("payments", 8, [await put(10)], (total += 10)));
      }
    });
    const before = lines.length;
    const v6 = await verdictFor("payments", 6);
    assert.ok(landed !== undefined && v6.seq > landed && sBase < landed, "the verdict landed after the versions that won the race");
    assert.equal(checker.stats.rebases, 1);
    const judged = lines.slice(before).filter((l) => l.msg === "verdict appended" && l.fields?.["version"] === 6);
    assert.equal(judged.length, 1);
    assert.equal(lines.slice(before).filter((l) => /lost the verdict race/.test(l.msg)).length, 0, "not judged again");
    await verdictFor("payments", 8);
    assert.deepEqual(
      (await verdicts("payments")).map((v) => v.version),
      [1, 2, 3, 4, 5, 6, 7, 8],
      "still one verdict per version, in order",
    );
    await checker.stop();
  });

  test("a version whose file is missing fails on the files rule and is not retried", async () => {
    const checker = await startChecker("a.db", "qa");
    const gone = {
      key: "datasets/payments/data/dt=2026-06-01/never-written.parquet",
      partition: "dt=2026-06-01",
      rows: 10,
      bytes: 100,
      sha256: "0".repeat(64),
    };
    await commit("payments", versionCommitted("payments", 9, [gone], (total += 10)));
    const v9 = await verdictFor("payments", 9);
    assert.equal(v9.outcome, "failed");
    const files = v9.rules.find((r) => r.rule === "files");
    assert.equal(files?.passed, false);
    assert.match(files!.message, /never-written\.parquet: missing from the store/);
    assert.equal(checker.stats.errors, 0, "a data problem is a verdict, not an error");
    await checker.stop();
  });

  test("a dataset without a domain contract gets the generic rules only, and says so", async () => {
    const checker = await startChecker("a.db", "qa");
    const f = await putParquet(con, store, dir, "daily_totals", 3, { base: {}, columns: { day: "'2026-06-01'", total: "(i * 2)::DOUBLE" } });
    await commit("daily_totals", versionCommitted("daily_totals", 1, [f], 3));
    const v = await verdictFor("daily_totals", 1);
    assert.equal(v.outcome, "passed", JSON.stringify(v.rules));
    assert.deepEqual(
      v.rules.map((r) => [r.rule, r.passed]),
      [
        ["contract", true],
        ["manifest", true],
        ["files", true],
        ["total_rows", true],
      ],
    );
    await checker.stop();
  });
});
