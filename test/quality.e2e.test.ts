// Invariant 7's first half: every committed version of a dataset gets exactly one quality verdict, in
// version order, appended to the commit log with a CAS, even when the quality service is killed with
// versions waiting and a second instance races the restarted one. Asserted on the log itself.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";

import { type ConsumerMessages, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { sendHttp } from "@lake/client";
import type { QualityVerdict, VersionCommitted } from "@lake/contracts";
import { decodeLogRecord, HEADERS, STREAMS, subjects } from "@lake/messaging";
import { type ServiceHandle, spawnService, waitFor } from "@lake/testing";

import { withLake } from "./helpers.ts";

const DATASET = "payments";
const QUALITY_ENTRY = resolve(import.meta.dirname, "../services/quality/src/main.ts");
const WAIT = { timeoutMs: 30_000, intervalMs: 50 };

type Entry =
  | { seq: number; kind: "VersionCommitted"; body: VersionCommitted; versionSeq: number | undefined }
  | { seq: number; kind: "QualityVerdict"; body: QualityVerdict; versionSeq: number | undefined }
  | { seq: number; kind: "other"; versionSeq: number | undefined };

/** Follows lake.commits.<dataset> from the start with an ordered consumer, as any reader of the log would. */
class CommitLog {
  readonly entries: Entry[] = [];
  private messages: ConsumerMessages | undefined;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly nc: NatsConnection) {}

  async open(dataset: string): Promise<this> {
    const consumer = await jetstream(this.nc).consumers.get(STREAMS.commits, { filter_subjects: subjects.commits(dataset) });
    const messages = await consumer.consume();
    this.messages = messages;
    this.done = (async () => {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        const rec = decodeLogRecord(m);
        const vs = m.headers?.get(HEADERS.versionSeq);
        const versionSeq = vs ? Number(vs) : undefined;
        if (rec?.kind === "VersionCommitted") this.entries.push({ seq: m.seq, kind: rec.kind, body: rec.body, versionSeq });
        else if (rec?.kind === "QualityVerdict") this.entries.push({ seq: m.seq, kind: rec.kind, body: rec.body, versionSeq });
        else this.entries.push({ seq: m.seq, kind: "other", versionSeq });
      }
    })();
    return this;
  }

  versions(): Extract<Entry, { kind: "VersionCommitted" }>[] {
    return this.entries.filter((e) => e.kind === "VersionCommitted");
  }

  verdicts(): Extract<Entry, { kind: "QualityVerdict" }>[] {
    return this.entries.filter((e) => e.kind === "QualityVerdict");
  }

  verdictsFor(version: number) {
    return this.verdicts().filter((v) => v.body.version === version);
  }

  /** The first version whose source range reaches `offset` (the version that made the event visible). */
  covering(offset: number) {
    return this.versions().find((v) => v.body.source.last_seq >= offset);
  }

  /** Resolves once every record now on the subject has been read. */
  async caughtUp(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const last = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subjects.commits(DATASET) });
    const target = last?.seq ?? 0;
    await waitFor(`the commit log read through seq ${target}`, () => ((this.entries.at(-1)?.seq ?? 0) >= target ? true : undefined), WAIT);
  }

  async close(): Promise<void> {
    this.messages?.stop();
    await this.done;
  }
}

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
let log: CommitLog;
const dirs: string[] = [];
const quality = new Map<string, ServiceHandle>();
let batchNo = 0;
let rowsSent = 0;
let nullsSent = 0;

function qualityDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lake-quality-"));
  dirs.push(d);
  return d;
}

async function startQuality(id: string, dir: string): Promise<ServiceHandle> {
  const h = await spawnService({
    name: `quality:${id}`,
    entry: QUALITY_ENTRY,
    env: { ...lake.natsEnv("quality"), LAKE_STORE_ROOT: lake.storeRoot, LAKE_QUALITY_DIR: dir, LAKE_QUALITY_ID: id },
  });
  quality.set(id, h);
  return h;
}

