// Decider-style tests: given the head of the commit log (built through evolve), when a batch arrives,
// then this plan / manifest / commit record.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { domainContract, type LakeLog, type LogRecord, type VersionCommitted } from "@lake/contracts";

import { dayPartition, domainSpec } from "../src/domain/spec.ts";
import {
  type BufferedEvent,
  buildManifest,
  commitRecord,
  type CommitterState,
  evolve,
  initialState,
  keys,
  planBatch,
  type PlannedBatch,
} from "../src/domain/version.ts";

const contract = domainContract("domain_events");
const spec = domainSpec(contract, { stream: "EVENTS", subject: "lake.events.domain_events" });
const DAY = 86_400_000;
const JUNE_1 = Date.UTC(2026, 5, 1);

function ev(seq: number, id: string, timestamp: number): BufferedEvent {
  return { seq, value: { event_id: id, user_id: "u", event_type: "view", timestamp, amount: seq } };
}

function committed(version: number, lastSeq: number, totalRows: number): VersionCommitted {
  return {
    dataset: "domain_events",
    version,
    parent_version: version - 1,
    policy: "non-critical",
    write_id: `w${version}`,
    committer_id: "c1",
    committed_at: JUNE_1,
    schema_name: contract.name,
    schema_version: contract.version,
    schema_fingerprint: contract.fingerprint,
    manifest: { key: `m${version}`, sha256: "0".repeat(64), bytes: 1 },
    added_files: [],
    removed_files: [],
    source: { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 1, last_seq: lastSeq },
    row_count: 0,
    total_rows: totalRows,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
  };
}

const vc = (body: VersionCommitted): LogRecord => ({ kind: "VersionCommitted", body });

/** Given: the commit log holds these records (at these stream sequences). */
function given(...log: [seq: number, record: VersionCommitted][]): CommitterState {
  return log.reduce((s, [seq, r]) => evolve(s, seq, vc(r)), initialState);
}

describe("evolve", () => {
  test("given an empty log, the state is the initial one", () => {
    assert.deepEqual(given(), { headSeq: 0, versionSeq: 0, version: 0, lastSourceSeq: 0, totalRows: 0 });
  });

  test("given committed versions, the state is the head of the log", () => {
    assert.deepEqual(given([3, committed(1, 10, 10)], [8, committed(2, 25, 22)]), { headSeq: 8, versionSeq: 8, version: 2, lastSourceSeq: 25, totalRows: 22 });
  });

  test("given a data version followed by a record of another kind, only the head moves", () => {
    const s = evolve(given([3, committed(1, 10, 10)]), 4, {
      kind: "VersionTagged",
      body: { dataset: "domain_events", version: 1, tag: "t", actor: "a", reason: "r", at: JUNE_1 },
    });
    assert.deepEqual(s, { headSeq: 4, versionSeq: 3, version: 1, lastSourceSeq: 10, totalRows: 10 });
  });

  test("does not mutate the state it is given", () => {
    const s = given([1, committed(1, 5, 5)]);
    const copy = { ...s };
    evolve(s, 2, vc(committed(2, 9, 9)));
    assert.deepEqual(s, copy);
    assert.deepEqual(initialState, { headSeq: 0, versionSeq: 0, version: 0, lastSourceSeq: 0, totalRows: 0 });
  });
});

