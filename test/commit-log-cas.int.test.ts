// The commit log's compare-and-set, including against a server that lets two appends against the same
// sequence both land (a clustered nats-server 2.9, nats-server #4320): the later one is void. Its
// writer is told it lost, readCommitHead never resumes from before a standing version, foldCommitLog
// and the catalog skip it, and a catalog rebuilt from the log equals the live one.
//
// Void records are made two ways: on one server by publishing a record whose Lake-Expected-Seq is not
// the record before it (what the clustered server stores), and on a real 3-node cluster by racing
// appends against the same sequence.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

import { logCodecs, type LogRecord, type VersionCommitted } from "@lake/contracts";
import {
  appendLogRecord,
  appendWithCas,
  connectNats,
  ensureStreams,
  foldCommitLog,
  HEADERS,
  isCasConflict,
  readCommitHead,
  standsAfter,
  STREAMS,
  subjects,
} from "@lake/messaging";
import { createReplicatedStreams } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer } from "@lake/testing";
import { type NatsCluster, startNatsCluster } from "@lake/testing";

import { Projection } from "../services/catalog/src/db/projection.ts";
import { tailCommitLog } from "../services/catalog/src/nats/tail.ts";
import { verdict, version } from "../shared/messaging/test/fixtures.ts";

const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {}, child: () => quiet };

/** Stores a record as a server that didn't enforce the compare-and-set would: appended against `expected`, whatever the subject's last record is. */
async function landWithoutCas(nc: NatsConnection, dataset: string, record: LogRecord, expected: number, versionSeq: number): Promise<number> {
  const h = natsHeaders();
  h.set(HEADERS.record, record.kind);
  h.set(HEADERS.schema, logCodecs[record.kind].fingerprint);
  h.set(HEADERS.versionSeq, String(versionSeq));
  h.set(HEADERS.expectedSeq, String(expected));
  const codec = logCodecs[record.kind] as { encode(v: unknown): Uint8Array };
  return (await jetstream(nc).publish(subjects.commits(dataset), codec.encode(record.body), { headers: h })).seq;
}

async function standingVersions(nc: NatsConnection, dataset: string, untilSeq: number): Promise<number[]> {
  const out: number[] = [];
  await foldCommitLog(jetstream(nc), dataset, untilSeq, (r) => {
    if (r.kind === "VersionCommitted") out.push(r.body.version);
  });
  return out;
}

