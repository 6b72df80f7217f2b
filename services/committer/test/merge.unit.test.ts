// Upsert datasets: given a partition's live rows, when a batch arrives, then one row per key, newest wins.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { mergePartition } from "../src/domain/merge.ts";
import { MODES } from "../src/domain/spec.ts";
import { initialState, planBatch } from "../src/domain/version.ts";

const spec = { key: ["window_start", "user_id"], versionField: "revision" } as const;
const row = (user: string, revision: number, total: number) => ({ window_start: 0, user_id: user, revision, total });

describe("mergePartition", () => {
  test("given live rows, when a batch brings a newer revision of one key and a new key, then both land and the rest stay", () => {
    const existing = [{ rows: [row("a", 1, 10), row("b", 1, 20)], offsets: [1, 2] }];
    const out = mergePartition(spec, existing, { rows: [row("a", 2, 15), row("c", 1, 5)], offsets: [7, 8] });
    assert.deepEqual(out.rows, [row("a", 2, 15), row("b", 1, 20), row("c", 1, 5)]);
    assert.deepEqual(out.offsets, [7, 2, 8]);
  });

  test("an older revision arriving late (a replayed emission) never overwrites a newer one", () => {
    const out = mergePartition(spec, [{ rows: [row("a", 3, 30)], offsets: [9] }], { rows: [row("a", 2, 20)], offsets: [12] });
    assert.deepEqual(out.rows, [row("a", 3, 30)]);
    assert.deepEqual(out.offsets, [9]);
  });

  test("without a version field, the later offset wins", () => {
    const noVersion = { key: ["id"] };
    const out = mergePartition(noVersion, [{ rows: [{ id: 1, v: "old" }], offsets: [5] }], { rows: [{ id: 1, v: "new" }], offsets: [6] });
    assert.deepEqual(out.rows, [{ id: 1, v: "new" }]);
  });

  test("a delete removes its key; a delete older than the live row does not", () => {
    const cdc = { key: ["id"], versionField: "lsn", isDelete: (r: Record<string, unknown>) => r.op === "d" };
    const live = [
      {
        rows: [
          { id: 1, lsn: 10, op: "c" },
          { id: 2, lsn: 11, op: "c" },
        ],
        offsets: [1, 2],
      },
    ];
    const out = mergePartition(cdc, live, {
      rows: [
        { id: 1, lsn: 12, op: "d" },
        { id: 2, lsn: 9, op: "d" },
      ],
      offsets: [3, 4],
    });
    assert.deepEqual(out.rows, [{ id: 2, lsn: 11, op: "c" }]);
  });

  const cdc = { key: ["id"], versionField: "lsn", isDelete: (r: Record<string, unknown>) => r.op === "d" };

  test("a delete leaves a tombstone, and an older change of that key arriving later (a re-delivery) never brings the row back", () => {
    const afterDelete = mergePartition(cdc, [{ rows: [{ id: "a", lsn: 10, op: "c" }], offsets: [1] }], { rows: [{ id: "a", lsn: 20, op: "d" }], offsets: [2] });
    assert.deepEqual(afterDelete.rows, []);
    assert.deepEqual([...afterDelete.tombstones], [["a", 20]]);
    const redelivered = mergePartition(cdc, [afterDelete], { rows: [{ id: "a", lsn: 10, op: "c" }], offsets: [3] });
    assert.deepEqual(redelivered.rows, [], "the re-delivered create lost to the delete");
    assert.deepEqual([...redelivered.tombstones], [["a", 20]]);
    assert.equal(redelivered.superseded, 1);
    const recreated = mergePartition(cdc, [redelivered], { rows: [{ id: "a", lsn: 30, op: "c" }], offsets: [4] });
    assert.deepEqual(recreated.rows, [{ id: "a", lsn: 30, op: "c" }], "a newer create after the delete lands");
    assert.equal(recreated.tombstones.size, 0);
  });

  test("order is per key: one change with an extreme position hides only older changes of its own key", () => {
    const live = mergePartition(cdc, [], {
      rows: [
        { id: "hot", lsn: Number.MAX_SAFE_INTEGER, op: "u" },
        { id: "b", lsn: 5, op: "c" },
      ],
      offsets: [1, 2],
    });
    const next = mergePartition(cdc, [live], {
      rows: [
        { id: "b", lsn: 6, op: "u" },
        { id: "c", lsn: 7, op: "c" },
        { id: "hot", lsn: 8, op: "u" },
      ],
      offsets: [3, 4, 5],
    });
    assert.deepEqual(next.rows, [
      { id: "b", lsn: 6, op: "u" },
      { id: "c", lsn: 7, op: "c" },
      { id: "hot", lsn: Number.MAX_SAFE_INTEGER, op: "u" },
    ]);
    assert.equal(next.superseded, 1);
  });

  test("the same inputs always give the same output order", () => {
    const a = mergePartition(spec, [], { rows: [row("z", 1, 1), row("m", 1, 1), row("a", 1, 1)], offsets: [1, 2, 3] });
    const b = mergePartition(spec, [], { rows: [row("a", 1, 1), row("z", 1, 1), row("m", 1, 1)], offsets: [3, 1, 2] });
    assert.deepEqual(a, b);
  });
});

describe("planBatch in upsert mode", () => {
  const upsert = {
    mode: MODES.upsert,
    key: ["window_start", "user_id"],
    versionField: "revision",
    eventTimeField: "window_start",
    partition: () => "dt=1970-01-01",
  };
  test("when a key repeats within a batch, then the newest revision replaces the earlier one in place", () => {
    const plan = planBatch(
      initialState,
      [
        { seq: 1, value: row("a", 1, 10) },
        { seq: 2, value: row("b", 1, 20) },
        { seq: 3, value: row("a", 2, 12) },
      ],
      upsert,
    )!;
    assert.deepEqual(plan.partitions[0]!.rows, [row("a", 2, 12), row("b", 1, 20)]);
    assert.deepEqual(plan.partitions[0]!.seqs, [3, 2]);
    assert.equal(plan.duplicateKeys, 1);
    assert.equal(plan.rowCount, 2);
  });
});
