// The compare-and-set appends against a real nats-server: appendWithCas (a win, a lost race as a typed
// error, a retry deduplicated by msgId, a refusal for good) and appendLogRecord (the head re-read, the
// version pointer taken from the log, a version that must follow the latest one, msgIds per token).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import {
  appendLogRecord,
  AppendRejectedError,
  appendWithCas,
  CasConflictError,
  connectNats,
  ensureStreams,
  EXPECTED_SEQ_HEADER,
  expectedSeqOf,
  HEADERS,
  isAppendRejected,
  isCasConflict,
  readCommitHead,
  standsAfter,
  STREAMS,
  subjects,
} from "../src/index.ts";
import { verdict, version } from "./fixtures.ts";

const T = { timeout: 60_000 };

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "append-test", auth: {} });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  // A stream of its own for the raw appends, with a small message limit to be refused by.
  await jsm.streams.add({ name: "APPEND_TEST", subjects: ["append.>"], max_msg_size: 1024 });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);

async function last(stream: string, subject: string) {
  return jsm.streams.getMessage(stream, { last_by_subj: subject });
}

describe("appendWithCas", () => {
  test("appends against the subject's last sequence and records that token on the record", T, async () => {
    const s1 = await appendWithCas(js, "append.win", bytes("one"), { expectedLastSubjectSeq: 0 });
    const s2 = await appendWithCas(js, "append.win", bytes("two"), { expectedLastSubjectSeq: s1, headers: { "X-Kept": "yes" } });
    assert.ok(s2 > s1);
    const m = await last("APPEND_TEST", "append.win");
    assert.equal(m?.seq, s2);
    assert.equal(m?.header?.get(EXPECTED_SEQ_HEADER), String(s1));
    assert.equal(expectedSeqOf(m?.header), s1);
    assert.equal(m?.header?.get("X-Kept"), "yes", "the caller's headers go along");
    assert.ok(standsAfter(m?.header, s1), "it stands after the record before it");
    assert.ok(!standsAfter(m?.header, 0));
  });

  test("a lost race is a CasConflictError naming the subject and the stale token, with the server's answer as cause; nothing is stored", T, async () => {
    const s1 = await appendWithCas(js, "append.race", bytes("first"), { expectedLastSubjectSeq: 0 });
    const err = await appendWithCas(js, "append.race", bytes("late"), { expectedLastSubjectSeq: 0 }).then(
      () => assert.fail("a second append against 0 must lose"),
      (e: unknown) => e,
    );
    assert.ok(isCasConflict(err));
    assert.ok(err instanceof CasConflictError);
    assert.equal(err.subject, "append.race");
    assert.equal(err.expectedLastSeq, 0);
    assert.ok(err.cause !== undefined, "the cause is passed on");
    assert.equal((await last("APPEND_TEST", "append.race"))?.seq, s1, "the loser stored nothing");
  });

  test("a retry with the same msgId and token (an unknown outcome) is answered with the first append's sequence, stored once", T, async () => {
    const s1 = await appendWithCas(js, "append.dedupe", bytes("x"), { expectedLastSubjectSeq: 0, msgId: "dedupe-1" });
    const again = await appendWithCas(js, "append.dedupe", bytes("x"), { expectedLastSubjectSeq: 0, msgId: "dedupe-1" });
    assert.equal(again, s1);
    const info = await jsm.streams.info("APPEND_TEST", { subjects_filter: "append.dedupe" });
    assert.equal(info.state.subjects?.["append.dedupe"], 1, "one message on the subject");
  });

  test("a refusal for good (too large for the stream) is an AppendRejectedError with JetStream's code, not a conflict", T, async () => {
    const err = await appendWithCas(js, "append.big", new Uint8Array(4096), { expectedLastSubjectSeq: 0 }).then(
      () => assert.fail("a message over max_msg_size must be refused"),
      (e: unknown) => e,
    );
    assert.ok(isAppendRejected(err) && err instanceof AppendRejectedError);
    assert.equal(err.subject, "append.big");
    assert.equal(typeof err.code, "number");
    assert.ok(!isCasConflict(err));
  });
});

describe("appendLogRecord", () => {
  test("a version, then a verdict pointing at it: Lake-Version-Seq comes from the log, the token is the last record", T, async () => {
    const ds = "append_log";
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const sv = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: s1 });
    const m = await last(STREAMS.commits, subjects.commits(ds));
    assert.equal(m?.seq, sv);
    assert.equal(m?.header?.get(HEADERS.record), "QualityVerdict");
    assert.equal(m?.header?.get(HEADERS.versionSeq), String(s1));
    assert.equal(m?.header?.get(HEADERS.expectedSeq), String(s1));
    const head = await readCommitHead(jsm, ds);
    assert.deepEqual([head.seq, head.version?.seq, head.version?.record.write_id], [sv, s1, "w1"]);
  });

  test("a stale token, a version that does not follow the latest one, a verdict with no version: each refused before anything lands", T, async () => {
    const ds = "append_refused";
    await assert.rejects(appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: 0 }), /no committed version to refer to/);
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    await assert.rejects(
      appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: 0 }),
      (e: unknown) => isCasConflict(e) && /the last record is \d+/.test(String((e as Error).cause)),
    );
    await assert.rejects(
      appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: s1 }),
      (e: unknown) => isCasConflict(e) && /follows 2, but the latest standing version is 1/.test(String((e as Error).cause)),
    );
    assert.equal((await readCommitHead(jsm, ds)).seq, s1, "nothing landed");
  });

  test("the same msgId is deduplicated per token: a retry returns the first sequence, the same record on a newer head lands anew", T, async () => {
    const ds = "append_msgid";
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const a = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: s1, msgId: "verdict-1" });
    // A retry after an unknown outcome: the head moved (to our own record), so it is a lost race...
    await assert.rejects(appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: s1, msgId: "verdict-1" }), (e: unknown) => isCasConflict(e));
    // ...while the raw append of the same id and token is the duplicate JetStream answers with its sequence.
    const raw = await appendWithCas(js, subjects.commits(ds), new Uint8Array(), { expectedLastSubjectSeq: s1, msgId: `verdict-1@${s1}` });
    assert.equal(raw, a);
    const b = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: a, msgId: "verdict-1" });
    assert.ok(b > a, "against a newer head the id is a new one");
  });
});
