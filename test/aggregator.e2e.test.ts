/* eslint-disable @typescript-eslint/no-explicit-any -- the aggregator's /healthz JSON and the .avsc documents are read field by field */
// Invariant 6 (deterministic replay; recovery never double-counts) and the late side output, end to
// end: events go in through ingest, the aggregator runs as its own process, and its results are read
// back from lake.windows.daily_user_totals and compared with a plain recomputation written here, from
// the accepted events and the rules of the design (not with the aggregator's code).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { serviceEntry } from "@lake/app";
import { type SampleEvent, sampleEvents, sendHttp } from "@lake/client";
import { safeTypeForSchema } from "@lake/contracts";
import { STREAMS, subjects } from "@lake/messaging";
import { type ServiceHandle, spawnService, waitFor } from "@lake/testing";

import { DATASET, withLake } from "./helpers.ts";

const DERIVED = "daily_user_totals";
const DAY = 86_400_000;
const MIN = 60_000;
const JUNE_1 = Date.UTC(2026, 5, 1);

// The job's constants come from the contract, the rules from the design: window = [k·size, (k+1)·size),
// watermark = max event time seen − out-of-orderness, fired once watermark ≥ end, an event is late
// (side output) when watermark ≥ end + allowed lateness on arrival.
const contractsDir = join(import.meta.dirname, "..", "contracts", "avro", "derived");
const readAvsc = (f: string) => JSON.parse(readFileSync(join(contractsDir, f), "utf8")) as Record<string, unknown> & { "lake.derived"?: Record<string, any> };
const derivedSchema = readAvsc(`${DERIVED}.avsc`);
const spec = derivedSchema["lake.derived"]!;
const SIZE: number = spec.window.size_ms;
const OOO: number = spec.out_of_orderness_ms;
const LATENESS: number = spec.allowed_lateness_ms;
const resultType = safeTypeForSchema(derivedSchema as Parameters<typeof safeTypeForSchema>[0]);
const lateType = safeTypeForSchema(readAvsc("late_event.avsc") as Parameters<typeof safeTypeForSchema>[0]);
const positionType = safeTypeForSchema(readAvsc("window_position.avsc") as Parameters<typeof safeTypeForSchema>[0]);
/** Provisional results and position markers come at batch ends: which exist depends on the batching. */
const batchDependent = (msgId: string | undefined) => msgId !== undefined && (msgId.startsWith("pos:") || /:p\d+$/.test(msgId));

interface Accepted extends SampleEvent {
  offset: number;
}

interface ResultRow {
  user_id: string;
  window_start: number;
  window_end: number;
  day: string;
  total_amount: number;
  event_count: number;
  min_amount: number;
  max_amount: number;
  revision: number;
  watermark: number;
  provisional: boolean | null;
  through_seq: number | null;
}

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
const dirs: string[] = [];
const running = new Set<ServiceHandle>();
const accepted: Accepted[] = [];

before(async () => {
  assert.equal(spec.window.type, "tumbling", "this test recomputes tumbling windows");
  // This test runs its own aggregator instances (and reads their output directly).
  lake = await withLake({ without: ["aggregator"] });
  nc = await lake.connect();
});
after(async () => {
  for (const s of running) await s.stop().catch(() => null);
  await nc?.close();
  await lake?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lake-agg-"));
  dirs.push(d);
  return d;
}

async function startAggregator(dir: string, env: Record<string, string> = {}): Promise<ServiceHandle> {
  const h = await spawnService({
    name: "aggregator",
    entry: serviceEntry("aggregator"),
    env: { ...lake.natsEnv("aggregator"), LAKE_AGGREGATOR_DIR: dir, LAKE_AGGREGATOR_PORT: "0", ...env },
  });
  running.add(h);
  void h.exited.then(() => running.delete(h));
  return h;
}

/** Sends events in order (one request per chunk, awaited) and records what ingest accepted with its offset. */
async function send(events: SampleEvent[], chunk = 400): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    const part = events.slice(i, i + chunk);
    const r = await sendHttp(lake.producer, DATASET, part);
    assert.equal(r.status, 200, JSON.stringify(r).slice(0, 300));
    assert.equal(r.accepted, part.length);
    for (const res of r.results) {
      if (res.status === "accepted") accepted.push({ ...part[res.index]!, offset: res.offset });
    }
  }
}

