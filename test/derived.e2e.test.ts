// Invariant 6 end to end: events → aggregator (event-time windows) → committer (one row per window and
// key, newest revision) → a committed, quality-gated version whose aggregates equal an independent
// recomputation from the accepted events, with the aggregator and the committer killed (-9) mid-stream.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { CatalogClient, queryVersion, type SampleEvent, sampleEvents, sendHttp } from "@lake/client";
import { openLocalStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { DATASET, withLake } from "./helpers.ts";

const DERIVED = "daily_user_totals";
const DAY = 86_400_000;
let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;

before(async () => {
  lake = await withLake();
  nc = await lake.connect();
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

async function aggregatorHealth(): Promise<{ input_seq: number; outbox_pending?: number }> {
  const url = String(lake.services.get(`aggregator:${DERIVED}`)!.ready.url);
  return (await (await fetch(new URL("/healthz", url))).json()) as { input_seq: number; outbox_pending?: number };
}

test("committed daily totals equal a plain recomputation, across kill -9 of the aggregator and the committer", async () => {
  const events: SampleEvent[] = sampleEvents(1500, { prefix: "agg", seed: 42, users: 12 });
  const accepted: SampleEvent[] = [];
  let maxOffset = 0;
  for (let i = 0; i < events.length; i += 100) {
    if (i === 700) {
      // Crash both halfway through, restart them, and carry on.
      await lake.services.get(`aggregator:${DERIVED}`)!.kill9();
      await lake.services.get(`committer:${DERIVED}`)!.kill9();
      await lake.startAggregator(DERIVED);
      await lake.startCommitter(DERIVED);
    }
    const batch = events.slice(i, i + 100);
    const r = await sendHttp(lake.producer, DATASET, batch);
    assert.equal(r.status, 200);
    batch.forEach((e, k) => r.results[k]!.status === "accepted" && accepted.push(e));
    maxOffset = r.max_offset!;
  }
  // A revision on purpose: an event 3 min past the next midnight fires the day before it (watermark =
  // max event time - 1 min); then an event 30 s before that midnight is late, but within the 5 min
  // lateness, so that day's window for its user gets revision 2.
  const newest = accepted.reduce((a, b) => (b.timestamp > a.timestamp ? b : a));
  const midnight = Math.ceil(newest.timestamp / DAY) * DAY;
  for (const e of [
    { event_id: "past-midnight", user_id: "user-1", event_type: "view", timestamp: midnight + 3 * 60_000, amount: 5 },
    { event_id: "late-but-allowed", user_id: newest.user_id, event_type: "view", timestamp: midnight - 30_000, amount: 7 },
  ]) {
    const r = await sendHttp(lake.producer, DATASET, e);
    assert.equal(r.results[0]!.status, "accepted");
    accepted.push(e);
  }
  // One event far in the future moves the watermark past every window's end + lateness: all fire, final.
  const last = Math.max(...accepted.map((e) => e.timestamp));
  const flush = await sendHttp(lake.producer, DATASET, { event_id: "flush", user_id: "flush", event_type: "view", timestamp: last + 2 * DAY, amount: 0 });
  maxOffset = flush.max_offset!;

  await waitFor(
    "the aggregator to consume everything and publish its outbox",
    async () => {
      const h = await aggregatorHealth();
      return h.input_seq >= maxOffset && !h.outbox_pending ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
  const jsm = await jetstreamManager(nc);
  const lastWindow = await jsm.streams.getMessage("WINDOWS", { last_by_subj: `lake.windows.${DERIVED}` });
  assert.ok(lastWindow, "window results were published");
  const catalog = new CatalogClient(lake.catalogUrl);
  const v = await catalog.covering(DERIVED, lastWindow.seq, 30_000);

  // The independent recomputation: group the accepted events by user and UTC day.
  const expected = new Map<string, { total: number; count: number; min: number; max: number }>();
  for (const e of accepted) {
    const key = `${e.user_id}|${new Date(e.timestamp).toISOString().slice(0, 10)}`;
    const t = expected.get(key);
    if (t) {
      t.total += e.amount;
      t.count++;
      t.min = Math.min(t.min, e.amount);
      t.max = Math.max(t.max, e.amount);
    } else expected.set(key, { total: e.amount, count: 1, min: e.amount, max: e.amount });
  }
  const r = await queryVersion(
    openLocalStore(lake.storeRoot),
    v,
    // The flush event's own day is still open: its row is provisional (update mode), not a fired window.
    `SELECT user_id, day, total_amount, event_count, min_amount, max_amount, revision FROM ${DERIVED} WHERE NOT provisional ORDER BY day, user_id`,
  );
  const got = new Map(r.rows.map((x) => [`${x.user_id}|${x.day}`, x]));
  assert.equal(got.size, r.rows.length, "one row per (day, user)");
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), "exactly the fired windows, no more, no less");
  for (const [key, want] of expected) {
    const row = got.get(key)!;
    assert.equal(Number(row.event_count), want.count, `${key} count`);
    assert.ok(Math.abs(Number(row.total_amount) - want.total) < 1e-6, `${key} total ${String(row.total_amount)} vs ${want.total}`);
    assert.equal(Number(row.min_amount), want.min, `${key} min`);
    assert.equal(Number(row.max_amount), want.max, `${key} max`);
  }
  const revised = got.get(`${newest.user_id}|${new Date(midnight - 1).toISOString().slice(0, 10)}`)!;
  assert.ok(Number(revised.revision) >= 2, "the late event within the lateness produced a new revision, and the newest one is committed");

  // The derived dataset is critical: readers get it once quality has passed the version.
  const current = await waitFor(
    "a passed version of the derived dataset to become current",
    async () => {
      const ds = (await catalog.dataset(DERIVED)).dataset;
      return ds.current_version >= v.version ? ds.current_version : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal((await catalog.version(DERIVED, current)).quality, "passed");
});
