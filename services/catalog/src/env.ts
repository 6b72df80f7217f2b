// Configuration, parsed once at start. Every variable is listed here with its default.
import { join } from "node:path";

function int(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

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
  const dataDir = process.env.LAKE_CATALOG_DIR;
  if (!dataDir) throw new Error("LAKE_CATALOG_DIR is required: the directory of the catalog's SQLite projection");
  return {
    natsUrl: requireEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    httpPort: int("LAKE_CATALOG_PORT", 7071, 0, 65535),
    httpHost: process.env.LAKE_CATALOG_HOST ?? "127.0.0.1",
    dbPath: join(dataDir, "catalog.db"),
    maxWaitMs: int("LAKE_CATALOG_MAX_WAIT_MS", 30_000, 0, 600_000),
  };
}

function requireEnv(name: string, what: string): string {
  const v = process.env[name];
  // Required rather than defaulted: a service must never wander onto a server nobody chose for it.
  if (!v) throw new Error(`${name} is required: ${what}`);
  return v;
}
