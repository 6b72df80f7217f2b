// Configuration, parsed once at start. Every variable is listed here with its default.
import { assertValidName } from "@lake/contracts";
import { hostname } from "node:os";

function int(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

export interface CommitterEnv {
  natsUrl: string;
  /** Domain whose stream is committed; the dataset has the same name. */
  dataset: string;
  /** Root directory of the local-disk object store. */
  storeRoot: string;
  /** Flush a micro-batch at this many rows... */
  maxRows: number;
  /** ...or when its oldest row has waited this long. */
  maxAgeMs: number;
  committerId: string;
  /** Comma-separated failpoints for fault tests, e.g. "after_parquet@2" (kill -9 self at that point). */
  failpoints: string;
}

export function readEnv(): CommitterEnv {
  const storeRoot = process.env.LAKE_STORE_ROOT;
  if (!storeRoot) throw new Error("LAKE_STORE_ROOT is required: the directory of the local object store");
  return {
    natsUrl: requireEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    dataset: assertValidName("dataset", process.env.LAKE_DATASET ?? "domain_events"),
    storeRoot,
    maxRows: int("LAKE_COMMIT_MAX_ROWS", 20_000, 1, 1_000_000),
    maxAgeMs: int("LAKE_COMMIT_MAX_AGE_MS", 250, 1, 600_000),
    committerId: process.env.LAKE_COMMITTER_ID ?? `${hostname()}-${process.pid}`,
    failpoints: process.env.LAKE_FAILPOINTS ?? "",
  };
}

function requireEnv(name: string, what: string): string {
  const v = process.env[name];
  // Required rather than defaulted: a service must never wander onto a server nobody chose for it.
  if (!v) throw new Error(`${name} is required: ${what}`);
  return v;
}
