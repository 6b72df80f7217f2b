// A version's freshness (domain/freshness.ts): which sources it is measured against and its staleness,
// given what the lookups found.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { type FreshnessFacts, freshnessOf, freshnessTargets, measurable } from "../src/domain/freshness.ts";

const T0 = Date.UTC(2026, 5, 1, 12);

const domain: FreshnessFacts = {
  version: 7,
  committed_at: T0,
  source_stream: "EVENTS",
  source_subject: "lake.events.orders",
  last_offset: 120,
  upstream: null,
  through_seq: null,
  watermark: null,
};

const derived: FreshnessFacts = {
  version: 3,
  committed_at: T0,
  source_stream: "WINDOWS",
  source_subject: "lake.windows.totals",
  last_offset: 40,
  upstream: JSON.stringify([{ dataset: "orders", stream: "EVENTS", subject: "lake.events.orders", through_seq: 118 }]),
  through_seq: 118,
  watermark: T0 - 60_000,
};

describe("freshness targets", () => {
  test("a domain version is measured against its source range", () => {
    assert.deepEqual(freshnessTargets(domain), [{ stream: "EVENTS", subject: "lake.events.orders", through: 120 }]);
  });
  test("a derived version also against each upstream position of its lineage", () => {
    assert.deepEqual(freshnessTargets(derived), [
      { stream: "WINDOWS", subject: "lake.windows.totals", through: 40 },
      { stream: "EVENTS", subject: "lake.events.orders", through: 118 },
    ]);
  });
  test("lineage that is not a list of positions adds nothing", () => {
    for (const upstream of ["{", "{}", '[1, null, {"stream": 1}]']) assert.equal(freshnessTargets({ ...derived, upstream }).length, 1, upstream);
  });
  test("only lake source streams and their own subjects are looked up", () => {
    assert.equal(measurable({ stream: "EVENTS", subject: "lake.events.orders", through: 1 }), true);
    assert.equal(measurable({ stream: "WINDOWS", subject: "lake.windows.totals", through: 0 }), true);
    assert.equal(measurable({ stream: "COMMITS", subject: "lake.commits.orders", through: 1 }), false);
    assert.equal(measurable({ stream: "EVENTS", subject: "lake.windows.totals", through: 1 }), false);
    assert.equal(measurable({ stream: "EVENTS", subject: "lake.events.>", through: 1 }), false);
    assert.equal(measurable({ stream: "EVENTS", subject: "lake.events.orders", through: -1 }), false);
    assert.equal(measurable({ stream: "constructor", subject: "lake.events.orders", through: 1 }), false);
  });
});

describe("staleness", () => {
  test("given nothing after the version's position, then staleness 0", () => {
    const f = freshnessOf(domain, freshnessTargets(domain), [{ kind: "none" }], T0 + 5000);
    assert.equal(f.staleness_ms, 0);
    assert.equal(f.version, 7);
    assert.equal(f.source_position, 120);
    assert.equal(f.through_seq, null);
    assert.equal(f.watermark, null);
    assert.equal(f.committed_at, new Date(T0).toISOString());
    assert.equal(f.measured_at, new Date(T0 + 5000).toISOString());
    assert.deepEqual(f.sources, [{ stream: "EVENTS", subject: "lake.events.orders", through: 120, oldest_unreflected: null }]);
    assert.equal(f.unmeasured, undefined);
  });
  test("given a record after it, then now minus the time that record was stored", () => {
    const f = freshnessOf(domain, freshnessTargets(domain), [{ kind: "found", seq: 121, at: T0 + 1000 }], T0 + 4000);
    assert.equal(f.staleness_ms, 3000);
    assert.deepEqual(f.sources[0]!.oldest_unreflected, { seq: 121, at: new Date(T0 + 1000).toISOString() });
  });
  test("given a record stored after now (clocks apart), then 0, never negative", () => {
    assert.equal(freshnessOf(domain, freshnessTargets(domain), [{ kind: "found", seq: 121, at: T0 + 9000 }], T0).staleness_ms, 0);
  });
  test("a derived version is as stale as its stalest source", () => {
    const f = freshnessOf(derived, freshnessTargets(derived), [{ kind: "none" }, { kind: "found", seq: 119, at: T0 - 2000 }], T0);
    assert.equal(f.staleness_ms, 2000);
    assert.equal(f.through_seq, 118);
    assert.equal(f.watermark, new Date(T0 - 60_000).toISOString());
  });
  test("a source that could not be looked up makes the staleness unknown, and says why", () => {
    const f = freshnessOf(
      derived,
      freshnessTargets(derived),
      [
        { kind: "found", seq: 41, at: T0 - 10 },
        { kind: "unmeasured", why: "NATS unavailable (TIMEOUT)" },
      ],
      T0,
    );
    assert.equal(f.staleness_ms, null);
    assert.equal(f.unmeasured, "NATS unavailable (TIMEOUT)");
  });
  test("a source the catalog does not measure is unknown whatever the lookup said", () => {
    const forged = { ...domain, source_stream: "SECRETS" };
    const f = freshnessOf(forged, freshnessTargets(forged), [{ kind: "none" }], T0);
    assert.equal(f.staleness_ms, null);
    assert.match(f.unmeasured!, /SECRETS.*not one the catalog measures/);
  });
});
