// Configuration of the maintenance worker process (`lake maintain --follow`, started by `lake up`),
// parsed once at start. Every variable is listed here with its default.
import { assertValidName } from "@lake/contracts";
import { ConfigError, intEnv, requiredEnv } from "@lake/runtime";
import { type StoreConfig, storeConfigFromEnv } from "@lake/storage";

import { DEFAULT_INTERVAL_MS } from "./worker.ts";

export interface MaintainEnv {
  natsUrl: string;
  /** The catalog's HTTP API: what the worker reads, and where expiries and collected files are recorded. */
  catalogUrl: string;
  /** Bearer token for the catalog (LAKE_TOKEN; role operator or admin) when it runs with tokens. */
  catalogToken: string | undefined;
  store: StoreConfig;
  /** Time between rounds, ms. */
  intervalMs: number;
  /** Datasets to maintain; empty: every dataset the catalog knows. */
  datasets: string[];
  /** Recorded as the actor of expiries and collections. */
  actor: string;
  /** /metrics and /healthz; 0 picks a free port (reported in the ready line). */
  metricsPort: number;
  metricsHost: string;
}

export function readMaintainEnv(): MaintainEnv {
  const env = process.env;
  const datasets = (env.LAKE_MAINTAIN_DATASETS ?? "")
    .split(",")
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of datasets) {
    try {
      assertValidName("dataset", d);
    } catch (e) {
      throw new ConfigError(`LAKE_MAINTAIN_DATASETS: ${(e as Error).message}`);
    }
  }
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    catalogUrl: requiredEnv("LAKE_CATALOG_URL", "the catalog's HTTP API, e.g. http://127.0.0.1:7071"),
    catalogToken: env.LAKE_TOKEN || undefined,
    store: storeConfigFromEnv(env),
    intervalMs: intEnv("LAKE_MAINTAIN_INTERVAL_MS", DEFAULT_INTERVAL_MS, 100, 86_400_000),
    datasets,
    actor: env.LAKE_MAINTAIN_ACTOR || "maintenance",
    metricsPort: intEnv("LAKE_METRICS_PORT", 0, 0, 65535),
    metricsHost: env.LAKE_METRICS_HOST || "127.0.0.1",
  };
}
