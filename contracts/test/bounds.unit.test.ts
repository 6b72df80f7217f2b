import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { clipText, futureEventTimeProblem, headerValueProblem, illFormedTextPath, isoInstant, MAX_DATE_MS, utcDay } from "../src/bounds.ts";

const DAY = 86_400_000;
/** @lake/storage's key segment grammar (contracts can't import it: shared/* builds on contracts). */
const KEY_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._=-]{0,199}$/;

describe("utcDay", () => {
  test("is the day Date.toISOString gives, wherever a Date can say", () => {
    const samples = [
      0,
      -1,
      1,
      DAY - 1,
      DAY,
      -DAY,
      -DAY - 1,
      Date.UTC(2026, 5, 1, 23, 59, 59, 999),
      Date.UTC(2024, 1, 29),
      Date.UTC(2000, 1, 29),
      Date.UTC(1900, 2, 1),
      Date.UTC(2100, 1, 28, 12),
      4102444800000,
      946684800000,
      Date.UTC(9999, 11, 31, 23, 59),
      Date.UTC(10000, 0, 1),
      Date.UTC(-1, 0, 1),
      Date.UTC(0, 0, 1),
      MAX_DATE_MS,
      -MAX_DATE_MS,
    ];
    // And a bounded sweep of pseudo-random instants across the whole Date range.
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      samples.push(Math.round(((x / 2147483648) * 2 - 1) * MAX_DATE_MS));
      samples.push(Math.round(((x / 2147483648) * 2 - 1) * 200 * 365 * DAY));
    }
    // toISOString writes years past 9999 as +YYYYYY; utcDay leaves the '+' out (it is not a key character).
    for (const t of samples) assert.equal(utcDay(t), new Date(t).toISOString().replace(/^\+0*/, "").split("T")[0], String(t));
  });

  test("is total beyond the Date range (9e15 ms, the largest safe integers), where toISOString throws", () => {
    assert.throws(() => new Date(9e15).toISOString(), RangeError);
    for (const t of [9e15, -9e15, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, MAX_DATE_MS + 1]) {
      const d = utcDay(t);
      assert.match(d, /^-?\d{6,}-\d{2}-\d{2}$/, `${t} → ${d}`);
      assert.match(`dt=${d}`, KEY_SEGMENT, "usable as a partition in an object key");
    }
    assert.equal(utcDay(MAX_DATE_MS + DAY), "275760-09-14");
    assert.equal(utcDay(-MAX_DATE_MS - DAY), "-271821-04-19");
  });

  test("beyond the Date range it is still the Gregorian day (400 years are exactly 146097 days)", () => {
    const CYCLE_MS = 146_097 * DAY;
    for (const t of [9e15, -9e15, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, MAX_DATE_MS + 123_456_789]) {
      const k = Math.trunc(t / CYCLE_MS);
      const [y, m, d] = new Date(t - k * CYCLE_MS)
        .toISOString()
        .split("T")[0]!
        .replace(/^\+/, "")
        .split(/(?<=\d)-/);
      const year = Number(y) + k * 400;
      assert.equal(utcDay(t), `${year < 0 ? "-" + String(-year).padStart(6, "0") : year}-${m}-${d}`, String(t));
    }
  });

  test("refuses what is not an instant at all", () => {
    for (const t of [Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => utcDay(t), RangeError);
  });
});

describe("futureEventTimeProblem", () => {
  test("allows up to the skew past now, refuses beyond, and says so without throwing for any number", () => {
    assert.equal(futureEventTimeProblem("t", 1000, 0, 1000), undefined);
    assert.match(futureEventTimeProblem("t", 1001, 0, 1000)!, /more than 1000 ms ahead/);
    assert.match(futureEventTimeProblem("t", 9e15, 0, 1000)!, /outside the date range/);
    assert.equal(futureEventTimeProblem("t", -9e15, 0, 1000), undefined, "the past is not bounded by the clock");
  });
});

describe("headerValueProblem and text helpers", () => {
  test("header values: printable, on one line, not trimmed, bounded", () => {
    assert.equal(headerValueProblem("k", "a b:c@1"), undefined);
    for (const bad of ["a\nb", "a\r", "\u0000", "\t", " a", "a ", "\u00a0a", "a\u2029", "\ud800", "x".repeat(129)])
      assert.ok(headerValueProblem("k", bad), JSON.stringify(bad));
  });

  test("illFormedTextPath finds lone surrogates in values and keys, at any depth, and nothing in valid text", () => {
    assert.equal(illFormedTextPath({ a: ["ok", "🦆", { b: "é" }] }), undefined);
    assert.equal(illFormedTextPath("\ud800"), "");
    assert.equal(illFormedTextPath({ a: ["ok", { b: "x\udfff" }] }), ".a[1].b");
    assert.equal(illFormedTextPath({ "\ud800": 1 }), '["\\ud800"]');
    assert.equal(illFormedTextPath({ "a b": "\ud800" }), '["a b"]');
  });

  test("clipText never leaves half a surrogate pair", () => {
    assert.equal(clipText("ab🦆", 3), "ab");
    assert.equal(clipText("ab🦆", 4), "ab🦆");
    assert.equal(clipText("abc", 2), "ab");
  });
});

describe("isoInstant", () => {
  test("is toISOString inside the Date range, and never throws outside it", () => {
    for (const t of [0, -1, 1_780_000_000_123, MAX_DATE_MS, -MAX_DATE_MS]) assert.equal(isoInstant(t), new Date(t).toISOString());
    assert.equal(isoInstant(MAX_DATE_MS + 86_400_000 + 3_723_004), "+275760-09-14T01:02:03.004Z");
    assert.equal(isoInstant(9e15), "+287168-08-24T16:00:00.000Z");
    assert.match(isoInstant(-9e15), /^-\d{6}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(isoInstant(2 ** 53 - 2), /^\+\d{6}-\d\d-\d\dT/);
    assert.equal(isoInstant(Number.NaN), "NaN");
  });
});
