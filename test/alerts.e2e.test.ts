// Metrics and alerts: every service serves Prometheus text; a consumer-lag threshold raises an alert
// (log line + lake_alert_active + an AlertChanged record on lake.alerts.consumer_lag) and clears it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import type { NatsConnection } from "@nats-io/nats-core";

import { sampleEvents, sendHttp } from "@lake/client";
import type { AlertChanged } from "@lake/contracts";
import { waitFor } from "@lake/testing";

import { collectAlerts, covering, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
let seen: AlertChanged[] = [];

before(async () => {
  lake = await withLake({ env: { LAKE_ALERT_LAG_MAX: "100", LAKE_ALERT_INTERVAL_MS: "100" } });
  nc = await lake.connect();
  seen = await collectAlerts(nc);
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

async function metrics(service: string): Promise<string> {
  const url = String(lake.services.get(service)!.ready.url);
  const res = await fetch(new URL("/metrics", url));
  assert.equal(res.status, 200);
  return res.text();
}

test("every service serves Prometheus metrics", async () => {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(20, { prefix: "m" }));
  await covering(lake, r.max_offset!);
  assert.match(await metrics("ingest"), /lake_ingest_records_total\{domain="domain_events",status="accepted",service="ingest"\} 20/);
  assert.match(await metrics(`committer:${DATASET}`), /lake_committer_rows_committed\{dataset="domain_events",service="committer"\} 20/);
  assert.match(await metrics("quality"), /lake_quality_verdicts_passed\{service="quality"\} \d+/);
  assert.match(await metrics("aggregator:daily_user_totals"), /lake_aggregator_events_in_total/);
});

test("a consumer-lag breach fires the alert, and catching up resolves it", async () => {
  // The committer stalls before its next commit; events pile up behind it.
  await lake.services.get(`committer:${DATASET}`)!.stop();
  const stalled = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: "before_commit@1=pause:3000" });
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(400, { prefix: "lag" }));
  assert.equal(r.accepted, 400);
  const fired = await waitFor(
    "the consumer_lag alert to fire",
    () => seen.find((a) => a.alert === "consumer_lag" && a.subject === DATASET && a.state === "firing"),
    { timeoutMs: 20_000 },
  );
  assert.ok(fired.value > 100 && fired.threshold === 100, `lag ${fired.value} above the threshold`);
  assert.equal(fired.service, "committer");
  assert.match(await metrics(`committer:${DATASET}`), /lake_alert_active\{alert="consumer_lag",subject="domain_events",service="committer"\} 1/);
  assert.match(stalled.logs(), /"msg":"alert firing"/);
  // The stall ends, the committer commits, the lag drops: resolved.
  await covering(lake, r.max_offset!);
  // This dataset's alert: the derived dataset's committer may fire and resolve its own meanwhile.
  const resolved = await waitFor(
    "the consumer_lag alert to resolve",
    () => seen.find((a) => a.alert === "consumer_lag" && a.subject === DATASET && a.state === "resolved"),
    { timeoutMs: 20_000 },
  );
  assert.ok(resolved.value <= 100);
  assert.match(await metrics(`committer:${DATASET}`), /lake_alert_active\{alert="consumer_lag",subject="domain_events",service="committer"\} 0/);
});