const ev = (event_id: string, user_id: string, timestamp: number, amount: number): SampleEvent => ({
  event_id,
  user_id,
  event_type: "purchase",
  timestamp,
  amount,
});

async function health(agg: ServiceHandle): Promise<Record<string, any>> {
  const res = await fetch(new URL("/healthz", String(agg.ready.url)));
  return (await res.json()) as Record<string, any>;
}

/** Waits until the aggregator has applied every accepted event and published everything it emitted. */
async function caughtUp(agg: ServiceHandle): Promise<Record<string, any>> {
  const last = Math.max(...accepted.map((e) => e.offset));
  return waitFor(
    `aggregator at input_seq ${last} with an empty outbox`,
    async () => {
      const h = await health(agg).catch(() => undefined);
      return h && h.input_seq >= last && h.outbox_pending === 0 ? h : undefined;
    },
    { timeoutMs: 30_000 },
  );
}

async function metric(agg: ServiceHandle, name: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", String(agg.ready.url)))).text();
  const m = new RegExp(`^lake_aggregator_${name}\\{dataset="${DERIVED}"\\} (\\S+)$`, "m").exec(text);
  assert.ok(m, `metric ${name} in:\n${text}`);
  return Number(m[1]);
}

/** Every message on a subject, in stream order, with the headers that matter here. */
async function readSubject(
  stream: string,
  subject: string,
): Promise<{ seq: number; data: Uint8Array; msgId: string | undefined; schema: string | undefined }[]> {
  const jsm = await jetstreamManager(nc);
  const last = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
  if (!last) return [];
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  const out = [];
  for await (const m of messages) {
    out.push({ seq: m.seq, data: m.data, msgId: m.headers?.get("Nats-Msg-Id"), schema: m.headers?.get("Lake-Schema") });
    if (m.seq >= last.seq) break;
  }
  messages.stop();
  return out;
}

/** The plain recomputation: fired windows (latest state) and late event ids, from the accepted events in offset order. */
function recompute(events: readonly Accepted[]) {
  const windows = new Map<
    string,
    { window_start: number; user_id: string; event_count: number; total_amount: number; min_amount: number; max_amount: number }
  >();
  const late = new Set<string>();
  let maxTime = -Infinity;
  for (const e of [...events].sort((a, b) => a.offset - b.offset)) {
    const start = Math.floor(e.timestamp / SIZE) * SIZE;
    const watermark = maxTime - OOO;
    if (watermark >= start + SIZE + LATENESS) late.add(e.event_id);
    else {
      const k = `${start}|${e.user_id}`;
      const w = windows.get(k);
      if (!w) windows.set(k, { window_start: start, user_id: e.user_id, event_count: 1, total_amount: e.amount, min_amount: e.amount, max_amount: e.amount });
      else {
        w.event_count++;
        w.total_amount += e.amount;
        w.min_amount = Math.min(w.min_amount, e.amount);
        w.max_amount = Math.max(w.max_amount, e.amount);
      }
    }
    maxTime = Math.max(maxTime, e.timestamp);
  }
  const finalWatermark = maxTime - OOO;
  const fired = new Map([...windows].filter(([, w]) => w.window_start + SIZE <= finalWatermark));
  return { fired, late };
}

/**
 * What every test ends with: the latest revision of each (window, user) equals the recomputation, the
 * published windows are exactly the fired ones, no (window, user, revision) appears twice or with two
 * values, and the late side output holds exactly the late events, each once, counted in /metrics.
 */
