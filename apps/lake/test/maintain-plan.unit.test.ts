// The maintenance worker's decisions, pure: given a dataset's policy and what the catalog says of it,
// which of compaction, expiry and GC are due this round, and how much each may do.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DEFAULT_MAINTENANCE_POLICY, type MaintenancePolicy, parseMaintenancePolicy } from "@lake/contracts";

import { backoffMs, type DatasetFacts, maxFilesPerPartition, planDataset, planExpiry } from "../src/maintain/plan.ts";
import { planCompaction } from "../src/ops/compaction-plan.ts";

const NOW = Date.UTC(2026, 5, 10);
const DAY = 86_400_000;
const policy = (raw: unknown): MaintenancePolicy => parseMaintenancePolicy(raw, (why) => new Error(why));

function facts(over: Partial<DatasetFacts> = {}): DatasetFacts {
  return { latestVersion: 10, partitions: new Map(), unexpired: [], lastGcAt: NOW, ...over };
}

/** Versions from..to, committed `ageMs` ago (all of them). */
function versions(from: number, to: number, ageMs: number): DatasetFacts["unexpired"] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ version: from + i, committedAt: NOW - ageMs }));
}

describe("compaction: due when a partition has more small files than the bound", () => {
  const p = policy({ compaction: { max_files_per_partition: 4, target_file_bytes: 1024 * 1024 }, expiry: { enabled: false }, gc: { enabled: false } });

  test("given 4 small files in a partition (at the bound), then nothing is due", () => {
    const plan = planDataset(p, facts({ partitions: new Map([["dt=2026-06-10", [10, 10, 10, 10]]]) }), NOW);
    assert.deepEqual(plan, {});
  });

  test("given 5 small files, then that partition is compacted, and only partitions past the bound are rewritten", () => {
    const plan = planDataset(
      p,
      facts({
        partitions: new Map([
          ["dt=2026-06-10", [10, 10, 10, 10, 10]],
          ["dt=2026-06-09", [10, 10, 10]],
        ]),
      }),
      NOW,
    );
    assert.deepEqual(plan.compaction, { over: [{ partition: "dt=2026-06-10", smallFiles: 5 }], targetBytes: 1024 * 1024, maxFiles: 1000, minSmallFiles: 5 });
    // The planner, given that threshold, leaves the partition under the bound alone.
    const file = (partition: string, n: number) => ({ key: `${partition}/w${n}.parquet`, partition, rows: 1, bytes: 10, sha256: "0" });
    const live = new Map([
      ["dt=2026-06-10", [1, 2, 3, 4, 5].map((n) => file("dt=2026-06-10", n))],
      ["dt=2026-06-09", [1, 2, 3].map((n) => file("dt=2026-06-09", n))],
    ]);
    const groups = planCompaction(live, { targetBytes: 1024 * 1024, maxFiles: 1000, minSmallFiles: plan.compaction!.minSmallFiles }).groups;
    assert.deepEqual(
      groups.map((g) => [g.partition, g.files.length]),
      [["dt=2026-06-10", 5]],
    );
  });

  test("files at or over the target do not count: a partition of big files is never rewritten again", () => {
    const big = 2 * 1024 * 1024;
    const plan = planDataset(p, facts({ partitions: new Map([["dt=2026-06-10", [big, big, big, big, big, big, 10]]]) }), NOW);
    assert.equal(plan.compaction, undefined);
    assert.equal(maxFilesPerPartition(new Map([["a", [big, big, big, big, big, big, 10]]])), 7);
  });

  test("compaction off, the whole policy off, or an empty dataset: nothing", () => {
    const many = new Map([["dt=2026-06-10", Array.from({ length: 50 }, () => 10)]]);
    assert.equal(planDataset(policy({ compaction: { enabled: false } }), facts({ partitions: many }), NOW).compaction, undefined);
    assert.deepEqual(planDataset(policy({ enabled: false }), facts({ partitions: many, lastGcAt: undefined }), NOW), {});
    assert.deepEqual(planDataset(DEFAULT_MAINTENANCE_POLICY, facts({ latestVersion: 0, lastGcAt: undefined }), NOW), {});
  });
});

