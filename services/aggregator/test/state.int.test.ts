// The SQLite state: a committed batch reloads as the same state; outputs wait in the outbox until
// acknowledged; a database built for another job is refused; the output digest does not depend on how
// the input was batched.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { derivedContract, lateEventCodec } from "../src/contract.ts";
import { GENESIS_DIGEST, StateMismatchError, StateStore } from "../src/db/state.ts";
import { msgIds, resultRow } from "../src/domain/rows.ts";
import { type AggState, decide, evolve, initialState, type InputEvent } from "../src/domain/windows.ts";
import { digestRows, extendDigest, isPositionRow, outboxRows } from "../src/outbox.ts";

const dir = mkdtempSync(join(tmpdir(), "lake-agg-state-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const contract = derivedContract("daily_user_totals");
const job = contract.job;
const DAY = 86_400_000;
const JUNE_1 = Date.UTC(2026, 5, 1);

function events(n: number): InputEvent[] {
  // Two users, six hours apart, with every 10th event a day late (→ side output) and a few within the lateness.
  return Array.from({ length: n }, (_, i) => {
    const t = JUNE_1 + i * 6 * 3600_000 + (i % 10 === 9 ? -DAY - 3600_000 : i % 7 === 6 ? -6 * 3600_000 - 60_000 : 0);
    return { kind: "event", seq: i + 1, eventId: `e${i}`, time: t, key: [`u${i % 2}`], value: i + 0.25 };
  });
}

/** Runs batches through the store as the service does; returns the digest. */
function runThrough(store: StateStore, all: InputEvent[], size: number): string {
  let s: AggState = store.load();
  let digest = store.load().outputDigest;
  for (let i = 0; i < all.length; i += size) {
    const o = decide(s, all.slice(i, i + size), job);
    const rows = outboxRows(o.outputs, contract, lateEventCodec());
    digest = extendDigest(digest, digestRows(o.outputs, rows));
    store.commit(o, rows, digest);
    s = evolve(s, o);
  }
  return digest;
}

const canonical = (s: AggState) => ({ ...s, windows: [...s.windows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)) });

describe("StateStore", () => {
  test("a committed batch reloads as the state evolve produced, outputs in the outbox in order", () => {
    const store = new StateStore(join(dir, "a.db"), "job-a");
    const all = events(40);
    const o = decide(initialState(), all, job);
    const rows = outboxRows(o.outputs, contract, lateEventCodec());
    store.commit(o, rows, extendDigest(GENESIS_DIGEST, rows));
    const expected = evolve(initialState(), o);
    store.close();

    const reopened = new StateStore(join(dir, "a.db"), "job-a");
    const { outputDigest, ...loaded } = reopened.load();
    assert.deepEqual(canonical(loaded), canonical(expected));
    assert.equal(outputDigest, extendDigest(GENESIS_DIGEST, rows));
    const pending = reopened.pendingOutbox(1000);
    assert.deepEqual(
      pending.map((r) => r.msgId),
      rows.map((r) => r.msgId),
    );
    assert.ok(
      rows.some((r) => r.subject === "lake.late.daily_user_totals"),
      "late events are in the outbox too",
    );
    const first = o.outputs.find((x) => x.kind === "window")!;
    assert.equal(pending[0]!.msgId, msgIds.window("daily_user_totals", first));
    assert.deepEqual({ ...contract.decode(pending[0]!.payload) }, resultRow(first, job));

    reopened.ackOutbox(pending[1]!.id);
    assert.equal(reopened.pendingOutbox(1000).length, pending.length - 2);
    const snap = reopened.snapshot();
    assert.equal(snap.outputSeq, pending[1]!.id, "the output position is the last acknowledged row");
    assert.equal(snap.outboxPending, pending.length - 2);
    assert.equal(snap.inputSeq, 40);
    assert.deepEqual(snap.counters, expected.counters);
    reopened.close();
  });

  test("a database built for another job spec is refused with a way out", () => {
    new StateStore(join(dir, "b.db"), "job-b").close();
    assert.throws(
      () => new StateStore(join(dir, "b.db"), "job-c"),
      (e: unknown) => e instanceof StateMismatchError && /delete the database to rebuild it/.test(e.message),
    );
  });

  test("the same input in different batch sizes ends with the same digest, state and outbox bytes of finals and late events", () => {
    const all = events(200);
    const runs = [1, 13, 200].map((size) => {
      const store = new StateStore(join(dir, `split-${size}.db`), "job");
      const digest = runThrough(store, all, size);
      const { outputDigest, ...state } = store.load();
      const pending = store.pendingOutbox(100_000);
      // Provisional results and positions come at batch ends: which exist depends on the batching.
      assert.ok(pending.some(isPositionRow), "each batch ends with its position");
      const outbox = pending
        .filter((r) => !isPositionRow(r) && !/:p\d+$/.test(r.msgId))
        .map((r) => [r.subject, r.msgId, Buffer.from(r.payload).toString("hex")]);
      store.close();
      assert.equal(outputDigest, digest);
      return { digest, state: canonical(state), outbox };
    });
    assert.notEqual(runs[0]!.digest, GENESIS_DIGEST);
    assert.deepEqual(runs[1], runs[0]);
    assert.deepEqual(runs[2], runs[0]);
  });
});
