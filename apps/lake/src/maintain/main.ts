// The maintenance worker as its own process (what `lake up` starts; `lake maintain --follow` runs the
// same worker in the foreground): composes NATS, the store, the schema registry (for each dataset's
// `lake.maintenance` policy, followed live) and the catalog, serves /metrics, and runs rounds until
// SIGTERM.
import { CatalogClient } from "@lake/client";
import { connectNats } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { onShutdown } from "@lake/runtime";
import { describeStore, openStore } from "@lake/storage";
import { createLogger, createRegistry, serveMetrics, startTelemetry } from "@lake/telemetry";

import { readMaintainEnv } from "./env.ts";
import { logRound } from "./report.ts";
import { MaintenanceWorker } from "./worker.ts";

const env = readMaintainEnv();
const telemetry = startTelemetry("maintenance");
const log = createLogger("maintenance");
const nc = await connectNats({ url: env.natsUrl, name: "maintenance" });
const registry = await SchemaRegistry.open(nc, { log, seed: false });
const store = await openStore(env.store);
const metricRegistry = createRegistry("maintenance");
// Reads that went back (a catalog restarted behind) are fine here: every task re-checks against the log.
const catalog = new CatalogClient(env.catalogUrl, env.catalogToken, { monotonic: false });
const worker = new MaintenanceWorker({
  nc,
  store,
  catalog,
  registry,
  ...(env.datasets.length ? { datasets: env.datasets } : {}),
  actor: env.actor,
  log,
  metrics: metricRegistry,
  intervalMs: env.intervalMs,
});
const metrics = await serveMetrics(metricRegistry, env.metricsPort, env.metricsHost);
log.info("ready", {
  store: describeStore(env.store),
  catalog: env.catalogUrl,
  interval_ms: env.intervalMs,
  datasets: env.datasets.length ? env.datasets : "all",
  metrics_port: metrics.port,
  metrics_url: `http://${env.metricsHost}:${metrics.port}/metrics`,
});

const stop = new AbortController();
const running = worker.follow(stop.signal, (r) => logRound(log, r));

onShutdown(log, async () => {
  stop.abort();
  await running;
  metrics.close();
  registry.close();
  await nc.drain();
  await telemetry.shutdown();
});
