// Given/when/then tests of retention and garbage-collection records: the pure decisions (decideExpire,
// decideCollected, expireProblem) and their projection (VersionsExpired, FilesCollected): which versions
// expire, that current, tagged, latest and unjudged versions never do, that an expired version is never
// served again, which files stay live, and that every rule broken in a record is an anomaly.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";

import { Projection } from "../src/db/projection.ts";
import {
  CommandError,
  decideCollected,
  decideExpire,
  decidePromote,
  decideRollback,
  decideTag,
  expireProblem,
  liveVersionIn,
  MAX_EXPIRE_PER_RECORD,
  type QualityStatus,
  type RetentionFacts,
  versionRanges,
} from "../src/domain/commands.ts";
import { T0, versionRecord } from "./fixtures.ts";

const NOW = Date.UTC(2026, 5, 10, 12);
const HOUR = 3_600_000;
const WHO = { actor: "ops@lake", reason: "retention" };

function refused(fn: () => unknown, status: number, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CommandError, `expected a CommandError, got ${String(e)}`);
    assert.deepEqual({ status: e.status, code: e.code }, { status, code });
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** Versions 1..n committed an hour apart (version n one hour before NOW), all passed unless told. */
function facts(opts: { versions: number; current: number; tagged?: number[]; pending?: number[]; expired?: number[] }): RetentionFacts {
  const unexpired = [];
  for (let v = 1; v <= opts.versions; v++) {
    if (opts.expired?.includes(v)) continue;
    const quality: QualityStatus = opts.pending?.includes(v) ? "pending" : "passed";
    unexpired.push({ version: v, committedAt: NOW - (opts.versions - v + 1) * HOUR, quality });
  }
  return { name: "orders", latestVersion: opts.versions, currentVersion: opts.current, unexpired, tagged: new Set(opts.tagged ?? []) };
}

const expired = (d: RetentionFacts, policy: { keepLast?: number; keepMs?: number }) => {
  const r = decideExpire(d, { ...WHO, ...policy }, NOW);
  return r.kind === "append" ? r.body.versions : [];
};

describe("decideExpire", () => {
  test("given 6 versions, current = latest, when keep_last=2, then 1-4 expire in one record naming the policy", () => {
    const r = decideExpire(facts({ versions: 6, current: 6 }), { ...WHO, keepLast: 2 }, NOW);
    assert.deepEqual(r, {
      kind: "append",
      body: { dataset: "orders", versions: [1, 2, 3, 4], policy: "keep_last=2", actor: WHO.actor, reason: WHO.reason, at: NOW },
    });
  });

  test("given a tagged version and a rolled-back current, when keep_last=1, then both are kept with the latest", () => {
    assert.deepEqual(expired(facts({ versions: 6, current: 3, tagged: [2] }), { keepLast: 1 }), [1, 4, 5]);
  });

  test("given versions still waiting for their verdict, when they fall outside the policy, then they and their parents are kept", () => {
    assert.deepEqual(expired(facts({ versions: 6, current: 6, pending: [3] }), { keepLast: 1 }), [1, 4, 5]);
    assert.deepEqual(expired(facts({ versions: 6, current: 6, pending: [5, 6] }), { keepLast: 1 }), [1, 2, 3], "v4 is v5's parent");
  });

  test("given keep_ms, then versions younger than it are kept; with keep_last too, a version either keeps is kept", () => {
    const d = facts({ versions: 6, current: 6 }); // version v is (7 - v) hours old
    assert.deepEqual(expired(d, { keepMs: 3.5 * HOUR }), [1, 2, 3]);
    assert.deepEqual(expired(d, { keepMs: 3.5 * HOUR, keepLast: 5 }), [1]);
    assert.deepEqual(expired(d, { keepMs: 0 }), [1, 2, 3, 4, 5], "keep_ms=0 keeps only what is protected");
    const both = decideExpire(d, { ...WHO, keepMs: HOUR, keepLast: 2 }, NOW) as { body: LakeLog.VersionsExpired };
    assert.equal(both.body.policy, "keep_last=2,keep_ms=3600000");
  });

  test("given versions already expired, then they are not expired again; when nothing is left, then a no-op saying why", () => {
    assert.deepEqual(expired(facts({ versions: 6, current: 6, expired: [1, 2] }), { keepLast: 2 }), [3, 4]);
    const r = decideExpire(facts({ versions: 6, current: 6, expired: [1, 2, 3, 4] }), { ...WHO, keepLast: 2 }, NOW);
    assert.equal(r.kind, "noop");
    assert.match((r as { message: string }).message, /nothing to expire in orders under keep_last=2/);
  });

  test("given one version, whatever the policy, then nothing expires", () => {
    assert.equal(decideExpire(facts({ versions: 1, current: 1 }), { ...WHO, keepMs: 0 }, NOW).kind, "noop");
  });

  test("given a policy that is missing or out of range, then 400 invalid_policy", () => {
    const d = facts({ versions: 3, current: 3 });
    refused(() => decideExpire(d, { ...WHO }, NOW), 400, "invalid_policy", /keep_last.*keep_ms/);
    refused(() => decideExpire(d, { ...WHO, keepLast: 0 }, NOW), 400, "invalid_policy", /keep_last must be an integer ≥ 1/);
    refused(() => decideExpire(d, { ...WHO, keepLast: 1.5 }, NOW), 400, "invalid_policy");
    refused(() => decideExpire(d, { ...WHO, keepMs: -1 }, NOW), 400, "invalid_policy", /keep_ms/);
  });

  test("given a backlog larger than one record holds, then the oldest MAX_EXPIRE_PER_RECORD expire first", () => {
    const v = expired(facts({ versions: MAX_EXPIRE_PER_RECORD + 50, current: MAX_EXPIRE_PER_RECORD + 50 }), { keepLast: 1 });
    assert.equal(v.length, MAX_EXPIRE_PER_RECORD);
    assert.deepEqual([v[0], v.at(-1)], [1, MAX_EXPIRE_PER_RECORD]);
  });
});

