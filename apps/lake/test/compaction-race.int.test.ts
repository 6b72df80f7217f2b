// Compaction against a real nats-server and a real committer, in one process so every race is forced
// at an exact point (hooks hold one writer at its commit point while the other commits):
// - compaction loses to a committer's append: it rebases and lands, nothing lost;
// - a committer loses to a compaction: it drops its batch, re-reads it from the stream, nothing lost;
// - two compactions take the same files: one lands, the other gives up that partition and says so;
// - a record that is not a data version moves the head: compaction appends again, same version.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { Committer, type DatasetSpec, domainSpec, type Failpoint, fromParquet } from "@lake/committer";
import { domainContract, type LakeLog, type VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats, ensureStreams, foldCommitLog, readCommitHead, STREAMS, subjects } from "@lake/messaging";
import { type ObjectStore, openLocalStore } from "@lake/storage";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { compactDataset, type CompactionFailpoint } from "../src/ops/compaction.ts";
import { applyVersionFiles } from "../src/ops/compaction-plan.ts";

const contract = domainContract("domain_events");
const DAY = 86_400_000;
const JUNE_1 = Date.UTC(2026, 5, 1, 12);
const quiet: Logger = { info() {}, warn() {}, error() {}, child: () => quiet };

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let store: ObjectStore;
let storeDir: string;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "compaction-race-test" });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  storeDir = await mkdtemp(join(tmpdir(), "lake-compaction-"));
  store = openLocalStore(storeDir);
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
});

/** A gate a test opens and closes: a writer reaching `point` waits there until released. */
class Gate<P extends string> {
  private armed = new Map<P, { reached: () => void; wait: Promise<void>; release: () => void; hit: Promise<void> }>();
  arm(point: P): { hit: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const hit = new Promise<void>((r) => (reached = r));
    const wait = new Promise<void>((r) => (release = r));
    this.armed.set(point, { reached, wait, release, hit });
    return { hit, release };
  }
  hook = (point: P): Promise<void> | undefined => {
    const a = this.armed.get(point);
    if (!a) return undefined;
    this.armed.delete(point);
    a.reached();
    return a.wait;
  };
}

/** One dataset per test (its own events and commit subjects), with a live committer writing it. */
async function dataset(name: string) {
  const spec: DatasetSpec = { ...domainSpec(contract, { stream: STREAMS.events, subject: subjects.events(name) }), dataset: name };
  const gate = new Gate<Failpoint>();
  const committer = new Committer({ nc, store, spec, maxRows: 10_000, maxAgeMs: 100, committerId: `committer-${name}`, log: quiet, failpoint: gate.hook });
  await committer.start();
  const sent = new Set<string>();
  let n = 0;
  /** Publishes `count` events (event time on `day`) and returns the last offset. */
  async function publish(count: number, day = 0): Promise<number> {
    // All at once, so one batch of the committer (100 ms age limit) takes them: one file per call.
    const acks = await Promise.all(
      Array.from({ length: count }, () => {
        const i = n++;
        const id = `${name}-${i}`;
        sent.add(id);
        const value = { event_id: id, user_id: `u${i % 7}`, event_type: "view", timestamp: JUNE_1 + day * DAY + i, amount: i / 4 };
        return js.publish(subjects.events(name), contract.encode(value), { msgID: id });
      }),
    );
    return Math.max(...acks.map((a) => a.seq));
  }
  async function committed(offset: number): Promise<VersionCommitted> {
    return waitFor(
      `${name}: a version covering offset ${offset}`,
      async () => {
        const head = await readCommitHead(jsm, name);
        return head.version && head.version.record.source.last_seq >= offset ? head.version.record : undefined;
      },
      { timeoutMs: 20_000 },
    );
  }
  /** Publishes a batch and waits for the committer to commit it: one more small file per batch. */
  async function batch(count: number, day = 0): Promise<VersionCommitted> {
    return committed(await publish(count, day));
  }
  return { spec, gate, committer, sent, publish, committed, batch };
}

/** The whole history of a dataset, and what its latest version holds, read back from its files. */
async function inspect(name: string, spec: DatasetSpec) {
  const head = await readCommitHead(jsm, name);
  const versions: VersionCommitted[] = [];
  const live = new Map<string, LakeLog.DataFile[]>();
  await foldCommitLog(js, name, head.seq, (rec) => {
    if (rec.kind !== "VersionCommitted") return;
    versions.push(rec.body);
    applyVersionFiles(live, rec.body);
  });
  const files = [...live.values()].flat();
  const ids: string[] = [];
  for (const f of files) for (const row of fromParquet(spec, await store.get(f.key)).rows) ids.push(row.event_id as string);
  return { versions, files, ids, head };
}

