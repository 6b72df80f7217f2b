// Decider-style tests of the window logic: given these events already applied, when this batch
// arrives, then these results / late events / state.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { msgIds } from "../src/domain/rows.ts";
import {
  type AggState,
  type BatchOutcome,
  dayOf,
  decide,
  evolve,
  initialState,
  type InputEvent,
  isBatchIndependent,
  keyId,
  type LateOutput,
  type Output,
  type PositionOutput,
  toInputEvent,
  windowId,
  type WindowJob,
  type WindowResult,
  windowStarts,
} from "../src/domain/windows.ts";

const MIN = 60_000;
const DAY = 86_400_000;
const JUNE_1 = Date.UTC(2026, 5, 1);
const HOUR_MS = 3_600_000;

const daily: WindowJob = { window: { type: "tumbling", sizeMs: DAY, slideMs: DAY }, outOfOrdernessMs: MIN, allowedLatenessMs: 5 * MIN };
/** 10-minute windows every 5 minutes: each event is in two windows. */
const sliding: WindowJob = { window: { type: "sliding", sizeMs: 10 * MIN, slideMs: 5 * MIN }, outOfOrdernessMs: MIN, allowedLatenessMs: 2 * MIN };

/** Builds events with increasing sequence numbers, as they would come off the stream. */
function stream() {
  let seq = 0;
  return (user: string, time: number, value = 1): InputEvent => ({ kind: "event", seq: ++seq, eventId: `e${seq}`, time, key: [user], value });
}

/** Applies `events` as given batches, storing each outcome as the shell does. */
function given(job: WindowJob, ...batches: InputEvent[][]): AggState {
  let s = initialState();
  for (const b of batches) s = evolve(s, decide(s, b, job));
  return s;
}

/** Final results (and revisions); provisional ones are looked at in "update mode". */
const results = (o: BatchOutcome) => o.outputs.filter((x): x is WindowResult => x.kind === "window" && !x.provisional);
const provisionals = (o: BatchOutcome) => o.outputs.filter((x): x is WindowResult => x.kind === "window" && x.provisional);
const positions = (o: BatchOutcome) => o.outputs.filter((x): x is PositionOutput => x.kind === "position");
const lates = (o: BatchOutcome) => o.outputs.filter((x): x is LateOutput => x.kind === "late");
const brief = (r: WindowResult) => ({
  start: r.start,
  key: r.keyId,
  count: r.count,
  sum: r.sum,
  min: r.min,
  max: r.max,
  revision: r.revision,
  watermark: r.watermark,
});

describe("window assignment", () => {
  test("tumbling: one window, aligned to the epoch", () => {
    assert.deepEqual(windowStarts(JUNE_1 + 5 * MIN, daily.window), [JUNE_1]);
    assert.deepEqual(windowStarts(JUNE_1, daily.window), [JUNE_1], "the start is inclusive");
    assert.deepEqual(windowStarts(JUNE_1 - 1, daily.window), [JUNE_1 - DAY], "the end is exclusive");
  });

  test("sliding: every window [k·slide, k·slide + size) containing the event, ascending", () => {
    assert.deepEqual(windowStarts(JUNE_1 + 7 * MIN, sliding.window), [JUNE_1, JUNE_1 + 5 * MIN]);
    assert.deepEqual(windowStarts(JUNE_1 + 5 * MIN, sliding.window), [JUNE_1, JUNE_1 + 5 * MIN]);
    assert.deepEqual(windowStarts(JUNE_1 + 10 * MIN, sliding.window), [JUNE_1 + 5 * MIN, JUNE_1 + 10 * MIN]);
    const uneven = { type: "sliding" as const, sizeMs: 10, slideMs: 3 };
    assert.deepEqual(windowStarts(10, uneven), [3, 6, 9]);
    assert.deepEqual(windowStarts(9, uneven), [0, 3, 6, 9]);
  });

  test("keys are percent-encoded and comma-joined, so no two keys share an id", () => {
    assert.equal(keyId(["user-1"]), "user-1");
    assert.equal(keyId(["a,b"]), "a%2Cb");
    assert.notEqual(keyId(["a", "b"]), keyId(["a,b"]));
    assert.equal(keyId(["x:y", 7]), "x%3Ay,7");
    assert.equal(keyId(["line\nbreak"]), "line%0Abreak", "safe in a NATS header");
  });
});

