// Configuration, parsed once at start. Every variable is listed here with its default.
import { intEnv, requiredEnv } from "@lake/runtime";
import { join } from "node:path";

export interface CatalogEnv {
  natsUrl: string;
  /** HTTP port; 0 picks a free one (reported in the ready line). */
  httpPort: number;
  httpHost: string;
  /** SQLite file of the projection. Deleting it is safe: it is rebuilt from the commit log. */
  dbPath: string;
  /** Upper bound on how long a read-after-write request may wait for its version, ms. */
  maxWaitMs: number;
}

export function readEnv(): CatalogEnv {
  const dataDir = requiredEnv("LAKE_CATALOG_DIR", "the directory of the catalog's SQLite projection");
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    httpPort: intEnv("LAKE_CATALOG_PORT", 7071, 0, 65535),
    httpHost: process.env.LAKE_CATALOG_HOST ?? "127.0.0.1",
    dbPath: join(dataDir, "catalog.db"),
    maxWaitMs: intEnv("LAKE_CATALOG_MAX_WAIT_MS", 30_000, 0, 600_000),
  };
}
