// The catalog's metrics and alerts: per dataset its latest and current versions, freshness (now − the
// newest event time in the current version) and quality verdicts; the projection's lag behind the
// commit log. A freshness threshold raises the `freshness` alert and clears it.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";

import { Alerts, STREAMS } from "@lake/messaging";
import { Gauge, type Logger, type Registry } from "@lake/telemetry";

import type { Catalog } from "./catalog.ts";

export function catalogMetrics(o: {
  catalog: Catalog;
  registry: Registry;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  freshnessMaxMs: number | undefined;
  intervalMs: number;
  now?: () => number;
}): { stop(): void } {
  const now = o.now ?? Date.now;
  const p = () => o.catalog.projection;
  const perDataset = (name: string, help: string, read: (d: ReturnType<Catalog["projection"]["datasets"]>[number]) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ["dataset"],
      registers: [o.registry],
      collect() {
        this.reset();
        for (const d of p().datasets()) {
          const v = read(d);
          if (v !== undefined) this.set({ dataset: d.name }, v);
        }
      },
    });
  perDataset("lake_catalog_latest_version", "Last committed version", (d) => d.latest_version);
  perDataset("lake_catalog_current_version", "Version readers are served (0: none yet)", (d) => d.current_version);
  perDataset("lake_catalog_total_rows", "Rows in the latest version", (d) => d.total_rows);
  perDataset("lake_catalog_freshness_seconds", "Now minus the newest event time in the current version", (d) => {
    const t = d.current_version ? p().maxEventTime(d.name, d.current_version) : null;
    return t === null ? undefined : (now() - t) / 1000;
  });
  new Gauge({
    name: "lake_catalog_quality_verdicts",
    help: "Quality verdicts in the log, by outcome",
    labelNames: ["dataset", "outcome"],
    registers: [o.registry],
    collect() {
      this.reset();
      for (const r of p().verdictCounts()) this.set({ dataset: r.dataset, outcome: r.outcome }, r.n);
    },
  });
  const lag = new Gauge({ name: "lake_catalog_log_lag", help: "Commit-log records not yet projected", registers: [o.registry] });
  new Gauge({
    name: "lake_catalog_projected_seq",
    help: "Commit-log sequence projected through",
    registers: [o.registry],
    collect() {
      this.set(p().lastSeq);
    },
  });

  const alerts = new Alerts({ js: o.js, service: "catalog", log: o.log, registry: o.registry, now });
  const timer = setInterval(() => {
    void (async () => {
      const last = (await o.jsm.streams.info(STREAMS.commits)).state.last_seq;
      lag.set(Math.max(0, last - p().lastSeq));
      for (const d of p().datasets()) {
        const t = d.current_version ? p().maxEventTime(d.name, d.current_version) : null;
        if (t === null) continue;
        await alerts.check("freshness", d.name, now() - t, o.freshnessMaxMs, "ms");
      }
    })().catch((err: unknown) => o.log.warn("measuring freshness failed", { err }));
  }, o.intervalMs);
  return { stop: () => clearInterval(timer) };
}
