// The console's pure views (domain/timeline.ts, visibleAlerts): given projection rows, then what the
// timeline, a diff and the alerts list show.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { diffFiles, timelineEvents, type TimelineVersionFacts, timelineVersions } from "../src/domain/timeline.ts";
import { visibleAlerts } from "../src/http/console.ts";
import type { AlertEntry } from "../src/nats/alerts.ts";

const T0 = Date.UTC(2026, 5, 1);

function v(version: number, o: Partial<TimelineVersionFacts> = {}): TimelineVersionFacts {
  return {
    version,
    parent_version: version - 1,
    commit_seq: version * 10,
    committed_at: T0 + version,
    operation: null,
    row_count: 10,
    total_rows: 10 * version,
    added_files: 1,
    removed_files: 0,
    quality: "passed",
    schema_version: 1,
    schema_fingerprint: "a",
    base_version: null,
    reverted_version: null,
    min_event_time: null,
    max_event_time: null,
    ...o,
  };
}

describe("timeline", () => {
  test("given versions, then each with its operation, verdict and failed rules, current, tags, expiry and schema changes", () => {
    const rows = [
      v(4),
      v(5, { quality: "failed" }),
      v(6, { operation: "revert", reverted_version: 5, row_count: 0 }),
      v(7, { schema_fingerprint: "b", schema_version: 2 }),
    ];
    const out = timelineVersions(rows, {
      current: 6,
      expired: (n) => n === 4,
      tags: [{ tag: "release", version: 6 }],
      failedRules: (n) => (n === 5 ? ["max_null_ratio(card_country)"] : ["never asked"]),
      parentFingerprint: "a",
    });
    assert.deepEqual(
      out.map((x) => [x.version, x.operation, x.quality, x.failed_rules, x.current, x.expired, x.tags, x.schema_changed]),
      [
        [4, "append", "passed", [], false, true, [], false],
        [5, "append", "failed", ["max_null_ratio(card_country)"], false, false, [], false],
        [6, "revert", "passed", [], true, false, ["release"], false],
        [7, "append", "passed", [], false, false, [], true],
      ],
    );
    assert.equal(out[2]!.reverted_version, 5);
    assert.equal(out[0]!.committed_at, new Date(T0 + 4).toISOString());
  });

  test("given the audit trail, then its events since the oldest version shown, verdicts left out (the version rows show them)", () => {
    const audit = [
      { seq: 5, kind: "rollback", version: 1, previous_version: 2, actor: "old", reason: "before the window", at: T0 },
      { seq: 40, kind: "quality_passed", version: 4, previous_version: null, actor: "q", reason: "all rules passed", at: T0 },
      { seq: 40, kind: "auto_promote", version: 4, previous_version: 3, actor: "q", reason: "passed", at: T0 },
      { seq: 61, kind: "rollback", version: 4, previous_version: 6, actor: "alice", reason: "bad deploy", at: T0 + 1 },
      { seq: 62, kind: "quality_failed", version: 5, previous_version: null, actor: "q", reason: "failed: x", at: T0 },
    ];
    assert.deepEqual(
      timelineEvents(audit, 40).map((e) => [e.seq, e.kind, e.actor]),
      [
        [40, "auto_promote", "q"],
        [61, "rollback", "alice"],
      ],
    );
  });
});

describe("diff of two versions", () => {
  const f = (key: string, rows: number) => ({ key, partition: "dt=2026-06-01", rows, bytes: rows * 10 });
  test("given two file sets, then the files added and removed with their rows, and the count unchanged", () => {
    const d = diffFiles([f("a", 10), f("b", 20), f("c", 5)], [f("a", 10), f("d", 30), f("e", 1)], 10);
    assert.deepEqual(
      d.added.map((x) => x.key),
      ["d", "e"],
    );
    assert.deepEqual(
      d.removed.map((x) => x.key),
      ["b", "c"],
    );
    assert.deepEqual([d.added_count, d.removed_count, d.rows_added, d.rows_removed, d.unchanged_files], [2, 2, 31, 25, 1]);
  });
  test("given more files than the limit, then the counts are whole and the lists cut", () => {
    const many = Array.from({ length: 50 }, (_, i) => f(`k${String(i).padStart(2, "0")}`, 1));
    const d = diffFiles([], many, 5);
    assert.equal(d.added.length, 5);
    assert.equal(d.added_count, 50);
    assert.equal(d.rows_added, 50);
  });
});

describe("alerts a caller sees", () => {
  const a = (seq: number, alert: string, subject: string, state: "firing" | "resolved"): AlertEntry => ({
    seq,
    alert,
    state,
    service: "catalog",
    subject,
    value: 1,
    threshold: 0,
    message: "",
    at: new Date(T0 + seq).toISOString(),
  });
  // Newest first, as the feed gives them.
  const entries = [
    a(4, "freshness", "payments", "firing"),
    a(3, "freshness", "domain_events", "resolved"),
    a(2, "consumer_lag", "domain_events", "firing"),
    a(1, "freshness", "domain_events", "firing"),
  ];
  const reader = parseTokensFile(JSON.stringify([{ name: "bi", sha256: tokenSha256("t"), role: "reader", datasets: ["domain_events"] }]))[0]!.identity;

  test("given no identity (auth off), then every alert, and firing = the newest state of each alert and subject that fires", () => {
    const { alerts, firing } = visibleAlerts(entries, undefined);
    assert.equal(alerts.length, 4);
    assert.deepEqual(
      firing.map((x) => [x.alert, x.subject]),
      [
        ["freshness", "payments"],
        ["consumer_lag", "domain_events"],
      ],
    );
  });
  test("given a reader, then only alerts about datasets it may read", () => {
    const { alerts, firing } = visibleAlerts(entries, reader);
    assert.deepEqual(
      alerts.map((x) => x.seq),
      [3, 2, 1],
    );
    assert.deepEqual(
      firing.map((x) => x.seq),
      [2],
    );
  });
});