async function assertMatchesRecomputation(agg: ServiceHandle): Promise<{ results: number; late: number }> {
  const expected = recompute(accepted);
  const msgs = await readSubject(STREAMS.windows, subjects.windows(DERIVED));
  const fingerprint = resultType.fingerprint("sha256").toString("hex");
  const positionFingerprint = positionType.fingerprint("sha256").toString("hex");
  const seen = new Map<string, string>();
  const latest = new Map<string, ResultRow>();
  let position = 0;
  for (const m of msgs) {
    if (m.schema === positionFingerprint) {
      // A batch's end: every result up to its position is on the stream before it.
      const p = positionType.fromBuffer(Buffer.from(m.data)) as { through_seq: number };
      assert.equal(m.msgId, `pos:${DERIVED}:${p.through_seq}`);
      position = Math.max(position, p.through_seq);
      continue;
    }
    const r = { ...(resultType.fromBuffer(Buffer.from(m.data)) as ResultRow) };
    assert.equal(m.schema, fingerprint, "Lake-Schema names the derived contract");
    if (r.provisional) {
      // The running result of an open window (update mode), at the end of the batch that changed it.
      assert.equal(r.revision, 0);
      assert.equal(m.msgId, `${DERIVED}:${r.window_start}:${r.user_id}:p${r.through_seq}`, "a provisional result's id names its position");
      continue;
    }
    assert.equal(r.provisional, false);
    assert.equal(m.msgId, `${DERIVED}:${r.window_start}:${r.user_id}:${r.revision}`, "deterministic message id");
    const id = `${r.window_start}|${r.user_id}|${r.revision}`;
    const value = JSON.stringify(r);
    assert.equal(seen.get(id) ?? value, value, `(window, key, revision) ${id} never carries two different values`);
    assert.ok(!seen.has(id), `${id} is published once: re-emissions are deduplicated by message id`);
    seen.set(id, value);
    const k = `${r.window_start}|${r.user_id}`;
    if ((latest.get(k)?.revision ?? 0) < r.revision) latest.set(k, r);
  }
  assert.deepEqual([...latest.keys()].sort(), [...expected.fired.keys()].sort(), "the final results are exactly the fired windows");
  assert.equal(position, Math.max(...accepted.map((e) => e.offset)), "the last position marker is the last event applied");
  for (const [k, want] of expected.fired) {
    const got = latest.get(k)!;
    assert.deepEqual(
      {
        window_start: got.window_start,
        user_id: got.user_id,
        event_count: got.event_count,
        total_amount: got.total_amount,
        min_amount: got.min_amount,
        max_amount: got.max_amount,
      },
      want,
      `latest revision of ${k}`,
    );
    assert.equal(got.window_end, got.window_start + SIZE);
    assert.equal(got.day, new Date(got.window_start).toISOString().slice(0, 10));
    for (let rev = 1; rev <= got.revision; rev++) assert.ok(seen.has(`${k}|${rev}`), `${k} has every revision up to ${got.revision} (missing ${rev})`);
  }

  const lateMsgs = await readSubject(STREAMS.late, subjects.late(DERIVED));
  const offsets = new Map(accepted.map((e) => [e.event_id, e.offset]));
  const lateIds = lateMsgs.map((m) => {
    const l = lateType.fromBuffer(Buffer.from(m.data)) as {
      event_id: string;
      source_seq: number;
      dataset: string;
      window_start: number;
      watermark: number;
      event_time: number;
    };
    assert.equal(l.dataset, DERIVED);
    assert.equal(l.source_seq, offsets.get(l.event_id), "the late record points at the event's offset");
    assert.equal(m.msgId, `late:${DERIVED}:${l.source_seq}`);
    assert.ok(l.watermark >= l.window_start + SIZE + LATENESS, "it was past the allowed lateness");
    return l.event_id;
  });
  assert.deepEqual([...lateIds].sort(), [...expected.late].sort(), "the side output holds exactly the late events, once each");
  assert.equal(await metric(agg, "late_events_total"), expected.late.size);
  assert.equal(await metric(agg, "events_in_total"), accepted.length, "every accepted event consumed exactly once");
  assert.equal(await metric(agg, "windows_emitted_total"), seen.size);
  return { results: msgs.length, late: lateMsgs.length };
}

let aggDir: string;
let agg: ServiceHandle;

