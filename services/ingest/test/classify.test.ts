import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { domainContract } from "@lake/contracts";
import { HttpError } from "@lake/http";
import { RequestError, classify, parseBody, replyStatus, summarise, type IngestReply, type RecordResult } from "../src/domain/classify.ts";

const contract = domainContract("domain_events");
const event = (id: string, overrides: Record<string, unknown> = {}) => ({
  event_id: id,
  user_id: "u1",
  event_type: "view",
  timestamp: Date.UTC(2026, 5, 1, 12),
  amount: 1,
  ...overrides,
});

function requestError(status: number, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof RequestError, `expected RequestError, got ${String(e)}`);
    assert.ok(e instanceof HttpError, "a RequestError is an HttpError, so the HTTP layer maps it");
    assert.equal(e.name, "RequestError");
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    return true;
  };
}

describe("parseBody", () => {
  test("one object is a single record, not a batch", () => {
    assert.deepEqual(parseBody(JSON.stringify(event("a")), 10), { batch: false, records: [event("a")] });
  });

  test("an array is a batch of its elements, in order", () => {
    const body = JSON.stringify([event("a"), event("b"), event("c")]);
    assert.deepEqual(parseBody(body, 10), { batch: true, records: [event("a"), event("b"), event("c")] });
  });

  test("a one-element array is still a batch", () => {
    assert.equal(parseBody("[{}]", 10).batch, true);
  });

  test("a batch of exactly maxBatch records is accepted", () => {
    assert.equal(parseBody(JSON.stringify(Array.from({ length: 5 }, (_, i) => event(`e${i}`))), 5).records.length, 5);
  });

  test("a batch of maxBatch + 1 records is refused whole with 413 batch_too_large", () => {
    const body = JSON.stringify(Array.from({ length: 6 }, (_, i) => event(`e${i}`)));
    assert.throws(() => parseBody(body, 5), requestError(413, "batch_too_large"));
    assert.throws(() => parseBody(body, 5), /batch has 6 records; the limit is 5/);
  });

  test("an empty array is refused with 400 empty_batch", () => {
    assert.throws(() => parseBody("[]", 10), requestError(400, "empty_batch"));
    assert.throws(() => parseBody(" [ ] ", 10), requestError(400, "empty_batch"));
  });

  for (const body of ["", "{", '{"event_id": }', "[{},]", "not json", "{'a': 1}", "\u0000"]) {
    test(`malformed JSON ${JSON.stringify(body)} is refused with 400 malformed_json`, () => {
      assert.throws(() => parseBody(body, 10), requestError(400, "malformed_json"));
      assert.throws(() => parseBody(body, 10), /^RequestError: request body is not valid JSON: /);
    });
  }

  test("a JSON scalar is passed on as a single record (classify refuses it)", () => {
    assert.deepEqual(parseBody("null", 10), { batch: false, records: [null] });
    assert.deepEqual(parseBody('"hi"', 10), { batch: false, records: ["hi"] });
  });
});

describe("classify", () => {
  test("keeps input order and index; valid records carry the normalised value", () => {
    const out = classify([event("a"), event("b", { timestamp: "2026-06-01T14:00:00+02:00" })], contract);
    assert.deepEqual(out, [
      { index: 0, ok: true, eventId: "a", value: event("a") },
      { index: 1, ok: true, eventId: "b", value: event("b", { timestamp: Date.UTC(2026, 5, 1, 12) }) },
    ]);
  });

  test("invalid records are refused with reason, path, event id and the raw input", () => {
    const bad = event("b", { amount: "lots" });
    const out = classify([event("a"), bad, [1, 2]], contract);
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], { index: 0, ok: true, eventId: "a", value: event("a") });
    assert.deepEqual(out[1], { index: 1, ok: false, eventId: "b", reason: "amount must be a finite number, got string", path: "$.amount", raw: bad });
    assert.deepEqual(out[2], { index: 2, ok: false, eventId: null, reason: "expected a JSON object, got an array", path: "$", raw: [1, 2] });
  });

  test("an empty list classifies to nothing", () => {
    assert.deepEqual(classify([], contract), []);
  });
});

const accepted = (index: number, offset: number): RecordResult => ({ index, event_id: `e${index}`, status: "accepted", offset });
const duplicate = (index: number, offset: number): RecordResult => ({ index, event_id: `e${index}`, status: "duplicate", offset });
const rejected = (index: number): RecordResult => ({ index, event_id: null, status: "rejected", reason: "bad", path: "$" });
const failed = (index: number): RecordResult => ({ index, event_id: `e${index}`, status: "failed", reason: "publish timed out", retryable: true });

describe("summarise", () => {
  test("counts each status and keeps the results as given", () => {
    const results = [accepted(0, 10), duplicate(1, 4), rejected(2), failed(3), accepted(4, 11), rejected(5)];
    const reply = summarise("domain_events", results);
    assert.deepEqual(reply, { domain: "domain_events", accepted: 2, duplicates: 1, rejected: 2, failed: 1, max_offset: 11, results });
  });

  test("max_offset is the highest offset among accepted and duplicate records, in any order", () => {
    assert.equal(summarise("d", [accepted(0, 7), duplicate(1, 42), accepted(2, 9)]).max_offset, 42);
    assert.equal(summarise("d", [duplicate(0, 3)]).max_offset, 3);
    assert.equal(summarise("d", [accepted(0, 1)]).max_offset, 1);
  });

  test("max_offset is null when nothing was accepted or a duplicate", () => {
    assert.equal(summarise("d", [rejected(0), failed(1)]).max_offset, null);
    assert.equal(summarise("d", []).max_offset, null);
  });

  test("an empty result list gives zero counts", () => {
    assert.deepEqual(summarise("d", []), { domain: "d", accepted: 0, duplicates: 0, rejected: 0, failed: 0, max_offset: null, results: [] });
  });
});

describe("replyStatus", () => {
  const reply = (results: RecordResult[]): IngestReply => summarise("d", results);

  test("a single accepted or duplicate record is 200", () => {
    assert.equal(replyStatus(false, reply([accepted(0, 1)])), 200);
    assert.equal(replyStatus(false, reply([duplicate(0, 1)])), 200);
  });

  test("a single rejected record is 422", () => {
    assert.equal(replyStatus(false, reply([rejected(0)])), 422);
  });

  test("a batch reports per record: 200 even when records are rejected", () => {
    assert.equal(replyStatus(true, reply([accepted(0, 1), rejected(1)])), 200);
    assert.equal(replyStatus(true, reply([rejected(0), rejected(1)])), 200);
  });

  test("any failed record makes it 503 (retryable), batch or not", () => {
    assert.equal(replyStatus(false, reply([failed(0)])), 503);
    assert.equal(replyStatus(true, reply([accepted(0, 1), failed(1)])), 503);
    assert.equal(replyStatus(true, reply([rejected(0), failed(1)])), 503);
  });
});