function assertExactlyOnce(ids: readonly string[], sent: ReadonlySet<string>, versions: readonly VersionCommitted[]): void {
  const seen = new Set<string>();
  const twice = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  assert.deepEqual(twice.slice(0, 5), [], "no event twice");
  const missing = [...sent].filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `every event present (${missing.length} missing)`);
  assert.equal(seen.size, sent.size);
  versions.forEach((v, i) => {
    assert.equal(v.version, i + 1, "versions 1..N");
    assert.equal(v.parent_version, i, "each the parent of the next");
  });
  assert.equal(versions.at(-1)!.total_rows, ids.length, "total_rows is what the files hold");
}

test("compaction that loses to a committer's append rebases onto it and lands; nothing lost", async () => {
  const d = await dataset("race_rebase");
  try {
    for (let i = 0; i < 5; i++) await d.batch(40);
    const before = await inspect("race_rebase", d.spec);
    assert.equal(before.files.length, 5);
    const hook = new Gate<CompactionFailpoint>();
    const held = hook.arm("compact_before_commit");
    const running = compactDataset({ nc, store, spec: d.spec, failpoint: hook.hook, log: quiet });
    await held.hit;
    // While the compaction holds its files and manifest, the committer commits a new batch.
    const appended = await d.batch(25);
    held.release();
    const r = await running;
    assert.equal(r.outcome, "committed");
    assert.equal(r.attempts, 2);
    assert.equal(r.rebases, 1);
    assert.equal(r.parentVersion, appended.version, "rebased onto the committer's version");
    assert.equal(r.version, appended.version + 1);
    assert.deepEqual(
      [r.filesBefore, r.filesRemoved, r.filesAdded, r.filesAfter],
      [5, 5, 1, 1 + appended.added_files.length],
      "5 small files → 1, plus the batch that raced",
    );
    const after = await inspect("race_rebase", d.spec);
    const c = after.versions.at(-1)!;
    assert.equal(c.operation, "compaction");
    assert.deepEqual(
      { ...c.source },
      { ...appended.source, first_seq: appended.source.last_seq + 1, last_seq: appended.source.last_seq },
      "empty range after the new parent's",
    );
    assert.equal(c.total_rows, appended.total_rows);
    assert.deepEqual(new Set(c.removed_files), new Set(before.files.map((f) => f.key)));
    assertExactlyOnce(after.ids, d.sent, after.versions);
    // The committer carries on from the compaction as from any version.
    await d.batch(10);
    const later = await inspect("race_rebase", d.spec);
    assertExactlyOnce(later.ids, d.sent, later.versions);
  } finally {
    await d.committer.stop();
  }
});

test("a committer that loses to a compaction drops its batch, re-reads it after the head, nothing lost or doubled", async () => {
  const d = await dataset("race_committer");
  try {
    for (let i = 0; i < 4; i++) await d.batch(30);
    const held = d.gate.arm("before_commit");
    const offset = await d.publish(50);
    await held.hit; // the committer holds a written batch at its commit point
    const r = await compactDataset({ nc, store, spec: d.spec, log: quiet });
    assert.equal(r.outcome, "committed");
    assert.equal(r.attempts, 1, "nothing raced the compaction");
    const conflictsBefore = d.committer.stats.conflicts;
    held.release();
    await d.committed(offset);
    assert.ok(d.committer.stats.conflicts > conflictsBefore, "the committer lost its CAS to the compaction");
    const after = await inspect("race_committer", d.spec);
    const next = after.versions[r.version!]!; // versions are 1-based: this is version r.version + 1
    assert.equal(next.parent_version, r.version, "the batch was re-committed on top of the compaction");
    assert.equal(next.source.first_seq, offset - 49, "re-read from just after the compaction's (empty) range");
    assertExactlyOnce(after.ids, d.sent, after.versions);
  } finally {
    await d.committer.stop();
  }
});