test("window results equal a plain recomputation; events past the lateness go to the side output and are counted", { timeout: 120_000 }, async () => {
  aggDir = tempDir();
  agg = await startAggregator(aggDir);
  assert.equal(typeof agg.ready.http_port, "number");

  // Three days of events, roughly in time order with up to 2 minutes of disorder each way: windows fire
  // as the data flows, and events just before midnight arriving after it produce revisions.
  await send(sampleEvents(1200, { prefix: "agg-a", seed: 21, startMs: JUNE_1 + 5 * MIN, spanMs: 3 * DAY }));
  // Then, one request each so their offsets are in this order:
  await send([ev("agg-adv-1", "user-1", JUNE_1 + 3 * DAY + 12 * 60 * MIN, 1)]); // watermark June 4 11:59
  await send([ev("agg-late-1", "user-2", JUNE_1 + 2 * DAY + 10 * 60 * MIN, 7)]); // June 3: purged at 00:05 → late
  await send([ev("agg-late-2", "user-3", JUNE_1 + 60 * MIN, 8)]); // June 1 → late
  await send([ev("agg-adv-2", "user-4", JUNE_1 + 4 * DAY + 2 * MIN, 2)]); // watermark June 5 00:01: June 4 fires
  await send([ev("agg-within", "user-1", JUNE_1 + 3 * DAY + 18 * 60 * MIN, 3)]); // June 4, within the lateness → revision
  await send([ev("agg-adv-3", "user-6", JUNE_1 + 4 * DAY + 7 * MIN, 4)]); // watermark June 5 00:06: June 4 purged
  await send([ev("agg-late-3", "user-1", JUNE_1 + 3 * DAY + 20 * 60 * MIN, 5)]); // June 4 → late

  const h = await caughtUp(agg);
  assert.equal(h.status, "ok");
  assert.equal(h.watermark_ms, JUNE_1 + 4 * DAY + 7 * MIN - OOO);
  const expected = recompute(accepted);
  for (const id of ["agg-late-1", "agg-late-2", "agg-late-3"]) assert.ok(expected.late.has(id), `${id} is late by the rules`);
  assert.ok(!expected.late.has("agg-within"));
  const { late } = await assertMatchesRecomputation(agg);
  assert.ok(late >= 3);

  // The event within the lateness produced a revision of an already fired window.
  const june4 = (await readSubject(STREAMS.windows, subjects.windows(DERIVED)))
    .filter((m) => !batchDependent(m.msgId))
    .map((m) => resultType.fromBuffer(Buffer.from(m.data)) as ResultRow)
    .filter((r) => r.user_id === "user-1" && r.window_start === JUNE_1 + 3 * DAY);
  const revisions = june4.map((r) => r.revision).sort();
  assert.ok(revisions.length >= 2 && revisions.at(-1)! >= 2, `user-1's June 4 window was revised: ${JSON.stringify(revisions)}`);
  assert.ok((await metric(agg, "revisions_total")) >= 1);
  assert.equal(await metric(agg, "watermark_ms"), h.watermark_ms);
  assert.equal(await metric(agg, "input_seq"), Math.max(...accepted.map((e) => e.offset)));
});

for (const [round, point] of (["after_state_commit", "mid_publish"] as const).entries()) {
  test(`kill -9 at ${point} and a restart neither lose nor double-count anything`, { timeout: 120_000 }, async () => {
    assert.ok(agg, "runs after the first test");
    await agg.stop();
    // Small batches so the process dies mid-stream, its 3rd time at the point.
    const doomed = await startAggregator(aggDir, { LAKE_FAILPOINTS: `${point}@3`, LAKE_AGGREGATOR_MAX_BATCH: "50", LAKE_AGGREGATOR_PUBLISH_BATCH: "40" });
    // Later days (every earlier window fires and is purged): two dense stretches across midnight, so
    // windows fire by the hundred and events from just before midnight arriving after it revise them.
    const day = JUNE_1 + (10 + 5 * round) * DAY;
    const revisionsBefore = await metric(agg, "revisions_total").catch(() => 0);
    await send(sampleEvents(400, { prefix: `agg-k${round}a`, seed: 100 + round, startMs: day + 23 * 60 * MIN, spanMs: 2 * 60 * MIN }), 100);
    await send(sampleEvents(400, { prefix: `agg-k${round}b`, seed: 150 + round, startMs: day + DAY + 23 * 60 * MIN, spanMs: 2 * 60 * MIN }), 100);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([doomed.exited, new Promise<"alive">((r) => (timer = setTimeout(() => r("alive"), 30_000)))]);
    clearTimeout(timer);
    assert.equal(code, null, `the aggregator was killed by its failpoint (got ${code})`);
    assert.match(doomed.logs(), new RegExp(`"failpoint":"${point}"`));
    // A few more while it is down, then restart on the same state.
    await send(sampleEvents(100, { prefix: `agg-k${round}-down`, seed: 200 + round, startMs: day + 2 * DAY + 2 * 60 * MIN, spanMs: 3 * 60 * MIN }), 100);
    agg = await startAggregator(aggDir);
    assert.match(agg.logs(), /publishing outputs left in the outbox by the previous run/, "the crash left outputs to re-publish");
    await caughtUp(agg);
    await assertMatchesRecomputation(agg);
    assert.ok((await metric(agg, "revisions_total")) > revisionsBefore, "the round produced revisions, and they survived the crash too");
  });
}

