// Backfill / reprocess: a derived dataset rebuilt from its source stream as one new version that
// replaces every file; the old version stays readable; a dry run commits nothing; the live pipeline
// carries on on top of the rebuilt table.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { backfillDerived } from "@lake/app";
import { queryVersion, type SampleEvent, sampleEvents, sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";
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

async function sendAll(events: SampleEvent[]): Promise<number> {
  let offset = 0;
  for (let i = 0; i < events.length; i += 200) offset = (await sendHttp(lake.producer, DATASET, events.slice(i, i + 200))).max_offset!;
  return offset;
}

/** Waits until everything the aggregator emitted so far is in a committed derived version. */
async function derivedCaughtUp(sourceOffset: number) {
  const url = String(lake.services.get(`aggregator:${DERIVED}`)!.ready.url);
  await waitFor(
    "the aggregator to catch up",
    async () => {
      const h = (await (await fetch(new URL("/healthz", url))).json()) as { input_seq: number; outbox_pending: number };
      return h.input_seq >= sourceOffset && !h.outbox_pending ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
  const last = await (await jetstreamManager(nc)).streams.getMessage("WINDOWS", { last_by_subj: `lake.windows.${DERIVED}` });
  return lake.catalog.covering(DERIVED, last!.seq, 30_000);
}

const totals = async (version: number) => {
  const v = await lake.catalog.version(DERIVED, version);
  const r = await queryVersion(
    await openStore(lake.storeConfig),
    v,
    `SELECT user_id, day, round(total_amount, 6) AS t, event_count AS n FROM ${DERIVED} ORDER BY day, user_id`,
  );
  return r.rows;
};

test("a backfill rebuilds the derived table as one new version with the same totals; the old one stays readable", async () => {
  const events = sampleEvents(800, { prefix: "bf", seed: 21, users: 8 });
  const last = Math.max(...events.map((e) => e.timestamp));
  await sendAll(events);
  let offset = (await sendHttp(lake.producer, DATASET, { event_id: "bf-flush", user_id: "flush", event_type: "view", timestamp: last + 2 * DAY, amount: 0 }))
    .max_offset!;
  const before = await derivedCaughtUp(offset);
  const beforeRows = await totals(before.version);
  assert.ok(beforeRows.length > 0);

  const dry = await backfillDerived({ nc, store: await openStore(lake.storeConfig), dataset: DERIVED, actor: "test", dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.equal(dry.rows, beforeRows.length, "the dry run reports the rows it would commit");
  assert.equal((await lake.catalog.version(DERIVED, "latest")).version, before.version, "a dry run commits nothing");

  const r = await backfillDerived({ nc, store: await openStore(lake.storeConfig), dataset: DERIVED, actor: "test" });
  assert.equal(r.version, before.version + 1);
  const after = await waitFor("the backfilled version in the catalog", async () => {
    const v = await lake.catalog.version(DERIVED, "latest");
    return v.version === r.version ? v : undefined;
  });
  assert.equal(after.files.length, r.files.length, "the new version holds only the rebuilt files");
  assert.deepEqual(await totals(after.version), beforeRows, "same totals as the live pipeline computed");
  assert.deepEqual(await totals(before.version), beforeRows, "the replaced version is still readable, unchanged");

  // The live pipeline goes on on top of the rebuilt table: a new day's events are committed as usual.
  const more = sampleEvents(50, { prefix: "bf-more", seed: 22, users: 3, startMs: last + 3 * DAY, spanMs: 60_000 });
  await sendAll(more);
  offset = (await sendHttp(lake.producer, DATASET, { event_id: "bf-flush-2", user_id: "flush", event_type: "view", timestamp: last + 6 * DAY, amount: 0 }))
    .max_offset!;
  const later = await derivedCaughtUp(offset);
  assert.ok(later.version > after.version);
  const laterRows = await totals(later.version);
  for (const row of beforeRows)
    assert.ok(
      laterRows.some((x) => JSON.stringify(x) === JSON.stringify(row)),
      `${JSON.stringify(row)} is still there`,
    );
  assert.ok(laterRows.length > beforeRows.length, "the new days were added on top");
});
