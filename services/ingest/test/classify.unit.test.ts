import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { IngestReply, RecordResult } from "@lake/contracts";
import { domainContract } from "@lake/contracts";
import { HttpError } from "@lake/http";

import { classify, failedReason, MAX_FAILED_REASON, parseBody, replyBound, replyStatus, RequestError, summarise } from "../src/domain/classify.ts";

const contract = domainContract("domain_events");
const customers = domainContract("customers");
/** The ingest clock: after every sample event time. */
const NOW = Date.UTC(2026, 6, 1);
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
    const out = classify([event("a"), event("b", { timestamp: "2026-06-01T14:00:00+02:00" })], contract, NOW);
    assert.deepEqual(out, [
      { index: 0, ok: true, eventId: "a", value: event("a") },
      { index: 1, ok: true, eventId: "b", value: event("b", { timestamp: Date.UTC(2026, 5, 1, 12) }) },
    ]);
  });

  test("invalid records are refused with reason, path, event id and the raw input", () => {
    const bad = event("b", { amount: "lots" });
    const out = classify([event("a"), bad, [1, 2]], contract, NOW);
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], { index: 0, ok: true, eventId: "a", value: event("a") });
    assert.deepEqual(out[1], { index: 1, ok: false, eventId: "b", reason: "amount must be a finite number, got string", path: "$.amount", raw: bad });
    assert.deepEqual(out[2], { index: 2, ok: false, eventId: null, reason: "expected a JSON object, got an array", path: "$", raw: [1, 2] });
  });

  test("an empty list classifies to nothing", () => {
    assert.deepEqual(classify([], contract, NOW), []);
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

describe("classify: what can never be stored is refused up front, with its path", () => {
  test("an event time past the ingest clock's skew is refused at $.timestamp; the same record is valid once its time has come", () => {
    const future = event("f", { timestamp: Date.UTC(2099, 0, 1) });
    const [now] = classify([future], contract, NOW);
    assert.equal(now!.ok, false);
    assert.equal((now as { path: string }).path, "$.timestamp");
    assert.equal((now as { eventId: string }).eventId, "f");
    assert.equal(classify([future], contract, Date.UTC(2099, 0, 1))[0]!.ok, true);
  });

  test("a lone surrogate in a value is refused with the field's path", () => {
    const [r] = classify([JSON.parse(String.raw`{"event_id":"s","user_id":"\udfff","event_type":"view","timestamp":1780315200000,"amount":1}`)], contract, NOW);
    assert.equal((r as { path: string }).path, "$.user_id");
  });

  test("CDC: a delete whose key the contract refuses, a key with a newline, an lsn Avro can't encode", () => {
    const change = (over: Record<string, unknown>) => ({
      op: "d",
      before: { customer_id: "c1" },
      after: null,
      source: { lsn: 5 },
      ts_ms: Date.UTC(2026, 5, 1),
      ...over,
    });
    const out = classify(
      [change({ before: { customer_id: "not a key!" } }), change({ before: { customer_id: "c1\n" } }), change({ source: { lsn: 2 ** 53 - 1 } }), change({})],
      customers,
      NOW,
    );
    assert.deepEqual(
      out.map((c) => (c.ok ? c.eventId : c.path)),
      ["$.before.customer_id", "$.before.customer_id", "$.source.lsn", "c1@5"],
    );
  });
});

describe("replyBound", () => {
  const reply = (domain: string, results: RecordResult[]) => Buffer.byteLength(JSON.stringify({ status: 503, ...summarise(domain, results) }));

  test("bounds the reply whatever each valid record comes to, and is exact for refused ones", () => {
    const out = classify([event("a"), event("b\u0001", { amount: "x" }), 7, event("ü🦆", { user_id: "" }), event("c")], contract, NOW);
    const bound = replyBound("domain_events", out);
    const refused = out
      .filter((c) => !c.ok)
      .map((c) => (c.ok ? undefined! : { index: c.index, event_id: c.eventId, status: "rejected" as const, reason: c.reason, path: c.path }));
    const worstStored = (i: number, id: string): RecordResult => ({ index: i, event_id: id, status: "duplicate", offset: Number.MAX_SAFE_INTEGER });
    const worstFailed = (i: number, id: string): RecordResult => ({
      index: i,
      event_id: id,
      status: "failed",
      reason: "x".repeat(MAX_FAILED_REASON),
      retryable: true,
    });
    const worst = reply("domain_events", [worstStored(0, "a"), ...refused, worstFailed(4, "c")]);
    assert.ok(bound >= worst, `bound ${bound} < a possible reply of ${worst} bytes`);
    assert.ok(bound >= reply("domain_events", [worstFailed(0, "a"), ...refused, worstStored(4, "c")]));
    assert.ok(bound < worst + 200, `bound ${bound} is close to the worst reply ${worst}`);
  });

  test("grows with the records: a batch of 5000 small valid records fits in 1 MiB, 20000 refused ones do not", () => {
    const valid = classify(
      Array.from({ length: 5000 }, (_, i) => event(`event-${i}`)),
      contract,
      NOW,
    );
    assert.ok(replyBound("domain_events", valid) < 1024 * 1024);
    const junk = classify(
      Array.from({ length: 20000 }, () => 1),
      contract,
      NOW,
    );
    assert.ok(replyBound("domain_events", junk) > 1024 * 1024);
  });

  test("failedReason is printable ASCII without quotes, and at most MAX_FAILED_REASON characters", () => {
    const r = failedReason("publish failed", new Error(`"ü\n${"x".repeat(1000)}\\`));
    assert.ok(r.length <= MAX_FAILED_REASON);
    assert.match(r, /^[\x20-\x7e]*$/);
    assert.equal(JSON.stringify(r).length, r.length + 2);
  });
});

describe("classify with wire limits", () => {
  test("a valid record carries its Avro bytes; one larger than a NATS message can carry is refused at $ (never a 503 at publish)", () => {
    const small = event("w1");
    const size = contract.encode(small).byteLength;
    const [fits] = classify([small], contract, NOW, { maxRecordBytes: size });
    assert.equal(fits!.ok, true);
    assert.deepEqual(fits!.ok && fits!.bytes, contract.encode(small));
    const [big] = classify([small], contract, NOW, { maxRecordBytes: size - 1 });
    assert.equal(big!.ok, false);
    assert.deepEqual(big!.ok ? undefined : [big!.path, big!.eventId, big!.raw], ["$", "w1", small]);
    assert.match(big!.ok ? "" : big!.reason, /could never be published/);
  });

  test("CDC changes are measured in the change codec", () => {
    const change = {
      op: "c",
      before: null,
      after: { customer_id: "c1", name: "Ada", email: null, country: null, updated_at: Date.UTC(2026, 5, 1) },
      source: { lsn: 1 },
      ts_ms: Date.UTC(2026, 5, 1),
    };
    const [ok] = classify([change], customers, NOW, { maxRecordBytes: 1000 });
    assert.equal(ok!.ok && ok!.bytes!.byteLength > 0, true);
    assert.equal(classify([change], customers, NOW, { maxRecordBytes: 5 })[0]!.ok, false);
  });
});
