// Follows lake.commits.> from just after the projection's position and applies records in batches
// (one SQLite transaction each). Also replays the whole log into a fresh database for `rebuild`.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { LogRecord } from "@lake/contracts";
import { ConsumerStalledError, follow, type Follower, inspectLogRecord, type RetryPolicy, STREAMS, subjects } from "@lake/messaging";
import { contextFromHeaders, type Logger, type Span, SpanKind, traceparentOf, tracer } from "@lake/telemetry";

import type { Projection } from "../db/projection.ts";

function projectionSpan(b: { seq: number; record: LogRecord | undefined; traceparent?: string }): Span {
  return tracer().startSpan(
    `catalog project ${b.record?.kind ?? "record"}`,
    { kind: SpanKind.CONSUMER, attributes: { "lake.commit_seq": b.seq, "lake.dataset": b.record?.body.dataset ?? "" } },
    contextFromHeaders({ get: (k) => (k === "traceparent" ? b.traceparent : undefined) }),
  );
}

/** A record the projection applied (a void one is not among them), as the console's live updates name it. */
export interface AppliedRecord {
  seq: number;
  dataset: string;
  kind: LogRecord["kind"];
  /** The version the record is about (committed, judged, promoted, tagged; the newest expired). */
  version: number | null;
}

const MAX_BATCH = 1000;
/** The longest a delivered record waits to be applied. */
const FLUSH_AFTER_MS = 20;
/** The live tail restarts a second after a failure, however many in a row; a replay with an end fails at once. */
const LIVE_RETRY: RetryPolicy = { initialMs: 1000, factor: 1, maxMs: 1000 };
const REPLAY_RETRY: RetryPolicy = { ...LIVE_RETRY, maxRestarts: 0 };

/**
 * Follows the commit log into `projection` from just after its position, until stopped (or through
 * `untilSeq`: then `done` resolves, or rejects on the first failure); `onApplied` runs after every batch,
 * with the records of it that were applied.
 * The live tail starts again from the projection's position after any failure: the projection is only
 * ever behind, never wrong.
 */
export async function tailCommitLog(opts: {
  nc: NatsConnection;
  projection: Projection;
  log: Logger;
  onApplied: (applied: readonly AppliedRecord[]) => void;
  /** Stop after applying this sequence (used by rebuild). */
  untilSeq?: number;
  /** Make a span per traced record (the live tail; a rebuild replays history silently). */
  traced?: boolean;
}): Promise<Follower> {
  return follow({
    nc: opts.nc,
    stream: STREAMS.commits,
    subject: subjects.allCommits,
    position: () => opts.projection.lastSeq,
    // Apply when nothing is pending, when the batch is full, or FLUSH_AFTER_MS after its first record:
    // on a clustered 2.9 server a consumer's pending count can stay above 0 while it keeps up with the
    // log, and waiting for 0 held records back for a minute.
    batch: { maxRecords: MAX_BATCH, maxAgeMs: FLUSH_AFTER_MS },
    ...(opts.untilSeq === undefined ? { retry: LIVE_RETRY } : { until: { seq: opts.untilSeq }, retry: REPLAY_RETRY }),
    onError: (err, next) => {
      if (err instanceof ConsumerStalledError) opts.log.warn("commit-log tail stalled; starting a new consumer", { why: err.why, retry_ms: next?.retryMs });
      else if (next) opts.log.error(`commit-log tail failed; restarting it in ${next.retryMs} ms`, { err });
      else opts.log.error("commit-log replay failed", { err });
    },
    handle: (msgs) => {
      // A record that is not a well-formed lake record for its subject's dataset (junk, no headers, a
      // body naming another dataset) is void: the projection notes it and moves past it, never applies it.
      const batch = msgs.map((m) => {
        const r = inspectLogRecord(m);
        return {
          seq: m.seq,
          record: r.record,
          dataset: r.dataset,
          expected: r.expected,
          versionSeq: r.versionSeq,
          problem: r.problem,
          traceparent: traceparentOf(m.headers),
        };
      });
      // Each traced record gets a span for its projection, in the trace of the work that appended it.
      const spans = opts.traced ? batch.filter((b) => b.traceparent).map((b) => projectionSpan(b)) : [];
      const voids = opts.projection.applyBatch(batch);
      const voidSeqs = new Set(voids.map((v) => v.seq));
      // Loud: a void record means the server let two compare-and-set appends land (a clustered
      // nats-server 2.9); its writer was told it lost, and no reader applies it.
      for (const v of voids) opts.log.error("void commit-log record refused", { record: v.problem });
      for (const s of spans) s.end();
      opts.onApplied(batch.flatMap((b) => (b.record && !voidSeqs.has(b.seq) ? [appliedRecord(b.seq, b.record)] : [])));
    },
  });
}

function appliedRecord(seq: number, r: LogRecord): AppliedRecord {
  const b = r.body as { dataset: string; version?: number; versions?: number[] };
  const version = typeof b.version === "number" ? b.version : Array.isArray(b.versions) && b.versions.length ? Math.max(...b.versions) : null;
  return { seq, dataset: r.body.dataset, kind: r.kind, version };
}

export async function logLastSeq(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(STREAMS.commits)).state.last_seq;
}

/**
 * The sequence a starting catalog must have applied before it serves reads: the log's last sequence, or 0
 * when the stream holds no record (purged: nothing would ever be delivered to reach its last_seq).
 */
export async function logStartTarget(jsm: JetStreamManager): Promise<number> {
  const { state } = await jsm.streams.info(STREAMS.commits);
  return state.messages === 0 ? 0 : state.last_seq;
}