describe("planBatch", () => {
  test("given an empty log, when events of one day arrive, then one partition with all rows in order", () => {
    const events = [ev(1, "a", JUNE_1 + 3000), ev(2, "b", JUNE_1 + 1000), ev(3, "c", JUNE_1 + 2000)];
    const plan = planBatch(given(), events, spec);
    assert.deepEqual(plan, {
      firstSeq: 1,
      lastSeq: 3,
      partitions: [{ partition: "dt=2026-06-01", rows: events.map((e) => e.value), seqs: [1, 2, 3] }],
      rowCount: 3,
      duplicateKeys: 0,
      minEventTime: JUNE_1 + 1000,
      maxEventTime: JUNE_1 + 3000,
    } satisfies PlannedBatch);
  });

  test("when events span UTC days, then partitions are by UTC day and sorted", () => {
    const events = [
      ev(10, "a", JUNE_1 + DAY + 5), // 2026-06-02
      ev(11, "b", JUNE_1 - 1), // 2026-05-31T23:59:59.999Z
      ev(12, "c", JUNE_1), // 2026-06-01T00:00:00.000Z
      ev(13, "d", Date.UTC(2025, 11, 31, 23, 0)), // 2025-12-31
      ev(14, "e", JUNE_1 + DAY - 1), // 2026-06-01T23:59:59.999Z
    ];
    const plan = planBatch(given(), events, spec)!;
    assert.deepEqual(
      plan.partitions.map((p) => [p.partition, p.seqs]),
      [
        ["dt=2025-12-31", [13]],
        ["dt=2026-05-31", [11]],
        ["dt=2026-06-01", [12, 14]],
        ["dt=2026-06-02", [10]],
      ],
    );
    assert.equal(plan.rowCount, 5);
    assert.equal(plan.minEventTime, Date.UTC(2025, 11, 31, 23, 0));
    assert.equal(plan.maxEventTime, JUNE_1 + DAY + 5);
    assert.equal(plan.firstSeq, 10);
    assert.equal(plan.lastSeq, 14);
  });

  test("given a version covering seq 5, when a replay delivers seqs 3..8, then seqs at or below 5 are skipped", () => {
    const state = given([1, committed(1, 5, 5)]);
    const events = [3, 4, 5, 6, 7, 8].map((s) => ev(s, `k${s}`, JUNE_1 + s));
    const plan = planBatch(state, events, spec)!;
    assert.equal(plan.firstSeq, 6);
    assert.equal(plan.lastSeq, 8);
    assert.equal(plan.rowCount, 3);
    assert.deepEqual(plan.partitions[0]!.seqs, [6, 7, 8]);
    assert.equal(plan.minEventTime, JUNE_1 + 6);
  });

  test("given a version covering seq 8, when only seqs up to 8 arrive, then there is nothing to commit", () => {
    const state = given([1, committed(1, 8, 8)]);
    assert.equal(planBatch(state, [ev(7, "a", JUNE_1), ev(8, "b", JUNE_1)], spec), undefined);
  });

  test("given any state, when the batch is empty, then there is nothing to commit", () => {
    assert.equal(planBatch(given(), [], spec), undefined);
  });

  test("when a key repeats within the batch, then the first one is kept and the rest are counted as duplicateKeys", () => {
    const events = [ev(1, "a", JUNE_1), ev(2, "b", JUNE_1 + 1), ev(3, "a", JUNE_1 + DAY), ev(4, "a", JUNE_1 - DAY), ev(5, "c", JUNE_1 + 2)];
    const plan = planBatch(given(), events, spec)!;
    assert.equal(plan.duplicateKeys, 2);
    assert.equal(plan.rowCount, 3);
    assert.deepEqual(
      plan.partitions.map((p) => [p.partition, p.seqs]),
      [["dt=2026-06-01", [1, 2, 5]]],
    );
    assert.deepEqual(plan.partitions[0]!.rows, [events[0]!.value, events[1]!.value, events[4]!.value]);
    // The dropped duplicates still count as consumed input, and do not widen the event-time range.
    assert.equal(plan.firstSeq, 1);
    assert.equal(plan.lastSeq, 5);
    assert.equal(plan.minEventTime, JUNE_1);
    assert.equal(plan.maxEventTime, JUNE_1 + 2);
  });

  test("when the batch ends with a duplicate, then lastSeq still covers it so it is not replayed", () => {
    const plan = planBatch(given(), [ev(1, "a", JUNE_1), ev(2, "a", JUNE_1)], spec)!;
    assert.equal(plan.lastSeq, 2);
    assert.equal(plan.rowCount, 1);
    assert.equal(plan.duplicateKeys, 1);
  });

  test("does not mutate the events it is given", () => {
    const events = [ev(2, "b", JUNE_1 + DAY), ev(1, "a", JUNE_1)];
    const snapshot = structuredClone(events);
    planBatch(given(), events, spec);
    assert.deepEqual(events, snapshot);
  });
});

describe("dayPartition", () => {
  test("is the UTC day of an epoch-millis time", () => {
    assert.equal(dayPartition(JUNE_1), "dt=2026-06-01");
    assert.equal(dayPartition(JUNE_1 - 1), "dt=2026-05-31");
    assert.equal(dayPartition(Date.UTC(2000, 0, 1)), "dt=2000-01-01");
  });
});

describe("keys", () => {
  test("data files live under the dataset's partition, named by write id and a 3-digit index", () => {
    assert.equal(keys.dataFile("domain_events", "dt=2026-06-01", "w-abc", 7), "datasets/domain_events/data/dt=2026-06-01/w-abc-007.parquet");
    assert.equal(keys.dataFile("d", "dt=2026-06-01", "w", 1234), "datasets/d/data/dt=2026-06-01/w-1234.parquet");
  });

  test("manifests are named by a 12-digit version, so they sort by version", () => {
    assert.equal(keys.manifest("domain_events", 42, "w-abc"), "datasets/domain_events/manifests/v000000000042-w-abc.json");
    assert.ok(keys.manifest("d", 9, "z") < keys.manifest("d", 10, "a"));
  });
});