describe("expireProblem: the decision's rules, checked again on a record", () => {
  const d = facts({ versions: 7, current: 4, tagged: [2], pending: [6], expired: [1] });
  for (const [versions, problem] of [
    [[3], undefined],
    [[], "expires no version"],
    [[3, 3], "versions are not strictly ascending (3 after 3)"],
    [[1], "version 1 is already expired"],
    [[9], "expires unknown version 9"],
    [[2], "version 2 cannot expire: a tag names it"],
    [[4], "version 4 cannot expire: it is the current version"],
    [[5], "version 5 cannot expire: version 6 is waiting for its quality verdict, which compares it with this one"],
    [[6], "version 6 cannot expire: it is waiting for its quality verdict"],
    [[7], "version 7 cannot expire: it is the latest version"],
  ] as const) {
    test(`given the facts, when a record expires ${JSON.stringify(versions)}, then ${problem ?? "no problem"}`, () => {
      assert.equal(expireProblem(d, versions), problem);
    });
  }
});

describe("commands on an expired version", () => {
  const d = {
    name: "orders",
    policy: "non-critical",
    latestVersion: 4,
    currentVersion: 4,
    version: (v: number) => (v >= 1 && v <= 4 ? { version: v, quality: "passed" as const, expired: v <= 2 } : undefined),
    formerCurrents: () => [4, 3, 2, 1],
    tag: () => undefined,
  };
  test("given version 2 expired, when it is promoted, rolled back to or tagged, then 410 version_expired", () => {
    refused(() => decidePromote({ ...d, currentVersion: 1 }, { ...WHO, version: 2 }, NOW), 410, "version_expired", /version 2 of orders has expired/);
    refused(() => decideRollback(d, { ...WHO, toVersion: 2 }, NOW), 410, "version_expired");
    refused(() => decideTag(d, { ...WHO, tag: "keep", version: 2 }, NOW), 410, "version_expired");
  });
  test("given versions 1-2 expired and current 4, when rolling back without a target, then it goes to 3 (never to an expired one)", () => {
    const r = decideRollback({ ...d, version: (v: number) => d.version(v) && { ...d.version(v)!, expired: v !== 3 && v !== 4 } }, WHO, NOW);
    assert.equal(r.kind === "append" && r.body.version, 3);
    refused(() => decideRollback({ ...d, formerCurrents: () => [4, 2, 1] }, WHO, NOW), 409, "no_rollback_target");
  });
});