describe("watermark and firing", () => {
  test("given events of one day, when the watermark has not reached the day's end, then nothing fires", () => {
    const ev = stream();
    const o = decide(initialState(), [ev("u1", JUNE_1 + 3600_000, 10), ev("u1", JUNE_1 + DAY + 30_000, 5)], daily);
    assert.deepEqual(results(o), []);
    assert.deepEqual(lates(o), []);
    assert.equal(o.maxEventTime, JUNE_1 + DAY + 30_000);
    assert.equal(o.upserts.length, 2, "two open windows: June 1 and June 2");
  });

  test("when an event moves the watermark (max event time − out-of-orderness) to the window end, then it fires revision 1", () => {
    const ev = stream();
    const s = given(daily, [ev("u2", JUNE_1 + 1000, 3), ev("u1", JUNE_1 + 2000, 10), ev("u1", JUNE_1 + 3000, -4)]);
    const o = decide(s, [ev("u3", JUNE_1 + DAY + MIN, 1)], daily);
    assert.deepEqual(results(o).map(brief), [
      { start: JUNE_1, key: "u1", count: 2, sum: 6, min: -4, max: 10, revision: 1, watermark: JUNE_1 + DAY },
      { start: JUNE_1, key: "u2", count: 1, sum: 3, min: 3, max: 3, revision: 1, watermark: JUNE_1 + DAY },
    ]);
    assert.equal(o.counters.windowsEmitted, 2);
    assert.equal(o.counters.revisions, 0);
  });

  test("an older event does not move the watermark back", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1 + 10 * MIN)]);
    const o = decide(s, [ev("u1", JUNE_1 + 2 * MIN)], daily);
    assert.equal(o.maxEventTime, JUNE_1 + 10 * MIN);
  });

  test("a watermark jump fires and purges every window it passes, in (end, start, key) order", () => {
    const ev = stream();
    // The June 2 event leaves the watermark at June 1 23:59: nothing has fired yet.
    const s = given(daily, [ev("c", JUNE_1 + 3600_000), ev("a", JUNE_1 + DAY), ev("b", JUNE_1 + 7200_000)]);
    assert.equal(s.windows.size, 3);
    const o = decide(s, [ev("z", JUNE_1 + 10 * DAY)], daily);
    assert.deepEqual(
      results(o).map((r) => [r.start - JUNE_1, r.keyId, r.revision, r.watermark - JUNE_1]),
      [
        [0, "b", 1, 10 * DAY - MIN],
        [0, "c", 1, 10 * DAY - MIN],
        [DAY, "a", 1, 10 * DAY - MIN],
      ],
    );
    assert.deepEqual(
      o.purged.map((p) => [p.start - JUNE_1, p.keyId]).sort(),
      [
        [0, "b"],
        [0, "c"],
        [DAY, "a"],
      ].sort(),
    );
    const after = evolve(s, o);
    assert.deepEqual(
      [...after.windows.values()].map((w) => [w.start - JUNE_1, w.keyId]),
      [[10 * DAY, "z"]],
    );
  });
});

