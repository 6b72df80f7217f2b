import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { ReplayResult } from "@lake/contracts";
import { quarantinedRecordCodec, quarantineReplayCodec } from "@lake/contracts";
import { domainContract, type QuarantinedRecord } from "@lake/contracts";

import { RequestError } from "../src/domain/classify.ts";
import {
  decideReplay,
  decodeLedgerEntry,
  encodeLedgerEntry,
  foldLedger,
  LedgerEntryError,
  parseListQuery,
  parseReplayBody,
  QUARANTINE_LIST_DEFAULT_LIMIT,
  QUARANTINE_LIST_MAX_LIMIT,
  readStoredQuarantine,
  type ReplayItem,
  type ReplayLedgerEntry,
  type ReplayState,
  replayStatus,
  summariseReplay,
  toListEntry,
  toUndecodableEntry,
} from "../src/domain/quarantine.ts";

const contract = domainContract("domain_events");
const D = "domain_events";
/** The ingest clock the replay decisions are taken at: after every sample event time. */
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
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    return true;
  };
}

function quarantined(raw: unknown, overrides: Partial<QuarantinedRecord> = {}): QuarantinedRecord {
  const id = typeof raw === "object" && raw !== null ? (raw as { event_id?: unknown }).event_id : undefined;
  return {
    domain: D,
    event_id: typeof id === "string" ? id : null,
    reason: "amount must be a finite number, got string",
    path: "$.amount",
    raw: JSON.stringify(raw),
    truncated: false,
    received_at: Date.UTC(2026, 5, 1, 12, 30),
    source: "http",
    ...overrides,
  };
}

const original = (seq = 7): ReplayItem => ({ seq, corrected: false });
const corrected = (record: unknown, seq = 7): ReplayItem => ({ seq, corrected: true, record });
const given = (q: QuarantinedRecord | undefined, ledger?: { seq: number; entry: ReplayLedgerEntry | undefined; unreadable?: string }): ReplayState => ({
  quarantined: q && { kind: "record", record: q },
  ledger,
});
const junk = (n = 6) => new Uint8Array(n).fill(0xff);
const claimed = (seq: number, event_id: string) => ({ seq, entry: { state: "claimed" as const, event_id, at: 1 } });
const done = (seq: number, event_id: string, offset: number) => ({ seq, entry: { state: "done" as const, event_id, offset, at: 2 } });

describe("parseListQuery", () => {
  test("defaults: from the beginning, the default page size", () => {
    assert.deepEqual(parseListQuery(new URLSearchParams("")), { after: 0, limit: QUARANTINE_LIST_DEFAULT_LIMIT });
  });

  test("takes after and limit", () => {
    assert.deepEqual(parseListQuery(new URLSearchParams("after=17&limit=5")), { after: 17, limit: 5 });
    assert.deepEqual(parseListQuery(new URLSearchParams(`limit=${QUARANTINE_LIST_MAX_LIMIT}`)), { after: 0, limit: QUARANTINE_LIST_MAX_LIMIT });
  });

  for (const bad of ["-1", "1.5", "1e3", "x", "", " 1", "0x10", "99999999999999999"]) {
    test(`after=${JSON.stringify(bad)} is 400 invalid_after`, () => {
      assert.throws(() => parseListQuery(new URLSearchParams({ after: bad })), requestError(400, "invalid_after"));
    });
  }

  for (const bad of ["0", "-1", String(QUARANTINE_LIST_MAX_LIMIT + 1), "ten", "", "2.0"]) {
    test(`limit=${JSON.stringify(bad)} is 400 invalid_limit`, () => {
      assert.throws(() => parseListQuery(new URLSearchParams({ limit: bad })), requestError(400, "invalid_limit"));
    });
  }

  test("unknown and repeated parameters are 400", () => {
    assert.throws(() => parseListQuery(new URLSearchParams("offset=3")), requestError(400, "unknown_parameter"));
    assert.throws(() => parseListQuery(new URLSearchParams("after=1&after=2")), requestError(400, "repeated_parameter"));
  });
});

