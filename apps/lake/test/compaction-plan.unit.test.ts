// Compaction's pure part: which files and partitions a run rewrites, what it does after losing the
// commit race, and the version it commits (given the head, when compacting, then this manifest).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { commitRecord, domainSpec, evolve, initialState } from "@lake/committer";
import { domainContract, type LakeLog, type VersionCommitted } from "@lake/contracts";

import {
  applyVersionFiles,
  buildCompactionManifest,
  type CompactedGroup,
  COMPACTION_DEFAULTS,
  type CompactionGroup,
  decideRebase,
  isRowCountMismatch,
  planCompaction,
} from "../src/ops/compaction-plan.ts";

const contract = domainContract("domain_events");
const spec = domainSpec(contract, { stream: "EVENTS", subject: "lake.events.domain_events" });
const MiB = 1024 * 1024;
const JUNE_1 = Date.UTC(2026, 5, 1);

function file(partition: string, n: number, bytes: number, rows = 10): LakeLog.DataFile {
  return { key: `datasets/domain_events/data/${partition}/w${String(n).padStart(4, "0")}-000.parquet`, partition, rows, bytes, sha256: "0".repeat(64) };
}

function liveOf(files: LakeLog.DataFile[]): Map<string, LakeLog.DataFile[]> {
  const live = new Map<string, LakeLog.DataFile[]>();
  applyVersionFiles(live, { added_files: files, removed_files: [] });
  return live;
}

function head(over: Partial<VersionCommitted> = {}): VersionCommitted {
  return {
    dataset: "domain_events",
    version: 7,
    parent_version: 6,
    policy: "non-critical",
    write_id: "w7",
    committer_id: "c1",
    committed_at: JUNE_1,
    schema_name: contract.name,
    schema_version: contract.version,
    schema_fingerprint: contract.fingerprint,
    manifest: { key: "m7", sha256: "0".repeat(64), bytes: 1 },
    added_files: [],
    removed_files: [],
    source: { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 301, last_seq: 350 },
    row_count: 50,
    total_rows: 350,
    min_event_time: JUNE_1,
    max_event_time: JUNE_1 + 5000,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: "append",
    ...over,
  };
}

