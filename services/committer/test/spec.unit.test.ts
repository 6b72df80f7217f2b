// Partitioning is total: whatever event time a decoded record carries (ingest bounds them to dates, but
// a record can reach the stream past ingest), the committer derives a partition and an object key from
// it instead of throwing and stalling the dataset.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { domainContract, MAX_DATE_MS } from "@lake/contracts";
import { validateKey } from "@lake/storage";

import { dayPartition, domainSpec } from "../src/domain/spec.ts";
import { keys } from "../src/domain/version.ts";

describe("dayPartition", () => {
  test("is dt=YYYY-MM-DD of the UTC day", () => {
    assert.equal(dayPartition(Date.UTC(2026, 5, 1, 23, 59, 59, 999)), "dt=2026-06-01");
    assert.equal(dayPartition(Date.UTC(2099, 0, 1)), "dt=2099-01-01");
    assert.equal(dayPartition(-1), "dt=1969-12-31");
  });

  test("never throws for an Avro long, 9e15 ms and the extremes of safe integers included, and gives a valid object key", () => {
    assert.throws(() => new Date(9e15).toISOString(), RangeError, "what the old partitioning called");
    for (const t of [9e15, -9e15, MAX_DATE_MS, -MAX_DATE_MS, MAX_DATE_MS + 1, Number.MAX_SAFE_INTEGER - 1, Number.MIN_SAFE_INTEGER + 1]) {
      const p = dayPartition(t);
      assert.match(p, /^dt=-?\d{4,}-\d{2}-\d{2}$/, `${t} → ${p}`);
      assert.doesNotThrow(() => validateKey(keys.dataFile("domain_events", p, "w1", 0)), p);
    }
  });

  test("a domain spec partitions a decoded row dated 9e15 without throwing", () => {
    const spec = domainSpec(domainContract("domain_events"), { stream: "EVENTS", subject: "lake.events.domain_events" });
    // 400 Gregorian years are exactly 146097 days: shifted back 400,000 years, 9e15 ms falls on 24 August.
    assert.equal(new Date(9e15 - 1000 * 146_097 * 86_400_000).toISOString().slice(0, 14), "-112832-08-24T");
    assert.equal(spec.partition({ event_id: "x", timestamp: 9e15 }), "dt=287168-08-24");
  });
});
