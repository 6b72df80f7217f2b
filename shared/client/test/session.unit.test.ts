// The session rules (session.ts): given what a client was answered, which next answer went back in time;
// and a freshness bound.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { CatalogFreshness } from "@lake/contracts";

import { assertFresh, type DatasetRead, ReadSession, ReadWentBackError, StaleVersionError, WENT_BACK } from "../src/session.ts";

const latest = (version: number, rows?: number): DatasetRead => ({ dataset: "orders", which: "latest", version, rows });
const current = (version: number, rows?: number): DatasetRead => ({ dataset: "orders", which: "current", version, rows });

function given(...answers: { position?: number; reads?: DatasetRead[] }[]): ReadSession {
  const s = new ReadSession();
  for (const a of answers) {
    const o = { position: a.position, reads: a.reads ?? [] };
    assert.equal(s.check(o), undefined, "the given answers stand");
    s.record(o);
  }
  return s;
}

describe("monotonic reads", () => {
  test("given position 10, when an answer reflects 9, then the log position went back", () => {
    assert.deepEqual(given({ position: 10 }).check({ position: 9, reads: [] }), { what: WENT_BACK.position, dataset: undefined, from: 10, to: 9 });
  });
  test("an equal or higher position, or an answer without one, stands", () => {
    const s = given({ position: 10 });
    assert.equal(s.check({ position: 10, reads: [] }), undefined);
    assert.equal(s.check({ position: 11, reads: [] }), undefined);
    assert.equal(s.check({ position: undefined, reads: [] }), undefined);
  });
  test("given latest version 5, when latest is 4 (even at a higher position), then the latest version went back", () => {
    assert.deepEqual(given({ position: 10, reads: [latest(5, 50)] }).check({ position: 12, reads: [latest(4, 40)] }), {
      what: WENT_BACK.latest,
      dataset: "orders",
      from: 5,
      to: 4,
    });
  });
  test("given version 5 with 50 rows, when version 5 has 40, then the rows went back", () => {
    assert.deepEqual(given({ position: 10, reads: [latest(5, 50)] }).check({ position: 10, reads: [latest(5, 40)] }), {
      what: WENT_BACK.rows,
      dataset: "orders",
      from: 50,
      to: 40,
    });
  });
  test("a newer latest version with fewer rows (a revert, a CDC delete) stands", () => {
    assert.equal(given({ position: 10, reads: [latest(5, 50)] }).check({ position: 11, reads: [latest(6, 30)] }), undefined);
  });
  test("given current 5 at position 10, current 3 at position 10 went back; at position 11 it is a rollback and stands", () => {
    const s = given({ position: 10, reads: [current(5)] });
    assert.deepEqual(s.check({ position: 10, reads: [current(3)] }), { what: WENT_BACK.current, dataset: "orders", from: 5, to: 3 });
    assert.equal(s.check({ position: 11, reads: [current(3)] }), undefined);
  });
  test("other datasets are kept apart", () => {
    const s = given({ position: 10, reads: [latest(5)] });
    assert.equal(s.check({ position: 10, reads: [{ dataset: "other", which: "latest", version: 1, rows: 1 }] }), undefined);
  });
  test("reset forgets everything", () => {
    const s = given({ position: 10, reads: [latest(5)] });
    s.reset();
    assert.equal(s.position, 0);
    assert.equal(s.check({ position: 1, reads: [latest(1)] }), undefined);
  });
  test("the error names what went back, from what to what", () => {
    const e = new ReadWentBackError({
      what: WENT_BACK.latest,
      dataset: "orders",
      from: 5,
      to: 4,
      retriedMs: 5000,
      path: "/v1/datasets/orders/versions/latest",
    });
    assert.match(e.message, /latest version of orders 5 → 4/);
    assert.match(e.message, /retried for 5000 ms/);
  });
});

describe("freshness bound", () => {
  const freshness = (staleness_ms: number | null, unmeasured?: string): CatalogFreshness => ({
    version: 7,
    source_position: 120,
    through_seq: null,
    watermark: null,
    committed_at: "2026-06-01T12:00:00.000Z",
    staleness_ms,
    measured_at: "2026-06-01T12:00:03.000Z",
    sources: [
      {
        stream: "EVENTS",
        subject: "lake.events.orders",
        through: 120,
        oldest_unreflected: staleness_ms ? { seq: 121, at: "2026-06-01T12:00:00.500Z" } : null,
      },
    ],
    ...(unmeasured ? { unmeasured } : {}),
  });
  test("a version within the bound passes; at the bound too", () => {
    assertFresh({ dataset: "orders", version: 7, freshness: freshness(0) }, 2000);
    assertFresh({ dataset: "orders", version: 7, freshness: freshness(2000) }, 2000);
  });
  test("a version over the bound is refused, naming dataset, version, staleness and bound", () => {
    assert.throws(
      () => assertFresh({ dataset: "orders", version: 7, freshness: freshness(2500) }, 2000),
      (e: unknown) =>
        e instanceof StaleVersionError &&
        /version 7 of orders is 2500 ms stale, more than the bound of 2000 ms/.test(e.message) &&
        /2026-06-01T12:00:00.500Z/.test(e.message),
    );
  });
  test("an unknown staleness (or none stated) is refused, saying why", () => {
    assert.throws(
      () => assertFresh({ dataset: "orders", version: 7, freshness: freshness(null, "NATS unavailable (TIMEOUT)") }, 2000),
      /staleness is unknown \(NATS unavailable \(TIMEOUT\)\)/,
    );
    assert.throws(() => assertFresh({ dataset: "orders", version: 7 }, 2000), StaleVersionError);
  });
  test("a bound that is not a duration is a programming error", () => {
    assert.throws(() => assertFresh({ dataset: "orders", version: 7, freshness: freshness(0) }, -1), RangeError);
  });
});