/** Sends `n` payments, `nullCountries` of them without card_country; returns the last offset. */
async function send(n: number, nullCountries: number): Promise<number> {
  const b = batchNo++;
  const currencies = ["EUR", "USD", "GBP"];
  const records = Array.from({ length: n }, (_, i) => ({
    payment_id: `pay-${b}-${i}`,
    user_id: `user-${i % 13}`,
    timestamp: Date.now(),
    amount: 10 + i * 0.25,
    currency: currencies[i % 3],
    card_country: i < nullCountries ? null : ["DE", "FR", "GB"][i % 3],
  }));
  const r = await sendHttp(lake.producer, DATASET, records);
  assert.equal(r.status, 200, JSON.stringify(r).slice(0, 500));
  assert.equal(r.accepted, n, JSON.stringify(r.results.filter((x) => x.status !== "accepted")).slice(0, 500));
  rowsSent += n;
  nullsSent += nullCountries;
  return r.max_offset!;
}

/** Waits for the version that covers `offset` to be in the log. */
function committed(offset: number) {
  return waitFor(`a ${DATASET} version covering offset ${offset}`, () => log.covering(offset), WAIT);
}

/** Waits until every version up to `version` has at least one verdict in the log. */
function judgedThrough(version: number) {
  return waitFor(
    `verdicts for ${DATASET} versions 1..${version}`,
    () =>
      log
        .versions()
        .filter((v) => v.body.version <= version)
        .every((v) => log.verdictsFor(v.body.version).length > 0)
        ? true
        : undefined,
    WAIT,
  );
}

before(async () => {
  lake = await withLake({ without: ["quality"] });
  nc = await lake.connect();
  log = await new CommitLog(nc).open(DATASET);
});