describe("decideCollected", () => {
  const ds = { name: "orders" };
  const keys = ["datasets/orders/data/dt=2026-06-01/w1-000.parquet", "datasets/orders/manifests/v000000000001-w1.json"];
  test("given keys of the dataset, then a FilesCollected record", () => {
    assert.deepEqual(decideCollected(ds, { keys, bytes: 1234, orphans: 1, actor: "gc" }, NOW), {
      kind: "append",
      body: { dataset: "orders", keys, bytes: 1234, orphans: 1, actor: "gc", at: NOW },
    });
  });
  test("given keys of another dataset, repeated or escaping, or bad counts, then 400", () => {
    refused(() => decideCollected(ds, { keys: [], bytes: 0, orphans: 0, actor: "gc" }, NOW), 400, "invalid_keys");
    refused(
      () => decideCollected(ds, { keys: ["datasets/clicks/data/x.parquet"], bytes: 0, orphans: 0, actor: "gc" }, NOW),
      400,
      "invalid_keys",
      /not an object of dataset orders/,
    );
    refused(() => decideCollected(ds, { keys: ["datasets/orders/../clicks/x"], bytes: 0, orphans: 0, actor: "gc" }, NOW), 400, "invalid_keys");
    refused(() => decideCollected(ds, { keys: [keys[0]!, keys[0]!], bytes: 0, orphans: 0, actor: "gc" }, NOW), 400, "invalid_keys", /repeat/);
    refused(() => decideCollected(ds, { keys, bytes: -1, orphans: 0, actor: "gc" }, NOW), 400, "invalid_bytes");
    refused(() => decideCollected(ds, { keys, bytes: 1, orphans: 3, actor: "gc" }, NOW), 400, "invalid_orphans");
  });
});

