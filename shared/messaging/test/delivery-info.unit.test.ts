// A lingering pull reads each delivery's stream sequence, consumer sequence, timestamp and pending count
// from its reply subject. Its own consumer's subjects are read in place; every other form through the
// token parse. Both must read a subject alike, and refuse what is not a delivery.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { deliveryInfoOf } from "../src/lingering-pull.ts";

const own = { prefix: "$JS.ACK.EVENTS.lp_abc.", stream: "EVENTS", consumer: "lp_abc" };

describe("deliveryInfoOf", { timeout: 10_000 }, () => {
  test("the consumer's own subjects read in place give what the token parse gives", () => {
    const subjects = [
      "$JS.ACK.EVENTS.lp_abc.1.42.7.1765000000123456789.0",
      "$JS.ACK.EVENTS.lp_abc.3.9007199254740993.12.1.5",
      "$JS.ACK.EVENTS.lp_abc.1.1.1.99999999999999999999.123456789012345678",
      "$JS.ACK.EVENTS.lp_abc.2.123456789012345.123456789012346.1765000000999999999.4294967296",
    ];
    for (const s of subjects) {
      const inPlace = deliveryInfoOf(s, own);
      assert.ok(inPlace, s);
      assert.deepEqual(inPlace, deliveryInfoOf(s), s);
    }
    assert.deepEqual(deliveryInfoOf(subjects[0], own), {
      domain: "",
      account_hash: "",
      stream: "EVENTS",
      consumer: "lp_abc",
      deliveryCount: 1,
      redelivered: false,
      streamSequence: 42,
      deliverySequence: 7,
      timestampNanos: Number("1765000000123456789"),
      pending: 0,
    });
    assert.equal(deliveryInfoOf(subjects[1], own)?.redelivered, true);
  });

  test("other consumers' and the domain form go through the token parse", () => {
    const other = deliveryInfoOf("$JS.ACK.EVENTS.lp_other.1.5.2.1765000000000000000.9", own);
    assert.equal(other?.consumer, "lp_other");
    assert.equal(other?.streamSequence, 5);
    const domain = deliveryInfoOf("$JS.ACK.hub.ACCHASH.EVENTS.lp_abc.1.5.2.1765000000000000000.9.rnd", own);
    assert.equal(domain?.domain, "hub");
    assert.equal(domain?.account_hash, "ACCHASH");
    assert.equal(domain?.deliverySequence, 2);
  });

  test("what is not a delivery is refused", () => {
    for (const s of [
      undefined,
      "",
      "_INBOX.abc.1",
      "$JS.ACK.EVENTS.lp_abc.",
      "$JS.ACK.EVENTS.lp_abc.1.2.3.4",
      "$JS.ACK.EVENTS.lp_abc.1.2.3.4.5.6",
      "$JS.ACK.EVENTS.lp_abc.1.2..4.5",
      "$JS.ACK.EVENTS.lp_abc.1.2.3.4.5.",
      "$JS.ACK.EVENTS.lp_abc.1.-2.3.4.5",
      "$JS.ACK.EVENTS.lp_abc.1.2.3x.4.5",
      "$JS.ACK.EVENTS.lp_abc.1.2.3.123456789012345678901.5",
    ]) {
      assert.equal(deliveryInfoOf(s, own), undefined, String(s));
    }
  });
});
