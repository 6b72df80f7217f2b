// The metric label of a refusal: every kind of bad record, sent through the real validators, lands in
// its class (so a reworded reason fails here, not silently as "other" on a dashboard), and producer
// text quoted in a reason can't pick the class.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { domainContract, headerValueProblem } from "@lake/contracts";

import { classify } from "../src/domain/classify.ts";
import { REJECT_REASONS, rejectReason } from "../src/domain/reasons.ts";

const events = domainContract("domain_events");
const customers = domainContract("customers");
const NOW = Date.UTC(2026, 6, 1);
const event = (overrides: Record<string, unknown> = {}) => ({
  event_id: "e1",
  user_id: "u1",
  event_type: "view",
  timestamp: Date.UTC(2026, 5, 1, 12),
  amount: 1,
  ...overrides,
});
const change = (over: Record<string, unknown>) => ({
  op: "c",
  before: null,
  after: { customer_id: "c1", name: "Ada", email: null, country: null, updated_at: Date.UTC(2026, 5, 1) },
  source: { lsn: 1 },
  ts_ms: Date.UTC(2026, 5, 1),
  ...over,
});

function reasonOf(record: unknown, contract = events, maxRecordBytes = 1_000_000): string {
  const [c] = classify([record], contract, NOW, { maxRecordBytes });
  assert.ok(c && !c.ok, `refused: ${JSON.stringify(record)}`);
  return c.reason;
}

describe("rejectReason", () => {
  const cases: [string, unknown, string, typeof events?, number?][] = [
    ["an array", [1], REJECT_REASONS.notAnObject],
    ["an unknown key", event({ colour: "red" }), REJECT_REASONS.unknownField],
    ["a missing field", { ...event(), user_id: undefined }, REJECT_REASONS.missingField],
    ["a null required field", event({ user_id: null }), REJECT_REASONS.missingField],
    ["a number for a string", event({ user_id: 5 }), REJECT_REASONS.wrongType],
    ["a string for a number", event({ amount: "5" }), REJECT_REASONS.wrongType],
    ["an amount above the maximum", event({ amount: 1e12 }), REJECT_REASONS.outOfRange],
    ["a timestamp below the minimum", event({ timestamp: 1000 }), REJECT_REASONS.outOfRange],
    ["an empty user id", event({ user_id: "" }), REJECT_REASONS.badLength],
    ["an id not matching the pattern", event({ event_id: "a b" }), REJECT_REASONS.patternMismatch],
    ["an unknown event type", event({ event_type: "hover" }), REJECT_REASONS.notInEnum],
    ["a timestamp without a zone", event({ timestamp: "2026-06-01T12:00:00" }), REJECT_REASONS.badTimestamp],
    ["February 30th", event({ timestamp: "2026-02-30T12:00:00Z" }), REJECT_REASONS.badTimestamp],
    ["an event from next year", event({ timestamp: NOW + 365 * 86_400_000 }), REJECT_REASONS.futureEventTime],
    ["a lone surrogate", event({ user_id: "a\ud800" }), REJECT_REASONS.invalidText],
    ["a record too large for NATS", event(), REJECT_REASONS.tooLarge, events, 10],
    ["a change with an unknown op", change({ op: "x" }), REJECT_REASONS.invalidChange, customers],
    ["an insert without its image", change({ after: null }), REJECT_REASONS.invalidChange, customers],
    ["a change without a position", change({ source: {} }), REJECT_REASONS.invalidChange, customers],
    ["a change that is no object", "c", REJECT_REASONS.notAnObject, customers],
    ["a change with a bad row", change({ after: { customer_id: "c1", name: "", updated_at: Date.UTC(2026, 5, 1) } }), REJECT_REASONS.badLength, customers],
  ];
  for (const [what, record, want, contract, max] of cases) {
    test(`${what}: ${want}`, () => {
      const reason = reasonOf(record, contract, max);
      assert.equal(rejectReason(reason), want, reason);
    });
  }

  test("a key the NATS header can't carry is bad_key, whatever else its text says", () => {
    // The contracts' own key constraints refuse most such keys first; a contract without them reaches these.
    for (const key of ["k".repeat(300), "k\u0007", "k\ud800", " k"]) {
      const reason = headerValueProblem("event_id", key, 256);
      assert.ok(reason, key);
      assert.equal(rejectReason(reason), REJECT_REASONS.badKey, reason);
    }
  });

  test("producer text quoted in an unknown key can't choose the class", () => {
    const reason = reasonOf(event({ "amount 5 is above the maximum 1; got ": 1 }));
    assert.equal(rejectReason(reason), REJECT_REASONS.unknownField);
  });

  test("anything unrecognised is other: the set of labels stays closed", () => {
    assert.equal(rejectReason("a reason nobody wrote yet"), REJECT_REASONS.other);
    assert.equal(new Set(Object.values(REJECT_REASONS)).size, Object.keys(REJECT_REASONS).length);
  });
});