after(async () => {
  await Promise.all([...quality.values()].map((q) => q.stop().catch(() => null)));
  await log?.close();
  await nc?.close();
  await lake?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const dirA = qualityDir();

test("a good batch: its version gets exactly one passed verdict", async () => {
  await startQuality("quality-a", dirA);
  const v = await committed(await send(20, 0));
  await judgedThrough(v.body.version);
  for (const each of log.versions().filter((x) => x.body.version <= v.body.version)) {
    const verdicts = log.verdictsFor(each.body.version);
    assert.equal(verdicts.length, 1, `version ${each.body.version} has one verdict`);
    const verdict = verdicts[0]!;
    assert.equal(verdict.body.outcome, "passed", JSON.stringify(verdict.body.rules.filter((r) => !r.passed)));
    assert.equal(verdict.body.checker_id, "quality-a");
    assert.ok(verdict.seq > each.seq, "the verdict comes after its version in the log");
    const rules = verdict.body.rules.map((r) => r.rule);
    for (const r of ["files", "schema", "not_null(payment_id)", "enum(currency)", "length(card_country)", "row_count_min", "max_null_ratio(card_country)"]) {
      assert.ok(rules.includes(r), `rule ${r} ran`);
    }
  }
});

test("a batch with 90% of card_country null: its version fails max_null_ratio(card_country) with the measured ratio", async () => {
  const v = await committed(await send(100, 90));
  assert.equal(v.body.total_rows, rowsSent, "the covering version holds every row sent so far");
  await judgedThrough(v.body.version);
  const verdicts = log.verdictsFor(v.body.version);
  assert.equal(verdicts.length, 1);
  const verdict = verdicts[0]!.body;
  assert.equal(verdict.outcome, "failed");
  const rule = verdict.rules.find((r) => r.rule === "max_null_ratio(card_country)");
  assert.ok(rule, `rules: ${verdict.rules.map((r) => r.rule).join(", ")}`);
  assert.equal(rule.passed, false);
  const expectedRatio = nullsSent / rowsSent; // 90 of 120
  assert.ok(Math.abs(Number(rule.measured.split(" ")[0]) - expectedRatio) < 1e-4, `measured ${rule.measured}, expected ${expectedRatio}`);
  assert.equal(rule.measured, `${expectedRatio.toFixed(4)} (${nullsSent} of ${rowsSent} rows null)`);
  assert.equal(rule.expected, "<= 0.5");
  // Write-audit-publish: the committer reverts the failed version, and the revert is judged in turn.
  const revert = await waitFor(`the revert of version ${v.body.version}`, () => log.versions().find((x) => x.body.version === v.body.version + 1), WAIT);
  assert.equal(revert.body.operation, "revert");
  await judgedThrough(revert.body.version);
  assert.equal(log.verdictsFor(revert.body.version)[0]!.body.outcome, "passed");
});

test("kill -9 with versions waiting, restart next to a second instance: every version gets exactly one verdict, in order", async () => {
  await quality.get("quality-a")!.kill9();
  const judgedBefore = log.verdicts().length;
  // Batches sent while no quality service runs. payments is critical (write-audit-publish): the first
  // batch is committed as a staged version, and the committer holds the rest until it has a verdict.
  const first = await committed(await send(15, 1));
  const held = [await send(15, 1), await send(15, 1)];
  await log.caughtUp();
  const waiting = log.versions().filter((v) => log.verdictsFor(v.body.version).length === 0);
  assert.deepEqual(
    waiting.map((v) => v.body.version),
    [first.body.version],
    "one staged version waits for its verdict",
  );
  assert.equal(log.covering(held.at(-1)!), undefined, "the next batches wait for it");
  assert.equal(log.verdicts().length, judgedBefore);

  // The restarted instance (its state on disk) races a fresh one that replays the log from scratch.
  await Promise.all([startQuality("quality-a", dirA), startQuality("quality-b", qualityDir())]);
  await judgedThrough((await committed(held.at(-1)!)).body.version);

  // Killed again with versions just committed, probably mid-judgement; the other instance carries on,
  // and alone judges what is committed while the first is down.
  for (let i = 0; i < 2; i++) await committed(await send(15, 1));
  await quality.get("quality-a")!.kill9();
  const whileDown = await committed(await send(15, 0));
  await judgedThrough(whileDown.body.version);
  assert.equal(log.verdictsFor(whileDown.body.version)[0]?.body.checker_id, "quality-b");
  await startQuality("quality-a", dirA);
  const last = await committed(await send(15, 0));
  await judgedThrough(last.body.version);

  // Stop both (in-flight appends finish or are abandoned), then read the whole log and check it.
  const stopped = await Promise.all([quality.get("quality-a")!.stop(), quality.get("quality-b")!.stop()]);
  assert.deepEqual(stopped, [0, 0], "both quality instances stop cleanly");
  await log.caughtUp();

  const versions = log.versions();
  versions.forEach((v, i) => {
    assert.equal(v.body.version, i + 1, "versions are 1..N");
    assert.equal(v.body.parent_version, i, "each version's parent is the one before");
  });
  for (const v of versions) {
    const verdicts = log.verdictsFor(v.body.version);
    assert.equal(verdicts.length, 1, `version ${v.body.version} has exactly one verdict (has ${verdicts.length})`);
    assert.ok(verdicts[0]!.seq > v.seq, `version ${v.body.version}'s verdict comes after it`);
  }
  assert.deepEqual(
    log.verdicts().map((v) => v.body.version),
    versions.map((v) => v.body.version),
    "verdicts are appended in version order",
  );
  // Every verdict names the dataset's latest version at its position in Lake-Version-Seq: that header
  // is how a committer finds its resume point, whichever version the verdict is about.
  let latestVersionSeq = 0;
  for (const e of log.entries) {
    if (e.kind === "VersionCommitted") latestVersionSeq = e.seq;
    else if (e.kind === "QualityVerdict") assert.equal(e.versionSeq, latestVersionSeq, `verdict at seq ${e.seq} carries the latest version's seq`);
  }
  for (const q of quality.values()) assert.doesNotMatch(q.logs(), /second verdict/, `${q.name} saw no duplicate verdict`);
});
