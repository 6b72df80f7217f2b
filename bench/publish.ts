// Write-audit-publish freshness: a critical dataset (payments) at a steady rate, the time from ingest's
// acknowledgement of a request until the catalog serves a version covering its last offset that is
// staged (committed, whatever its verdict: quality=any) and one that is published (passed its audit,
// the default read of a critical dataset). The gap is the audit plus the committer waiting for it.
import { CatalogClient, type IngestEndpoint, sendHttp } from "@lake/client";

import { pct, type Row } from "./lib.ts";

const DATASET = "payments";
const SECTION = "3b write-audit-publish freshness";

export async function publishFreshness(lake: { catalogUrl: string; producer: IngestEndpoint }, o: { rate: number; seconds: number }): Promise<Row[]> {
  const catalog = new CatalogClient(lake.catalogUrl);
  const perRequest = Math.max(1, Math.round(o.rate / 20));
  const requests = Math.max(1, Math.round((o.rate * o.seconds) / perRequest));
  const staged: number[] = [];
  const published: number[] = [];
  let failed = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < requests; i++) {
    // Paced: request i leaves at i/20 s.
    const due = started + (i * 1000) / 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const rows = Array.from({ length: perRequest }, (_, j) => ({
      payment_id: `wap-${i}-${j}`,
      user_id: `u${j % 50}`,
      timestamp: Date.now(),
      amount: 1 + ((i * perRequest + j) % 500),
      currency: "EUR",
      card_country: "DE",
    }));
    pending.push(
      sendHttp(lake.producer, DATASET, rows).then(async (reply) => {
        const acked = performance.now();
        if (reply.max_offset === null || reply.max_offset === undefined) return void failed++;
        const offset = reply.max_offset;
        await Promise.all([
          catalog.covering(DATASET, offset, 30_000, { staged: true }).then(
            () => void staged.push(performance.now() - acked),
            () => void failed++,
          ),
          catalog.covering(DATASET, offset, 30_000).then(
            () => void published.push(performance.now() - acked),
            () => void failed++,
          ),
        ]);
      }),
    );
  }
  await Promise.all(pending);
  const rows: Row[] = [];
  const add = (key: string, figure: string, lat: number[]) => {
    rows.push({ key: `${key}_p50_ms`, section: SECTION, figure: `${figure}, p50`, value: pct(lat, 50), unit: "ms" });
    rows.push({
      key: `${key}_p99_ms`,
      section: SECTION,
      figure: `${figure}, p99`,
      value: pct(lat, 99),
      unit: "ms",
      ...(key === "wap_published" ? { target: "≤ 1000 ms (the freshness goal)", meets: pct(lat, 99) <= 1000 } : {}),
    });
    rows.push({ key: `${key}_max_ms`, section: SECTION, figure: `${figure}, max`, value: Math.max(...lat), unit: "ms" });
  };
  rows.push({ key: "wap_rate_eps", section: SECTION, figure: `payments (critical) at ${o.rate} ev/s, ${perRequest} per request`, value: o.rate, unit: "ev/s" });
  add("wap_staged", "  ack → in a staged version", staged);
  add("wap_published", "  ack → in a published version", published);
  if (failed) rows.at(-1)!.note = `${failed} requests or covering reads failed`;
  return rows;
}
