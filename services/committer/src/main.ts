import { jetstream } from "@nats-io/jetstream";

import { Alerts, connectNats } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { onShutdown } from "@lake/runtime";
import { describeStore, openStore } from "@lake/storage";
import { createLogger, createRegistry, Gauge, liveGauge, serveMetrics, startTelemetry } from "@lake/telemetry";

import { readEnv } from "./env.ts";
import { failpointHook } from "./failpoints.ts";
import { Committer } from "./nats/committer.ts";
import { mirrorSchemas } from "./schema-mirror.ts";
import { datasetSpec } from "./specs.ts";

const env = readEnv();
const telemetry = startTelemetry("committer");
const log = createLogger("committer", { dataset: env.dataset });
const nc = await connectNats({ url: env.natsUrl, name: `committer-${env.dataset}` });
const registry = await SchemaRegistry.open(nc, { log });
const store = await openStore(env.store);
// A domain's contracts go into the store too (a restore re-registers them); derived datasets have none there.
if (registry.versions(env.dataset).length > 0) {
  const mirror = () => void mirrorSchemas(registry, store, env.dataset, log);
  registry.onChange(mirror);
  mirror();
}
const committer = new Committer({
  nc,
  store,
  spec: datasetSpec(registry, env.dataset),
  maxRows: env.maxRows,
  maxAgeMs: env.maxAgeMs,
  pullLingerMs: env.pullLingerMs,
  committerId: env.committerId,
  log,
  failpoint: failpointHook(env.failpoints),
  poison: env.poison,
});
await committer.start();

const metricRegistry = createRegistry("committer");
const ds = { dataset: env.dataset };
liveGauge(metricRegistry, "lake_committer_version", "Latest committed version", ds, () => committer.head.version);
liveGauge(metricRegistry, "lake_committer_versions_committed", "Versions committed by this process", ds, () => committer.stats.versions);
liveGauge(metricRegistry, "lake_committer_rows_committed", "Rows committed by this process", ds, () => committer.stats.rows);
liveGauge(metricRegistry, "lake_committer_cas_conflicts", "Commit races lost to another data version", ds, () => committer.stats.conflicts);
liveGauge(metricRegistry, "lake_committer_cas_rebases", "Commits rebased onto a non-data record", ds, () => committer.stats.rebases);
liveGauge(metricRegistry, "lake_committer_poison_messages", "Undecodable source messages quarantined and skipped", ds, () => committer.stats.poison);
liveGauge(
  metricRegistry,
  "lake_committer_superseded_changes",
  "Upsert changes that arrived after a newer change of their key (kept out, per-key order)",
  ds,
  () => committer.stats.superseded,
);
liveGauge(
  metricRegistry,
  "lake_committer_last_commit_seconds",
  "Duration of the last commit (files, manifest, append)",
  ds,
  () => committer.stats.lastCommitMs / 1000,
);
// Write-audit-publish: failed audits this committer took back out, and the rows it set aside in quarantine.
liveGauge(metricRegistry, "lake_committer_reverts", "Failed versions reverted by this process", ds, () => committer.stats.reverts);
liveGauge(
  metricRegistry,
  "lake_committer_quarantined_rows",
  "Rows of failed audits this process put in quarantine (source audit)",
  ds,
  () => committer.stats.quarantinedRows,
);
const lagGauge = new Gauge({
  name: "lake_committer_consumer_lag",
  help: "Events in the source stream not yet committed",
  labelNames: ["dataset"],
  registers: [metricRegistry],
});
const metrics = await serveMetrics(metricRegistry, env.metricsPort, env.metricsHost);
const alerts = new Alerts({ js: jetstream(nc), service: "committer", log, registry: metricRegistry });
const lagTimer = setInterval(() => {
  void (async () => {
    const lag = await committer.lag();
    lagGauge.set(ds, lag);
    await alerts.check("consumer_lag", env.dataset, lag, env.alertLagMax, "events");
  })().catch((err: unknown) => log.warn("measuring consumer lag failed", { err }));
}, env.alertIntervalMs);

// Stops are handled before anyone learns we are ready: a SIGTERM right after the ready line must
// find the handler, not Node's default (killed by the signal).
onShutdown(log, async () => {
  clearInterval(lagTimer);
  metrics.close();
  await committer.stop();
  await nc.drain();
  await telemetry.shutdown();
});

log.info("ready", {
  store: describeStore(env.store),
  committer_id: env.committerId,
  version: committer.head.version,
  metrics_port: metrics.port,
  url: `http://${env.metricsHost}:${metrics.port}`,
});
