// Configuration, parsed once at start. Every variable is listed here with its default.
import { hostname } from "node:os";

import { assertValidName, derivedNames } from "@lake/contracts";
import { type PoisonPolicy, poisonPolicyFromEnv } from "@lake/messaging";
import { intEnv, requiredEnv } from "@lake/runtime";
import { type StoreConfig, storeConfigFromEnv } from "@lake/storage";

export interface CommitterEnv {
  natsUrl: string;
  /** Domain whose stream is committed; the dataset has the same name. */
  dataset: string;
  /** The object store (LAKE_STORE=local|s3 and its settings; see @lake/storage). */
  store: StoreConfig;
  /** Flush a micro-batch at this many rows... */
  maxRows: number;
  /** ...or when its oldest row has waited this long. */
  maxAgeMs: number;
  /** LAKE_PULL_LINGER_MS: how long source records gather on the server between pulls (0: a pull kept open). */
  pullLingerMs: number;
  committerId: string;
  /** Comma-separated failpoints for fault tests, e.g. "after_parquet@2" (kill -9 self at that point). */
  failpoints: string;
  /** /metrics and /healthz; 0 picks a free port (reported in the ready line). */
  metricsPort: number;
  metricsHost: string;
  /** Consumer lag (events not yet committed) above which the consumer_lag alert fires; unset: off. */
  alertLagMax: number | undefined;
  /** How often the lag is measured, ms. */
  alertIntervalMs: number;
  /** A message that can't be decoded yet is retried this many times over at least this long, then quarantined. */
  poison: PoisonPolicy;
}

export function readEnv(): CommitterEnv {
  const dataset = assertValidName("dataset", process.env.LAKE_DATASET ?? "domain_events");
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    dataset,
    store: storeConfigFromEnv(process.env),
    maxRows: intEnv("LAKE_COMMIT_MAX_ROWS", 20_000, 1, 1_000_000),
    // A derived dataset's rows are running totals its committer merges into the files that hold them, so
    // a version costs about the same whatever it holds: fewer, larger versions (see docs/configuration.md).
    maxAgeMs: derivedNames().includes(dataset) ? intEnv("LAKE_DERIVED_COMMIT_MAX_AGE_MS", 1000, 1, 600_000) : intEnv("LAKE_COMMIT_MAX_AGE_MS", 250, 1, 600_000),
    pullLingerMs: intEnv("LAKE_PULL_LINGER_MS", 20, 0, 1000),
    committerId: process.env.LAKE_COMMITTER_ID ?? `${hostname()}-${process.pid}`,
    failpoints: process.env.LAKE_FAILPOINTS ?? "",
    metricsPort: intEnv("LAKE_METRICS_PORT", 0, 0, 65535),
    metricsHost: process.env.LAKE_METRICS_HOST || "127.0.0.1",
    alertLagMax: process.env.LAKE_ALERT_LAG_MAX ? intEnv("LAKE_ALERT_LAG_MAX", 0, 0, Number.MAX_SAFE_INTEGER) : undefined,
    alertIntervalMs: intEnv("LAKE_ALERT_INTERVAL_MS", 5000, 50, 3_600_000),
    poison: poisonPolicyFromEnv(process.env),
  };
}
