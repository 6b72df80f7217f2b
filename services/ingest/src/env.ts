// Configuration, parsed once at start. Every variable is listed here with its default.
import { type HttpTimeouts, httpTimeoutsFromEnv } from "@lake/http";
import { isTokensFileError, readTokensFile, type TokenEntry } from "@lake/http";
import { ConfigError, intEnv, requiredEnv } from "@lake/runtime";

import { INGEST_TOKENS, type IngestIdentity } from "./domain/auth.ts";

export interface IngestEnv {
  natsUrl: string;
  /** HTTP port; 0 picks a free one (reported in the ready line). */
  httpPort: number;
  httpHost: string;
  /** Largest accepted request body (HTTP and NATS), bytes. */
  maxBodyBytes: number;
  /** Most records in one batch. */
  maxBatch: number;
  /** Quarantined copies of a refused record keep at most this many bytes of it. */
  maxQuarantineBytes: number;
  /** How long a producer retry is recognised as a duplicate (JetStream duplicate window), ms. */
  dedupeWindowMs: number;
  /**
   * LAKE_INGEST_TOKENS_FILE: who may call the HTTP API (bearer tokens, by sha256: producers per domain,
   * operators for the quarantine; domain/auth.ts). Unset: authentication is off and ingest says so at
   * start. Read once at start; a change takes a restart.
   */
  tokensFile: string | undefined;
  /** The tokens, when `tokensFile` is set; a malformed file stops the service at start. */
  tokens: readonly TokenEntry<IngestIdentity>[] | undefined;
  /** LAKE_HTTP_*_TIMEOUT_MS: how long a client may take over a request's headers, body and keep-alive. */
  http: HttpTimeouts;
}

export function readEnv(): IngestEnv {
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    httpPort: intEnv("LAKE_INGEST_PORT", 7070, 0, 65535),
    httpHost: process.env.LAKE_INGEST_HOST ?? "127.0.0.1",
    maxBodyBytes: intEnv("LAKE_INGEST_MAX_BODY_BYTES", 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxBatch: intEnv("LAKE_INGEST_MAX_BATCH", 5000, 1, 100_000),
    maxQuarantineBytes: intEnv("LAKE_QUARANTINE_MAX_BYTES", 64 * 1024, 256, 1024 * 1024),
    dedupeWindowMs: intEnv("LAKE_DEDUPE_WINDOW_MS", 15 * 60_000, 1000, 7 * 24 * 3600_000),
    tokensFile: process.env.LAKE_INGEST_TOKENS_FILE,
    tokens: loadIngestTokens(process.env.LAKE_INGEST_TOKENS_FILE),
    http: httpTimeoutsFromEnv(intEnv),
  };
}

/** Reads and checks the tokens file; every problem is a ConfigError naming the variable, the file and what is wrong. */
function loadIngestTokens(path: string | undefined): TokenEntry<IngestIdentity>[] | undefined {
  if (path === undefined) return undefined;
  try {
    return readTokensFile("LAKE_INGEST_TOKENS_FILE", path, INGEST_TOKENS);
  } catch (e) {
    if (isTokensFileError(e)) throw new ConfigError(e.message);
    throw e;
  }
}