describe("parseReplayBody", () => {
  test("items with and without a corrected record, in order", () => {
    const body = JSON.stringify({ items: [{ seq: 17 }, { seq: 18, record: event("e1") }, { seq: 19, record: null }] });
    assert.deepEqual(parseReplayBody(body), [
      { seq: 17, corrected: false },
      { seq: 18, corrected: true, record: event("e1") },
      { seq: 19, corrected: true, record: null },
    ]);
  });

  test("malformed JSON is 400 malformed_json", () => {
    assert.throws(() => parseReplayBody('{"items": ['), requestError(400, "malformed_json"));
  });

  for (const body of ["[]", "null", '{"items": {}}', '{"seq": 1}', '{"items": [], "x": 1}', '{"items": [1]}', '{"items": [{"seq": 1, "recrod": {}}]}']) {
    test(`${body} is 400 (empty_batch or invalid_replay)`, () => {
      assert.throws(
        () => parseReplayBody(body),
        (e: unknown) => e instanceof RequestError && e.status === 400 && (e.code === "invalid_replay" || e.code === "empty_batch"),
      );
    });
  }

  test("an empty items list is 400 empty_batch", () => {
    assert.throws(() => parseReplayBody('{"items": []}'), requestError(400, "empty_batch"));
  });

  test("more items than the limit is 413 batch_too_large", () => {
    const body = JSON.stringify({ items: [{ seq: 1 }, { seq: 2 }, { seq: 3 }] });
    assert.equal(parseReplayBody(body, 3).length, 3);
    assert.throws(() => parseReplayBody(body, 2), requestError(413, "batch_too_large"));
  });

  for (const seq of [0, -1, 1.5, "17", null, 2 ** 53]) {
    test(`seq ${JSON.stringify(seq)} is 400 invalid_seq`, () => {
      assert.throws(() => parseReplayBody(JSON.stringify({ items: [{ seq }] })), requestError(400, "invalid_seq"));
    });
  }

  test("a missing seq is 400 invalid_seq naming the item", () => {
    assert.throws(() => parseReplayBody(JSON.stringify({ items: [{ seq: 1 }, { record: {} }] })), /items\[1\]\.seq must be a positive integer .*got nothing/);
  });

  test("the same seq twice is 400 duplicate_seq", () => {
    assert.throws(() => parseReplayBody(JSON.stringify({ items: [{ seq: 4 }, { seq: 4, record: {} }] })), requestError(400, "duplicate_seq"));
  });
});

describe("ledger entries", () => {
  test("round-trip", () => {
    for (const e of [claimed(1, "a").entry, done(2, "b", 99).entry]) assert.deepEqual(decodeLedgerEntry(encodeLedgerEntry(e)), e);
  });

  test("anything else is a LedgerEntryError", () => {
    for (const text of ["", "{", "null", '{"state":"done","event_id":"a","at":1}', '{"state":"gone","event_id":"a","at":1}', '{"state":"claimed","at":1}']) {
      assert.throws(() => decodeLedgerEntry(new TextEncoder().encode(text)), LedgerEntryError, text);
    }
    assert.throws(() => decodeLedgerEntry(new Uint8Array([0xff, 0xfe])), LedgerEntryError);
    // A well-formed record that says done without an offset is refused too.
    assert.throws(() => decodeLedgerEntry(quarantineReplayCodec.encode({ state: "done", event_id: "a", offset: null, at: 1 })), LedgerEntryError);
  });
});

describe("foldLedger: void entries are skipped, the tail is still the compare-and-set token", () => {
  const msg = (seq: number, data: Uint8Array) => ({ seq, data });
  test("no messages: no ledger", () => {
    assert.equal(foldLedger([]), undefined);
  });

  test("junk after a claim: the claim stands, the token is the junk's sequence", () => {
    assert.deepEqual(foldLedger([msg(10, encodeLedgerEntry(claimed(0, "a").entry)), msg(11, junk())]), { seq: 11, entry: claimed(0, "a").entry });
  });

  test("junk between a claim and its completion: done stands", () => {
    const ms = [msg(10, encodeLedgerEntry(claimed(0, "a").entry)), msg(11, junk()), msg(12, encodeLedgerEntry(done(0, "a", 5).entry))];
    assert.deepEqual(foldLedger(ms), { seq: 12, entry: done(0, "a", 5).entry });
  });

  test("nothing but junk (and a done without an offset): no entry stands", () => {
    const doneNoOffset = quarantineReplayCodec.encode({ state: "done", event_id: "a", offset: null, at: 1 });
    assert.deepEqual(foldLedger([msg(3, junk()), msg(4, doneNoOffset)]), { seq: 4, entry: undefined });
  });
});

