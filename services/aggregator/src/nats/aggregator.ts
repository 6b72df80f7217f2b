// The aggregator's shell: consume the source domain stream from just after the stored input position,
// apply each batch to the windows in one SQLite transaction (state + outputs into the outbox + new
// position), then publish the outbox to lake.windows.<dataset> / lake.late.<dataset> with deterministic
// message ids and drop what JetStream acknowledged. A crash anywhere leaves either the old state (the
// batch is re-read) or the new state with its outputs still in the outbox (re-published on start, and
// deduplicated by id): never a double count.
import { jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import {
  AckedPublisher,
  ConsumerStalledError,
  DEFAULT_POISON_POLICY,
  ensureStreams,
  follow,
  type Follower,
  HEADERS,
  type PoisonPolicy,
  type RetryPolicy,
  StallGuard,
  STREAMS,
  subjects,
} from "@lake/messaging";
import { isUnknownSchema } from "@lake/registry";
import { batchParent, type Context, injectTrace, inSpan, type Logger, SpanKind, traceparentOf } from "@lake/telemetry";

import type { DerivedContract, LateEventCodec } from "../contract.ts";
import type { OutboxRow, StateStore } from "../db/state.ts";
import { type AggState, decide, evolve, type InputEvent, toInputEvent } from "../domain/windows.ts";
import type { Failpoint } from "../failpoints.ts";
import { digestRows, extendDigest, isPositionRow, outboxRows } from "../outbox.ts";

export interface AggregatorOptions {
  nc: NatsConnection;
  contract: DerivedContract;
  lateCodec: LateEventCodec;
  store: StateStore;
  maxBatch: number;
  /** A batch gathers events this long at most (0: until the stream has nothing more right now). */
  maxAgeMs?: number;
  /**
   * Records gather on the server this long between the pulls that take them (follow's lingerMs): one
   * delivery per burst instead of one per few records. 0: nats.js's ordered consumer.
   */
  pullLingerMs?: number;
  publishBatch: number;
  log: Logger;
  failpoint: (name: Failpoint) => Promise<void> | undefined;
  /** How long a source event that can't be decoded yet (unknown schema) is retried before it is skipped. */
  poison?: PoisonPolicy;
  /** Catches up with the schema registry (before retrying an event written with a schema not seen yet). */
  refreshSource?: () => Promise<void>;
  /**
   * Decodes a source event written with any registered version of its contract (`writer` is the
   * message's Lake-Schema fingerprint) into the latest one: the schema registry.
   */
  decodeSource: (bytes: Uint8Array, writer: string | undefined) => Record<string, unknown>;
  /** The source contract's allowed clock skew (lake.domain.max_future_skew_ms): bounds event times. */
  sourceMaxFutureSkewMs: () => number;
}

/** JetStream did not acknowledge every output of an outbox round; they stay in the outbox. */
export class OutboxPublishError extends Error {
  constructor(
    readonly failed: number,
    readonly of: number,
    options: { cause: unknown },
  ) {
    super(`${failed} of ${of} outputs were not acknowledged by JetStream; they stay in the outbox and are retried`, options);
    this.name = "OutboxPublishError";
  }
}

const PUBLISH_TIMEOUT_MS = 5000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
/** Reading restarts after a failure with backoff: 250 ms, doubling to 5 s while failures follow each other. */
const FOLLOW_RETRY: RetryPolicy = { initialMs: RETRY_MIN_MS, factor: 2, maxMs: RETRY_MAX_MS };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Aggregator {
  /** Results go out with their acks through one subscription of the aggregator's own, not a request each. */
  private readonly js: AckedPublisher;
  private state: AggState;
  private digest: string;
  private follower: Follower | undefined;
  private stopped = false;
  /** An event with a schema not known yet failed the last batch: catch up with the registry before reading again. */
  private catchUp = false;
  /** Set while the loop is backing off after an error; /healthz reports it. */
  failing: Error | undefined;
  /** The source event the loop keeps failing on (unknown schema), retried within the poison policy. */
  private readonly stall: StallGuard;
  /** Batches applied by this process (a redelivered batch already applied doesn't count). */
  batches = 0;

  constructor(private readonly o: AggregatorOptions) {
    this.js = new AckedPublisher(o.nc);
    this.stall = new StallGuard(o.poison ?? DEFAULT_POISON_POLICY);
    const loaded = o.store.load();
    this.digest = loaded.outputDigest;
    this.state = loaded;
  }

  /**
   * Source events not yet applied: still on the server (the consumer's pending count), delivered but
   * not yet read, or in the batch being applied. A loop stuck on one event keeps them all counted.
   */
  async lag(): Promise<number> {
    return (await this.follower?.lag()) ?? 0;
  }

  get inputSeq(): number {
    return this.state.inputSeq;
  }

  get watermark(): number | null {
    return this.state.maxEventTime === null ? null : this.state.maxEventTime - this.o.contract.job.outOfOrdernessMs;
  }

  async start(): Promise<void> {
    await ensureStreams(await jetstreamManager(this.o.nc));
    // Whatever a crash left between commit and publish goes out first, before any new result, so
    // revisions of a (window, key) reach the stream in order.
    const left = this.o.store.snapshot().outboxPending;
    if (left > 0) this.o.log.info("publishing outputs left in the outbox by the previous run", { pending: left });
    await this.publishOutbox();
    const subject = subjects.events(this.o.contract.job.source);
    this.follower = await follow({
      nc: this.o.nc,
      stream: STREAMS.events,
      subject,
      position: () => this.position(),
      onStart: (position) => {
        // A stalled consumer (a reconnect, a consumer lost with a restarted server) is mended by the new
        // one in place now; any other failure stays reported until a batch is applied.
        if (this.failing instanceof ConsumerStalledError) this.failing = undefined;
        this.o.log.info("consuming", { subject, from_seq: position + 1 });
      },
      // A batch ends at the size limit, or maxAgeMs after its first event (so a trickle of events is
      // applied together, not one transaction, outbox round and position marker each); with no age
      // limit, when the stream has nothing more for us right now.
      batch: this.o.maxAgeMs ? { maxRecords: this.o.maxBatch, maxAgeMs: this.o.maxAgeMs, whenCaughtUp: false } : { maxRecords: this.o.maxBatch },
      ...(this.o.pullLingerMs ? { lingerMs: this.o.pullLingerMs } : {}),
      retry: FOLLOW_RETRY,
      onError: (err, next) => this.failed(err, next?.retryMs),
      handle: (msgs) => this.apply(msgs),
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Stopped mid-batch: the partial batch is applied (results don't depend on batching).
    await this.follower?.stop();
  }

  /**
   * Where reading (re)starts: the stored input position, once what a failed round left in the outbox
   * is published. Any failure restarts reading there, with backoff (FOLLOW_RETRY).
   */
  private async position(): Promise<number> {
    // A schema this process doesn't know yet: catch up with the registry before the next attempt, so
    // only a schema that was never registered uses up the poison policy's retries.
    if (this.catchUp) {
      this.catchUp = false;
      await this.o.refreshSource?.().catch((e: unknown) => this.o.log.warn("catching up with the schema registry failed", { err: e }));
    }
    await this.publishOutbox();
    return this.state.inputSeq;
  }

  private failed(err: unknown, retryMs: number | undefined): void {
    if (this.stopped) return;
    this.failing = err instanceof Error ? err : new Error(String(err));
    if (isUnknownSchema(err)) this.catchUp = true;
    if (err instanceof ConsumerStalledError) this.o.log.warn("source consumer stalled; starting a new consumer", { why: err.why, retry_ms: retryMs });
    else this.o.log.error("aggregation failed; resuming from the stored position", { err, input_seq: this.state.inputSeq, retry_ms: retryMs });
  }

  private toInput(m: JsMsg): InputEvent {
    const job = this.o.contract.job;
    let record: Record<string, unknown>;
    try {
      record = this.o.decodeSource(m.data, m.headers?.get(HEADERS.schema) || undefined);
    } catch (err) {
      // Written with a schema this process hasn't seen yet: maybe not bad data; the loop restarts at
      // the stored position (with backoff) while the registry copy catches up, within the poison
      // policy. Past it the event is skipped like an undecodable one (its committer quarantines it).
      if (isUnknownSchema(err) && !this.stall.failed(m.seq)) throw err;
      const why = isUnknownSchema(err) ? `unknown schema, skipped after ${this.stall.describe()}` : "undecodable";
      this.o.log.error("undecodable source event skipped", { seq: m.seq, err, why });
      return { kind: "invalid", seq: m.seq, reason: why };
    }
    const input = toInputEvent(m.seq, record, job, { at: Math.floor(m.info.timestampNanos / 1e6), maxFutureSkewMs: this.o.sourceMaxFutureSkewMs() });
    if (input.kind === "invalid")
      this.o.log.error("source event skipped", { seq: m.seq, event_id: String(record[job.eventIdField]).slice(0, 200), reason: input.reason });
    return input;
  }

  /** One batch: decide, store (one transaction), then publish what it emitted; one span over it. */
  private apply(msgs: JsMsg[]): Promise<void> {
    return inSpan(
      `aggregate ${this.o.contract.name}`,
      {
        kind: SpanKind.CONSUMER,
        ...batchParent(msgs.map((m) => traceparentOf(m.headers))),
        attributes: { "lake.dataset": this.o.contract.name, "lake.events": msgs.length },
      },
      (_span, ctx) => this.applyBatch(msgs, ctx),
    );
  }

  /** `ctx`: the batch's span, handed on to the results it publishes (services run without a context manager). */
  private async applyBatch(msgs: JsMsg[], ctx: Context): Promise<void> {
    const outcome = decide(
      this.state,
      msgs.map((m) => this.toInput(m)),
      this.o.contract.job,
    );
    if (outcome.inputSeq === this.state.inputSeq) return; // all already applied (redelivery)
    this.batches++;
    const rows = outboxRows(outcome.outputs, this.o.contract, this.o.lateCodec);
    const digest = extendDigest(this.digest, digestRows(outcome.outputs, rows));
    this.o.store.commit(outcome, rows, digest);
    this.state = evolve(this.state, outcome);
    this.digest = digest;
    // Only a batch with outputs (beyond its position marker) has something to lose between commit and publish.
    if (rows.some((r) => !isPositionRow(r))) await this.o.failpoint("after_state_commit");
    await this.publishOutbox(ctx);
    this.failing = undefined;
  }

  /**
   * Publishes the outbox until it is empty; retries (with backoff) until JetStream takes it or we stop.
   * The results carry `ctx`'s trace (what a previous run left carries none).
   */
  private async publishOutbox(ctx?: Context): Promise<void> {
    let backoff = RETRY_MIN_MS;
    for (;;) {
      const rows = this.o.store.pendingOutbox(this.o.publishBatch);
      if (rows.length === 0 || this.stopped) return;
      try {
        // A position marker says every output before it is on the stream: it goes out only once all the
        // round's other outputs are acknowledged (a retried publish can land after later ones).
        const outputs = rows.filter((r) => !isPositionRow(r));
        // Two halves, each acknowledged before the next, so the mid_publish failpoint can stop us with
        // part of a round in the stream and all of it still in the outbox.
        const half = Math.ceil(outputs.length / 2);
        await this.publish(outputs.slice(0, half), ctx);
        if (outputs.length > 0) await this.o.failpoint("mid_publish");
        await this.publish(outputs.slice(half), ctx);
        await this.publish(
          rows.filter((r) => isPositionRow(r)),
          ctx,
        );
        this.o.store.ackOutbox(rows.at(-1)!.id);
        this.failing = undefined;
        backoff = RETRY_MIN_MS;
      } catch (err) {
        if (this.stopped) return;
        this.failing = err instanceof Error ? err : new Error(String(err));
        this.o.log.warn("publishing results failed; retrying", { err, pending: rows.length, retry_ms: backoff });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Pipelined publishes, all settled before returning, so a retry never overlaps a publish in flight. */
  private async publish(rows: readonly OutboxRow[], ctx: Context | undefined): Promise<void> {
    if (rows.length === 0) return;
    const settled = await Promise.allSettled(
      rows.map((r) => {
        const h = natsHeaders();
        h.set(HEADERS.schema, r.schema);
        injectTrace(h, ctx);
        return this.js.publish(r.subject, r.payload, { msgID: r.msgId, headers: h, timeout: PUBLISH_TIMEOUT_MS });
      }),
    );
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed.length > 0) throw new OutboxPublishError(failed.length, rows.length, { cause: failed[0]!.reason });
  }
}
