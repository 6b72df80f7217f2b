// Given/when/then tests of projecting the commit log's quality and release records: QualityVerdict,
// VersionPromoted (promote/rollback) and VersionTagged, together with the `policy` of VersionCommitted.
// Given these log records, when this one is applied, then these rows (or this anomaly).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";

import { type AuditRow, Projection } from "../src/db/projection.ts";
import { decideRollback } from "../src/domain/commands.ts";
import { T0, versionRecord } from "./fixtures.ts";

type LogEntry = { seq: number; record: LogRecord | undefined };
type Policy = "critical" | "non-critical";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-verdicts-"));
after(() => rmSync(root, { recursive: true, force: true }));

let dbNo = 0;
const opened: Projection[] = [];
function open(path = join(root, `catalog-${dbNo++}.db`)): Projection {
  const p = new Projection(path);
  opened.push(p);
  return p;
}
after(() => {
  for (const p of opened) if (p.db.open) p.close();
});

const RULES = ["not_null(user_id)", "range(amount)", "row_count_drift"];
const CHECKER = "quality-1";
const OPS = { actor: "ops@lake", reason: "incident 7" };

function commit(dataset: string, version: number, policy: Policy = "critical"): LogRecord {
  return {
    kind: "VersionCommitted",
    body: versionRecord(dataset, version, {
      policy,
      schema_name: "domain_events",
      manifest: { key: `datasets/${dataset}/manifests/v${version}.json`, sha256: "a".repeat(64), bytes: 500 + version },
    }),
  };
}

function ruleResults(failed: readonly string[]): LakeLog.RuleResult[] {
  return RULES.map((rule) => {
    const bad = failed.includes(rule);
    return { rule, passed: !bad, measured: bad ? "3" : "0", expected: "0", message: bad ? `${rule}: 3 rows out of bounds` : "ok" };
  });
}

const checkedAt = (version: number) => T0 + version * 60_000 + 5_000;

function verdict(dataset: string, version: number, outcome: "passed" | "failed", failed: readonly string[] = []): LogRecord {
  return { kind: "QualityVerdict", body: { dataset, version, outcome, rules: ruleResults(failed), checked_at: checkedAt(version), checker_id: CHECKER } };
}

const promotedAt = (version: number, previous: number) => T0 + 3_600_000 + version * 1000 + previous;

function promotion(mode: "promote" | "rollback", dataset: string, version: number, previous: number): LogRecord {
  return { kind: "VersionPromoted", body: { dataset, version, previous_version: previous, mode, ...OPS, at: promotedAt(version, previous) } };
}
const promote = (dataset: string, version: number, previous: number) => promotion("promote", dataset, version, previous);
const rollback = (dataset: string, version: number, previous: number) => promotion("rollback", dataset, version, previous);

const taggedAt = T0 + 7_200_000;
function tag(dataset: string, name: string, version: number): LogRecord {
  return { kind: "VersionTagged", body: { dataset, version, tag: name, ...OPS, at: taggedAt } };
}

/** Numbers records 1, 2, 3 ... in log order. */
const entries = (...records: (LogRecord | undefined)[]): LogEntry[] => records.map((record, i) => ({ seq: i + 1, record }));

// The critical dataset's story, used by most tests; `given(n)` is a projection fed its first n records.
const CRITICAL = entries(
  commit("orders", 1), // 1: pending, nothing current yet
  verdict("orders", 1, "passed"), // 2: current 1 (auto-promoted)
  commit("orders", 2), // 3: pending, current stays 1
  verdict("orders", 2, "failed", ["range(amount)", "row_count_drift"]), // 4: current stays 1
  promote("orders", 2, 1), // 5: anomaly, v2 failed
  commit("orders", 3), // 6
  commit("orders", 4), // 7
  verdict("orders", 4, "passed"), // 8: current 4 (auto-promoted, skipping the pending v3)
  verdict("orders", 3, "passed"), // 9: older than current: no auto-promotion
  rollback("orders", 1, 4), // 10: current 1
  promote("orders", 3, 1), // 11: current 3
  commit("orders", 5), // 12: pending
);

function given(n: number, log: LogEntry[] = CRITICAL): Projection {
  assert.ok(n <= log.length);
  const p = open();
  p.applyBatch(log.slice(0, n));
  return p;
}