describe("allowed lateness", () => {
  // June 1 has fired (watermark June 2 00:00) and stays open for revisions until the watermark is June 2 00:05.
  function firedJune1() {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1 + 3600_000, 10), ev("u1", JUNE_1 + DAY + MIN, 1)]);
    return { ev, s };
  }

  test("given a fired window, when an event for it arrives within the lateness, then a new revision with the updated totals", () => {
    const { ev, s } = firedJune1();
    const o = decide(s, [ev("u1", JUNE_1 + 7200_000, 5)], daily);
    assert.deepEqual(results(o).map(brief), [{ start: JUNE_1, key: "u1", count: 2, sum: 15, min: 5, max: 10, revision: 2, watermark: JUNE_1 + DAY }]);
    assert.equal(o.counters.revisions, 1);
    assert.deepEqual(lates(o), []);
    const o2 = decide(evolve(s, o), [ev("u1", JUNE_1 + 9000_000, 1)], daily);
    assert.deepEqual(
      results(o2).map((r) => [r.revision, r.count, r.sum]),
      [[3, 3, 16]],
      "each late event is one more revision",
    );
  });

  test("when a late event opens a window past its end but within the lateness, then that window fires at once as revision 1", () => {
    const { ev, s } = firedJune1();
    const o = decide(s, [ev("u9", JUNE_1 + 5000, 2)], daily);
    assert.deepEqual(results(o).map(brief), [{ start: JUNE_1, key: "u9", count: 1, sum: 2, min: 2, max: 2, revision: 1, watermark: JUNE_1 + DAY }]);
  });

  test("when the watermark passes end + lateness, the window is purged and a later event for it goes to the side output", () => {
    const { ev, s } = firedJune1();
    const moved = decide(s, [ev("u2", JUNE_1 + DAY + 6 * MIN)], daily); // watermark June 2 00:05
    assert.deepEqual(moved.purged, [{ start: JUNE_1, keyId: "u1" }]);
    const s2 = evolve(s, moved);
    const late = ev("u1", JUNE_1 + 7200_000, 5);
    const o = decide(s2, [late], daily);
    assert.deepEqual(results(o), [], "no revision: the window is gone");
    assert.deepEqual(lates(o), [
      {
        kind: "late",
        seq: late.seq,
        eventId: "e4",
        eventTime: JUNE_1 + 7200_000,
        watermark: JUNE_1 + DAY + 5 * MIN,
        windowStart: JUNE_1,
        reason: "past allowed lateness (300000 ms) for 1 of 1 windows",
      },
    ]);
    assert.equal(o.counters.lateEvents, 1);
    assert.equal(o.counters.eventsIn, 4, "late events are consumed and counted, not lost");
    assert.deepEqual(o.upserts, [], "a late event changes no accumulator");
  });

  test("the lateness boundary: watermark = end + lateness − 1 ms still revises, = end + lateness is late", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1), ev("u1", JUNE_1 + DAY + 6 * MIN - 1)]);
    assert.deepEqual(
      results(decide(s, [ev("u1", JUNE_1 + 1)], daily)).map((r) => r.revision),
      [2],
    );
    const s2 = given(daily, [ev("u1", JUNE_1), ev("u1", JUNE_1 + DAY + 6 * MIN)]);
    assert.equal(lates(decide(s2, [ev("u1", JUNE_1 + 1)], daily)).length, 1);
  });

  test("sliding: an event late for its older window but not its newer one is side-output and still counted in the newer", () => {
    const ev = stream();
    // Windows [00:00, 00:10) and [00:05, 00:15). Watermark 00:12 purges the first (00:10 + 2 min lateness).
    const s = given(sliding, [ev("u1", JUNE_1 + 6 * MIN, 1), ev("u1", JUNE_1 + 13 * MIN, 1)]);
    const o = decide(s, [ev("u1", JUNE_1 + 7 * MIN, 4)], sliding);
    assert.deepEqual(
      lates(o).map((l) => [l.windowStart - JUNE_1, l.reason]),
      [[0, "past allowed lateness (120000 ms) for 1 of 2 windows"]],
    );
    assert.deepEqual(results(o), [], "the newer window has not fired yet, so no revision");
    const w = o.upserts.find((x) => x.start === JUNE_1 + 5 * MIN)!;
    assert.deepEqual([w.count, w.sum], [3, 6]);
  });

  test("sliding: windows fire one by one as the watermark passes each end", () => {
    const ev = stream();
    const s = given(sliding, [ev("u1", JUNE_1 + 6 * MIN, 2)]);
    const o1 = decide(s, [ev("u2", JUNE_1 + 11 * MIN)], sliding); // watermark 00:10
    assert.deepEqual(
      results(o1).map((r) => [r.start - JUNE_1, r.keyId, r.count]),
      [[0, "u1", 1]],
    );
    const o2 = decide(evolve(s, o1), [ev("u2", JUNE_1 + 16 * MIN)], sliding); // watermark 00:15
    assert.deepEqual(
      results(o2).map((r) => [r.start - JUNE_1, r.keyId, r.count]),
      [
        [5 * MIN, "u1", 1],
        [5 * MIN, "u2", 1],
      ],
    );
    assert.ok(!results(o2).some((r) => r.start === JUNE_1 + 10 * MIN), "[00:10, 00:20) waits for watermark 00:20");
  });
});

