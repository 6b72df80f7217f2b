// Poison messages: a message the lake can't decode yet (a Lake-Schema no registry knows) used to be
// retried forever: the committer and the aggregator stalled while consumer_lag read 0, so the lag
// alert never fired. Now it is retried within the poison policy (count and time), then quarantined
// with the reason (committer) or skipped and counted (aggregator); the stall shows as lag and fires
// the alert, which clears once the dataset moves again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { sampleEvents, sendHttp } from "@lake/client";
import { type AlertChanged, domainContract, quarantinedRecordCodec } from "@lake/contracts";
import { waitFor } from "@lake/testing";

import { collectAlerts, covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
let alerts: AlertChanged[] = [];

before(async () => {
  lake = await withLake({
    env: { LAKE_POISON_RETRY_ATTEMPTS: "3", LAKE_POISON_RETRY_MS: "4000", LAKE_ALERT_LAG_MAX: "15", LAKE_ALERT_INTERVAL_MS: "200" },
  });
  nc = await lake.connect();
  alerts = await collectAlerts(nc);
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

async function metric(service: string, name: string): Promise<number> {
  const url = String(lake.services.get(service)!.ready.url);
  const text = await (await fetch(new URL("/metrics", url))).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

test("an event with an unknown schema is retried within the poison policy, then quarantined; the lag alert fires during the stall and clears", async () => {
  const first = await sendHttp(lake.producer, DATASET, sampleEvents(5, { prefix: "before-poison" }));
  await covering(lake, first.max_offset!);
  const aggregatorIn = await metric("aggregator:daily_user_totals", "lake_aggregator_events_in_total");

  // Valid Avro for the contract, but written with a schema fingerprint no registry has.
  const [event] = sampleEvents(1, { prefix: "poison" });
  const h = natsHeaders();
  h.set("Lake-Schema", "0".repeat(64));
  const poisonAck = await jetstream(nc).publish(`lake.events.${DATASET}`, domainContract(DATASET).encode(event as unknown as Record<string, unknown>), {
    headers: h,
    msgID: "poison-unknown-schema",
  });
  const behind = await sendHttp(lake.producer, DATASET, sampleEvents(20, { prefix: "behind-poison" }));
  assert.equal(behind.accepted, 20);

  // Stalled on it: the lag counts the stalled position, and the alert fires; the aggregator, stalled
  // on the same event, shows it in its lag too.
  const fired = await waitFor(
    "the consumer_lag alert to fire",
    () => alerts.find((a) => a.alert === "consumer_lag" && a.subject === DATASET && a.state === "firing"),
    { timeoutMs: 20_000 },
  );
  // Above the threshold (15) only with the poison and the 20 events behind it counted: the 5 events
  // before it can't fire it.
  assert.ok(fired.value > 15, `lag ${fired.value} counts the stalled position and the events behind it`);
  await waitFor(
    "the aggregator's lag to count the stalled events",
    async () => ((await metric("aggregator:daily_user_totals", "lake_aggregator_consumer_lag")) > 0 ? true : undefined),
    { timeoutMs: 20_000 },
  );

  // Set aside after its retries: the events behind it are committed, the poison is not.
  const v = await covering(lake, behind.max_offset!, 30_000);
  const ids = await eventIdsIn(lake, v.version);
  assert.ok(
    behind.results.every((r) => ids.includes(r.event_id!)),
    "every event behind the poison is committed",
  );
  assert.ok(!ids.includes(event!.event_id), "the poison message is not in the dataset");

  const jsm = await jetstreamManager(nc);
  const q = await waitFor(
    "the poison message in quarantine",
    async () => {
      const m = await jsm.streams.getMessage("QUARANTINE", { last_by_subj: `lake.quarantine.${DATASET}` }).catch(() => null);
      const rec = m ? quarantinedRecordCodec.decode(m.data) : undefined;
      return rec && rec.reason.includes(`sequence ${poisonAck.seq}`) ? rec : undefined;
    },
    { timeoutMs: 10_000 },
  );
  assert.match(q.reason, /set aside after [3-9] attempts over [4-9] s/);
  assert.equal(q.source, "stream");

  // The alert clears once the committer has caught up.
  await waitFor(
    "the consumer_lag alert to resolve",
    () => alerts.find((a) => a.alert === "consumer_lag" && a.subject === DATASET && a.state === "resolved" && a.at > fired.at),
    { timeoutMs: 20_000 },
  );

  // The aggregator skipped it too (counted as invalid) and counted the events behind it.
  await waitFor(
    "the aggregator past the poison",
    async () => ((await metric("aggregator:daily_user_totals", "lake_aggregator_events_in_total")) >= aggregatorIn + 21 ? true : undefined),
    { timeoutMs: 30_000 },
  );
  assert.ok((await metric("aggregator:daily_user_totals", "lake_aggregator_invalid_events_total")) >= 1);
  await waitFor(
    "the aggregator's lag back to 0",
    async () => ((await metric("aggregator:daily_user_totals", "lake_aggregator_consumer_lag")) === 0 ? true : undefined),
    { timeoutMs: 20_000 },
  );
});
