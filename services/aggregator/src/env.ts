// Configuration, parsed once at start. Every variable is listed here with its default.
import { join } from "node:path";

import { assertValidName } from "@lake/contracts";
import { type PoisonPolicy, poisonPolicyFromEnv } from "@lake/messaging";
import { intEnv, requiredEnv } from "@lake/runtime";

export interface AggregatorEnv {
  natsUrl: string;
  /** The derived dataset to compute (contracts/avro/derived/<name>.avsc). */
  dataset: string;
  /** SQLite file of the state (windows, positions, outbox): <LAKE_AGGREGATOR_DIR>/<dataset>.db. */
  dbPath: string;
  /** HTTP port of /metrics and /healthz; 0 picks a free one (reported in the ready line). */
  httpPort: number;
  httpHost: string;
  /** Most source events applied in one SQLite transaction. */
  maxBatch: number;
  /**
   * How long a batch may gather source events before it is applied (0: apply as soon as the stream has
   * nothing more right now). Each batch costs a transaction, an outbox round and a position marker, and
   * its results are what the derived dataset's committer writes: a trickle of events applied one by one
   * costs many times what the same events cost together.
   */
  maxAgeMs: number;
  /** LAKE_PULL_LINGER_MS: how long source events gather on the server between pulls (0: a pull kept open). */
  pullLingerMs: number;
  /** Most outbox rows published per round (pipelined, then acknowledged together). */
  publishBatch: number;
  /** Comma-separated failpoints for fault tests, e.g. "after_state_commit@2" (kill -9 self there). */
  failpoints: string;
  /** A source event that can't be decoded yet is retried this many times over at least this long, then skipped. */
  poison: PoisonPolicy;
}

export function readEnv(): AggregatorEnv {
  const dir = requiredEnv("LAKE_AGGREGATOR_DIR", "the directory of the aggregator's SQLite state");
  const dataset = assertValidName("derived dataset", process.env.LAKE_DERIVED || "daily_user_totals");
  return {
    natsUrl: requiredEnv("NATS_URL", "the NATS server to use, e.g. nats://127.0.0.1:4222"),
    dataset,
    dbPath: join(dir, `${dataset}.db`),
    httpPort: intEnv("LAKE_AGGREGATOR_PORT", 7072, 0, 65535),
    httpHost: process.env.LAKE_AGGREGATOR_HOST || "127.0.0.1",
    maxBatch: intEnv("LAKE_AGGREGATOR_MAX_BATCH", 5000, 1, 100_000),
    maxAgeMs: intEnv("LAKE_AGGREGATOR_MAX_AGE_MS", 100, 0, 60_000),
    pullLingerMs: intEnv("LAKE_PULL_LINGER_MS", 20, 0, 1000),
    publishBatch: intEnv("LAKE_AGGREGATOR_PUBLISH_BATCH", 1000, 1, 100_000),
    failpoints: process.env.LAKE_FAILPOINTS ?? "",
    poison: poisonPolicyFromEnv(process.env),
  };
}