/** Applies one record at the next log position. */
function when(p: Projection, record: LogRecord | undefined): number {
  const seq = p.lastSeq + 1;
  p.applyBatch([{ seq, record }]);
  return seq;
}

const anomalies = (p: Projection) => p.db.prepare("SELECT commit_seq, dataset, problem FROM anomalies ORDER BY commit_seq").all();
const audit = (p: Projection, dataset = "orders") => p.auditTrail(dataset, 0, 1000);
const current = (p: Projection, dataset = "orders") => p.dataset(dataset)?.current_version;

/** Every row but the positions (meta.last_seq and each dataset's last_record_seq). */
function stateWithoutPositions(p: Projection): unknown {
  const { meta: _meta, anomalies: _anomalies, datasets: _datasets, log_heads: _heads, ...rest } = JSON.parse(p.canonicalDump()) as Record<string, unknown[]>;
  return { ...rest, datasets: p.datasets().map(({ last_record_seq: _, ...row }) => row) };
}

function auditRow(
  seq: number,
  kind: string,
  version: number,
  previous: number | null,
  actor: string,
  reason: string,
  at: number,
  detail: string | null,
): AuditRow {
  return { seq, dataset: "orders", kind, version, previous_version: previous, actor, reason, at, detail };
}
const autoPromoteRow = (seq: number, version: number, previous: number | null) =>
  auditRow(seq, "auto_promote", version, previous, CHECKER, "passed its quality checks", checkedAt(version), null);
const qualityRow = (seq: number, version: number, failed: readonly string[] = []) =>
  auditRow(
    seq,
    failed.length ? "quality_failed" : "quality_passed",
    version,
    null,
    CHECKER,
    failed.length ? `failed: ${failed.join(", ")}` : "all rules passed",
    checkedAt(version),
    JSON.stringify(ruleResults(failed)),
  );

describe("a critical dataset: commits wait for a passed verdict", () => {
  test("given nothing, when v1 is committed with policy critical, then v1 is pending and no version is current", () => {
    const p = given(1);
    assert.deepEqual(p.dataset("orders"), {
      name: "orders",
      first_commit_seq: 1,
      latest_version: 1,
      latest_commit_seq: 1,
      total_rows: 10,
      updated_at: T0 + 60_000,
      policy: "critical",
      current_version: 0,
      last_record_seq: 1,
      rollback_floor: 0,
    });
    const v1 = p.version("orders", 1)!;
    assert.deepEqual({ policy: v1.policy, quality: v1.quality, quality_seq: v1.quality_seq }, { policy: "critical", quality: "pending", quality_seq: null });
    assert.equal(p.qualityResult("orders", 1), undefined);
    assert.deepEqual(audit(p), []);
    assert.deepEqual(anomalies(p), []);
  });

  test("when v1 passes, then v1 is passed, current is 1, and the audit has quality_passed and auto_promote", () => {
    const p = given(2);
    assert.equal(current(p), 1);
    assert.equal(p.dataset("orders")!.last_record_seq, 2);
    assert.equal(p.dataset("orders")!.latest_commit_seq, 1, "a verdict is not a commit");
    assert.deepEqual([p.version("orders", 1)!.quality, p.version("orders", 1)!.quality_seq], ["passed", 2]);
    assert.deepEqual(p.qualityResult("orders", 1), {
      dataset: "orders",
      version: 1,
      seq: 2,
      outcome: "passed",
      rules: JSON.stringify(ruleResults([])),
      checked_at: checkedAt(1),
      checker_id: CHECKER,
    });
    assert.deepEqual(audit(p), [qualityRow(2, 1), autoPromoteRow(2, 1, null)]);
    assert.deepEqual(anomalies(p), []);
  });

  test("when v2 is committed, then v2 is pending and current stays 1", () => {
    const p = given(3);
    assert.deepEqual([p.dataset("orders")!.latest_version, current(p)], [2, 1]);
    assert.equal(p.version("orders", 2)!.quality, "pending");
  });

  test("when v2 fails, then v2 is failed, current stays 1, and the audit names the failed rules", () => {
    const p = given(4);
    assert.equal(current(p), 1);
    assert.deepEqual([p.version("orders", 2)!.quality, p.version("orders", 2)!.quality_seq], ["failed", 4]);
    assert.deepEqual(p.qualityResult("orders", 2), {
      dataset: "orders",
      version: 2,
      seq: 4,
      outcome: "failed",
      rules: JSON.stringify(ruleResults(["range(amount)", "row_count_drift"])),
      checked_at: checkedAt(2),
      checker_id: CHECKER,
    });
    assert.deepEqual(audit(p).slice(2), [qualityRow(4, 2, ["range(amount)", "row_count_drift"])]);
    assert.equal(audit(p).at(-1)!.reason, "failed: range(amount), row_count_drift");
  });

  test("when a VersionPromoted to the failed v2 arrives, then it is an anomaly and current stays 1", () => {
    const p = given(4);
    const before = stateWithoutPositions(p);
    p.applyBatch(CRITICAL.slice(4, 5));
    assert.deepEqual(anomalies(p), [{ commit_seq: 5, dataset: "orders", problem: "version 2 of orders failed its quality checks and can never be current" }]);
    assert.equal(current(p), 1);
    assert.deepEqual(stateWithoutPositions(p), before, "nothing changes but the positions");
    assert.equal(p.dataset("orders")!.last_record_seq, 5);
    assert.equal(p.lastSeq, 5);
  });

  test("a passed verdict for a version newer than current auto-promotes it, skipping pending ones", () => {
    const p = given(8);
    assert.equal(current(p), 4);
    assert.equal(p.version("orders", 3)!.quality, "pending");
    assert.deepEqual(
      audit(p).filter((a) => a.seq === 8),
      [qualityRow(8, 4), autoPromoteRow(8, 4, 1)],
    );
  });

  test("a passed verdict for a version older than current changes the version's quality only", () => {
    const p = given(9);
    assert.equal(current(p), 4);
    assert.equal(p.version("orders", 3)!.quality, "passed");
    assert.deepEqual(
      audit(p).filter((a) => a.seq === 9),
      [qualityRow(9, 3)],
    );
  });

  test("a commit on a critical dataset keeps the current version (here: 3 after the promotion)", () => {
    const p = given(12);
    assert.deepEqual([p.dataset("orders")!.latest_version, current(p), p.version("orders", 5)!.quality], [5, 3, "pending"]);
  });
});

