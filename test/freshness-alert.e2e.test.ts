// Freshness alert: the catalog measures, per dataset, now − the newest event time in the current
// version; above the threshold it fires (log + lake_alert_active + AlertChanged), fresh data resolves it.
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
  lake = await withLake({ env: { LAKE_ALERT_FRESHNESS_MAX_MS: "2000", LAKE_ALERT_INTERVAL_MS: "100" } });
  nc = await lake.connect();
  seen = await collectAlerts(nc, "lake.alerts.freshness");
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

const freshEvents = (prefix: string) =>
  sampleEvents(20, { prefix, startMs: Date.now() - 500, spanMs: 100 }).map((e) => ({ ...e, timestamp: Math.min(e.timestamp, Date.now()) }));

/** The catalog serves metrics on a listener of its own (its ready line names it), not on the API port. */
async function catalogMetrics(): Promise<string> {
  return (await fetch(new URL("/metrics", String(lake.services.get("catalog")!.ready.metrics_url)))).text();
}

test("data going stale fires the freshness alert; fresh data resolves it", async () => {
  const r = await sendHttp(lake.producer, DATASET, freshEvents("fresh1"));
  await covering(lake, r.max_offset!);
  assert.match(await catalogMetrics(), /lake_catalog_freshness_seconds\{dataset="domain_events",service="catalog"\} \d/);
  // Nothing new arrives: the current version ages past 2 s.
  const fired = await waitFor("the freshness alert to fire", () => seen.find((a) => a.subject === DATASET && a.state === "firing"), { timeoutMs: 20_000 });
  assert.equal(fired.service, "catalog");
  assert.ok(fired.value > 2000);
  assert.match(await catalogMetrics(), /lake_alert_active\{alert="freshness",subject="domain_events",service="catalog"\} 1/);
  assert.match(lake.services.get("catalog")!.logs(), /"msg":"alert firing","alert":"freshness"/);
  // Fresh data arrives as a live source sends it, a small batch at a time, until the alert resolves:
  // on a loaded machine a single batch can already be 2 s old by the time its version is current.
  const isResolved = (a: AlertChanged) => a.subject === DATASET && a.state === "resolved";
  const trickle = (async () => {
    for (let i = 0; i < 40 && !seen.some(isResolved); i++) {
      const r2 = await sendHttp(lake.producer, DATASET, freshEvents(`fresh2-${i}`));
      await covering(lake, r2.max_offset!);
    }
  })();
  trickle.catch(() => undefined); // awaited below; this only keeps a failure meanwhile from going unhandled
  const resolved = await waitFor("the freshness alert to resolve", () => seen.find(isResolved), { timeoutMs: 30_000 });
  await trickle;
  assert.ok(resolved.value <= 2000);
  assert.match(await catalogMetrics(), /lake_alert_active\{alert="freshness",subject="domain_events",service="catalog"\} 0/);
});
