// `lake maintain`: one maintenance round (or, with --follow, a round every interval until Ctrl-C) over
// every dataset, as each dataset's `lake.maintenance` policy says: compaction, expiry, GC. The worker is
// maintain/worker.ts; `lake up` runs it as its own process (maintain/main.ts).
// The worker, NATS, the registry and the store load only when the command runs (see lazy/README.md):
// `lake --help` and the catalog commands must not pay for them.
import { CatalogClient } from "@lake/client";
import type { Logger } from "@lake/telemetry";

import { type MaintenanceTarget, parseDuration, storeOf } from "./cli-maintenance.ts";
import { OpsUsageError } from "./cli-ops.ts";
import { formatRound } from "./maintain/report.ts";

type Values = Record<string, string | boolean | undefined>;

/** Options of `lake maintain`, for cli.ts's parseArgs (`--dataset` is declared there already). */
export const MAINTAIN_OPTIONS = {
  follow: { type: "boolean" },
  interval: { type: "string" },
  "no-maintenance": { type: "boolean" },
} as const;

export const MAINTAIN_USAGE = `  lake maintain [--dataset D] [--follow] [--interval 30s]
      compact, expire and collect each dataset as its contract's "lake.maintenance" policy says
      (defaults: compact a partition past 32 small files; keep the 100 newest versions and a week;
      GC orphans older than 1 h), a bounded amount per round; --follow: a round every interval
      until Ctrl-C (\`lake up\` runs this as a process unless --no-maintenance)`;

/** Log lines of the worker's tasks (compaction's progress) go nowhere in the foreground: the round's summary says what happened. */
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {}, child: () => quiet };

export async function cmdMaintain(rest: string[], v: Values, target: () => MaintenanceTarget): Promise<void> {
  if (rest.length > 0) throw new OpsUsageError(`usage:\n${MAINTAIN_USAGE}`);
  const [{ DEFAULT_INTERVAL_MS, MaintenanceWorker }, { connectNats }, { SchemaRegistry }, { createLogger }] = await Promise.all([
    import("./maintain/worker.ts"),
    import("./lazy/nats.ts"),
    import("./lazy/registry.ts"),
    import("@lake/telemetry"),
  ]);
  const intervalMs = v.interval === undefined ? DEFAULT_INTERVAL_MS : parseDuration("interval", v.interval as string);
  if (intervalMs < 100) throw new OpsUsageError(`--interval must be at least 100ms, got ${String(v.interval)}`);
  const t = target();
  if (!t.nats_url) throw new OpsUsageError("NATS is unknown: set NATS_URL, or run inside the lake's data dir (run.json)");
  const store = await storeOf(t);
  const nc = await connectNats({ url: t.nats_url, name: "lake-maintain" });
  const registry = await SchemaRegistry.open(nc, { seed: false });
  try {
    const catalog = new CatalogClient(t.catalog_url, process.env.LAKE_TOKEN || undefined, { monotonic: false });
    if (v.dataset) await catalog.dataset(v.dataset as string); // an unknown dataset is the user's error (404), said once
    const worker = new MaintenanceWorker({
      nc,
      store,
      catalog,
      registry,
      ...(v.dataset ? { datasets: [v.dataset as string] } : {}),
      actor: (v.actor as string | undefined) || process.env.LAKE_ACTOR || "maintenance",
      log: process.env.LAKE_DEBUG ? createLogger("maintenance") : quiet,
      intervalMs,
    });
    if (!v.follow) {
      for (const line of formatRound(await worker.round())) console.log(line);
      return;
    }
    console.log(`maintaining ${v.dataset ? String(v.dataset) : "every dataset"}: a round every ${intervalMs} ms; Ctrl-C stops`);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    await worker.follow(stop.signal, (r) => {
      const lines = formatRound(r).filter((l) => !/nothing due$|: skipped \(/.test(l));
      if (lines.length > 1) for (const line of lines) console.log(`${new Date().toISOString()} ${line}`);
    });
  } finally {
    registry.close();
    await nc.close();
  }
}