describe("promote and rollback records", () => {
  test("given current 4, when rolled back to 1, then current 1 and a rollback audit row", () => {
    const p = given(10);
    assert.equal(current(p), 1);
    assert.deepEqual(audit(p).at(-1), auditRow(10, "rollback", 1, 4, OPS.actor, OPS.reason, promotedAt(1, 4), null));
    assert.deepEqual(
      anomalies(p).map((a) => (a as { commit_seq: number }).commit_seq),
      [5],
    );
  });

  test("given current 1 after the rollback, when v3 (passed) is promoted, then current 3 and a promote audit row", () => {
    const p = given(11);
    assert.equal(current(p), 3);
    assert.deepEqual(audit(p).at(-1), auditRow(11, "promote", 3, 1, OPS.actor, OPS.reason, promotedAt(3, 1), null));
  });

  test("the whole story leaves exactly this audit trail", () => {
    const p = given(12);
    const failed = ["range(amount)", "row_count_drift"];
    assert.deepEqual(audit(p), [
      // A verdict and the promotion it causes share a sequence: the verdict is listed first.
      qualityRow(2, 1),
      autoPromoteRow(2, 1, null),
      qualityRow(4, 2, failed),
      qualityRow(8, 4),
      autoPromoteRow(8, 4, 1),
      qualityRow(9, 3),
      auditRow(10, "rollback", 1, 4, OPS.actor, OPS.reason, promotedAt(1, 4), null),
      auditRow(11, "promote", 3, 1, OPS.actor, OPS.reason, promotedAt(3, 1), null),
    ]);
    assert.deepEqual(
      p.auditTrail("orders", 8, 2).map((a) => [a.seq, a.kind]),
      [
        [9, "quality_passed"],
        [10, "rollback"],
      ],
      "paged after a seq",
    );
  });

  test("the projection's facts list former currents newest first", () => {
    assert.deepEqual(given(9).facts("orders")!.formerCurrents(), [4, 1]);
    assert.deepEqual(given(12).facts("orders")!.formerCurrents(), [3, 1, 4]);
  });

  test("given current 4, when an operator rolls back with no target, then the decision is the record at seq 10", () => {
    const p = given(9);
    const decision = decideRollback(p.facts("orders")!, OPS, promotedAt(1, 4));
    assert.deepEqual(decision, { kind: "append", body: CRITICAL[9]!.record!.body });
  });

  test("given current 4, when an operator rolls back to v3 (passed, never current), then it is refused", () => {
    const p = given(9);
    assert.throws(() => decideRollback(p.facts("orders")!, { ...OPS, toVersion: 3 }, T0), { name: "CommandError", code: "never_current", status: 409 });
  });

  const refused: [string, LogRecord, string][] = [
    [
      "a promotion to a pending version",
      promote("orders", 5, 3),
      "version 5 of orders has not passed its quality checks yet; orders is critical, so only a passed version can be current",
    ],
    ["a promotion to an unknown version", promote("orders", 9, 3), "dataset orders has no version 9 (latest is 5)"],
    ["a rollback to a failed version", rollback("orders", 2, 3), "version 2 of orders failed its quality checks and can never be current"],
    ["a rollback whose previous_version is not the current one", rollback("orders", 1, 4), "rollback of version 1 expected current 4, found 3"],
    ["a promotion whose previous_version is not the current one", promote("orders", 4, 1), "promote of version 4 expected current 1, found 3"],
  ];
  for (const [what, record, problem] of refused) {
    test(`given current 3, when ${what} arrives, then it is an anomaly and changes nothing but the positions`, () => {
      const p = given(12);
      const before = stateWithoutPositions(p);
      const seq = when(p, record);
      assert.deepEqual(anomalies(p).at(-1), { commit_seq: seq, dataset: "orders", problem });
      assert.equal(current(p), 3);
      assert.deepEqual(stateWithoutPositions(p), before);
      assert.equal(p.dataset("orders")!.last_record_seq, seq);
      assert.equal(p.lastSeq, seq);
    });
  }
});