describe("update mode: provisional results and positions", () => {
  test("given no window closed, each batch emits the running total of every open window it changed (revision 0), then its position", () => {
    const ev = stream();
    const o1 = decide(initialState(), [ev("u1", JUNE_1 + HOUR_MS, 10), ev("u2", JUNE_1 + 2 * HOUR_MS, 3), ev("u1", JUNE_1 + 3 * HOUR_MS, 5)], daily);
    assert.deepEqual(
      provisionals(o1).map((r) => [r.keyId, r.count, r.sum, r.revision, r.throughSeq, r.watermark]),
      [
        ["u1", 2, 15, 0, 3, JUNE_1 + 3 * HOUR_MS - MIN],
        ["u2", 1, 3, 0, 3, JUNE_1 + 3 * HOUR_MS - MIN],
      ],
      "one per window, as of the batch's end",
    );
    assert.deepEqual(o1.outputs.at(-1), { kind: "position", throughSeq: 3, watermark: JUNE_1 + 3 * HOUR_MS - MIN }, "the position comes last");
    assert.equal(o1.counters.windowsEmitted, 0, "provisional results are not counted as emitted windows");
    const o2 = decide(evolve(initialState(), o1), [ev("u2", JUNE_1 + 4 * HOUR_MS, 1)], daily);
    assert.deepEqual(
      provisionals(o2).map((r) => [r.keyId, r.count, r.sum, r.throughSeq]),
      [["u2", 2, 4, 4]],
      "an untouched window is not emitted again",
    );
  });

  test("when the watermark closes the window, its final result (revision 1, not provisional) replaces the running one", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1 + HOUR_MS, 10)]);
    const o = decide(s, [ev("u1", JUNE_1 + 2 * HOUR_MS, 1), ev("u2", JUNE_1 + DAY + MIN, 7)], daily);
    assert.deepEqual(
      o.outputs.map((x) => (x.kind === "window" ? [x.start - JUNE_1, x.keyId, x.revision, x.provisional, x.throughSeq, x.sum] : [x.kind])),
      [[0, "u1", 1, false, 3, 11], [DAY, "u2", 0, true, 3, 7], ["position"]],
      "the final carries the event that fired it; the closed window gets no provisional result",
    );
  });

  test("a late event within the lateness gives a final revision at its own position, never a provisional one", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1 + HOUR_MS, 10), ev("u1", JUNE_1 + DAY + MIN, 1)]);
    const o = decide(s, [ev("u1", JUNE_1 + 2 * HOUR_MS, 5)], daily);
    assert.deepEqual(
      o.outputs.filter((x) => x.kind === "window").map((x) => [x.start - JUNE_1, x.revision, x.provisional, x.throughSeq, x.sum]),
      [[0, 2, false, 3, 15]],
    );
    assert.deepEqual(positions(o), [{ kind: "position", throughSeq: 3, watermark: JUNE_1 + DAY }]);
  });

  test("a batch of only late (or invalid) events emits its position alone, so coverage still moves", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1, 1), ev("u1", JUNE_1 + 3 * DAY, 1)]);
    const o = decide(s, [ev("u1", JUNE_1 + 5, 1), { kind: "invalid", seq: 4, reason: "undecodable" }], daily);
    assert.deepEqual(
      o.outputs.map((x) => x.kind),
      ["late", "position"],
    );
    assert.equal(positions(o)[0]!.throughSeq, 4);
  });

  test("message ids: a final per revision, a provisional per position, a position per input position", () => {
    const base = { start: 5, keyId: "u%2C1" };
    assert.equal(msgIds.window("d", { ...base, revision: 2, provisional: false, throughSeq: 9 }), "d:5:u%2C1:2");
    assert.equal(msgIds.window("d", { ...base, revision: 0, provisional: true, throughSeq: 9 }), "d:5:u%2C1:p9");
    assert.equal(msgIds.position("d", 9), "pos:d:9");
  });
});

