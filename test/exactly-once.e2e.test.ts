// Invariant 1 (exactly once into the lake) under producer retries, and invariant 4 (read after write).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { NatsConnection } from "@nats-io/nats-core";

import { sampleEvents, sendHttp, sendNats } from "@lake/client";

import { assertExactlyOnce, covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

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

test("the same events sent three times over HTTP and NATS are committed once each", async () => {
  const httpEvents = sampleEvents(300, { prefix: "http", seed: 11 });
  const natsEvents = sampleEvents(300, { prefix: "nats", seed: 12 });
  const offsets = new Map<string, number>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < httpEvents.length; i += 100) {
      const r = await sendHttp(lake.producer, DATASET, httpEvents.slice(i, i + 100));
      assert.equal(r.status, 200);
      for (const res of r.results) {
        assert.equal(res.status, round === 0 ? "accepted" : "duplicate", `round ${round}: ${res.event_id}`);
        // A retry reports the offset of the original: the token stays valid across retries.
        if (round === 0) offsets.set(res.event_id!, res.offset!);
        else assert.equal(res.offset, offsets.get(res.event_id!));
      }
    }
    for (let i = 0; i < natsEvents.length; i += 100) {
      const r = await sendNats(nc, DATASET, natsEvents.slice(i, i + 100));
      assert.equal(r.status, 200);
      for (const res of r.results) {
        assert.equal(res.status, round === 0 ? "accepted" : "duplicate");
        if (round === 0) offsets.set(res.event_id!, res.offset!);
      }
    }
  }
  // Single-event sends of an already-sent id are duplicates too.
  const again = await sendHttp(lake.producer, DATASET, httpEvents[0]);
  assert.equal(again.status, 200);
  assert.equal(again.results[0]!.status, "duplicate");

  const maxOffset = Math.max(...offsets.values());
  await covering(lake, maxOffset);
  await assertExactlyOnce(lake, new Set([...httpEvents, ...natsEvents].map((e) => e.event_id)));
});

test("read after write: the covering version of an acknowledged offset contains that event", async () => {
  const [e] = sampleEvents(1, { prefix: "raw", seed: 99 });
  const r = await sendHttp(lake.producer, DATASET, e);
  assert.equal(r.status, 200);
  const offset = r.max_offset!;
  const v = await covering(lake, offset);
  assert.equal(v.consistency, "covering");
  assert.ok(v.source.last_offset >= offset, "the version covers the offset");
  const ids = await eventIdsIn(lake, v.version);
  assert.ok(ids.includes(e!.event_id), "the event is in the covering version");
  // And it is the *first* such version: its parent does not cover the offset.
  if (v.parent_version > 0) {
    const parent = await lake.catalog.version(DATASET, v.parent_version);
    assert.ok(parent.source.last_offset < offset, "the parent version does not cover the offset");
    assert.ok(!(await eventIdsIn(lake, v.parent_version)).includes(e!.event_id));
  }
});

test("a covering read for an offset nobody wrote yet times out with a clear status, never an older version", async () => {
  const latest = await lake.catalog.version(DATASET, "latest");
  const started = Date.now();
  await assert.rejects(lake.catalog.covering(DATASET, latest.source.last_offset + 1_000_000, 300), (e: Error & { status?: number; code?: string }) => {
    assert.equal(e.status, 504);
    assert.equal(e.code, "covering_timeout");
    return true;
  });
  assert.ok(Date.now() - started >= 250, "it waited for the bound");
});

test("the same event id in two domains is two events: dedupe is per domain", async () => {
  const id = "shared-id-42";
  const e = { ...sampleEvents(1, { prefix: "x", seed: 5 })[0]!, event_id: id };
  const p = { payment_id: id, user_id: "u1", timestamp: Date.UTC(2026, 5, 1), amount: 12.5, currency: "EUR", card_country: "DE" };
  const r1 = await sendHttp(lake.producer, DATASET, e);
  const r2 = await sendHttp(lake.producer, "payments", p);
  assert.equal(r1.results[0]!.status, "accepted");
  assert.equal(r2.results[0]!.status, "accepted", "a payment is not a duplicate of an event that happens to share its id");
  assert.notEqual(r2.max_offset, r1.max_offset);
  const again = await sendHttp(lake.producer, "payments", p);
  assert.equal(again.results[0]!.status, "duplicate");
  assert.equal(again.max_offset, r2.max_offset);
});