describe("tags", () => {
  test("given the story, when v1 is tagged gold, then the tag names v1 and the audit has a tag row", () => {
    const p = given(12);
    const seq = when(p, tag("orders", "gold", 1));
    assert.deepEqual(p.tags("orders"), [{ tag: "gold", version: 1, seq }]);
    assert.equal(p.tagVersion("orders", "gold"), 1);
    assert.equal(p.tagVersion("orders", "silver"), undefined);
    assert.equal(p.tagVersion("clicks", "gold"), undefined, "tags are per dataset");
    assert.deepEqual(audit(p).at(-1), auditRow(seq, "tag", 1, null, OPS.actor, OPS.reason, taggedAt, JSON.stringify({ tag: "gold" })));
    assert.equal(current(p), 3, "tagging moves no current version");
    assert.equal(anomalies(p).length, 1);
  });

  test("a tag may name a failed version", () => {
    const p = given(12);
    const seq = when(p, tag("orders", "broken", 2));
    assert.deepEqual(p.tags("orders"), [{ tag: "broken", version: 2, seq }]);
  });

  const refused: [string, LogRecord, string][] = [
    ["a tag moved to another version", tag("orders", "gold", 3), "tag gold already names version 1"],
    ["an invalid tag name", tag("orders", "bad name", 3), 'invalid tag "bad name"'],
    ["a tag for an unknown version", tag("orders", "rc", 9), "tag rc names unknown version 9"],
  ];
  for (const [what, record, problem] of refused) {
    test(`given gold names v1, when ${what} arrives, then it is an anomaly and the tags don't change`, () => {
      const p = given(12);
      const gold = when(p, tag("orders", "gold", 1));
      const before = stateWithoutPositions(p);
      const seq = when(p, record);
      assert.deepEqual(anomalies(p).at(-1), { commit_seq: seq, dataset: "orders", problem });
      assert.deepEqual(p.tags("orders"), [{ tag: "gold", version: 1, seq: gold }]);
      assert.deepEqual(stateWithoutPositions(p), before);
      assert.equal(p.dataset("orders")!.last_record_seq, seq);
    });
  }
});

