// Follows lake.commits.> from just after the projection's position and applies records in batches
// (one SQLite transaction each). Also replays the whole log into a fresh database for `rebuild`.
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { LIVE_PULL_EXPIRES_MS, endWhenStalled, STREAMS, inspectLogRecord, subjects } from "@lake/messaging";
import type { LogRecord } from "@lake/contracts";
import { type Logger, type Span, SpanKind, contextFromHeaders, tracer, traceparentOf } from "@lake/telemetry";

function projectionSpan(b: { seq: number; record: LogRecord | undefined; traceparent?: string }): Span {
  return tracer().startSpan(
    `catalog project ${b.record?.kind ?? "record"}`,
    { kind: SpanKind.CONSUMER, attributes: { "lake.commit_seq": b.seq, "lake.dataset": b.record?.body.dataset ?? "" } },
    contextFromHeaders({ get: (k) => (k === "traceparent" ? b.traceparent : undefined) }),
  );
}
import type { Projection } from "../db/projection.ts";

const MAX_BATCH = 1000;
/** The longest a delivered record waits to be applied. */
const FLUSH_AFTER_MS = 20;

/** Consumes the commit log into `projection` until stopped; `onApplied` runs after every batch. */
export async function tailCommitLog(opts: {
  nc: NatsConnection;
  projection: Projection;
  log: Logger;
  onApplied: () => void;
  /** Stop after applying this sequence (used by rebuild). */
  untilSeq?: number;
  /** Make a span per traced record (the live tail; a rebuild replays history silently). */
  traced?: boolean;
}): Promise<{ messages: ConsumerMessages; done: Promise<void> }> {
  const js = jetstream(opts.nc);
  const consumer = await js.consumers.get(STREAMS.commits, {
    filter_subjects: subjects.allCommits,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: opts.projection.lastSeq + 1,
  });
  const messages = await consumer.consume({ max_messages: MAX_BATCH, expires: LIVE_PULL_EXPIRES_MS });
  endWhenStalled(messages, opts.nc, (err) => opts.log.warn("commit-log tail stalled; starting a new consumer", { why: err.why }));
  let batch: { seq: number; record: LogRecord | undefined; dataset: string; expected?: number; versionSeq?: number; problem?: string; traceparent?: string }[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (batch.length === 0) return;
    // Each traced record gets a span for its projection, in the trace of the work that appended it.
    const spans = opts.traced ? batch.filter((b) => b.traceparent).map((b) => projectionSpan(b)) : [];
    const voids = opts.projection.applyBatch(batch);
    // Loud: a void record means the server let two compare-and-set appends land (a clustered
    // nats-server 2.9); its writer was told it lost, and no reader applies it.
    for (const v of voids) opts.log.error("void commit-log record refused", { record: v });
    for (const s of spans) s.end();
    batch = [];
    opts.onApplied();
  };
  const done = (async () => {
    for await (const m of messages as AsyncIterable<JsMsg>) {
      // A record that is not a well-formed lake record for its subject's dataset (junk, no headers, a
      // body naming another dataset) is void: the projection notes it and moves past it, never applies it.
      const r = inspectLogRecord(m);
      batch.push({ seq: m.seq, record: r.record, dataset: r.dataset, expected: r.expected, versionSeq: r.versionSeq, problem: r.problem, traceparent: traceparentOf(m.headers) });
      // Apply when nothing is pending, when the batch is full, or FLUSH_AFTER_MS after its first record:
      // on a clustered 2.9 server a consumer's pending count can stay above 0 while it keeps up with
      // the log, and waiting for 0 held records back for a minute.
      if (batch.length >= MAX_BATCH || m.info.pending === 0) flush();
      else flushTimer ??= setTimeout(flush, FLUSH_AFTER_MS);
      if (opts.untilSeq !== undefined && m.seq >= opts.untilSeq) {
        flush();
        messages.stop();
        break;
      }
    }
    flush();
  })();
  return { messages, done };
}

export async function logLastSeq(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(STREAMS.commits)).state.last_seq;
}
