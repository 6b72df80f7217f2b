// Freshness: at a steady rate, the time from ingest's acknowledgement of a request until the catalog
// serves a version covering its last offset (a long-poll covering read per reply). Requests carry
// rate/100 events, so every rate is about 100 requests/s and the figures differ only by the load.
import { type LakeHandle, produce, produceDefaults } from "@lake/app";
import { CatalogClient, type IngestReply } from "@lake/client";

import { nextEventTime, pct, type Row } from "./lib.ts";

const DATASET = "domain_events";
const SECTION = "3 freshness";

export async function freshness(lake: LakeHandle, o: { rates: number[]; seconds: number }): Promise<Row[]> {
  const rows: Row[] = [];
  const catalog = new CatalogClient(lake.catalogUrl);
  for (const rate of o.rates) {
    const lat: number[] = [];
    const pending: Promise<void>[] = [];
    let timeouts = 0;
    const onReply = (reply: IngestReply, _sentAt: number, ackedAt: number) => {
      if (reply.max_offset === null) return;
      pending.push(
        catalog.covering(DATASET, reply.max_offset, 30_000).then(
          () => void lat.push(performance.now() - ackedAt),
          () => void timeouts++,
        ),
      );
    };
    const batch = Math.max(1, Math.round(rate / 100));
    const r = await produce({
      ...produceDefaults,
      count: rate * o.seconds,
      rate,
      batch,
      duplicates: 0,
      invalid: 0,
      concurrency: 16,
      prefix: `fresh${rate}`,
      startMs: nextEventTime(),
      ingestUrl: lake.ingestUrl,
      ingestToken: lake.producer.token,
      onReply,
    });
    await Promise.all(pending);
    const achieved = r.accepted / (r.elapsedMs / 1000);
    const sustained = achieved >= rate * 0.95;
    const k = `freshness_${rate / 1000}k`;
    rows.push({
      key: `${k}_achieved_eps`,
      section: SECTION,
      figure: `at ${rate / 1000}k ev/s: rate reached`,
      value: achieved,
      unit: "ev/s",
      note: sustained ? undefined : `could not sustain ${rate} ev/s on this machine; latencies below are at the rate reached`,
    });
    const p99 = pct(lat, 99);
    rows.push({ key: `${k}_p50_ms`, section: SECTION, figure: `  ack → in a catalog version, p50`, value: pct(lat, 50), unit: "ms" });
    rows.push({
      key: `${k}_p99_ms`,
      section: SECTION,
      figure: `  ack → in a catalog version, p99`,
      value: p99,
      unit: "ms",
      ...(rate === 5000 ? { target: "≤ 1000 ms at 5k ev/s", meets: sustained && p99 <= 1000 } : {}),
      note: timeouts ? `${timeouts} covering reads timed out` : undefined,
    });
    rows.push({ key: `${k}_max_ms`, section: SECTION, figure: `  ack → in a catalog version, max`, value: Math.max(...lat), unit: "ms" });
  }
  return rows;
}