describe("verdicts that break the rules", () => {
  test("given v1 passed, when a second verdict for v1 arrives, then it is an anomaly and the first verdict stands", () => {
    const p = given(2);
    const before = stateWithoutPositions(p);
    const seq = when(p, verdict("orders", 1, "failed", ["range(amount)"]));
    assert.deepEqual(anomalies(p), [{ commit_seq: seq, dataset: "orders", problem: "second verdict for version 1 (first: passed)" }]);
    assert.deepEqual(stateWithoutPositions(p), before);
    assert.deepEqual([p.version("orders", 1)!.quality, p.version("orders", 1)!.quality_seq, p.qualityResult("orders", 1)!.seq], ["passed", 2, 2]);
    assert.equal(p.dataset("orders")!.last_record_seq, seq);
  });

  test("given v2 failed, when a passed verdict for v2 arrives, then it is an anomaly and v2 is not promoted", () => {
    const p = given(4);
    const before = stateWithoutPositions(p);
    const seq = when(p, verdict("orders", 2, "passed"));
    assert.deepEqual(anomalies(p).at(-1), { commit_seq: seq, dataset: "orders", problem: "second verdict for version 2 (first: failed)" });
    assert.deepEqual([current(p), p.version("orders", 2)!.quality], [1, "failed"]);
    assert.deepEqual(stateWithoutPositions(p), before);
  });

  test("when a verdict names a version not committed yet, then it is an anomaly", () => {
    const p = given(2);
    const before = stateWithoutPositions(p);
    const seq = when(p, verdict("orders", 2, "passed"));
    assert.deepEqual(anomalies(p), [{ commit_seq: seq, dataset: "orders", problem: "verdict for unknown version 2" }]);
    assert.deepEqual(stateWithoutPositions(p), before);
  });
});

describe("records for a dataset that doesn't exist", () => {
  const ghosts: [string, LogRecord][] = [
    ["a verdict", verdict("ghost", 1, "passed")],
    ["a promotion", promote("ghost", 1, 0)],
    ["a rollback", rollback("ghost", 1, 2)],
    ["a tag", tag("ghost", "gold", 1)],
  ];
  for (const [what, record] of ghosts) {
    test(`when ${what} for an unknown dataset arrives, then it is an anomaly and no dataset appears`, () => {
      const p = given(12);
      const before = p.canonicalDump();
      const beforeRows = stateWithoutPositions(p);
      const ordersSeq = p.dataset("orders")!.last_record_seq;
      const seq = when(p, record);
      assert.deepEqual(anomalies(p).at(-1), { commit_seq: seq, dataset: "ghost", problem: "no dataset ghost" });
      assert.equal(p.dataset("ghost"), undefined);
      assert.equal(p.facts("ghost"), undefined);
      assert.deepEqual(p.tags("ghost"), []);
      assert.deepEqual(stateWithoutPositions(p), beforeRows);
      assert.equal(p.dataset("orders")!.last_record_seq, ordersSeq, "another dataset's position doesn't move");
      assert.equal(p.lastSeq, seq);
      assert.notEqual(p.canonicalDump(), before);
    });
  }
});