describe("positions", () => {
  test("events at or below the input position are skipped: a redelivery after a restart changes nothing", () => {
    const ev = stream();
    const batch = [ev("u1", JUNE_1, 1), ev("u1", JUNE_1 + DAY + MIN, 2)];
    const s = given(daily, batch);
    const o = decide(s, batch, daily);
    assert.equal(o.inputSeq, s.inputSeq);
    assert.deepEqual(o.outputs, []);
    assert.deepEqual(o.counters, s.counters);
  });

  test("invalid events move the position and are counted, nothing else", () => {
    const ev = stream();
    const s = given(daily, [ev("u1", JUNE_1, 1)]);
    const o = decide(s, [{ kind: "invalid", seq: 2, reason: "undecodable" }], daily);
    assert.equal(o.inputSeq, 2);
    assert.equal(o.counters.invalidEvents, 1);
    assert.equal(o.counters.eventsIn, 2);
    assert.deepEqual(o.upserts, []);
  });
});

describe("determinism", () => {
  /** Mulberry32: a tiny seeded PRNG. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Mostly in order with a few minutes of disorder, and now and then an event hours late. */
  function events(n: number, seed: number, spanMs: number): InputEvent[] {
    const r = rng(seed);
    const ev = stream();
    return Array.from({ length: n }, (_, i) => {
      const base = JUNE_1 + Math.floor((i / n) * spanMs);
      const t = r() < 0.03 ? base - Math.floor(r() * 6 * 3600_000) : base + Math.floor((r() * 2 - 1) * 4 * MIN);
      return ev(`u${Math.floor(r() * 7)}`, t, Math.round(r() * 10_000) / 100);
    });
  }

  function runIn(job: WindowJob, all: InputEvent[], sizes: (i: number) => number): { outputs: Output[]; state: AggState } {
    let s = initialState();
    const outputs: Output[] = [];
    for (let i = 0, k = 0; i < all.length; k++) {
      const n = Math.max(1, sizes(k));
      const o = decide(s, all.slice(i, i + n), job);
      outputs.push(...o.outputs);
      s = evolve(s, o);
      i += n;
    }
    return { outputs, state: s };
  }

  const canonical = (s: AggState) => ({ ...s, windows: [...s.windows.entries()].sort(([a], [b]) => (a < b ? -1 : 1)) });

  for (const [label, job] of [
    ["tumbling", daily],
    ["sliding", sliding],
  ] as const) {
    test(`${label}: the same input split into different batches gives identical finals, late events and state`, () => {
      const all = events(3000, 42, label === "tumbling" ? 5 * DAY : 6 * 3600_000);
      const whole = runIn(job, all, () => all.length);
      assert.ok(
        whole.outputs.some((o) => o.kind === "window" && o.revision > 1),
        "the input exercises revisions",
      );
      assert.ok(
        whole.outputs.some((o) => o.kind === "late"),
        "the input exercises the side output",
      );
      const r = rng(7);
      const fixed = (outputs: Output[]) => outputs.filter(isBatchIndependent);
      for (const sizes of [() => 1, () => 7, () => 1 + Math.floor(r() * 200)]) {
        const split = runIn(job, all, sizes);
        assert.deepEqual(fixed(split.outputs), fixed(whole.outputs));
        assert.deepEqual(canonical(split.state), canonical(whole.state));
      }
    });

    test(`${label}: every provisional result, however the input was batched, equals the window's recomputation at its through_seq`, () => {
      const all = events(1500, 11, label === "tumbling" ? 5 * DAY : 6 * 3600_000);
      const r = rng(5);
      for (const sizes of [() => 1, () => 13, () => 1 + Math.floor(r() * 300)]) {
        const split = runIn(job, all, sizes);
        const provisional = split.outputs.filter((o): o is WindowResult => o.kind === "window" && o.provisional);
        assert.ok(provisional.length > 0, "the input exercises provisional results");
        // Emissions of one window reflect ever later positions (what the committer's merge orders by).
        const lastSeq = new Map<string, number>();
        for (const o of split.outputs) {
          if (o.kind !== "window") continue;
          const id = windowId(o.start, o.keyId);
          assert.ok(o.throughSeq > (lastSeq.get(id) ?? 0), `${id}: through_seq ${o.throughSeq} after ${lastSeq.get(id)}`);
          lastSeq.set(id, o.throughSeq);
          assert.equal(o.provisional, o.revision === 0, "revision 0 is exactly the provisional results");
        }
        // The reference: one event at a time, the window's accumulator read right after event S.
        const at = new Map<number, WindowResult[]>();
        for (const p of provisional) at.set(p.throughSeq, [...(at.get(p.throughSeq) ?? []), p]);
        let ref = initialState();
        for (const e of all) {
          ref = evolve(ref, decide(ref, [e], job));
          for (const p of at.get(e.seq) ?? []) {
            const w = ref.windows.get(windowId(p.start, p.keyId));
            assert.ok(w, `window ${p.start}|${p.keyId} is open at ${e.seq}`);
            assert.deepEqual([p.count, p.sum, p.min, p.max, p.revision], [w.count, w.sum, w.min, w.max, 0], `provisional ${p.start}|${p.keyId}@${e.seq}`);
            assert.equal(p.watermark, ref.maxEventTime! - job.outOfOrdernessMs);
          }
        }
      }
    });
  }

  test("a replay (redelivery of everything after a restart) adds nothing", () => {
    const all = events(500, 3, 2 * DAY);
    const once = runIn(daily, all, () => 50);
    const o = decide(once.state, all, daily);
    assert.deepEqual(o.outputs, []);
    assert.equal(o.inputSeq, once.state.inputSeq);
  });
});