describe("helpers", () => {
  test("versionRanges compacts runs", () => {
    assert.equal(versionRanges([1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
    assert.equal(versionRanges([]), "");
  });
  test("liveVersionIn: a live version in [from, until)", () => {
    const live = [2, 5, 9];
    assert.equal(liveVersionIn(live, 1, 2), undefined);
    assert.equal(liveVersionIn(live, 1, 3), 2);
    assert.equal(liveVersionIn(live, 3, 5), undefined);
    assert.equal(liveVersionIn(live, 3, null), 5);
    assert.equal(liveVersionIn(live, 10, null), undefined);
    assert.equal(liveVersionIn([], 1, null), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------
// Projection

const root = mkdtempSync(join(tmpdir(), "lake-catalog-retention-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dbNo = 0;
const opened: Projection[] = [];
function open(): Projection {
  const p = new Projection(join(root, `catalog-${dbNo++}.db`));
  opened.push(p);
  return p;
}
after(() => {
  for (const p of opened) if (p.db.open) p.close();
});

const fileKey = (name: string) => `datasets/orders/data/dt=2026-06-01/${name}.parquet`;
const manifestKey = (v: number) => `datasets/orders/manifests/v${String(v).padStart(12, "0")}-w${v}.json`;

function commit(version: number, added: string[], removed: string[] = []): LogRecord {
  return {
    kind: "VersionCommitted",
    body: versionRecord("orders", version, {
      manifest: { key: manifestKey(version), sha256: "a".repeat(64), bytes: 500 + version },
      added_files: added.map((n) => ({ key: fileKey(n), partition: "dt=2026-06-01", rows: 10, bytes: 1000, sha256: "b".repeat(64) })),
      removed_files: removed.map(fileKey),
    }),
  };
}
const passed = (version: number): LogRecord => ({
  kind: "QualityVerdict",
  body: { dataset: "orders", version, outcome: "passed", rules: [], checked_at: T0 + version * 60_000 + 1000, checker_id: "q" },
});
const EXPIRE_AT = T0 + 10 * HOUR;
const expire = (versions: number[]): LogRecord => ({
  kind: "VersionsExpired",
  body: { dataset: "orders", versions, policy: "keep_last=2", ...WHO, at: EXPIRE_AT },
});
const collected = (keys: string[], orphans = 0): LogRecord => ({
  kind: "FilesCollected",
  body: { dataset: "orders", keys, bytes: 1000 * keys.length, orphans, actor: "gc", at: EXPIRE_AT + 1 },
});
const tagged = (version: number, tag: string): LogRecord => ({ kind: "VersionTagged", body: { dataset: "orders", version, tag, ...WHO, at: T0 + HOUR } });

// v1 adds a, b; v2 adds c, removes a; v3 adds d; v4 adds e, removes b, c; v5 adds f. v2 is tagged.
// Version file sets: v1 {a b}  v2 {b c}  v3 {b c d}  v4 {d e}  v5 {d e f}.
const STORY: LogRecord[] = [
  commit(1, ["a", "b"]),
  passed(1),
  commit(2, ["c"], ["a"]),
  passed(2),
  commit(3, ["d"]),
  passed(3),
  commit(4, ["e"], ["b", "c"]),
  passed(4),
  commit(5, ["f"]),
  passed(5),
  tagged(2, "month-end"),
];

function given(records: LogRecord[] = STORY): Projection {
  const p = open();
  p.applyBatch(records.map((record, i) => ({ seq: i + 1, record })));
  return p;
}
function when(p: Projection, record: LogRecord): number {
  const seq = p.lastSeq + 1;
  p.applyBatch([{ seq, record }]);
  return seq;
}
const anomalies = (p: Projection) =>
  p.db.prepare("SELECT commit_seq, problem FROM anomalies ORDER BY commit_seq").all() as { commit_seq: number; problem: string }[];
/** Names (a, b, ...) of the files a live version references. */
const live = (p: Projection) =>
  p
    .fileRegistry("orders", "", 100)
    .filter((f) => f.live)
    .map((f) => f.key.replace("datasets/orders/data/dt=2026-06-01/", "").replace(".parquet", ""));

describe("Projection: VersionsExpired", () => {
  test("given the story, when versions 1 and 3 expire, then they are expired (not served), kept in the history and audited", () => {
    const p = given();
    assert.deepEqual(live(p), ["a", "b", "c", "d", "e", "f"], "before: every version is live, so every file is");
    const seq = when(p, expire([1, 3]));
    assert.deepEqual(anomalies(p), []);
    assert.equal(p.expiredSeq("orders", 1), seq);
    assert.equal(p.expiredSeq("orders", 3), seq);
    assert.equal(p.expiredSeq("orders", 2), undefined);
    assert.deepEqual(p.liveVersions("orders"), [2, 4, 5]);
    assert.equal(p.facts("orders")!.version(1)!.expired, true);
    assert.equal(p.facts("orders")!.version(2)!.expired, false);
    assert.ok(p.version("orders", 1), "the version row stays: history is never rewritten");
    assert.equal(p.dataset("orders")!.last_record_seq, seq);
    const audit = p.auditTrail("orders", 0, 100).filter((a) => a.kind === "expire");
    assert.deepEqual(audit, [
      {
        seq,
        dataset: "orders",
        kind: "expire",
        version: 3,
        previous_version: null,
        actor: WHO.actor,
        reason: WHO.reason,
        at: EXPIRE_AT,
        detail: JSON.stringify({ policy: "keep_last=2", count: 2, versions: "1,3" }),
      },
    ]);
  });

  test("given versions 1 and 3 expired, then a file is live only while a live version references it", () => {
    const p = given([...STORY, expire([1, 3])]);
    // a: v1 only (expired) → dead. b: v1-v3, v2 live (tagged) → live. c: v2-v3 → live. d, e, f: in v5.
    assert.deepEqual(live(p), ["b", "c", "d", "e", "f"]);
    const reg = p.fileRegistry("orders", "", 100);
    assert.deepEqual(
      reg.map((f) => [f.key, f.added_version, f.removed_version, f.live]),
      [
        [fileKey("a"), 1, 2, false],
        [fileKey("b"), 1, 4, true],
        [fileKey("c"), 2, 4, true],
        [fileKey("d"), 3, null, true],
        [fileKey("e"), 4, null, true],
        [fileKey("f"), 5, null, true],
      ],
    );
    assert.deepEqual(
      p.fileRegistry("orders", fileKey("c"), 2).map((f) => f.key),
      [fileKey("d"), fileKey("e")],
      "pages by key",
    );
  });

  test("given the story without the tag, when versions 1-3 expire, then b and c (referenced only by them) are dead too", () => {
    const p = given([...STORY.slice(0, -1), expire([1, 2, 3])]);
    assert.deepEqual(anomalies(p), []);
    assert.deepEqual(live(p), ["d", "e", "f"]);
  });

  for (const [what, record, problem] of [
    ["the current (and latest) version", expire([5]), "version 5 cannot expire: it is the latest version"],
    ["a tagged version", expire([1, 2]), "version 2 cannot expire: a tag names it"],
    ["an unknown version", expire([9]), "expires unknown version 9"],
    ["versions out of order", expire([3, 1]), "versions are not strictly ascending (1 after 3)"],
  ] as const) {
    test(`given the story, when a record expires ${what}, then it is an anomaly and nothing expires`, () => {
      const p = given();
      const before = p.liveVersions("orders");
      const seq = when(p, record);
      assert.deepEqual(anomalies(p), [{ commit_seq: seq, problem }]);
      assert.deepEqual(p.liveVersions("orders"), before);
      assert.equal(p.dataset("orders")!.last_record_seq, seq, "the position still advances (commands CAS against it)");
    });
  }

  test("given v6 waiting for its verdict and current moved back to 4, when a record expires them, then anomalies", () => {
    const p = given([
      ...STORY,
      commit(6, ["g"]),
      { kind: "VersionPromoted", body: { dataset: "orders", version: 4, previous_version: 6, mode: "rollback", ...WHO, at: T0 + 2 * HOUR } },
      commit(7, ["h"]),
    ]);
    assert.equal(p.dataset("orders")!.current_version, 7, "non-critical: current follows each commit");
    when(p, expire([6]));
    assert.match(anomalies(p).at(-1)!.problem, /version 6 cannot expire: it is waiting for its quality verdict/);
  });

  test("given version 1 expired, when a record tags, promotes or rolls back to it, then anomalies", () => {
    const p = given([...STORY, expire([1])]);
    when(p, tagged(1, "late"));
    assert.equal(anomalies(p).at(-1)!.problem, "tag late names expired version 1");
    when(p, { kind: "VersionPromoted", body: { dataset: "orders", version: 1, previous_version: 5, mode: "rollback", ...WHO, at: T0 } });
    assert.match(anomalies(p).at(-1)!.problem, /version 1 of orders has expired/);
    assert.equal(p.dataset("orders")!.current_version, 5);
    assert.equal(p.tagVersion("orders", "late"), undefined);
  });

  test("given the same expiry twice, then the second is an anomaly (already expired)", () => {
    const p = given([...STORY, expire([1])]);
    when(p, expire([1]));
    assert.equal(anomalies(p).at(-1)!.problem, "version 1 is already expired");
  });
});

describe("Projection: FilesCollected", () => {
  test("given v1 expired, when GC records a's and v1's manifest's deletion, then they are collected and audited, no anomaly", () => {
    const p = given([...STORY, expire([1])]);
    const seq = when(p, collected([fileKey("a"), manifestKey(1), "datasets/orders/data/dt=2026-06-01/crashed-000.parquet"], 1));
    assert.deepEqual(anomalies(p), []);
    const reg = p.fileRegistry("orders", "", 100);
    assert.equal(reg.find((f) => f.key === fileKey("a"))!.collected_seq, seq);
    assert.equal(reg.find((f) => f.key === fileKey("b"))!.collected_seq, null);
    const rows = p.db.prepare("SELECT key, seq FROM collected_files ORDER BY key").all();
    assert.equal(rows.length, 3, "orphans are recorded too");
    const audit = p.auditTrail("orders", 0, 100).filter((a) => a.kind === "gc");
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor, "gc");
    assert.equal(audit[0]!.version, 5, "the latest version when GC ran");
    assert.match(audit[0]!.reason, /deleted 3 object\(s\), 3000 bytes: 2 no live version references, 1 orphan/);
  });

  test("given the story, when a record names a live file or a live version's manifest, then it is recorded and the loss is an anomaly", () => {
    const p = given([...STORY, expire([1])]);
    const seq = when(p, collected([fileKey("d"), manifestKey(4), fileKey("a")]));
    assert.deepEqual(anomalies(p), [{ commit_seq: seq, problem: `collected 2 object(s) a live version references: ${fileKey("d")}, ${manifestKey(4)}` }]);
    assert.equal((p.db.prepare("SELECT count(*) AS n FROM collected_files").get() as { n: number }).n, 3, "still recorded: the objects are gone");
  });

  test("given no such dataset, when GC records for it, then an anomaly", () => {
    const p = given();
    const seq = when(p, { kind: "FilesCollected", body: { dataset: "nope", keys: ["datasets/nope/x"], bytes: 1, orphans: 1, actor: "gc", at: T0 } });
    assert.deepEqual(anomalies(p), [{ commit_seq: seq, problem: "no dataset nope" }]);
  });
});

describe("Projection: replay", () => {
  const LOG = [...STORY, expire([1, 3]), collected([fileKey("a"), manifestKey(1), manifestKey(3)]), commit(6, ["g"], ["d"]), passed(6), expire([4])];
  test("the same log in any batch split gives the same dump, with the retention tables filled", () => {
    const whole = given(LOG).canonicalDump();
    for (const split of [1, 3, 7, 12]) {
      const p = open();
      const entries = LOG.map((record, i) => ({ seq: i + 1, record }));
      for (let i = 0; i < entries.length; i += split) p.applyBatch(entries.slice(i, i + split));
      assert.equal(p.canonicalDump(), whole, `batches of ${split}`);
    }
    const dump = JSON.parse(whole) as Record<string, unknown[][]>;
    assert.deepEqual(dump.expired_versions, [
      ["orders", 1, 12],
      ["orders", 3, 12],
      ["orders", 4, 16],
    ]);
    assert.equal(dump.collected_files!.length, 3);
    assert.deepEqual(dump.anomalies, []);
  });
});