describe("on one server, with void records stored as a clustered 2.9 server stores them", () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dir: string;
  before(async () => {
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: "cas-test" });
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    dir = await mkdtemp(join(tmpdir(), "lake-cas-"));
  });
  after(async () => {
    await nc?.drain();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("a verdict that landed beside a newer version doesn't send a committer back to the older one", async () => {
    const ds = "fork_a";
    const js = jetstream(nc);
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const s2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: s1 });
    // A checker read the head at s1 (latest version v1) and its verdict landed after v2 anyway.
    const sv = await landWithoutCas(nc, ds, verdict(ds, 1), s1, s1);
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.seq, sv, "the CAS token is the subject's last record, void or not");
    assert.equal(head.version?.seq, s2, "the latest standing version is v2, not the v1 the void verdict points at");
    assert.equal(head.version?.record.version, 2);
    // The next version follows v2; a writer that still thinks v1 is latest is refused before it appends.
    await assert.rejects(
      appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2, "w2-again") }, { expectedLastSeq: sv }),
      (e: unknown) => isCasConflict(e) && /latest standing version is 2/.test(String((e as Error).cause)),
    );
    const s3 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: sv });
    assert.deepEqual(await standingVersions(nc, ds, s3), [1, 2, 3]);
  });

  test("reading the head costs a few requests however many records follow the latest version", async () => {
    // A quality checker catching up appends hundreds of verdicts after the latest version; a committer
    // re-reads the head before every append, and a read that walked them all lost every race (livelock).
    // The first read in a process judges the subject once (a consumer, a request per batch); each later
    // read judges only what landed since.
    const ds = "many_verdicts";
    const js = jetstream(nc);
    let seq = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const v1 = seq;
    for (let i = 0; i < 300; i++) seq = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: seq });
    const counter = await connectNats({ url: nats.url, name: "cas-test-requests" });
    try {
      const jsmCounted = await jetstreamManager(counter);
      let before = counter.stats().outMsgs;
      const first = await readCommitHead(jsmCounted, ds);
      const firstRequests = counter.stats().outMsgs - before;
      assert.equal(first.seq, seq);
      assert.equal(first.version?.seq, v1);
      assert.ok(firstRequests <= 20, `the first read judged 301 records in ${firstRequests} requests`);
      for (let i = 0; i < 2; i++) seq = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: seq });
      before = counter.stats().outMsgs;
      const head = await readCommitHead(await jetstreamManager(counter), ds);
      const requests = counter.stats().outMsgs - before;
      assert.equal(head.seq, seq);
      assert.equal(head.version?.seq, v1);
      assert.ok(requests <= 4, `a later read made ${requests} requests (the last record, then each of the 2 new ones)`);
    } finally {
      await counter.close();
    }
  });

  test("a version that landed beside a verdict is void: not the head's version, not folded, not in the catalog", async () => {
    const ds = "fork_b";
    const js = jetstream(nc);
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const sv = await appendLogRecord(js, ds, verdict(ds, 1), { expectedLastSeq: s1 });
    // A committer appended v2 against s1 too; the server stored it after the verdict.
    const sVoid = await landWithoutCas(nc, ds, { kind: "VersionCommitted", body: version(ds, 2, "w2-void") }, s1, s1);
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.seq, sVoid);
    assert.equal(head.version?.seq, s1, "v2 is void: the committer resumes from v1 and commits its events again");
    const s2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2, "w2-real") }, { expectedLastSeq: sVoid });
    const head2 = await readCommitHead(jsm, ds);
    assert.equal(head2.version?.record.write_id, "w2-real");
    assert.deepEqual(await standingVersions(nc, ds, s2), [1, 2]);
    assert.ok(sv < sVoid);

    // The catalog refuses the void record (an anomaly), applies the real v2, and a replay gives the same rows.
    const live = new Projection(join(dir, "live.db"));
    const t = await tailCommitLog({ nc, projection: live, log: quiet, onApplied: () => {}, untilSeq: s2 });
    await t.done;
    const versions = live.versions(ds, 0, 10);
    assert.deepEqual(
      versions.map((v) => [v.version, v.write_id, v.commit_seq]),
      [
        [1, "w1", s1],
        [2, "w2-real", s2],
      ],
    );
    const anomalies = live.db.prepare("SELECT commit_seq, problem FROM anomalies WHERE dataset = ?").all(ds) as { commit_seq: number; problem: string }[];
    assert.equal(anomalies.length, 1);
    assert.equal(anomalies[0]!.commit_seq, sVoid);
    assert.match(anomalies[0]!.problem, /^void VersionCommitted \(version 2\): appended against \d+, but \d+ is the record before it/);
    assert.equal(live.dataset(ds)?.last_record_seq, s2, "commands compare-and-set against the subject's last record");
    const replay = new Projection(join(dir, "replay.db"));
    const t2 = await tailCommitLog({ nc, projection: replay, log: quiet, onApplied: () => {}, untilSeq: live.lastSeq });
    await t2.done;
    assert.equal(replay.canonicalDump(), live.canonicalDump());
    live.close();
    replay.close();
  });

  /** Publishes raw bytes with the given headers on a commit subject, as a hostile NATS client could. */
  async function forge(subject: string, data: Uint8Array, hdrs: Record<string, string>): Promise<number> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    return (await jetstream(nc).publish(subject, data, Object.keys(hdrs).length ? { headers: h } : {})).seq;
  }

  /** The catalog's projection of the log through `untilSeq`, and its void-record anomalies for `ds`. */
  async function project(name: string, untilSeq: number, ds: string) {
    const p = new Projection(join(dir, `${name}.db`));
    const t = await tailCommitLog({ nc, projection: p, log: quiet, onApplied: () => {}, untilSeq });
    await t.done;
    const anomalies = p.db.prepare("SELECT commit_seq, problem FROM anomalies WHERE dataset = ? ORDER BY commit_seq").all(ds) as {
      commit_seq: number;
      problem: string;
    }[];
    return { p, anomalies };
  }

  test("junk without lake headers on a commit subject is void: the head, the fold and the catalog go on from the real versions", async () => {
    const ds = "forge_junk";
    const js = jetstream(nc);
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const s2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: s1 });
    const junk = await forge(subjects.commits(ds), new TextEncoder().encode("not a record"), {});
    // Junk with headers that look like a lake record's, pointing at a record that is not a version.
    const junk2 = await forge(subjects.commits(ds), new Uint8Array([0xff, 0x01]), {
      [HEADERS.record]: "VersionCommitted",
      [HEADERS.expectedSeq]: String(junk),
      [HEADERS.versionSeq]: String(junk),
    });
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.seq, junk2, "the CAS token is the subject's last message, whatever it is");
    assert.equal(head.version?.seq, s2, "the latest standing version is still v2: the committer doesn't restart at v1");
    const s3 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: junk2 });
    assert.deepEqual(await standingVersions(nc, ds, s3), [1, 2, 3]);
    assert.equal((await readCommitHead(jsm, ds)).version?.record.version, 3);
    const { p, anomalies } = await project("forge-junk", s3, ds);
    assert.deepEqual(
      p.versions(ds, 0, 10).map((v) => v.version),
      [1, 2, 3],
      "the catalog applies every real version",
    );
    assert.deepEqual(
      anomalies.map((a) => a.commit_seq),
      [junk, junk2],
    );
    assert.match(anomalies[0]!.problem, /^void record: no Lake-Record header/);
    assert.match(anomalies[1]!.problem, /^void record: cannot decode VersionCommitted/);
    p.close();
  });

  test("a record whose body names another dataset than its subject is void, and never applied to the body's dataset", async () => {
    const victim = "forge_victim";
    const rogue = "forge_rogue";
    const js = jetstream(nc);
    const v1 = await appendLogRecord(js, victim, { kind: "VersionCommitted", body: version(victim, 1) }, { expectedLastSeq: 0 });
    // A well-formed v2 of the victim, with a valid token and pointer, but on the rogue dataset's subject.
    const forged = await landWithoutCas(nc, rogue, { kind: "VersionCommitted", body: version(victim, 2, "forged") }, 0, 0);
    assert.equal((await readCommitHead(jsm, rogue)).version, undefined, "the rogue subject has no standing version");
    assert.equal((await readCommitHead(jsm, victim)).version?.seq, v1);
    const v2 = await appendLogRecord(js, victim, { kind: "VersionCommitted", body: version(victim, 2, "real") }, { expectedLastSeq: v1 });
    const { p, anomalies } = await project("forge-rogue", Math.max(v2, forged), rogue);
    assert.deepEqual(
      p.versions(victim, 0, 10).map((v) => [v.version, v.write_id]),
      [
        [1, "w1"],
        [2, "real"],
      ],
    );
    assert.equal(p.versions(rogue, 0, 10).length, 0);
    assert.equal(anomalies.length, 1);
    assert.match(anomalies[0]!.problem, /names dataset "forge_victim" but is on lake\.commits\.forge_rogue/);
    p.close();
  });

  test("a well-formed version that does not follow the latest standing one (a replayed v1) is void for every reader", async () => {
    const ds = "forge_replay";
    const js = jetstream(nc);
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const s2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: s1 });
    // A correct token and pointer, but a body that rewrites history from version 1.
    const replayed = await landWithoutCas(nc, ds, { kind: "VersionCommitted", body: version(ds, 1, "again") }, s2, s2);
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.seq, replayed);
    assert.equal(head.version?.record.version, 2, "the head's version is v2, not the replayed v1");
    const s3 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: replayed });
    assert.deepEqual(await standingVersions(nc, ds, s3), [1, 2, 3]);
    const { p, anomalies } = await project("forge-replay", s3, ds);
    assert.deepEqual(
      p.versions(ds, 0, 10).map((v) => v.write_id),
      ["w1", "w2", "w3"],
    );
    assert.deepEqual(
      anomalies.map((a) => a.commit_seq),
      [replayed],
    );
    p.close();
  });

  test("a record with a valid token but a pointer that is not the latest standing version is void: no head read, fold or catalog follows it", async () => {
    // Forged by a client that may write the commit log: each would have sent a committer back to an
    // older version (or to none) had the head read trusted the last record's own headers.
    const ds = "forge_pointer";
    const js = jetstream(nc);
    const other = await appendLogRecord(
      js,
      "forge_pointer_other",
      { kind: "VersionCommitted", body: version("forge_pointer_other", 1) },
      { expectedLastSeq: 0 },
    );
    const s1 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 1) }, { expectedLastSeq: 0 });
    const s2 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 2) }, { expectedLastSeq: s1 });
    const s3 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 3) }, { expectedLastSeq: s2 });
    const tag: LogRecord = { kind: "VersionTagged", body: { dataset: ds, version: 1, tag: "evil", actor: "mallory", reason: "", at: 0 } };
    // (a) v1 again, token = the head, pointer 0 ("no version yet").
    const a = await landWithoutCas(nc, ds, { kind: "VersionCommitted", body: version(ds, 1, "forged-a") }, s3, 0);
    assert.equal((await readCommitHead(jsm, ds)).version?.seq, s3, "(a): the head's version is still v3");
    // (b) a tag, token = the head, pointer = v1.
    const b = await landWithoutCas(nc, ds, tag, a, s1);
    assert.equal((await readCommitHead(jsm, ds)).version?.seq, s3, "(b): the head's version is still v3");
    // (c) v4 against a token that is another subject's message.
    const c = await landWithoutCas(nc, ds, { kind: "VersionCommitted", body: version(ds, 4, "forged-c") }, other, s3);
    const fresh = await connectNats({ url: nats.url, name: "cas-test-fresh" });
    try {
      for (const [who, j] of [
        ["this process", jsm],
        ["a fresh process", await jetstreamManager(fresh)],
      ] as const) {
        const head = await readCommitHead(j, ds);
        assert.equal(head.seq, c, `${who}: the token is the last message`);
        assert.equal(head.version?.seq, s3, `${who}: the latest standing version is v3`);
      }
    } finally {
      await fresh.close();
    }
    const s4 = await appendLogRecord(js, ds, { kind: "VersionCommitted", body: version(ds, 4) }, { expectedLastSeq: c });
    assert.deepEqual(await standingVersions(nc, ds, s4), [1, 2, 3, 4]);
    const { p, anomalies } = await project("forge-pointer", s4, ds);
    assert.deepEqual(
      p.versions(ds, 0, 10).map((v) => v.write_id),
      ["w1", "w2", "w3", "w4"],
    );
    assert.deepEqual(
      anomalies.map((x) => x.commit_seq),
      [a, b, c],
    );
    for (const x of anomalies) assert.match(x.problem, /^void /);
    assert.deepEqual(p.db.prepare("SELECT tag FROM tags WHERE dataset = ?").all(ds), [], "the forged tag is not applied");
    p.close();
  });

  test("appendWithCas refuses a writer whose expected sequence is stale, and records its token on the message", async () => {
    const js = jetstream(nc);
    const subject = subjects.commits("cas_token");
    const s1 = await appendWithCas(js, subject, new TextEncoder().encode("a"), { expectedLastSubjectSeq: 0 });
    await assert.rejects(appendWithCas(js, subject, new TextEncoder().encode("b"), { expectedLastSubjectSeq: 0 }), isCasConflict);
    const s2 = await appendWithCas(js, subject, new TextEncoder().encode("c"), { expectedLastSubjectSeq: s1 });
    const m = await jsm.streams.getMessage(STREAMS.commits, { seq: s2 });
    assert.equal(m?.header?.get(HEADERS.expectedSeq), String(s1));
    assert.ok(standsAfter(m?.header, s1));
    assert.ok(!standsAfter(m?.header, s1 - 1));
  });
});

