import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { connectNats } from "@lake/messaging";
import { ConfigError, onShutdown } from "@lake/runtime";
import { describeStore, openStore } from "@lake/storage";
import { createLogger, createRegistry, serveMetrics, startTelemetry } from "@lake/telemetry";

import { Catalog } from "./catalog.ts";
import { type CatalogEnv, readEnv } from "./env.ts";
import { icebergStore } from "./http/iceberg.ts";
import { startHttp } from "./http/routes.ts";
import { catalogMetrics } from "./metrics.ts";
import { AlertFeed } from "./nats/alerts.ts";
import { TableStatePublisher } from "./table-state.ts";

const telemetry = startTelemetry("catalog");
const log = createLogger("catalog");
let env: CatalogEnv;
try {
  env = readEnv();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  // A bad configuration stops the service before it serves anything, with the problem named.
  log.error("bad configuration; not starting", { problem: e.message });
  process.stderr.write(`catalog: ${e.message}\n`);
  process.exit(1);
}
if (env.tokens === undefined) {
  log.warn(
    "authentication is off: LAKE_CATALOG_TOKENS_FILE is unset, so anyone who can reach the catalog may read every dataset, promote, roll back, tag and rebuild; set it anywhere but local development",
    {
      http_host: env.httpHost,
    },
  );
}
mkdirSync(dirname(env.dbPath), { recursive: true });
const nc = await connectNats({ url: env.natsUrl, name: "catalog" });
const catalog = new Catalog(nc, env.dbPath, log);
await catalog.start();
const metrics = createRegistry("catalog");
const monitor = catalogMetrics({
  catalog,
  registry: metrics,
  js: jetstream(nc),
  jsm: await jetstreamManager(nc),
  log,
  freshnessMaxMs: env.alertFreshnessMaxMs,
  intervalMs: env.alertIntervalMs,
});
const store = env.store && (await openStore(env.store));
if (!env.store) log.warn("no object store configured (LAKE_STORE / LAKE_STORE_ROOT): the Iceberg REST catalog's table loads answer 503");
const iceberg = store && env.store ? icebergStore(store, env.store) : undefined;
// The store describes itself: each dataset's table state (refs, expiries, verdicts), for `lake restore --from-store`.
const tableStates = iceberg ? new TableStatePublisher(() => catalog.projection, iceberg, log) : undefined;
if (tableStates) {
  catalog.onApplied(() => tableStates.changed());
  tableStates.changed();
}
// Recent alerts for the console (GET /v1/alerts, live updates).
const alertFeed = new AlertFeed({ nc, log, keep: env.alertsKeep });
await alertFeed.start();
const { server, port, events } = await startHttp({
  catalog,
  host: env.httpHost,
  port: env.httpPort,
  maxWaitMs: env.maxWaitMs,
  log,
  tokens: env.tokens,
  denialsKeep: env.denialsKeep,
  timeouts: env.http,
  iceberg,
  alerts: alertFeed,
  ingest: env.ingest,
  console: env.console,
  events: { heartbeatMs: 15_000, maxClients: env.eventsMaxClients },
});
// Metrics on a listener of their own (loopback by default): they name every dataset, and scrapers carry no token.
const metricsListener = await serveMetrics(metrics, env.metricsPort, env.metricsHost, () => true, env.http);
// Stops are handled before anyone learns we are ready: a SIGTERM right after the ready line must
// find the handler, not Node's default (killed by the signal).
onShutdown(log, async () => {
  monitor.stop();
  await tableStates?.stop();
  // Open event streams would hold the server open: end them first.
  events.close();
  server.close();
  await alertFeed.stop();
  metricsListener.close();
  await catalog.stop();
  await nc.drain();
  await telemetry.shutdown();
});

log.info("ready", {
  http_port: port,
  url: `http://${env.httpHost}:${port}`,
  metrics_port: metricsListener.port,
  metrics_url: `http://${env.metricsHost}:${metricsListener.port}`,
  ...(env.console ? { console_url: `http://${env.httpHost}:${port}/console` } : {}),
  projected_through_seq: catalog.projection.lastSeq,
  auth: env.tokens === undefined ? "off" : "bearer",
  store: env.store ? describeStore(env.store) : null,
  ...(env.tokens === undefined ? {} : { tokens_file: env.tokensFile, tokens: env.tokens.length }),
});
