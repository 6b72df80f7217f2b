// Prometheus metrics (prom-client): one registry per service, every metric prefixed `lake_` and
// labelled with the service; served as text on /metrics. Services that already have an HTTP server
// mount `metricsHandler`; the others, and the catalog (whose API port is authenticated), start
// `serveMetrics` on LAKE_METRICS_PORT.
import type { IncomingMessage, ServerResponse } from "node:http";

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

import { createHttpServer, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from "@lake/http";

export { Counter, Gauge, Histogram, Registry };

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: "lake_process_" });
  return registry;
}

/** Answers GET /metrics; returns false for any other path so the caller can route it. */
export async function metricsHandler(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if ((req.url ?? "").split("?")[0] !== "/metrics") return false;
  const text = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType });
  res.end(text);
  return true;
}

/** A small server with /metrics and /healthz, for services that serve no other HTTP (or not these). */
export function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
  healthy: () => boolean = () => true,
  timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS,
): Promise<{ port: number; close(): void }> {
  const server = createHttpServer((req, res) => {
    metricsHandler(registry, req, res)
      .then((handled) => {
        if (handled) return;
        if ((req.url ?? "").startsWith("/healthz")) {
          const ok = healthy();
          res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok }));
          return;
        }
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "not_found", message: "GET /metrics or /healthz" }));
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
  }, timeouts);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({ port: typeof addr === "object" && addr ? addr.port : port, close: () => server.close() });
    });
  });
}

/** A gauge read from the service's own state at scrape time (no bookkeeping on the hot path). */
export function liveGauge(registry: Registry, name: string, help: string, labels: Record<string, string>, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: Object.keys(labels),
    registers: [registry],
    collect() {
      this.set(labels, read());
    },
  });
}