describe("source events from the future (written past ingest)", () => {
  const HOUR = 3_600_000;
  const job = { eventTimeField: "timestamp", valueField: "amount", eventIdField: "event_id", key: ["user_id"] as const };
  const stored = JUNE_1 + 12 * HOUR;
  const arrival = { at: stored, maxFutureSkewMs: HOUR };
  const rec = (timestamp: number, amount = 1) => ({ event_id: `e${timestamp}`, user_id: "u", timestamp, amount });

  test("an event time up to the skew past the time the stream stored it is an event; beyond is invalid, with the reason", () => {
    assert.equal(toInputEvent(1, rec(stored + HOUR), job, arrival).kind, "event");
    assert.equal(toInputEvent(1, rec(stored - 400 * DAY), job, arrival).kind, "event", "old events are normal (backfills)");
    for (const t of [stored + HOUR + 1, Date.UTC(2099, 0, 1), 9e15]) {
      const e = toInputEvent(1, rec(t), job, arrival);
      assert.equal(e.kind, "invalid", String(t));
      assert.match(e.kind === "invalid" ? e.reason : "", /from the future|outside the range of dates/);
    }
    assert.equal(toInputEvent(1, rec(-9e15), job, arrival).kind, "invalid", "no window can start outside the date range");
    assert.equal(toInputEvent(1, rec(stored, Number.NaN), job, arrival).kind, "invalid");
  });

  test("given an event dated 2099 stored in June 2026, the watermark stays at June 2026 and later events are not late", () => {
    const ev = (seq: number, time: number, value: number): InputEvent => ({ kind: "event", seq, eventId: `e${seq}`, time, key: ["u1"], value });
    const forged = toInputEvent(2, rec(Date.UTC(2099, 0, 1), 1000), job, arrival);
    const s = given(daily, [ev(1, JUNE_1 + HOUR, 1)], [forged]);
    assert.ok(s.maxEventTime! <= arrival.at + arrival.maxFutureSkewMs, `max event time ${s.maxEventTime} past the stream's clock + skew`);
    // Events later the same day and the next day: in their windows, none late; day 1 fires with its two events.
    const o = decide(s, [ev(3, JUNE_1 + 2 * HOUR, 2), ev(4, JUNE_1 + DAY + 2 * MIN, 4)], daily);
    assert.deepEqual(lates(o), []);
    assert.deepEqual(results(o).map(brief), [{ start: JUNE_1, key: "u1", count: 2, sum: 3, min: 1, max: 2, revision: 1, watermark: JUNE_1 + DAY + MIN }]);
    assert.equal(o.counters.invalidEvents, 1, "the forged event is counted, not applied");
  });

  test("the window's day is total: no window start can make it throw", () => {
    assert.equal(dayOf(JUNE_1), "2026-06-01");
    assert.doesNotThrow(() => dayOf(9e15));
  });
});
