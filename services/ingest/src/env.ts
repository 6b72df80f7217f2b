// Configuration, parsed once at start. Every variable is listed here with its default.
import { httpTimeoutsFromEnv, type HttpTimeouts } from "@lake/http";
import { intEnv, requiredEnv } from "@lake/runtime";

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
    http: httpTimeoutsFromEnv(intEnv),
  };
}
