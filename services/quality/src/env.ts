// Configuration, parsed once at start. Every variable is listed here with its default.
import { hostname } from "node:os";
import { join } from "node:path";

import { intEnv, requiredEnv } from "@lake/runtime";
import { type StoreConfig, storeConfigFromEnv } from "@lake/storage";

export interface QualityEnv {
  natsUrl: string;
  /** Root directory of the local-disk object store the Parquet files are read from. */
  /** The object store (LAKE_STORE=local|s3 and its settings; see @lake/storage). */
  store: StoreConfig;
  /** SQLite file of the state. Deleting it is safe: it is rebuilt from the commit log (files are re-read). */
  dbPath: string;
  /** Recorded in every verdict this instance appends. */
  checkerId: string;
  /** Commit-log records applied per SQLite transaction at most. */
  maxBatch: number;
  /** /metrics and /healthz; 0 picks a free port (reported in the ready line). */
  metricsPort: number;
  metricsHost: string;
}

export function readEnv(): QualityEnv {
  const dataDir = requiredEnv("LAKE_QUALITY_DIR", "the directory of the quality service's SQLite state");
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    store: storeConfigFromEnv(process.env),
    dbPath: join(dataDir, "quality.db"),
    checkerId: process.env.LAKE_QUALITY_ID || `quality-${hostname()}-${process.pid}`,
    maxBatch: intEnv("LAKE_QUALITY_MAX_BATCH", 1000, 1, 100_000),
    metricsPort: intEnv("LAKE_METRICS_PORT", 0, 0, 65535),
    metricsHost: process.env.LAKE_METRICS_HOST || "127.0.0.1",
  };
}