describe("planCompaction: which files", () => {
  test("only partitions with two or more files below the target; big files are left alone", () => {
    const plan = planCompaction(
      liveOf([
        file("dt=2026-06-01", 1, 1 * MiB),
        file("dt=2026-06-01", 2, 2 * MiB),
        file("dt=2026-06-01", 3, 200 * MiB), // at/over the target: untouched
        file("dt=2026-06-02", 4, 1 * MiB), // alone in its partition: nothing to merge with
        file("dt=2026-06-03", 5, 3 * MiB),
        file("dt=2026-06-03", 6, 3 * MiB),
        file("dt=2026-06-03", 7, 3 * MiB),
      ]),
      { targetBytes: COMPACTION_DEFAULTS.targetBytes, maxFiles: 100 },
    );
    assert.deepEqual(
      plan.groups.map((g) => [g.partition, g.files.map((f) => f.key.slice(-17, -12))]),
      [
        ["dt=2026-06-01", ["w0001", "w0002"]],
        ["dt=2026-06-03", ["w0005", "w0006", "w0007"]],
      ],
    );
    assert.equal(plan.files, 5);
    assert.equal(plan.bytes, 12 * MiB);
    assert.equal(plan.rows, 50);
    assert.equal(plan.liveFiles, 7);
    assert.equal(plan.partitions, 3);
    assert.equal(plan.deferredFiles, 0);
  });

  test("a partition's small files are packed into groups of at most the target, in key order; a lone leftover stays", () => {
    const files = [6, 5, 4, 3, 2, 1].map((n) => file("dt=2026-06-01", n, 4 * MiB)); // given out of order
    const plan = planCompaction(liveOf(files), { targetBytes: 10 * MiB, maxFiles: 100 });
    // 4+4 fits, +4 would be 12 > 10: groups of two, in key order.
    assert.deepEqual(
      plan.groups.map((g) => g.files.map((f) => f.key.slice(-17, -12))),
      [
        ["w0001", "w0002"],
        ["w0003", "w0004"],
        ["w0005", "w0006"],
      ],
    );
    const odd = planCompaction(liveOf(files.slice(1)), { targetBytes: 10 * MiB, maxFiles: 100 });
    assert.deepEqual(
      odd.groups.map((g) => g.files.length),
      [2, 2],
      "the fifth file alone would only be copied",
    );
    const tight = planCompaction(liveOf(files), { targetBytes: 5 * MiB, maxFiles: 100 });
    assert.deepEqual(tight.groups, [], "no two small files fit in one target-sized file");
  });

  test("a group also closes at maxRows, so tiny rows can't make a huge in-memory rewrite", () => {
    const files = [1, 2, 3, 4, 5].map((n) => file("dt=2026-06-01", n, MiB, 400));
    const plan = planCompaction(liveOf(files), { targetBytes: 64 * MiB, maxFiles: 100, maxRows: 1000 });
    assert.deepEqual(
      plan.groups.map((g) => [g.files.length, g.rows]),
      [
        [2, 800],
        [2, 800],
      ],
      "the fifth would be alone",
    );
    assert.equal(planCompaction(liveOf(files), { targetBytes: 64 * MiB, maxFiles: 100 }).groups[0]!.rows, 2000, "default: a million rows");
  });

  test("--max-files bounds a run; what is left is deferred, never a group of one", () => {
    const files = [...[1, 2, 3, 4].map((n) => file("dt=2026-06-01", n, MiB)), ...[5, 6, 7].map((n) => file("dt=2026-06-02", n, MiB))];
    const five = planCompaction(liveOf(files), { targetBytes: 64 * MiB, maxFiles: 5 });
    assert.deepEqual(
      five.groups.map((g) => [g.partition, g.files.length]),
      [["dt=2026-06-01", 4]],
      "one file of the budget left: not enough for a merge",
    );
    assert.equal(five.deferredFiles, 3);
    const six = planCompaction(liveOf(files), { targetBytes: 64 * MiB, maxFiles: 6 });
    assert.deepEqual(
      six.groups.map((g) => [g.partition, g.files.length]),
      [
        ["dt=2026-06-01", 4],
        ["dt=2026-06-02", 2],
      ],
    );
    assert.equal(six.deferredFiles, 1);
    assert.equal(six.files, 6);
    assert.throws(() => planCompaction(liveOf(files), { targetBytes: 64 * MiB, maxFiles: 1 }), RangeError);
    assert.throws(() => planCompaction(liveOf(files), { targetBytes: 0, maxFiles: 10 }), RangeError);
  });

  test("the live set is folded from the log: removed files are not compacted again", () => {
    const a = file("dt=2026-06-01", 1, MiB);
    const b = file("dt=2026-06-01", 2, MiB);
    const c = file("dt=2026-06-01", 3, MiB);
    const live = liveOf([a, b]);
    applyVersionFiles(live, { added_files: [c], removed_files: [a.key, b.key] }); // a compaction of a+b into c
    assert.deepEqual(planCompaction(live, { targetBytes: 64 * MiB, maxFiles: 10 }).groups, []);
    applyVersionFiles(live, { added_files: [file("dt=2026-06-01", 4, MiB)], removed_files: [] });
    assert.deepEqual(
      planCompaction(live, { targetBytes: 64 * MiB, maxFiles: 10 }).groups[0]!.files.map((f) => f.key),
      [c.key, file("dt=2026-06-01", 4, MiB).key],
    );
    applyVersionFiles(live, { added_files: [], removed_files: [c.key, file("dt=2026-06-01", 4, MiB).key] });
    assert.equal(live.size, 0, "an emptied partition disappears");
  });
});

describe("decideRebase: after losing the commit race", () => {
  const g1: CompactionGroup = { partition: "dt=2026-06-01", files: [file("dt=2026-06-01", 1, MiB), file("dt=2026-06-01", 2, MiB)], bytes: 2 * MiB, rows: 20 };
  const g2: CompactionGroup = { partition: "dt=2026-06-01", files: [file("dt=2026-06-01", 3, MiB), file("dt=2026-06-01", 4, MiB)], bytes: 2 * MiB, rows: 20 };
  const g3: CompactionGroup = { partition: "dt=2026-06-02", files: [file("dt=2026-06-02", 5, MiB), file("dt=2026-06-02", 6, MiB)], bytes: 2 * MiB, rows: 20 };

  test("appends (and records that are not data versions) only add files: rebase with everything", () => {
    assert.deepEqual(decideRebase([g1, g2, g3], []), { kind: "rebase", keep: [g1, g2, g3], dropped: [] });
    const appended = [
      { version: 8, removed_files: [] },
      { version: 9, removed_files: [] },
    ];
    assert.deepEqual(decideRebase([g1, g2, g3], appended), { kind: "rebase", keep: [g1, g2, g3], dropped: [] });
  });

  test("a version that removed some of our files gives up that whole partition, the others still land", () => {
    const upsert = [
      { version: 8, removed_files: [] },
      { version: 9, removed_files: [g2.files[0]!.key, "datasets/domain_events/data/dt=2026-06-01/other.parquet"] },
    ];
    const d = decideRebase([g1, g2, g3], upsert);
    assert.equal(d.kind, "rebase");
    assert.deepEqual(d.kind === "rebase" && d.keep, [g3], "g1 is in the rewritten partition too: its rows may have changed");
    assert.deepEqual(d.dropped, [{ partition: "dt=2026-06-01", removedBy: 9, files: [g2.files[0]!.key] }]);
  });

  test("every partition rewritten under us: abandon", () => {
    const other = [{ version: 8, removed_files: [...g1.files, ...g3.files].map((f) => f.key) }];
    const d = decideRebase([g1, g3], other);
    assert.equal(d.kind, "abandon");
    assert.deepEqual(
      d.dropped.map((x) => [x.partition, x.removedBy, x.files.length]),
      [
        ["dt=2026-06-01", 8, 2],
        ["dt=2026-06-02", 8, 2],
      ],
    );
  });
});