test(
  "deterministic replay: a fresh aggregator over the same offsets ends with the same digest, and its re-emissions are deduplicated",
  { timeout: 120_000 },
  async () => {
    assert.ok(agg, "runs after the first test");
    const original = await caughtUp(agg);
    const before = (await readSubject(STREAMS.windows, subjects.windows(DERIVED))).filter((m) => !batchDependent(m.msgId));
    // Other batch sizes, and publish rounds smaller than most batches' outputs (each batch's results then
    // go out through the outbox in several rounds, not from hand in one).
    const replay = await startAggregator(tempDir(), { LAKE_AGGREGATOR_MAX_BATCH: "37", LAKE_AGGREGATOR_PUBLISH_BATCH: "7" });
    const replayed = await caughtUp(replay);
    const pick = (h: Record<string, any>) => ({
      output_digest: h.output_digest,
      events_in: h.events_in,
      windows_emitted: h.windows_emitted,
      revisions: h.revisions,
      late_events: h.late_events,
      watermark_ms: h.watermark_ms,
      open_windows: h.open_windows,
    });
    assert.deepEqual(pick(replayed), pick(original), "same input offsets, other batch sizes, crashes in the original's history: same final outputs");
    const after = (await readSubject(STREAMS.windows, subjects.windows(DERIVED))).filter((m) => !batchDependent(m.msgId));
    assert.equal(after.length, before.length, "every re-emitted final result carried an id JetStream had seen");
    await replay.stop();
    await assertMatchesRecomputation(agg);
  },
);

test("a trickle of events is applied in batches gathered over LAKE_AGGREGATOR_MAX_AGE_MS, not one batch per event", { timeout: 120_000 }, async () => {
  assert.ok(agg, "runs after the first test");
  // Two more aggregators over the same source: one gathering batches for up to a second, one applying
  // whatever has arrived as soon as the stream has nothing more (the age limit off).
  const gathering = await startAggregator(tempDir(), { LAKE_AGGREGATOR_MAX_AGE_MS: "1000" });
  const eager = await startAggregator(tempDir(), { LAKE_AGGREGATOR_MAX_AGE_MS: "0" });
  await caughtUp(gathering);
  await caughtUp(eager);
  const before = { gathering: await metric(gathering, "batches_total"), eager: await metric(eager, "batches_total") };
  // 20 events, one request each, one after the other: they reach the stream a few ms apart.
  await send(sampleEvents(20, { prefix: "trickle", seed: 77 }), 1);
  const g = await caughtUp(gathering);
  const e = await caughtUp(eager);
  const batches = { gathering: (await metric(gathering, "batches_total")) - before.gathering, eager: (await metric(eager, "batches_total")) - before.eager };
  assert.ok(batches.gathering >= 1 && batches.gathering <= 4, `gathering over a second: ${batches.gathering} batches for 20 events`);
  assert.ok(batches.eager > batches.gathering, `without the age limit more batches are applied (${batches.eager} vs ${batches.gathering})`);
  assert.equal(g.output_digest, e.output_digest, "batching changes how often results are published, not what they are");
  await gathering.stop();
  await eager.stop();
});