describe("expiry: the catalog's command, narrowed to at most max_versions_per_run", () => {
  test("given versions within keep_last, then nothing is due", () => {
    const p = policy({ expiry: { keep_last: 10, keep_ms: null } });
    assert.equal(planExpiry(p, facts({ latestVersion: 10, unexpired: versions(1, 10, DAY) }), NOW), undefined);
  });

  test("given versions beyond keep_last but younger than keep_ms, then nothing (a version either bound keeps is kept)", () => {
    const p = policy({ expiry: { keep_last: 3, keep_ms: 7 * DAY } });
    assert.equal(planExpiry(p, facts({ latestVersion: 10, unexpired: versions(1, 10, DAY) }), NOW), undefined);
  });

  test("given old versions beyond keep_last, then the policy goes to the catalog as it is (the backlog fits one run)", () => {
    const p = policy({ expiry: { keep_last: 3, keep_ms: 7 * DAY } });
    assert.deepEqual(planExpiry(p, facts({ latestVersion: 10, unexpired: versions(1, 10, 8 * DAY) }), NOW), { keepLast: 3, keepMs: 7 * DAY, due: 7 });
  });

  test("given a backlog larger than max_versions_per_run, then keep_last is raised so only the oldest M may go", () => {
    const p = policy({ expiry: { keep_last: 3, keep_ms: null, max_versions_per_run: 4 } });
    // 100 versions, 5 unexpired looked at (M + 1): versions 1..4 may go; keep_last = 100 − 4.
    const step = planExpiry(p, facts({ latestVersion: 100, unexpired: versions(1, 5, DAY) }), NOW)!;
    assert.deepEqual(step, { keepLast: 96, due: 4 });
    // The catalog keeps every version above latest − keep_last: exactly 1..4 are outside.
    assert.deepEqual(
      versions(1, 100, DAY)
        .map((v) => v.version)
        .filter((v) => v <= 100 - step.keepLast!),
      [1, 2, 3, 4],
    );
  });

  test("keep_ms alone, with a backlog: a count bound is added so the run stays bounded", () => {
    const p = policy({ expiry: { keep_last: null, keep_ms: DAY, max_versions_per_run: 2 } });
    assert.deepEqual(planExpiry(p, facts({ latestVersion: 50, unexpired: versions(7, 9, 2 * DAY) }), NOW), { keepLast: 42, keepMs: DAY, due: 2 });
  });

  test("expiry off: nothing", () => {
    assert.equal(planExpiry(policy({ expiry: { enabled: false } }), facts({ latestVersion: 500, unexpired: versions(1, 500, 30 * DAY) }), NOW), undefined);
  });
});

describe("gc: one bounded pass per interval", () => {
  const p = policy({ gc: { interval_ms: 60_000, grace_ms: 5_000, max_deletes_per_run: 7 } });
  test("given no pass yet, then a pass is due with the policy's grace and bound", () => {
    assert.deepEqual(planDataset(p, facts({ lastGcAt: undefined }), NOW).gc, { graceMs: 5_000, maxDeletes: 7 });
  });
  test("given a pass within the interval, then none; after it, one", () => {
    assert.equal(planDataset(p, facts({ lastGcAt: NOW - 59_999 }), NOW).gc, undefined);
    assert.ok(planDataset(p, facts({ lastGcAt: NOW - 60_000 }), NOW).gc);
  });
});

test("back-off: nothing before a failure, then the interval doubled per failure in a row, capped", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10, 100].map((n) => backoffMs(n, 1000, 10_000)),
    [0, 1000, 2000, 4000, 8000, 10_000, 10_000],
  );
});