describe("buildCompactionManifest: given the head, then this version", () => {
  const replaced = [file("dt=2026-06-01", 1, MiB, 30), file("dt=2026-06-01", 2, MiB, 20)];
  const out: CompactedGroup = {
    partition: "dt=2026-06-01",
    file: { key: "datasets/domain_events/data/dt=2026-06-01/wc-000.parquet", partition: "dt=2026-06-01", rows: 50, bytes: MiB, sha256: "1".repeat(64) },
    replaces: replaced,
    minEventTime: JUNE_1 - 1000,
    maxEventTime: JUNE_1 + 1000,
  };
  const ctx = { writeId: "wc", committerId: "compact-test", now: JUNE_1 + 9000, spec };

  test("same rows, fewer files, an empty source range just after the parent's, operation compaction", () => {
    const m = buildCompactionManifest(head(), [out], ctx);
    assert.equal(m.version, 8);
    assert.equal(m.parent_version, 7);
    assert.equal(m.operation, "compaction");
    assert.deepEqual(m.added_files, [out.file]);
    assert.deepEqual(
      m.removed_files,
      replaced.map((f) => f.key),
    );
    assert.deepEqual(m.source, { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 351, last_seq: 350 });
    assert.equal(m.row_count, 0, "no new source rows");
    assert.equal(m.total_rows, 350, "total rows unchanged");
    assert.equal(m.min_event_time, JUNE_1 - 1000);
    assert.equal(m.max_event_time, JUNE_1 + 5000, "the newest event time known in the version: the parent's");
    assert.equal(m.max_source_position, null);
    assert.equal(m.committer_id, "compact-test");
    assert.equal(commitRecord(m, { key: "k", sha256: "s", bytes: 1 }, null).operation, "compaction");
  });

  test("a committer resuming from a compaction resumes where the parent left off, CDC position included", () => {
    const parent = head({ max_source_position: 9041 });
    const m = buildCompactionManifest(parent, [out], ctx);
    assert.equal(m.max_source_position, 9041);
    const fromParent = evolve(initialState, 40, { kind: "VersionCommitted", body: parent });
    const fromCompaction = evolve(fromParent, 41, { kind: "VersionCommitted", body: commitRecord(m, { key: "k", sha256: "s", bytes: 1 }, null) });
    assert.deepEqual(
      { ...fromCompaction, headSeq: 0, versionSeq: 0, version: 0 },
      { ...fromParent, headSeq: 0, versionSeq: 0, version: 0 },
      "same resume offset, total rows and source position",
    );
    assert.equal(fromCompaction.version, 8);
  });

  test("covering stays right: the first version with last_offset ≥ X is never the compaction", () => {
    // The catalog's covering query, over versions 7 (…350) and the compaction 8 (351…350, empty).
    const m = buildCompactionManifest(head(), [out], ctx);
    const versions = [head(), commitRecord(m, { key: "k", sha256: "s", bytes: 1 }, null)];
    const covering = (x: number) => versions.find((v) => v.source.last_seq >= x)?.version;
    assert.equal(covering(350), 7);
    assert.equal(covering(351), undefined, "an offset not yet committed is not covered by the compaction");
  });

  test("rebase: the same files renumbered onto a newer head, its range and totals", () => {
    const newer = head({
      version: 9,
      parent_version: 8,
      source: { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 351, last_seq: 400 },
      total_rows: 400,
      max_event_time: JUNE_1 + 99_000,
    });
    const m = buildCompactionManifest(newer, [out], ctx);
    assert.equal(m.version, 10);
    assert.equal(m.parent_version, 9);
    assert.deepEqual([m.source.first_seq, m.source.last_seq], [401, 400]);
    assert.equal(m.total_rows, 400);
    assert.equal(m.max_event_time, JUNE_1 + 99_000);
  });

  test("the rewritten file must hold exactly the replaced rows", () => {
    assert.throws(
      () => buildCompactionManifest(head(), [{ ...out, file: { ...out.file, rows: 49 } }], ctx),
      (e) => isRowCountMismatch(e) && /49 rows/.test(e.message),
    );
    assert.throws(() => buildCompactionManifest(head(), [], ctx), /at least one/);
  });
});
