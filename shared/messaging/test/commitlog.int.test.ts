// Reading the commit log against a real nats-server: which stored records stand (inspectLogRecord,
// judgeNext, LogJudge), the head (readCommitHead) and folds of a subject (foldCommitLog, from the start
// and from a judged state). Void records are stored the way they reach a real log: junk on a commit
// subject, a record naming another dataset, a record appended against a stale token.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { LogRecord } from "@lake/contracts";
import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import {
  appendLogRecord,
  connectNats,
  EMPTY_JUDGE_STATE,
  ensureStreams,
  foldCommitLog,
  inspectLogRecord,
  judgeNext,
  LogJudge,
  readCommitHead,
  recordsBetween,
  STREAMS,
  subjects,
} from "../src/index.ts";
import { lakeHeaders, land, verdict, version } from "./fixtures.ts";

const T = { timeout: 60_000 };

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "commitlog-test", auth: {} });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

/** A stored message of the commit log, as readers see it. */
async function stored(seq: number) {
  const m = await jsm.streams.getMessage(STREAMS.commits, { seq });
  assert.ok(m, `message ${seq} is stored`);
  return { seq: m.seq, subject: m.subject, data: m.data, headers: m.header };
}

const describeRecord = (r: LogRecord) =>
  r.kind === "VersionCommitted" ? `v${r.body.version}` : r.kind === "QualityVerdict" ? `QualityVerdict of v${r.body.version}` : r.kind;

/**
 * A dataset's log with one void record of each kind between good ones:
 *   v1, junk (no lake headers), v2 of this dataset stored on another dataset's subject (the other's log),
 *   a verdict appended against a stale token, v2, a verdict of v2.
 */
async function mixedLog(ds: string, other: string) {
  const v1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
  const junk = await land(nc, subjects.commits(ds), new TextEncoder().encode("not a record"), {});
  // Well-formed in every way but its subject: it names `ds` and lies in `other`'s log.
  const foreign = await land(nc, subjects.commits(other), { kind: "VersionCommitted", body: version(ds, 2, "foreign") }, lakeHeaders("VersionCommitted", 0, 0));
  // Appended against v1 although junk came after v1: the token is stale (a concurrent append won).
  const stale = await land(nc, subjects.commits(ds), verdict(ds, 1), lakeHeaders("QualityVerdict", v1, v1));
  const v2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: stale });
  const q2 = await appendLogRecord(js, ds, verdict(ds, 2), { expectedLastSeq: v2 });
  return { v1, junk, foreign, stale, v2, q2 };
}

describe("which records stand", () => {
  test("inspectLogRecord reads each stored message alone: junk and a record of another dataset have a problem, a stale token does not (yet)", T, async () => {
    const log = await mixedLog("inspect_a", "inspect_b");
    const good = inspectLogRecord(await stored(log.v1));
    assert.equal(good.problem, undefined);
    assert.deepEqual([good.dataset, good.expected, good.versionSeq, good.record?.kind], ["inspect_a", 0, 0, "VersionCommitted"]);
    const junk = inspectLogRecord(await stored(log.junk));
    assert.match(junk.problem ?? "", /^no Lake-Record header: not a lake record/);
    assert.equal(junk.record, undefined);
    const foreign = inspectLogRecord(await stored(log.foreign));
    assert.equal(foreign.dataset, "inspect_b", "the subject names the dataset, never the body");
    assert.match(foreign.problem ?? "", /names dataset "inspect_a" but is on lake\.commits\.inspect_b/);
    const stale = inspectLogRecord(await stored(log.stale));
    assert.equal(stale.problem, undefined, "well-formed: whether it stands depends on the record before it");
    assert.equal(stale.expected, log.v1);
  });

  test("judgeNext and LogJudge over the stored subject: each void record refused with why, the good ones stand", T, async () => {
    const ds = "judge_a";
    const log = await mixedLog(ds, "judge_b");
    const judge = new LogJudge();
    const standing: string[] = [];
    for (const seq of [log.v1, log.junk, log.stale, log.v2, log.q2]) {
      const r = judge.judge(await stored(seq));
      if (r) standing.push(describeRecord(r));
    }
    assert.deepEqual(standing, ["v1", "v2", "QualityVerdict of v2"]);
    assert.deepEqual(
      judge.voids.map((v) => v.seq),
      [log.junk, log.stale],
    );
    assert.match(judge.voids[1]!.why, new RegExp(`^appended against ${log.v1}, but ${log.junk} is the record before it`));
    assert.deepEqual(judge.state, { prev: log.q2, latestVersion: 2, latestVersionSeq: log.v2 });
    // The other dataset's subject: the foreign record is its only one, and void.
    const { why, state } = judgeNext(EMPTY_JUDGE_STATE, inspectLogRecord(await stored(log.foreign)));
    assert.match(why ?? "", /names dataset "judge_a"/);
    assert.deepEqual(state, { prev: log.foreign, latestVersion: 0, latestVersionSeq: 0 }, "a void record moves only the position");
  });

  test("judgeNext: a version that does not follow the latest one, or a pointer that is not the latest version, is void", T, async () => {
    const ds = "judge_rules";
    const v1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const replayed = await land(nc, subjects.commits(ds), { kind: "VersionCommitted", body: version(ds, 1, "again") }, lakeHeaders("VersionCommitted", v1, v1));
    const pointer = await land(nc, subjects.commits(ds), verdict(ds, 1), lakeHeaders("QualityVerdict", replayed, 0));
    const judge = new LogJudge();
    for (const seq of [v1, replayed, pointer]) judge.judge(await stored(seq));
    assert.deepEqual(
      judge.voids.map((v) => [v.seq, v.why.replace(/\d+/g, "N")]),
      [
        [replayed, "version N (parent N) does not follow the latest standing version N"],
        [pointer, "points at N as the latest version, but the latest standing version is at N"],
      ],
    );
  });
});

