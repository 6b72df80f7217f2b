// GET /metrics (Prometheus text format) and GET /healthz. Every figure comes from the SQLite state, so
// counters survive restarts and a scrape never sees a batch half-applied.
import type { Server } from "node:http";

import { createHttpServer, HttpError, type HttpTimeouts, listen, parseTarget, sendJson } from "@lake/http";
import type { Logger } from "@lake/telemetry";

import type { StateSnapshot } from "../db/state.ts";

export interface MetricsSource {
  dataset: string;
  outOfOrdernessMs: number;
  snapshot(): StateSnapshot;
  /** The error the service is currently retrying after, if any. */
  failing(): Error | undefined;
  /** Source events not yet applied, as last measured (NaN before the first measurement). */
  lag?(): number;
  /** Batches applied by this process (not kept across restarts). */
  batches?(): number;
}

type Metric = { name: string; type: "counter" | "gauge"; help: string; value: (s: StateSnapshot, src: MetricsSource) => number };

const watermarkOf = (s: StateSnapshot, src: MetricsSource) => (s.maxEventTime === null ? null : s.maxEventTime - src.outOfOrdernessMs);

const METRICS: readonly Metric[] = [
  { name: "events_in_total", type: "counter", help: "Source events consumed (late and invalid ones included).", value: (s) => s.counters.eventsIn },
  { name: "windows_emitted_total", type: "counter", help: "Window results emitted, every revision counted.", value: (s) => s.counters.windowsEmitted },
  {
    name: "revisions_total",
    type: "counter",
    help: "Window results with revision >= 2 (late events within the allowed lateness).",
    value: (s) => s.counters.revisions,
  },
  { name: "late_events_total", type: "counter", help: "Events past the allowed lateness, sent to the late side output.", value: (s) => s.counters.lateEvents },
  {
    name: "invalid_events_total",
    type: "counter",
    help: "Source events that could not be read (undecodable, unusable time or value); skipped and logged.",
    value: (s) => s.counters.invalidEvents,
  },
  { name: "watermark_ms", type: "gauge", help: "Event-time watermark, epoch ms (NaN before the first event).", value: (s, src) => watermarkOf(s, src) ?? NaN },
  { name: "input_seq", type: "gauge", help: "Source stream sequence of the last event applied.", value: (s) => s.inputSeq },
  { name: "output_seq", type: "gauge", help: "Outbox id of the last output acknowledged by JetStream.", value: (s) => s.outputSeq },
  { name: "outbox_pending", type: "gauge", help: "Outputs committed but not yet acknowledged by JetStream.", value: (s) => s.outboxPending },
  {
    name: "consumer_lag",
    type: "gauge",
    help: "Source events not yet applied (pending on the server, delivered, or in the batch being applied).",
    value: (_s, src) => src.lag?.() ?? NaN,
  },
  { name: "open_windows", type: "gauge", help: "(window, key) accumulators not yet purged.", value: (s) => s.openWindows },
  {
    name: "batches_total",
    type: "counter",
    help: "Batches of source events applied by this process (each one transaction and one publish round; starts at 0 on restart).",
    value: (_s, src) => src.batches?.() ?? NaN,
  },
];

const PREFIX = "lake_aggregator_";

function formatValue(n: number): string {
  return Number.isNaN(n) ? "NaN" : String(n);
}

export function renderMetrics(src: MetricsSource, s: StateSnapshot): string {
  const labels = `{dataset="${src.dataset}"}`; // a validated name: nothing to escape
  const lines: string[] = [];
  for (const m of METRICS) {
    lines.push(`# HELP ${PREFIX}${m.name} ${m.help}`, `# TYPE ${PREFIX}${m.name} ${m.type}`);
    lines.push(`${PREFIX}${m.name}${labels} ${formatValue(m.value(s, src))}`);
  }
  return lines.join("\n") + "\n";
}

export function healthView(src: MetricsSource, s: StateSnapshot) {
  const err = src.failing();
  return {
    status: err ? "degraded" : "ok",
    error: err?.message,
    dataset: src.dataset,
    input_seq: s.inputSeq,
    output_seq: s.outputSeq,
    outbox_pending: s.outboxPending,
    watermark_ms: watermarkOf(s, src),
    open_windows: s.openWindows,
    output_digest: s.outputDigest,
    events_in: s.counters.eventsIn,
    windows_emitted: s.counters.windowsEmitted,
    revisions: s.counters.revisions,
    late_events: s.counters.lateEvents,
    invalid_events: s.counters.invalidEvents,
    batches: src.batches?.() ?? null,
  };
}

export async function startHttp(opts: {
  src: MetricsSource;
  host: string;
  port: number;
  log: Logger;
  timeouts?: HttpTimeouts;
}): Promise<{ server: Server; port: number }> {
  // The lake's request timeouts (defaults unless given): no route here reads a body, but a client
  // trickling one must not hold the connection for Node's 5 minutes either.
  const server = createHttpServer((req, res) => {
    try {
      const { segments } = parseTarget(req.url);
      const path = "/" + segments.join("/");
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed; use GET`);
      if (path === "/metrics") {
        const text = renderMetrics(opts.src, opts.src.snapshot());
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": String(Buffer.byteLength(text)) });
        res.end(text);
        return;
      }
      if (path === "/healthz") {
        const view = healthView(opts.src, opts.src.snapshot());
        // Degraded (retrying NATS or storage) is still alive: 503 tells a balancer, the body tells a human.
        return sendJson(res, view.status === "ok" ? 200 : 503, view);
      }
      throw new HttpError(404, "not_found", `no route ${path}; try /metrics or /healthz`);
    } catch (e) {
      if (e instanceof HttpError) return sendJson(res, e.status, { error: e.code, message: e.message });
      opts.log.error("request failed", { err: e, url: req.url });
      if (!res.headersSent) sendJson(res, 500, { error: "internal", message: "internal error" });
    }
  }, opts.timeouts);
  const port = await listen(server, opts.port, opts.host);
  return { server, port };
}
