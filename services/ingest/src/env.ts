// Configuration, parsed once at start. Every variable is listed here with its default.
function int(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

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
}

export function readEnv(): IngestEnv {
  return {
    natsUrl: requireEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    httpPort: int("LAKE_INGEST_PORT", 7070, 0, 65535),
    httpHost: process.env.LAKE_INGEST_HOST ?? "127.0.0.1",
    maxBodyBytes: int("LAKE_INGEST_MAX_BODY_BYTES", 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxBatch: int("LAKE_INGEST_MAX_BATCH", 5000, 1, 100_000),
    maxQuarantineBytes: int("LAKE_QUARANTINE_MAX_BYTES", 64 * 1024, 256, 1024 * 1024),
    dedupeWindowMs: int("LAKE_DEDUPE_WINDOW_MS", 15 * 60_000, 1000, 7 * 24 * 3600_000),
  };
}

function requireEnv(name: string, what: string): string {
  const v = process.env[name];
  // Required rather than defaulted: a service must never wander onto a server nobody chose for it.
  if (!v) throw new Error(`${name} is required: ${what}`);
  return v;
}