describe("readCommitHead", () => {
  test("the last record is the token, the latest standing version the version; void records never move the version", T, async () => {
    const ds = "head_a";
    assert.deepEqual(await readCommitHead(jsm, ds), { seq: 0, version: undefined }, "an empty subject");
    const log = await mixedLog(ds, "head_b");
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.seq, log.q2);
    assert.deepEqual([head.version?.seq, head.version?.record.write_id], [log.v2, "w2"]);
    // Junk after the head: the token moves to it, the version does not, for this reader and a fresh one.
    const junk = await land(nc, subjects.commits(ds), new Uint8Array([1, 2, 3]), {});
    const freshNc = await connectNats({ url: nats.url, name: "commitlog-test-fresh", auth: {} });
    try {
      for (const reader of [jsm, await jetstreamManager(freshNc)]) {
        const h = await readCommitHead(reader, ds);
        assert.deepEqual([h.seq, h.version?.seq], [junk, log.v2]);
      }
    } finally {
      await freshNc.close();
    }
    const other = await readCommitHead(jsm, "head_b");
    assert.deepEqual([other.seq, other.version], [log.foreign, undefined], "the foreign record gives its subject no version");
  });

  test("recordsBetween lists what landed after a token, void ones marked", T, async () => {
    const ds = "between_a";
    const log = await mixedLog(ds, "between_b");
    const between = await recordsBetween(jsm, ds, log.v1, Number.POSITIVE_INFINITY, 1);
    assert.deepEqual(
      between.map((e) => [e.seq, e.stands]),
      [
        [log.junk, false],
        [log.stale, false],
        [log.v2, true],
        [log.q2, true],
      ],
    );
  });
});

describe("foldCommitLog", () => {
  test("from the start: every standing record through untilSeq, in order, void ones skipped and counted", T, async () => {
    const ds = "fold_a";
    const log = await mixedLog(ds, "fold_b");
    const seen: [string, number][] = [];
    const judge = await foldCommitLog(js, ds, log.q2, (r, seq) => seen.push([describeRecord(r), seq]));
    assert.deepEqual(seen, [
      ["v1", log.v1],
      ["v2", log.v2],
      ["QualityVerdict of v2", log.q2],
    ]);
    assert.deepEqual(
      judge.voids.map((v) => v.seq),
      [log.junk, log.stale],
    );
    // Through an earlier record only.
    const upToStale: string[] = [];
    await foldCommitLog(js, ds, log.stale, (r) => upToStale.push(describeRecord(r)));
    assert.deepEqual(upToStale, ["v1"]);
  });

  test("from a judged state: only what landed after it, judged as a reader from the start would", T, async () => {
    const ds = "fold_from";
    const log = await mixedLog(ds, "fold_from_b");
    const first = await foldCommitLog(js, ds, log.v2, () => {});
    const v3 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: log.q2 });
    // A replayed v2 after v3, then v4: judged from where the first fold stopped.
    const replayed = await land(nc, subjects.commits(ds), { kind: "VersionCommitted", body: version(ds, 2, "again") }, lakeHeaders("VersionCommitted", v3, v3));
    const v4 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 4) }, { expectedLastSeq: replayed });
    const after: string[] = [];
    const rest = await foldCommitLog(js, ds, v4, (r) => after.push(describeRecord(r)), first.state);
    assert.deepEqual(after, ["QualityVerdict of v2", "v3", "v4"]);
    assert.deepEqual(
      rest.voids.map((v) => v.seq),
      [replayed],
    );
    const whole = await foldCommitLog(js, ds, v4, () => {});
    assert.deepEqual(rest.state, whole.state, "the same state as a fold from the start");
    // Nothing after the state: no read at all.
    const none: string[] = [];
    await foldCommitLog(js, ds, v4, (r) => none.push(describeRecord(r)), whole.state);
    assert.deepEqual(none, []);
  });

  test("a callback's throw ends the fold with that error", T, async () => {
    const ds = "fold_throw";
    const log = await mixedLog(ds, "fold_throw_b");
    const boom = new Error("stop here");
    let calls = 0;
    await assert.rejects(
      foldCommitLog(js, ds, log.q2, () => {
        calls++;
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(calls, 1);
  });
});
