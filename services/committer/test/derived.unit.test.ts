// A derived dataset's versions: provisional and final window results merge newest-first by (revision,
// through_seq), position markers write no row and move the version's upstream position, and the
// version records that position (never lower than its parent's) in its lineage.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { derivedContract, type VersionCommitted, windowPositionCodec } from "@lake/contracts";

import { mergePartition } from "../src/domain/merge.ts";
import { derivedSpec, POSITION_MARKER } from "../src/domain/spec.ts";
import { type BufferedEvent, buildManifest, commitRecord, evolve, initialState, planBatch } from "../src/domain/version.ts";

const contract = derivedContract("daily_user_totals");
const spec = derivedSpec(
  contract,
  { stream: "WINDOWS", subject: "lake.windows.daily_user_totals" },
  { stream: "EVENTS", subject: "lake.events.domain_events" },
);
const JUNE_1 = Date.UTC(2026, 5, 1);

function result(user: string, revision: number, throughSeq: number | null, total: number, watermark = JUNE_1): Record<string, unknown> {
  return {
    user_id: user,
    window_start: JUNE_1,
    window_end: JUNE_1 + 86_400_000,
    day: "2026-06-01",
    total_amount: total,
    event_count: 1,
    min_amount: total,
    max_amount: total,
    revision,
    watermark,
    provisional: throughSeq === null ? null : revision === 0,
    through_seq: throughSeq,
  };
}

/** A marker as the committer decodes it off the stream. */
function marker(throughSeq: number, watermark: number | null = JUNE_1): Record<string, unknown> {
  const codec = windowPositionCodec();
  return spec.decode(codec.encode({ dataset: contract.name, through_seq: throughSeq, watermark }), codec.fingerprint);
}

const at = (seq: number, value: Record<string, unknown>): BufferedEvent => ({ seq, value });

describe("derived merge order", () => {
  const merge = (existing: Record<string, unknown>[], incoming: Record<string, unknown>[]) =>
    mergePartition(spec, [{ rows: existing, offsets: existing.map((_, i) => i + 1) }], { rows: incoming, offsets: incoming.map((_, i) => 100 + i) }).rows.map(
      (r) => [r.revision, r.through_seq, r.total_amount],
    );

  test("a newer provisional result replaces an older one; an older one (a replay's, arriving later) never rewinds it", () => {
    assert.deepEqual(merge([result("a", 0, 10, 5)], [result("a", 0, 20, 8)]), [[0, 20, 8]]);
    assert.deepEqual(merge([result("a", 0, 20, 8)], [result("a", 0, 10, 5)]), [[0, 20, 8]]);
  });

  test("a final result beats every provisional one, whatever their positions; a later revision beats the final", () => {
    assert.deepEqual(merge([result("a", 1, 30, 9)], [result("a", 0, 99, 1)]), [[1, 30, 9]]);
    assert.deepEqual(merge([result("a", 1, 30, 9)], [result("a", 2, 35, 11)]), [[2, 35, 11]]);
  });

  test("a row written before contract version 2 (through_seq null) loses to a new result of its revision", () => {
    assert.deepEqual(merge([result("a", 1, null, 9)], [result("a", 1, 30, 9)]), [[1, 30, 9]]);
  });

  test("within one batch, the newest of a key is planned whatever the arrival order", () => {
    const plan = planBatch(initialState, [at(1, result("a", 0, 20, 8)), at(2, result("a", 0, 10, 5)), at(3, marker(20))], spec)!;
    assert.deepEqual(
      plan.partitions.flatMap((p) => p.rows.map((r) => r.through_seq)),
      [20],
    );
  });
});

