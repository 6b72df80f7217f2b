// Configuration, parsed once at start. Every variable is listed here with its default.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { type HttpTimeouts, httpTimeoutsFromEnv } from "@lake/http";
import { isTokensFileError, readTokensFile } from "@lake/http";
import { ConfigError, intEnv, requiredEnv } from "@lake/runtime";
import { isStoreConfigError, STORE_ENV, type StoreConfig, storeConfigFromEnv } from "@lake/storage";

import { CATALOG_TOKENS, catalogEntry, type TokenEntry } from "./domain/auth.ts";

export interface CatalogEnv {
  /** Freshness (now − newest event time in a dataset's current version) above which the freshness alert fires; unset: off. */
  alertFreshnessMaxMs: number | undefined;
  /** How often freshness and the projection's lag are measured, ms. */
  alertIntervalMs: number;
  natsUrl: string;
  /** HTTP port; 0 picks a free one (reported in the ready line). */
  httpPort: number;
  httpHost: string;
  /**
   * LAKE_METRICS_PORT / LAKE_METRICS_HOST: the Prometheus listener (/metrics, /healthz). Its own port,
   * on loopback unless told otherwise, because the metrics name every dataset with its rows and
   * versions: the API port's authentication does not cover it. Port 0 picks a free one (in the ready line).
   */
  metricsPort: number;
  metricsHost: string;
  /** LAKE_HTTP_*_TIMEOUT_MS: how long a client may take over a request's headers, body and keep-alive (both listeners). */
  http: HttpTimeouts;
  /** SQLite file of the projection. Deleting it is safe: it is rebuilt from the commit log. */
  dbPath: string;
  /** Upper bound on how long a read-after-write request may wait for its version, ms. */
  maxWaitMs: number;
  /**
   * LAKE_CATALOG_TOKENS_FILE: who may call the HTTP API (bearer tokens, by sha256, with roles). Unset:
   * authentication is off (local development) and the catalog says so at start. Read once at start;
   * a change takes a restart.
   */
  tokensFile: string | undefined;
  /** The tokens, when `tokensFile` is set; a malformed file stops the service at start. */
  tokens: readonly TokenEntry[] | undefined;
  /** LAKE_CATALOG_DENIALS_KEEP: how many refused requests GET /v1/admin/denials keeps (a ring). */
  denialsKeep: number;
  /**
   * The object store (LAKE_STORE and its settings, as the committer has them; see @lake/storage): the
   * Iceberg REST catalog under /iceberg reads each table's newest metadata JSON from it. Unset (neither
   * LAKE_STORE nor LAKE_STORE_ROOT): the rest of the API works, and Iceberg table loads answer 503.
   */
  store: StoreConfig | undefined;
  /** LAKE_CATALOG_CONSOLE: serve the web console under /console (`on`, the default, or `off`). */
  console: boolean;
  /** LAKE_CATALOG_ALERTS_KEEP: how many recent alert transitions GET /v1/alerts and the console keep. */
  alertsKeep: number;
  /** LAKE_CATALOG_EVENTS_MAX_CLIENTS: how many live-update streams (GET /v1/events) may be open at once. */
  eventsMaxClients: number;
  /**
   * LAKE_CATALOG_INGEST_URL / LAKE_CATALOG_INGEST_TOKEN_FILE: ingest's HTTP API and a file holding an
   * ingest `operator` token, through which the console browses and replays the quarantine (operators
   * only). Unset: those routes answer 503. The token is read once at start.
   */
  ingest: { url: string; token: string | undefined } | undefined;
}

export function readEnv(): CatalogEnv {
  const dataDir = requiredEnv("LAKE_CATALOG_DIR", "the directory of the catalog's SQLite projection");
  const tokensFile = process.env.LAKE_CATALOG_TOKENS_FILE;
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    httpPort: intEnv("LAKE_CATALOG_PORT", 7071, 0, 65535),
    httpHost: process.env.LAKE_CATALOG_HOST ?? "127.0.0.1",
    metricsPort: intEnv("LAKE_METRICS_PORT", 0, 0, 65535),
    metricsHost: process.env.LAKE_METRICS_HOST || "127.0.0.1",
    http: httpTimeoutsFromEnv(intEnv),
    dbPath: join(dataDir, "catalog.db"),
    maxWaitMs: intEnv("LAKE_CATALOG_MAX_WAIT_MS", 30_000, 0, 600_000),
    alertFreshnessMaxMs: process.env.LAKE_ALERT_FRESHNESS_MAX_MS ? intEnv("LAKE_ALERT_FRESHNESS_MAX_MS", 0, 0, Number.MAX_SAFE_INTEGER) : undefined,
    alertIntervalMs: intEnv("LAKE_ALERT_INTERVAL_MS", 5000, 50, 3_600_000),
    tokensFile,
    tokens: tokensFile === undefined ? undefined : loadTokensFile(tokensFile),
    denialsKeep: intEnv("LAKE_CATALOG_DENIALS_KEEP", 1000, 1, 1_000_000),
    store: storeFromEnv(),
    console: onOff("LAKE_CATALOG_CONSOLE", true),
    alertsKeep: intEnv("LAKE_CATALOG_ALERTS_KEEP", 500, 1, 100_000),
    eventsMaxClients: intEnv("LAKE_CATALOG_EVENTS_MAX_CLIENTS", 100, 1, 100_000),
    ingest: ingestFromEnv(),
  };
}

function onOff(name: string, def: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  if (raw === "on") return true;
  if (raw === "off") return false;
  throw new ConfigError(`${name}=${JSON.stringify(raw.slice(0, 20))}: expected on or off`);
}

function ingestFromEnv(): CatalogEnv["ingest"] {
  const url = process.env.LAKE_CATALOG_INGEST_URL;
  const tokenFile = process.env.LAKE_CATALOG_INGEST_TOKEN_FILE;
  if (!url) {
    if (tokenFile) throw new ConfigError("LAKE_CATALOG_INGEST_TOKEN_FILE is set without LAKE_CATALOG_INGEST_URL: give ingest's URL too");
    return undefined;
  }
  try {
    new URL(url);
  } catch (e) {
    throw new ConfigError(`LAKE_CATALOG_INGEST_URL=${JSON.stringify(url.slice(0, 200))} is not a URL: ${(e as Error).message}`);
  }
  if (!tokenFile) return { url, token: undefined };
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch (e) {
    throw new ConfigError(`LAKE_CATALOG_INGEST_TOKEN_FILE=${tokenFile} can't be read: ${(e as Error).message}`);
  }
  if (!token || /\s/.test(token)) throw new ConfigError(`LAKE_CATALOG_INGEST_TOKEN_FILE=${tokenFile} must hold one token (no spaces)`);
  return { url, token };
}

function storeFromEnv(): StoreConfig | undefined {
  if (!process.env[STORE_ENV.kind] && !process.env[STORE_ENV.root]) return undefined;
  try {
    return storeConfigFromEnv(process.env);
  } catch (e) {
    if (isStoreConfigError(e)) throw new ConfigError(e.message);
    throw e;
  }
}

/** Reads and checks the tokens file; every problem is a ConfigError naming the variable, the file and what is wrong. */
export function loadTokensFile(path: string): TokenEntry[] {
  // Set but empty is refused rather than read as "off" (readTokensFile): a blank in a deployment template must not open the API.
  try {
    return readTokensFile("LAKE_CATALOG_TOKENS_FILE", path, CATALOG_TOKENS).map(catalogEntry);
  } catch (e) {
    if (isTokensFileError(e)) throw new ConfigError(e.message);
    throw e;
  }
}