describe("on a 3-node cluster with R3 streams", () => {
  let cluster: NatsCluster;
  let dir: string;
  const ncs: NatsConnection[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lake-cas-cluster-"));
    cluster = await startNatsCluster(dir);
    await createReplicatedStreams(cluster.url, 3);
    for (const n of cluster.nodes) ncs.push(await connect({ servers: n.url, name: "cas-cluster-test" }));
  });
  after(async () => {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("of appends racing against one sequence, exactly one is told it won, and only it stands", async () => {
    const subject = subjects.commits("cas_race");
    const jsm = await jetstreamManager(ncs[0]!);
    let expected = 0;
    const rounds = 40;
    for (let round = 0; round < rounds; round++) {
      // Two writers on each node, all against the same last sequence.
      const attempts = ncs.flatMap((nc, i) =>
        [0, 1].map((j) => appendWithCas(jetstream(nc), subject, new TextEncoder().encode(`${round}:${i}:${j}`), { expectedLastSubjectSeq: expected })),
      );
      const results = await Promise.allSettled(attempts);
      const won = results.filter((r): r is PromiseFulfilledResult<number> => r.status === "fulfilled");
      for (const r of results) if (r.status === "rejected") assert.ok(isCasConflict(r.reason), `a loser is told it lost: ${String(r.reason)}`);
      assert.equal(won.length, 1, `round ${round}: exactly one append won`);
      const last = (await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subject }))!;
      // The winner is the first record after `expected`; everything else that landed is void.
      const first = (await jsm.streams.getMessage(STREAMS.commits, { seq: expected + 1, next_by_subj: subject } as never))!;
      assert.equal(first.seq, won[0]!.value);
      expected = last.seq;
    }
    // Walk the subject: standing records are exactly the winners, one per round.
    let prev = 0;
    let standing = 0;
    let total = 0;
    for (
      let m = await jsm.streams.getMessage(STREAMS.commits, { seq: 1, next_by_subj: subject } as never);
      m;
      m = await jsm.streams.getMessage(STREAMS.commits, { seq: m.seq + 1, next_by_subj: subject } as never)
    ) {
      total++;
      if (standsAfter(m.header, prev)) standing++;
      prev = m.seq;
    }
    assert.equal(standing, rounds);
    console.log(
      `${rounds} rounds of 6 racing appends: ${total} records landed, ${total - rounds} void (this server ${total > rounds ? "does not serialise" : "serialises"} the compare-and-set)`,
    );
  });

  test("committers and checkers racing on one dataset give one linear history of standing versions", async () => {
    const ds = "cas_history";
    const writers = 6;
    const target = 15;
    // Each writer loops: read the head, append the next version (or a verdict for the latest), retry on conflict.
    const work = Array.from({ length: writers }, async (_, w) => {
      const nc = ncs[w % ncs.length]!;
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      let mine = 0;
      // A checker judges each version once (as quality does): two checkers appending verdicts as fast as
      // they can starved the version writers on a loaded machine (4,200 records for 15 versions).
      let judged = 0;
      // Bounded in attempts and time: a livelock fails the test instead of spinning until CI's limit.
      const deadline = Date.now() + 120_000;
      for (let i = 0; i < 5_000 && Date.now() < deadline; i++) {
        const head = await readCommitHead(jsm, ds);
        const latest = head.version?.record.version ?? 0;
        if (latest >= target) return mine;
        const checker = w % 3 === 2;
        if (checker && (latest === 0 || latest === judged)) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const record: LogRecord = checker ? verdict(ds, latest) : { kind: "VersionCommitted", body: version(ds, latest + 1, `w${w}-${i}`) };
        try {
          await appendLogRecord(js, ds, record, { expectedLastSeq: head.seq, msgId: `w${w}-${i}` });
          if (record.kind === "VersionCommitted") mine++;
          else judged = latest;
        } catch (e) {
          if (!isCasConflict(e)) throw e;
        }
      }
      throw new Error(`writer ${w} gave up: version ${target} not reached within its attempt and time bound`);
    });
    const wins = await Promise.all(work);
    const jsm = await jetstreamManager(ncs[0]!);
    const head = await readCommitHead(jsm, ds);
    assert.equal(head.version?.record.version, target);
    const seen: VersionCommitted[] = [];
    await foldCommitLog(jetstream(ncs[0]!), ds, head.seq, (r) => {
      if (r.kind === "VersionCommitted") seen.push(r.body);
    });
    assert.deepEqual(
      seen.map((v) => v.version),
      Array.from({ length: target }, (_, i) => i + 1),
      "standing versions are 1..N, each once",
    );
    assert.equal(
      wins.reduce((a, b) => a + b, 0),
      target,
      "writers told they won = standing versions",
    );
    const writeIds = new Set(seen.map((v) => v.write_id));
    assert.equal(writeIds.size, target);

    // The catalog's projection agrees, and notes every void version it refused.
    const p = new Projection(join(dir, "cluster.db"));
    const t = await tailCommitLog({ nc: ncs[0]!, projection: p, log: quiet, onApplied: () => {}, untilSeq: head.seq });
    await t.done;
    assert.deepEqual(
      p.versions(ds, 0, 100).map((v) => v.write_id),
      seen.map((v) => v.write_id),
    );
    p.close();
  });
});