describe("position markers and lineage", () => {
  test("a marker for another dataset or with a negative position is refused when decoded", () => {
    const codec = windowPositionCodec();
    assert.throws(() => spec.decode(codec.encode({ dataset: "other", through_seq: 1, watermark: null }), codec.fingerprint), /position marker for "other"/);
    assert.throws(() => spec.decode(codec.encode({ dataset: contract.name, through_seq: -5, watermark: null }), codec.fingerprint), /not a stream sequence/);
    assert.equal(marker(7)[POSITION_MARKER], true);
  });

  test("what a message claims of the upstream stream: a marker's position, a row's position or revision, whichever is higher", () => {
    const claim = spec.upstream!.claim;
    assert.equal(claim(marker(42)), 42);
    assert.equal(claim(result("a", 0, 17, 5)), 17);
    assert.equal(claim(result("a", 3, 2, 5)), 3, "each revision after the first needs one more upstream event");
    assert.equal(claim(result("a", 1, null, 5)), 1, "a row from before positions claims its revision");
    assert.equal(claim(result("a", 2 ** 31 - 1, 10, 5)), 2 ** 31 - 1);
  });

  test("markers write no row; the plan's upstream position is the highest marker, its watermark the newest", () => {
    const plan = planBatch(
      initialState,
      [at(1, result("a", 0, 4, 5, JUNE_1 + 10)), at(2, marker(4, JUNE_1 + 10)), at(3, result("b", 1, 6, 2, JUNE_1 + 50)), at(4, marker(9, JUNE_1 + 60))],
      spec,
    )!;
    assert.equal(plan.rowCount, 2);
    assert.equal(plan.lastSeq, 4, "the source range covers the markers: they are not read again");
    assert.equal(plan.upstreamThroughSeq, 9);
    assert.equal(plan.watermark, JUNE_1 + 60);
  });

  test("the version's lineage names the source domain's stream and never goes below its parent's position", () => {
    const first = planBatch(initialState, [at(1, result("a", 0, 40, 5)), at(2, marker(40))], spec)!;
    const m1 = buildManifest(initialState, first, [], { writeId: "w1", committerId: "c", now: JUNE_1, spec });
    assert.deepEqual(m1.lineage, {
      base_version: null,
      reverted_version: null,
      upstream: [{ dataset: "domain_events", stream: "EVENTS", subject: "lake.events.domain_events", through_seq: 40 }],
      watermark: JUNE_1,
    });
    const r1: VersionCommitted = commitRecord(m1, { key: "m1", sha256: "x", bytes: 1 }, null);
    assert.deepEqual(r1.lineage, m1.lineage);
    const s1 = evolve(initialState, 5, { kind: "VersionCommitted", body: r1 });
    assert.equal(s1.upstreamThroughSeq, 40);
    // A replay's older marker alongside a new row: the position stays the parent's.
    const second = planBatch(s1, [at(3, result("b", 0, 12, 1)), at(4, marker(12))], spec)!;
    const m2 = buildManifest(s1, second, [], { writeId: "w2", committerId: "c", now: JUNE_1, spec });
    assert.equal(m2.lineage!.upstream[0]!.through_seq, 40);
    // Only markers at or below the head's position: nothing to commit.
    assert.equal(planBatch(s1, [at(3, marker(30))], spec), undefined);
    // A marker past it alone (a batch of late events only) makes a version that moves coverage.
    assert.equal(planBatch(s1, [at(3, marker(41))], spec)!.upstreamThroughSeq, 41);
  });

  test("the Iceberg schema keeps version 1's field ids and adds the new columns after them", () => {
    const [v1, v2] = spec.iceberg.table.schemas;
    assert.deepEqual([v1!["schema-id"], v2!["schema-id"]], [1, 2]);
    for (const f of v1!.fields) assert.equal(v2!.fields.find((g) => g.name === f.name)?.id, f.id, `${f.name} keeps its id`);
    const added = v2!.fields.filter((f) => !v1!.fields.some((g) => g.name === f.name));
    assert.deepEqual(
      added.map((f) => [f.name, f.required]),
      [
        ["provisional", false],
        ["through_seq", false],
      ],
    );
  });
});