describe("readStoredQuarantine", () => {
  const record = quarantined(event("q1", { amount: "x" }));
  test("a quarantined record of the domain reads as a record", () => {
    const r = readStoredQuarantine(D, quarantinedRecordCodec.encode(record), 0);
    assert.deepEqual(r.kind === "record" && { ...r.record }, record);
  });

  test("bytes that don't decode are undecodable, with the error and their size", () => {
    const r = readStoredQuarantine(D, junk(9), Date.UTC(2026, 5, 1));
    assert.equal(r.kind, "undecodable");
    assert.equal(r.kind === "undecodable" && r.bytes, 9);
    assert.match(r.kind === "undecodable" ? r.error : "", /cannot decode QuarantinedRecord/);
    assert.deepEqual(r.kind === "undecodable" && toUndecodableEntry(4, r), {
      seq: 4,
      status: "undecodable",
      event_id: null,
      error: r.kind === "undecodable" ? r.error : "",
      bytes: 9,
      stored_at: "2026-06-01T00:00:00.000Z",
    });
  });

  test("a record naming another domain than its subject is undecodable", () => {
    const r = readStoredQuarantine(D, quarantinedRecordCodec.encode({ ...record, domain: "payments" }), 0);
    assert.equal(r.kind, "undecodable");
    assert.match(r.kind === "undecodable" ? r.error : "", /names domain "payments", not domain_events/);
  });
});