test("two compactions of the same files: one lands, the other gives up that partition (and only that one)", async () => {
  const d = await dataset("race_two");
  try {
    for (let i = 0; i < 3; i++) await d.batch(20, 0);
    for (let i = 0; i < 3; i++) await d.batch(20, 1);
    const hook = new Gate<CompactionFailpoint>();
    const held = hook.arm("compact_before_commit");
    const a = compactDataset({ nc, store, spec: d.spec, failpoint: hook.hook, log: quiet, committerId: "compact-a" });
    await held.hit;
    // B takes only the first partition's files (max 3 files), and lands first.
    const b = await compactDataset({ nc, store, spec: d.spec, maxFiles: 3, log: quiet, committerId: "compact-b" });
    assert.equal(b.outcome, "committed");
    assert.deepEqual(
      b.plan.groups.map((g) => g.partition),
      ["dt=2026-06-01"],
    );
    held.release();
    const ra = await a;
    assert.equal(ra.outcome, "committed");
    assert.deepEqual(ra.dropped, [{ partition: "dt=2026-06-01", removedBy: b.version, files: b.plan.groups[0]!.files.map((f) => f.key) }]);
    assert.equal(ra.parentVersion, b.version);
    assert.deepEqual([ra.filesRemoved, ra.filesAdded, ra.filesAfter], [3, 1, 2]);
    const after = await inspect("race_two", d.spec);
    assertExactlyOnce(after.ids, d.sent, after.versions);

    // The same race over one partition only: nothing left for the loser to commit.
    for (let i = 0; i < 2; i++) await d.batch(10, 2);
    const again = hook.arm("compact_before_commit");
    const c = compactDataset({ nc, store, spec: d.spec, failpoint: hook.hook, log: quiet });
    await again.hit;
    const winner = await compactDataset({ nc, store, spec: d.spec, log: quiet });
    assert.equal(winner.outcome, "committed");
    again.release();
    const rc = await c;
    assert.equal(rc.outcome, "abandoned");
    assert.deepEqual(
      rc.dropped.map((x) => "removedBy" in x && [x.partition, x.removedBy]),
      [["dt=2026-06-03", winner.version]],
    );
    const final = await inspect("race_two", d.spec);
    assert.equal(final.versions.at(-1)!.version, winner.version, "the loser committed nothing");
    assertExactlyOnce(final.ids, d.sent, final.versions);
  } finally {
    await d.committer.stop();
  }
});

test("a record that is not a data version moves the head: the compaction appends again with the same version", async () => {
  const d = await dataset("race_verdict");
  try {
    for (let i = 0; i < 3; i++) await d.batch(15);
    const head = await readCommitHead(jsm, "race_verdict");
    const hook = new Gate<CompactionFailpoint>();
    const held = hook.arm("compact_before_commit");
    const running = compactDataset({ nc, store, spec: d.spec, failpoint: hook.hook, log: quiet });
    await held.hit;
    await appendLogRecord(
      js,
      "race_verdict",
      {
        kind: "QualityVerdict",
        body: { dataset: "race_verdict", version: head.version!.record.version, outcome: "passed", rules: [], checked_at: JUNE_1, checker_id: "test" },
      },
      { expectedLastSeq: head.seq },
    );
    held.release();
    const r = await running;
    assert.equal(r.outcome, "committed");
    assert.deepEqual([r.attempts, r.rebases, r.version], [2, 0, head.version!.record.version + 1]);
    const after = await inspect("race_verdict", d.spec);
    assertExactlyOnce(after.ids, d.sent, after.versions);
  } finally {
    await d.committer.stop();
  }
});

test("dry run and nothing to do write nothing", async () => {
  const d = await dataset("race_dry");
  try {
    for (let i = 0; i < 3; i++) await d.batch(10);
    const keys = async () => {
      const out: string[] = [];
      for await (const o of store.list("datasets/race_dry/")) out.push(o.key);
      return out;
    };
    const before = await keys();
    const headBefore = await readCommitHead(jsm, "race_dry");
    const dry = await compactDataset({ nc, store, spec: d.spec, dryRun: true, log: quiet });
    assert.equal(dry.outcome, "dry_run");
    assert.equal(dry.plan.files, 3);
    assert.deepEqual(await keys(), before);
    assert.equal((await readCommitHead(jsm, "race_dry")).seq, headBefore.seq);
    const tiny = await compactDataset({ nc, store, spec: d.spec, targetBytes: 10, log: quiet });
    assert.equal(tiny.outcome, "nothing_to_do", "every file is at or above a 10-byte target");
    const real = await compactDataset({ nc, store, spec: d.spec, log: quiet });
    assert.equal(real.outcome, "committed");
    const twice = await compactDataset({ nc, store, spec: d.spec, log: quiet });
    assert.equal(twice.outcome, "nothing_to_do", "one file per partition left");
  } finally {
    await d.committer.stop();
  }
});