describe("a non-critical dataset: current follows each commit", () => {
  const NON_CRITICAL = entries(
    commit("clicks", 1, "non-critical"), // 1: current 1
    commit("clicks", 2, "non-critical"), // 2: current 2
    verdict("clicks", 1, "passed"), // 3
    rollback("clicks", 1, 2), // 4: current 1 (pending versions can be served)
    commit("clicks", 3, "non-critical"), // 5: current 3
  );

  test("each commit is current on arrival, pending, with no audit row", () => {
    const p = given(2, NON_CRITICAL);
    assert.deepEqual([p.dataset("clicks")!.policy, current(p, "clicks")], ["non-critical", 2]);
    assert.deepEqual([p.version("clicks", 2)!.policy, p.version("clicks", 2)!.quality], ["non-critical", "pending"]);
    assert.deepEqual(audit(p, "clicks"), []);
  });

  test("a passed verdict records the quality but promotes nothing", () => {
    const p = given(3, NON_CRITICAL);
    assert.equal(current(p, "clicks"), 2);
    assert.equal(p.version("clicks", 1)!.quality, "passed");
    assert.deepEqual(
      audit(p, "clicks").map((a) => [a.seq, a.kind, a.version]),
      [[3, "quality_passed", 1]],
    );
  });

  test("a rollback may go to a pending version, and the next commit is current again", () => {
    const p = given(4, NON_CRITICAL);
    assert.equal(current(p, "clicks"), 1);
    when(p, NON_CRITICAL[4]!.record);
    assert.equal(current(p, "clicks"), 3);
    assert.deepEqual(
      audit(p, "clicks").map((a) => [a.seq, a.kind, a.version, a.previous_version]),
      [
        [3, "quality_passed", 1, null],
        [4, "rollback", 1, 2],
      ],
    );
  });

  test("a promotion to a failed version is an anomaly for a non-critical dataset too", () => {
    const p = given(2, NON_CRITICAL);
    when(p, verdict("clicks", 1, "failed", ["row_count_drift"]));
    const seq = when(p, rollback("clicks", 1, 2));
    assert.deepEqual(anomalies(p), [{ commit_seq: seq, dataset: "clicks", problem: "version 1 of clicks failed its quality checks and can never be current" }]);
    assert.equal(current(p, "clicks"), 2);
  });

  test("given a rollback to v2 and then commits v4 and v5, when an operator rolls back with no target, then v4 (current just before v5)", () => {
    const p = given(
      6,
      entries(
        commit("clicks", 1, "non-critical"),
        commit("clicks", 2, "non-critical"),
        commit("clicks", 3, "non-critical"),
        rollback("clicks", 2, 3),
        commit("clicks", 4, "non-critical"),
        commit("clicks", 5, "non-critical"),
      ),
    );
    assert.equal(current(p, "clicks"), 5);
    const facts = p.facts("clicks")!;
    const decision = decideRollback(facts, OPS, T0);
    assert.equal(decision.kind === "append" && decision.body.version, 4, "v4 is both the newest and the most recent current below v5");
    // v5 was current from seq 6, v4 from seq 5, v2 from seq 4, v3 from seq 3, v1 from seq 1.
    assert.deepEqual(facts.formerCurrents(), [5, 4, 2, 3, 1]);
  });
});

// Everything at once: both datasets, every record kind, anomalies of every kind, and undecodable records.
const EVERYTHING: LogEntry[] = entries(
  ...CRITICAL.map((e) => e.record),
  commit("clicks", 1, "non-critical"), // 13
  tag("orders", "gold", 1), // 14
  undefined, // 15
  commit("clicks", 3, "non-critical"), // 16: anomaly (gap)
  tag("orders", "gold", 3), // 17: anomaly (tag moved)
  verdict("orders", 1, "failed", ["range(amount)"]), // 18: anomaly (second verdict)
  verdict("ghost", 1, "passed"), // 19: anomaly (no dataset)
  commit("clicks", 2, "non-critical"), // 20
  verdict("clicks", 2, "failed", ["not_null(user_id)"]), // 21
  rollback("clicks", 1, 2), // 22
  verdict("orders", 5, "passed"), // 23: current 5 (auto-promoted)
  tag("clicks", "gold", 2), // 24: same name, other dataset
  undefined, // 25
);

describe("positions", () => {
  test("last_record_seq advances on every record of the dataset, anomalies included; latest_commit_seq only on commits", () => {
    const p = open();
    let commitSeq: Record<string, number> = {};
    for (const entry of EVERYTHING) {
      const before = Object.fromEntries(p.datasets().map((d) => [d.name, d.last_record_seq]));
      p.applyBatch([entry]);
      assert.equal(p.lastSeq, entry.seq);
      const dataset = entry.record?.body.dataset;
      const expected = dataset !== undefined && p.dataset(dataset) ? { ...before, [dataset]: entry.seq } : before;
      assert.deepEqual(Object.fromEntries(p.datasets().map((d) => [d.name, d.last_record_seq])), expected, `seq ${entry.seq}`);
      const applied = (anomalies(p).at(-1) as { commit_seq: number } | undefined)?.commit_seq !== entry.seq;
      if (entry.record?.kind === "VersionCommitted" && applied) commitSeq = { ...commitSeq, [entry.record.body.dataset]: entry.seq };
      assert.deepEqual(Object.fromEntries(p.datasets().map((d) => [d.name, d.latest_commit_seq])), commitSeq, `seq ${entry.seq}`);
    }
    assert.deepEqual(
      anomalies(p).map((a) => (a as { commit_seq: number }).commit_seq),
      [5, 16, 17, 18, 19],
    );
    assert.deepEqual([current(p), current(p, "clicks")], [5, 1]);
    assert.deepEqual(
      p.datasets().map((d) => [d.name, d.last_record_seq]),
      [
        ["clicks", 24],
        ["orders", 23],
      ],
    );
  });
});

