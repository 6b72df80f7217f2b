// The state as a fold of the commit log: given these records, then these heads, versions, live files
// and verdicts. A position and its state always move together.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";

import { type LogEntry, QualityState } from "../src/db/state.ts";

const root = mkdtempSync(join(tmpdir(), "lake-quality-state-"));
const opened: QualityState[] = [];
after(() => {
  for (const s of opened) if (s.db.open) s.close();
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
function open(path = join(root, `q-${n++}.db`)): QualityState {
  const s = new QualityState(path);
  opened.push(s);
  return s;
}

const file = (v: number, i = 0): LakeLog.DataFile => ({
  key: `d/v${v}-${i}.parquet`,
  partition: "dt=2026-06-01",
  rows: 10,
  bytes: 100,
  sha256: "0".repeat(64),
});

function vc(dataset: string, version: number, added: LakeLog.DataFile[], removed: string[] = [], parent = version - 1): LogRecord {
  const body: VersionCommitted = {
    dataset,
    version,
    parent_version: parent,
    write_id: `w${version}`,
    committer_id: "c",
    committed_at: 0,
    schema_name: dataset,
    schema_version: 1,
    schema_fingerprint: "f",
    manifest: { key: "m", sha256: "s", bytes: 1 },
    added_files: added,
    removed_files: removed,
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: 1, last_seq: 1 },
    row_count: 10 * added.length,
    total_rows: 10 * version,
    min_event_time: null,
    max_event_time: 1000 * version,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
    policy: "critical",
  };
  return { kind: "VersionCommitted", body };
}

const verdict = (dataset: string, version: number, outcome: "passed" | "failed", checker = "q1"): LogRecord => ({
  kind: "QualityVerdict",
  body: { dataset, version, outcome, rules: [], checked_at: 0, checker_id: checker },
});

const at = (seq: number, record: LogRecord | undefined, dataset = record?.body.dataset ?? "payments"): LogEntry => ({
  seq,
  subject: `lake.commits.${dataset}`,
  record,
});

describe("QualityState", () => {
  test("given an empty log, nothing is pending and the position is 0", () => {
    const s = open();
    assert.equal(s.lastSeq, 0);
    assert.deepEqual(s.datasetsWithUnjudged(), []);
  });

  test("given versions, the lowest unjudged one is next; a verdict in the log moves it on", () => {
    const s = open();
    s.applyBatch([at(1, vc("payments", 1, [file(1)])), at(2, vc("orders", 1, [file(1)])), at(3, vc("payments", 2, [file(2)]))]);
    assert.equal(s.lastSeq, 3);
    assert.deepEqual(
      s.datasetsWithUnjudged().map((d) => [d.name, d.head_seq, d.latest_version, d.latest_version_seq]),
      [
        ["orders", 2, 1, 2],
        ["payments", 3, 2, 3],
      ],
    );
    assert.equal(s.nextUnjudged("payments")?.version, 1);
    s.applyBatch([at(4, verdict("payments", 1, "passed"))]);
    assert.equal(s.nextUnjudged("payments")?.version, 2);
    assert.equal(s.dataset("payments")?.head_seq, 4, "any record moves the head (the CAS token)");
    assert.equal(s.dataset("payments")?.latest_version_seq, 3, "only a version moves the version seq");
    s.applyBatch([at(5, verdict("payments", 2, "failed")), at(6, verdict("orders", 1, "passed"))]);
    assert.deepEqual(s.datasetsWithUnjudged(), []);
    assert.deepEqual(s.verdicts("payments"), [
      { version: 1, verdict: "passed", verdict_seq: 4 },
      { version: 2, verdict: "failed", verdict_seq: 5 },
    ]);
  });

  test("a second verdict for a version is kept out and noted; the first stands", () => {
    const s = open();
    s.applyBatch([at(1, vc("payments", 1, [file(1)])), at(2, verdict("payments", 1, "passed", "a"))]);
    const problems = s.applyBatch([at(3, verdict("payments", 1, "failed", "b"))]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /second verdict for version 1 \(first at seq 2\)/);
    assert.equal(s.version("payments", 1)?.verdict, "passed");
    assert.equal(s.version("payments", 1)?.checkerId, "a");
    assert.equal(s.dataset("payments")?.head_seq, 3);
  });

  test("a version that does not follow its predecessor is not judged, and noted", () => {
    const s = open();
    const problems = s.applyBatch([at(1, vc("payments", 1, [file(1)])), at(2, vc("payments", 3, [file(3)]))]);
    assert.match(problems[0]!, /version 3 \(parent 2\) does not follow 1/);
    assert.equal(s.version("payments", 3), undefined);
    assert.deepEqual(
      s.anomalies().map((a) => a.seq),
      [2],
    );
  });

  test("a void record (appended against another record than the one before it) is not applied, and noted", () => {
    const s = open();
    // v1 at 1; a verdict (against 1) at 2; a v2 also appended against 1 landed at 3: void.
    const problems = s.applyBatch([
      { ...at(1, vc("payments", 1, [file(1)])), expected: 0 },
      { ...at(2, verdict("payments", 1, "passed")), expected: 1 },
      { ...at(3, vc("payments", 2, [file(2)])), expected: 1 },
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /void VersionCommitted: appended against 1, but 2 is the record before it/);
    assert.equal(s.version("payments", 2), undefined, "the void version is never judged");
    assert.equal(s.dataset("payments")?.head_seq, 3, "it still moves the head (the CAS token)");
    // The real v2, appended against the void record (the subject's last), stands.
    assert.deepEqual(s.applyBatch([{ ...at(4, vc("payments", 2, [file(2, 1)])), expected: 3 }]), []);
    assert.equal(s.version("payments", 2)?.commitSeq, 4);
  });

  test("undecodable records and other kinds still move the head and the position", () => {
    const s = open();
    s.applyBatch([at(1, vc("payments", 1, [file(1)])), at(2, undefined, "payments")]);
    assert.equal(s.dataset("payments")?.head_seq, 2);
    assert.equal(s.lastSeq, 2);
  });

  test("live files fold added and removed files per version", () => {
    const s = open();
    s.applyBatch([
      at(1, vc("payments", 1, [file(1, 0), file(1, 1)])),
      at(2, vc("payments", 2, [file(2)], [file(1, 0).key])),
      at(3, vc("payments", 3, [file(3)])),
    ]);
    assert.deepEqual(
      s.liveFiles("payments", 1).map((f) => f.key),
      ["d/v1-0.parquet", "d/v1-1.parquet"],
    );
    assert.deepEqual(
      s.liveFiles("payments", 2).map((f) => f.key),
      ["d/v1-1.parquet", "d/v2-0.parquet"],
    );
    assert.deepEqual(
      s.liveFiles("payments", 3).map((f) => f.key),
      ["d/v1-1.parquet", "d/v2-0.parquet", "d/v3-0.parquet"],
    );
  });

  test("state and position survive a reopen together", () => {
    const path = join(root, "reopen.db");
    const s = open(path);
    s.applyBatch([at(7, vc("payments", 1, [file(1)]))]);
    s.setFileStats("payments", file(1).key, { rows: 10, nulls: { card_country: 2 } });
    s.close();
    const again = open(path);
    assert.equal(again.lastSeq, 7);
    assert.equal(again.nextUnjudged("payments")?.version, 1);
    assert.deepEqual(again.file("payments", file(1).key)?.stats, { rows: 10, nulls: { card_country: 2 } });
  });
});