describe("decideReplay", () => {
  const bad = event("q1", { amount: "12" });

  test("given an undecodable quarantine message, then undecodable (never replayed, whatever is sent)", () => {
    const state: ReplayState = {
      quarantined: { kind: "undecodable", error: "cannot decode QuarantinedRecord: truncated buffer", bytes: 6, storedAt: 0 },
      ledger: undefined,
    };
    for (const item of [original(), corrected(event("q1"))]) {
      const d = decideReplay(D, item, state, contract, NOW);
      assert.equal(d.kind, "undecodable");
      assert.match(
        d.kind === "undecodable" ? d.reason : "",
        /seq 7 is not a readable quarantined record \(cannot decode QuarantinedRecord: truncated buffer\); it cannot be replayed/,
      );
    }
  });

  test("given a ledger whose only entries are void, then publish after claiming on its tail", () => {
    const d = decideReplay(D, corrected(event("q1", { amount: 12 })), given(quarantined(bad), { seq: 44, entry: undefined }), contract, NOW);
    assert.deepEqual(d.kind === "publish" && { expectedLedgerSeq: d.expectedLedgerSeq, claimSeq: d.claimSeq }, { expectedLedgerSeq: 44, claimSeq: undefined });
  });

  test("given a claim followed by a void entry, then resume the claim, completing on the tail", () => {
    const d = decideReplay(D, corrected(event("q1", { amount: 12 })), given(quarantined(bad), { seq: 45, entry: claimed(0, "q1").entry }), contract, NOW);
    assert.deepEqual(d.kind === "publish" && { expectedLedgerSeq: d.expectedLedgerSeq, claimSeq: d.claimSeq }, { expectedLedgerSeq: 45, claimSeq: 45 });
  });

  test("given a done followed by a void entry, then still a duplicate", () => {
    assert.deepEqual(decideReplay(D, original(), given(quarantined(bad), { seq: 46, entry: done(0, "q1", 9).entry }), contract, NOW), {
      kind: "duplicate",
      eventId: "q1",
      offset: 9,
    });
  });

  test("given a ledger that cannot be read, then undecodable naming the ledger", () => {
    const d = decideReplay(D, original(), given(quarantined(bad), { seq: 46, entry: undefined, unreadable: "too many entries" }), contract, NOW);
    assert.equal(d.kind, "undecodable");
    assert.match(d.kind === "undecodable" ? d.reason : "", /replay ledger of seq 7 cannot be read \(too many entries\)/);
  });

  test("given no quarantined record at the seq, then not_found", () => {
    assert.deepEqual(decideReplay(D, original(7), given(undefined), contract, NOW), {
      kind: "not_found",
      reason: "no quarantined record of domain domain_events at seq 7",
    });
  });

  test("given a completed replay, when replayed again (with anything), then duplicate with the original offset", () => {
    for (const item of [original(), corrected(event("q1")), corrected(event("other")), corrected("junk")]) {
      assert.deepEqual(decideReplay(D, item, given(quarantined(bad), done(40, "q1", 123)), contract, NOW), { kind: "duplicate", eventId: "q1", offset: 123 });
    }
  });

  test("given nothing replayed, when a valid correction is sent, then publish it after claiming on an empty ledger", () => {
    const d = decideReplay(D, corrected(event("q1", { amount: 12 })), given(quarantined(bad)), contract, NOW);
    assert.deepEqual(d, {
      kind: "publish",
      record: { index: 0, ok: true, eventId: "q1", value: event("q1", { amount: 12 }) },
      expectedLedgerSeq: 0,
      claimSeq: undefined,
    });
  });

  test("when the uncorrected record is replayed and is still invalid, then rejected with the validator's reason", () => {
    assert.deepEqual(decideReplay(D, original(), given(quarantined(bad)), contract, NOW), {
      kind: "rejected",
      eventId: "q1",
      reason: "amount must be a finite number, got string",
      path: "$.amount",
    });
  });

  test("when the uncorrected record is now valid (e.g. the contract changed), then publish the raw copy", () => {
    const d = decideReplay(D, original(), given(quarantined(event("q2"))), contract, NOW);
    assert.equal(d.kind, "publish");
    assert.equal(d.kind === "publish" && d.record.eventId, "q2");
  });

  test("when a correction is still invalid, then rejected with its own reason and path", () => {
    const d = decideReplay(D, corrected(event("q1", { event_type: "teleport" })), given(quarantined(bad)), contract, NOW);
    assert.equal(d.kind, "rejected");
    assert.equal(d.kind === "rejected" && d.path, "$.event_type");
    assert.match(d.kind === "rejected" ? d.reason : "", /must be one of/);
    assert.deepEqual(decideReplay(D, corrected(null), given(quarantined(bad)), contract, NOW), {
      kind: "rejected",
      eventId: null,
      reason: "expected a JSON object, got null",
      path: "$",
    });
  });

  test("when a correction changes the event id, then rejected naming the id it must keep", () => {
    const d = decideReplay(D, corrected(event("other", { amount: 12 })), given(quarantined(bad)), contract, NOW);
    assert.equal(d.kind, "rejected");
    assert.equal(d.kind === "rejected" && d.path, "$.event_id");
    assert.match(d.kind === "rejected" ? d.reason : "", /^event_id must stay "q1" \(the quarantined record's\); the corrected record has "other"$/);
  });

  test("given the original had no event id, a correction may bring one", () => {
    const q = quarantined({ user_id: "u1" }, { event_id: null, path: "$.event_id", reason: "required field event_id is missing" });
    const d = decideReplay(D, corrected(event("fresh")), given(q), contract, NOW);
    assert.equal(d.kind === "publish" && d.record.eventId, "fresh");
  });

  test("given the event id itself was what got the record quarantined, a correction may replace it", () => {
    const q = quarantined(event("bad id!"), { path: "$.event_id", reason: "event_id does not match" });
    const d = decideReplay(D, corrected(event("good-id")), given(q), contract, NOW);
    assert.equal(d.kind === "publish" && d.record.eventId, "good-id");
  });

  test("given a truncated copy, the uncorrected replay is rejected and a correction is taken", () => {
    const q = quarantined(bad, { raw: '{"event_id":"q1","user_', truncated: true });
    const d = decideReplay(D, original(), given(q), contract, NOW);
    assert.equal(d.kind, "rejected");
    assert.match(d.kind === "rejected" ? d.reason : "", /truncated; replay it with a corrected record/);
    assert.equal(decideReplay(D, corrected(event("q1")), given(q), contract, NOW).kind, "publish");
  });

  test("given an unfinished claim with the same event id, then resume it (no new claim)", () => {
    const d = decideReplay(D, corrected(event("q1")), given(quarantined(bad), claimed(41, "q1")), contract, NOW);
    assert.equal(d.kind, "publish");
    assert.deepEqual(d.kind === "publish" && { expectedLedgerSeq: d.expectedLedgerSeq, claimSeq: d.claimSeq }, { expectedLedgerSeq: 41, claimSeq: 41 });
  });

  test("given an unfinished claim with another event id, then rejected naming the claimed id", () => {
    const q = quarantined({ user_id: "u1" }, { event_id: null, path: "$.event_id" });
    const d = decideReplay(D, corrected(event("second")), given(q, claimed(41, "first")), contract, NOW);
    assert.equal(d.kind, "rejected");
    assert.match(d.kind === "rejected" ? d.reason : "", /event_id "first" is in progress or unfinished/);
  });
});

describe("toListEntry", () => {
  const q = quarantined(event("q1", { amount: "x" }));

  test("renders times as ISO-8601 and shows no replay without a completed one", () => {
    const e = toListEntry(5, q, undefined);
    assert.deepEqual(e, {
      seq: 5,
      status: "quarantined",
      event_id: "q1",
      reason: q.reason,
      path: "$.amount",
      raw: q.raw,
      truncated: false,
      received_at: "2026-06-01T12:30:00.000Z",
      source: "http",
      replayed: null,
    });
    assert.equal(toListEntry(5, q, claimed(9, "q1").entry).replayed, null, "a claim alone is not a replay");
  });

  test("a time no Date can hold (a record written past ingest) is listed, not a 500 for the whole page", () => {
    const e = toListEntry(5, { ...q, received_at: 9e15 }, { state: "done", event_id: "q1", offset: 7, at: -9e15 });
    assert.equal(e.received_at, "+287168-08-24T16:00:00.000Z");
    assert.match(e.replayed!.at, /^-\d{6}-/);
  });

  test("a completed replay shows its offset and time", () => {
    assert.deepEqual(toListEntry(5, q, { state: "done", event_id: "q1", offset: 77, at: Date.UTC(2026, 5, 2) }).replayed, {
      offset: 77,
      at: "2026-06-02T00:00:00.000Z",
    });
  });
});

describe("summariseReplay and replayStatus", () => {
  const results: ReplayResult[] = [
    { seq: 1, event_id: "a", status: "accepted", offset: 10 },
    { seq: 2, event_id: "b", status: "duplicate", offset: 30 },
    { seq: 3, event_id: null, status: "rejected", reason: "bad", path: "$" },
    { seq: 4, status: "not_found", reason: "none" },
    { seq: 5, status: "undecodable", reason: "junk" },
  ];

  test("counts each status and keeps the highest offset as the token", () => {
    const r = summariseReplay(D, results);
    assert.deepEqual(r, { domain: D, accepted: 1, duplicates: 1, rejected: 1, not_found: 1, undecodable: 1, failed: 0, max_offset: 30, results });
    assert.equal(replayStatus(r), 200);
  });

  test("a request naming only undecodable messages is 422; with anything else it answers per item", () => {
    const only = summariseReplay(D, [{ seq: 5, status: "undecodable", reason: "junk" }]);
    assert.equal(replayStatus(only), 422);
    assert.equal(
      replayStatus(
        summariseReplay(D, [
          { seq: 5, status: "undecodable", reason: "junk" },
          { seq: 4, status: "not_found", reason: "none" },
        ]),
      ),
      200,
    );
  });

  test("a failed item makes it 503; nothing stored leaves max_offset null", () => {
    const r = summariseReplay(D, [{ seq: 1, event_id: "a", status: "failed", reason: "timeout", retryable: true }]);
    assert.equal(r.max_offset, null);
    assert.equal(replayStatus(r), 503);
  });
});