describe("canonical dump", () => {
  const oneBatch = () => {
    const p = open();
    p.applyBatch(EVERYTHING);
    return p;
  };

  test("the whole log fills every table", () => {
    const dump = JSON.parse(oneBatch().canonicalDump()) as Record<string, unknown[]>;
    assert.deepEqual(
      Object.fromEntries(Object.entries(dump).map(([t, rows]) => [t, rows.length])),
      // Retention and GC records fill expired_versions and collected_files (test/retention.int.test.ts); log_heads has the ghost dataset too.
      {
        meta: 1,
        datasets: 2,
        versions: 7,
        files: 7,
        quality_results: 6,
        tags: 2,
        audit: 14,
        anomalies: 5,
        expired_versions: 0,
        collected_files: 0,
        log_heads: 3,
      },
    );
  });

  test("the same log applied in different batch splits gives identical dumps", () => {
    const expected = oneBatch().canonicalDump();
    const n = EVERYTHING.length;
    const splits = [Array(n).fill(1) as number[], [2, 3, 5, 7, 8], [12, 13], [1, n - 1], [n - 1, 1], [4, 4, 4, 4, 4, 5]];
    for (const sizes of splits) {
      const p = open();
      let i = 0;
      for (const size of sizes) {
        p.applyBatch(EVERYTHING.slice(i, i + size));
        i += size;
      }
      assert.equal(i, n, `split ${sizes.join("+")} covers the log`);
      assert.equal(p.canonicalDump(), expected, `split ${sizes.join("+")}`);
    }
  });

  test("reopening the file between batches gives the same dump and the same facts", () => {
    const whole = oneBatch();
    const path = join(root, "verdicts-reopen.db");
    for (const cut of [2, 10, 15, 20]) {
      rmSync(path, { force: true });
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
      const a = open(path);
      a.applyBatch(EVERYTHING.slice(0, cut));
      const mid = a.canonicalDump();
      a.close();

      const b = open(path);
      assert.equal(b.canonicalDump(), mid, `cut ${cut}: reopened as closed`);
      assert.equal(b.lastSeq, cut);
      b.applyBatch(EVERYTHING.slice(cut));
      b.close();

      const c = open(path);
      assert.equal(c.canonicalDump(), whole.canonicalDump(), `cut ${cut}`);
      for (const name of ["orders", "clicks"]) {
        const [x, y] = [c.facts(name)!, whole.facts(name)!];
        assert.deepEqual(
          [x.currentVersion, x.latestVersion, x.formerCurrents(), x.tag("gold")],
          [y.currentVersion, y.latestVersion, y.formerCurrents(), y.tag("gold")],
          `cut ${cut}: ${name}`,
        );
      }
      c.close();
    }
  });
});

describe("a rollback on a critical dataset holds against late verdicts", () => {
  test("given v1..v3 committed, v1 and v3 passed and current 3, when an operator rolls back to 1 and v2's pass arrives late, then current stays 1", () => {
    const p = given(0, []);
    when(p, commit("audits", 1));
    when(p, verdict("audits", 1, "passed"));
    when(p, commit("audits", 2));
    when(p, commit("audits", 3));
    when(p, verdict("audits", 3, "passed"));
    assert.equal(current(p, "audits"), 3);
    when(p, rollback("audits", 1, 3));
    assert.equal(current(p, "audits"), 1);
    when(p, verdict("audits", 2, "passed"));
    assert.equal(current(p, "audits"), 1, "a version from before the rollback does not come back by itself");
    when(p, commit("audits", 4));
    when(p, verdict("audits", 4, "passed"));
    assert.equal(current(p, "audits"), 4, "a version committed after the rollback point is promoted as usual");
  });
});
