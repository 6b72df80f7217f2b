import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

import { connectNats } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { onShutdown } from "@lake/runtime";
import { describeStore, openStore } from "@lake/storage";
import { createLogger, createRegistry, liveGauge, serveMetrics, startTelemetry } from "@lake/telemetry";

import { loadAllRules, useRegistry } from "./dataset-rules.ts";
import { readEnv } from "./env.ts";
import { QualityMetrics } from "./metrics.ts";
import { QualityChecker } from "./nats/checker.ts";

const env = readEnv();
const telemetry = startTelemetry("quality");
const log = createLogger("quality", { checker_id: env.checkerId });
// A contract with a broken "lake.quality" stops the service here, before it judges anything.
const rules = loadAllRules();
mkdirSync(dirname(env.dbPath), { recursive: true });
const nc = await connectNats({ url: env.natsUrl, name: "quality" });
const registry = await SchemaRegistry.open(nc, { log });
useRegistry(registry);
const metricRegistry = createRegistry("quality");
const verdictMetrics = new QualityMetrics(metricRegistry);
const checker = new QualityChecker({
  nc,
  store: await openStore(env.store),
  dbPath: env.dbPath,
  checkerId: env.checkerId,
  log,
  maxBatch: env.maxBatch,
  onVerdict: (o) => verdictMetrics.observe(o),
});
await checker.start();
for (const outcome of ["passed", "failed"] as const) {
  liveGauge(metricRegistry, `lake_quality_verdicts_${outcome}`, `Versions this checker judged ${outcome}`, {}, () => checker.stats[outcome]);
}
liveGauge(
  metricRegistry,
  "lake_quality_cas_conflicts",
  "Verdicts given up because another checker judged the version first, or decided again",
  {},
  () => checker.stats.conflicts,
);
liveGauge(
  metricRegistry,
  "lake_quality_cas_rebases",
  "Verdict appends that lost a race to another record and were appended again on the new head",
  {},
  () => checker.stats.rebases,
);
liveGauge(metricRegistry, "lake_quality_errors", "Checks that failed for operational reasons and were retried", {}, () => checker.stats.errors);
liveGauge(metricRegistry, "lake_quality_log_position", "Commit-log sequence the checker has read through", {}, () => checker.state.lastSeq);
const metrics = await serveMetrics(metricRegistry, env.metricsPort, env.metricsHost);
// Stops are handled before anyone learns we are ready: a SIGTERM right after the ready line must
// find the handler, not Node's default (killed by the signal).
onShutdown(log, async () => {
  metrics.close();
  await checker.stop();
  registry.close();
  await nc.drain();
  await telemetry.shutdown();
});

log.info("ready", {
  store: describeStore(env.store),
  metrics_port: metrics.port,
  url: `http://${env.metricsHost}:${metrics.port}`,
  position: checker.state.lastSeq,
  domains: [...rules.keys()],
});