describe("buildManifest / commitRecord", () => {
  const files: LakeLog.DataFile[] = [
    { key: "datasets/domain_events/data/dt=2026-06-01/w3-000.parquet", partition: "dt=2026-06-01", rows: 2, bytes: 700, sha256: "1".repeat(64) },
    { key: "datasets/domain_events/data/dt=2026-06-02/w3-001.parquet", partition: "dt=2026-06-02", rows: 1, bytes: 600, sha256: "2".repeat(64) },
  ];
  const ctx = {
    writeId: "w3",
    committerId: "committer-a",
    now: JUNE_1 + 5 * DAY,
    spec,
  };

  test("given version 2 with 100 rows, when a 3-row batch is planned, then the manifest is version 3 on parent 2 with 103 rows", () => {
    const state = given([1, committed(1, 40, 60)], [2, committed(2, 50, 100)]);
    const batch = planBatch(state, [ev(51, "a", JUNE_1 + 10), ev(52, "b", JUNE_1 + DAY), ev(53, "c", JUNE_1 + 20), ev(54, "a", JUNE_1)], spec)!;
    const m = buildManifest(state, batch, files, ctx);
    assert.deepEqual(m, {
      format: "lake.manifest/1",
      dataset: "domain_events",
      version: 3,
      parent_version: 2,
      write_id: "w3",
      committer_id: "committer-a",
      created_at: JUNE_1 + 5 * DAY,
      schema: { name: "domain_events", version: 1, fingerprint: contract.fingerprint },
      policy: "non-critical",
      added_files: files,
      removed_files: [],
      source: { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 51, last_seq: 54 },
      row_count: 3,
      total_rows: 103,
      min_event_time: JUNE_1 + 10,
      max_event_time: JUNE_1 + DAY,
      max_source_position: null,
      operation: "append",
    });
  });

  test("given an empty log, then the first manifest is version 1 on parent 0 and total_rows is its row count", () => {
    const batch = planBatch(initialState, [ev(1, "a", JUNE_1)], spec)!;
    const m = buildManifest(initialState, batch, [{ ...files[0]!, rows: 1 }], ctx);
    assert.equal(m.version, 1);
    assert.equal(m.parent_version, 0);
    assert.equal(m.row_count, 1);
    assert.equal(m.total_rows, 1);
  });

  test("total_rows accumulates across successive versions fed back through evolve", () => {
    let state = initialState;
    let seq = 0;
    let headSeq = 100;
    const totals: number[] = [];
    for (const n of [3, 5, 2]) {
      const seqs = Array.from({ length: n }, (_, i) => seq + 1 + i);
      seq += n;
      const events = seqs.map((s) => ev(s, `k${s}`, JUNE_1 + s));
      const written = [{ key: `k${n}`, partition: "dt=2026-06-01", rows: n, bytes: 1, sha256: "0".repeat(64) }];
      const m = buildManifest(state, planBatch(state, events, spec)!, written, ctx);
      state = evolve(state, ++headSeq, vc(commitRecord(m, { key: `m${m.version}`, sha256: "f".repeat(64), bytes: 10 }, null)));
      totals.push(m.total_rows);
    }
    assert.deepEqual(totals, [3, 8, 10]);
    assert.deepEqual(state, { headSeq: 103, versionSeq: 103, version: 3, lastSourceSeq: 10, totalRows: 10 });
  });

  test("the commit record mirrors the manifest and points at it", () => {
    const state = given([7, committed(4, 70, 400)]);
    const batch = planBatch(state, [ev(71, "a", JUNE_1), ev(72, "b", JUNE_1 + DAY)], spec)!;
    const m = buildManifest(
      state,
      batch,
      files.map((f) => ({ ...f, rows: 1 })),
      ctx,
    );
    const ref = { key: keys.manifest("domain_events", m.version, "w3"), sha256: "e".repeat(64), bytes: 1234 };
    const ice = {
      manifest_list: "datasets/domain_events/metadata/snap-5.avro",
      metadata: "datasets/domain_events/metadata/v5.metadata.json",
      schema_id: 1,
      total_files: 9,
    };
    const r = commitRecord(m, ref, ice);
    assert.deepEqual(r, {
      dataset: m.dataset,
      version: 5,
      parent_version: 4,
      write_id: m.write_id,
      committer_id: m.committer_id,
      committed_at: m.created_at,
      schema_name: m.schema.name,
      schema_version: m.schema.version,
      schema_fingerprint: m.schema.fingerprint,
      manifest: ref,
      added_files: m.added_files,
      removed_files: m.removed_files,
      source: m.source,
      row_count: 2,
      total_rows: 402,
      min_event_time: JUNE_1,
      max_event_time: JUNE_1 + DAY,
      max_source_position: null,
      iceberg: ice,
      operation: "append",
      policy: "non-critical",
      lineage: null,
    } satisfies VersionCommitted);
    // Evolving with the new record moves the resume point past the batch.
    assert.deepEqual(evolve(state, 8, vc(r)), { headSeq: 8, versionSeq: 8, version: 5, lastSourceSeq: 72, totalRows: 402 });
  });
});
