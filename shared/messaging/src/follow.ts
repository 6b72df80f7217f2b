// The one follow loop of the lake: consume a stream from the caller's position, hand the records over
// in batches, and start again from the caller's position whenever the consumer stalls, fails or ends.
// Services call `follow` instead of writing their own consume/batch/restart loop (style.md).
//
// Why the position is the caller's: a consumer's cursor says what the server delivered, not what the
// caller applied. After a failure, the records between the two were delivered but are in no store, so
// each (re)start asks the caller (`position`) and reads from just after it with a new ordered consumer.
import { DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { ConsumerEndedError, isNatsUnavailable } from "./errors.ts";
import { LingeringPull } from "./lingering-pull.ts";
import { endWhenStalled, LIVE_PULL_EXPIRES_MS, LIVE_PULL_HEARTBEAT_MS } from "./streams.ts";

/** How restarts are spaced, as data: each caller states its policy instead of coding a loop. */
export interface RetryPolicy {
  /** The wait before the first restart after a failure... */
  initialMs: number;
  /** ...multiplied by this for each further failure in a row... */
  factor: number;
  /** ...and never longer than this. */
  maxMs: number;
  /**
   * Failures in a row (no batch handled in between) after which following gives up: `done` rejects with
   * the last error. Default: never (a service's live follow); 0 for a read that must not be retried.
   */
  maxRestarts?: number;
}

/**
 * How long following waits for any one JetStream answer (making a consumer, looking at one). Just after
 * a cluster node is lost, a new consumer can still be placed on it and the request goes unanswered: a
 * short wait and another try (per the retry policy) gets one on a live node sooner than nats.js's 5 s.
 */
export const FOLLOW_REQUEST_TIMEOUT_MS = 2_000;

export const DEFAULT_FOLLOW_RETRY: RetryPolicy = { initialMs: 250, factor: 2, maxMs: 5_000 };

/** The wait before restart number `attempt` (1: the first after a batch was handled). */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
}

/** When a batch is handed over: whichever comes first. */
export interface BatchLimits {
  /** It holds this many records. */
  maxRecords: number;
  /** The server has nothing more for the consumer right now (the last record's `info.pending` is 0). Default true. */
  whenCaughtUp?: boolean;
  /** Its oldest record has waited this long. Default: no limit. */
  maxAgeMs?: number;
}

export interface BatchInfo {
  /** What the server still had for the consumer after the batch's last record (0: caught up). */
  pending: number;
}

export interface FollowOptions {
  nc: NatsConnection;
  /** The JetStream context to read with (its options: domain, API prefix, timeout); default `jetstream(nc)` with FOLLOW_REQUEST_TIMEOUT_MS. */
  js?: JetStreamClient;
  stream: string;
  /** The subject followed (wildcards allowed). */
  subject: string;
  /**
   * The sequence of the last record the caller has applied (0: none). Asked at the start and at every
   * restart, after the wait: the new consumer starts just after it.
   */
  position: () => number | Promise<number>;
  /**
   * Applies one batch. Batches come one at a time, in stream order. A throw ends the consumer and
   * following starts again from `position()` (per `retry`): unless the caller's position moved, the
   * same records come again.
   */
  handle: (batch: JsMsg[], info: BatchInfo) => void | Promise<void>;
  batch: BatchLimits;
  /**
   * A read with an end: following stops (and `done` resolves) once the record at `seq` is handled, or
   * `whenCaughtUp` the server has nothing more. Records after `seq` are never handed over.
   */
  until?: { seq: number; whenCaughtUp?: boolean };
  retry?: RetryPolicy;
  /**
   * Each time a consumer ends other than by `stop` (a stall, a handler's throw, a restart asked for,
   * a failed start): the error and what follows, a restart after `retryMs` or (undefined) giving up.
   */
  onError?: (err: unknown, next: { attempt: number; retryMs: number } | undefined) => void;
  /** Runs once each consumer is in place, before its first record is read. A throw is a failed start. */
  onStart?: (position: number) => void | Promise<void>;
  /** Records each pull asks the server for (default: `batch.maxRecords`). */
  pullAhead?: number;
  /**
   * Take records in bursts (LingeringPull): after a record, let the next ones gather on the server
   * this long and take them with one pull, instead of one delivery per few records. For followers
   * that batch by age anyway (`batch.maxAgeMs` well above it): fewer wakeups in them and in
   * nats-server, at most this much more latency. Default: none (nats.js's ordered consumer).
   */
  lingerMs?: number;
  /** endWhenStalled's thresholds (tests shorten them). */
  stall?: { missedHeartbeats?: number; afterReconnectMs?: number };
}

export interface Follower {
  /** Resolves when following is over (stopped, or `until` reached); rejects with the last error if it gave up. */
  readonly done: Promise<void>;
  /**
   * Stops following. Records already delivered to this process are still handed over (the batch being
   * formed included), then `done` settles. Never rejects.
   */
  stop(): Promise<void>;
  /**
   * Ends the current consumer and starts again from `position()` after `delayMs` (default: the retry
   * policy's wait). No batch is handed over after this call; a handler already running finishes.
   */
  restart(why: unknown, opts?: { delayMs?: number }): void;
  /**
   * Records not yet applied: still on the server for the consumer, delivered to the client but not
   * read, or in the batch being formed or handled. A batch that failed stays counted until the next
   * consumer starts (its pending count takes them over), so a follower stuck on a record shows it.
   */
  lag(): Promise<number>;
}

/**
 * Follows `subject` of `stream` from just after `position()`, handing records to `handle` in batches
 * (by count, when caught up, by age: see BatchLimits), and starts again from `position()` after a stall
 * (endWhenStalled, reconnects included), a handler's throw, the consumer ending, or `restart`, with
 * waits per `retry`. Resolves once the first consumer is in place; a failure to start the first one
 * rejects (a service that can't start should say so), later ones are retried.
 */
export async function follow(opts: FollowOptions): Promise<Follower> {
  const { maxRecords, maxAgeMs } = opts.batch;
  if (!Number.isInteger(maxRecords) || maxRecords < 1) throw new RangeError(`batch.maxRecords must be a positive integer, got ${maxRecords}`);
  if (maxAgeMs !== undefined && !(maxAgeMs >= 0)) throw new RangeError(`batch.maxAgeMs must be 0 or more, got ${maxAgeMs}`);
  const f = new Following(opts);
  await f.start();
  return f;
}

/** Where records come from: nats.js's ordered consumer, or a LingeringPull. */
interface Reader extends AsyncIterable<JsMsg> {
  stop(err?: Error): void;
  /** Records delivered to this process and not read yet. */
  getPending(): number;
}

interface Opened {
  messages: Reader;
  /** The consumer's count of records not delivered yet (undefined: not known now). */
  serverPending(): Promise<number | undefined>;
}

const AGED: unique symbol = Symbol("aged");

class Following implements Follower {
  done!: Promise<void>;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private readonly retry: RetryPolicy;
  private current: Opened | undefined;
  /** Records taken from the current consumer and not handled yet (see lag). */
  private held = 0;
  private stopping = false;
  /** Failures since the last batch handled. */
  private failures = 0;
  private requested: { why: unknown; delayMs: number | undefined } | undefined;
  /** The caller's position the current consumer started from: records at or below it are skipped (see read). */
  private from = 0;
  private wake: (() => void) | undefined;
  /** The last attempt to make a consumer got no answer from JetStream (see open). */
  private openFailedUnanswered = false;

  constructor(private readonly o: FollowOptions) {
    this.js = o.js ?? jetstream(o.nc, { timeout: FOLLOW_REQUEST_TIMEOUT_MS });
    this.retry = o.retry ?? DEFAULT_FOLLOW_RETRY;
  }

  async start(): Promise<void> {
    const first = await this.open();
    this.done = this.run(first);
    // Whoever doesn't await `done` learns of giving up through onError; it is never an unhandled rejection.
    this.done.catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.current?.messages.stop();
    this.wake?.();
    await this.done.catch(() => {});
  }

  restart(why: unknown, opts: { delayMs?: number } = {}): void {
    if (this.stopping) return;
    this.requested ??= { why, delayMs: opts.delayMs };
    // Ends a read waiting for records too; records already delivered are not handed over (see read).
    this.current?.messages.stop(why instanceof Error ? why : new Error(String(why)));
  }

  async lag(): Promise<number> {
    const c = this.current;
    if (!c) return this.held;
    return ((await c.serverPending()) ?? 0) + c.messages.getPending() + this.held;
  }

  /** A new consumer from just after the caller's position; null when there is nothing to read. */
  private async open(): Promise<Opened | null> {
    // A restart asked for before the position is read is answered by this very read of it.
    this.requested = undefined;
    const position = await this.o.position();
    if (this.stopping || (this.o.until && position >= this.o.until.seq)) return null;
    // The last consumer could not be made (JetStream did not answer): on a cluster that just lost a node,
    // a new one-replica consumer can land on the lost node again and again. This one takes the stream's
    // replicas, through the lingering pull (nats.js's ordered consumer has one replica).
    const shaky = this.openFailedUnanswered;
    if (this.o.lingerMs !== undefined || shaky) {
      const messages = await LingeringPull.open({
        nc: this.o.nc,
        jsm: (this.jsm ??= await this.js.jetstreamManager()),
        stream: this.o.stream,
        subject: this.o.subject,
        startSeq: position + 1,
        lingerMs: this.o.lingerMs ?? 0,
        maxBatch: this.o.pullAhead ?? this.o.batch.maxRecords,
        ...(this.o.stall?.missedHeartbeats !== undefined ? { missedHeartbeats: this.o.stall.missedHeartbeats } : {}),
        ...(shaky ? { replicas: 0 as const } : {}),
      });
      this.current = { messages, serverPending: async () => (await messages.info().catch(() => undefined))?.num_pending };
    } else {
      const consumer = await this.js.consumers.get(this.o.stream, {
        filter_subjects: this.o.subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: position + 1,
      });
      const messages = await consumer.consume({
        max_messages: this.o.pullAhead ?? this.o.batch.maxRecords,
        expires: LIVE_PULL_EXPIRES_MS,
        idle_heartbeat: LIVE_PULL_HEARTBEAT_MS,
      });
      endWhenStalled(messages, this.o.nc, undefined, this.o.stall);
      this.current = { messages, serverPending: async () => (await consumer.info(false).catch(() => undefined))?.num_pending };
    }
    const messages = this.current.messages;
    this.from = position;
    this.held = 0;
    if (this.stopping) {
      messages.stop();
      return null;
    }
    try {
      await this.o.onStart?.(position);
    } catch (err) {
      messages.stop();
      throw err;
    }
    return this.current;
  }

  private async run(first: Opened | null): Promise<void> {
    let opened = first;
    while (opened) {
      let failure: unknown;
      try {
        await this.read(opened);
        return;
      } catch (err) {
        failure = err;
      } finally {
        opened.messages.stop();
      }
      opened = null;
      // Ends with a consumer open, a stop, or (maxRestarts) giving up; each attempt waits per the policy.
      while (!opened) {
        if (this.stopping) return;
        this.failures++;
        if (this.failures > (this.retry.maxRestarts ?? Infinity) || this.o.nc.isClosed()) {
          this.o.onError?.(failure, undefined);
          throw failure;
        }
        const retryMs = this.requested?.delayMs ?? retryDelayMs(this.retry, this.failures);
        this.o.onError?.(failure, { attempt: this.failures, retryMs });
        await this.sleep(retryMs);
        if (this.stopping) return;
        try {
          opened = await this.open();
          this.openFailedUnanswered = false;
          if (!opened) return;
        } catch (err) {
          failure = err;
          this.openFailedUnanswered = isNatsUnavailable(err);
        }
      }
    }
  }

  /**
   * Reads one consumer, handing over batches. Returns when following is over (stopped, or `until`
   * reached); throws why the consumer ended otherwise, dropping the batch being formed.
   */
  private async read({ messages }: Opened): Promise<void> {
    // A restart asked for while this consumer was being made: it never reads.
    this.throwIfRestarting();
    const { maxRecords, whenCaughtUp = true, maxAgeMs = Infinity } = this.o.batch;
    const until = this.o.until;
    const aging = Number.isFinite(maxAgeMs);
    const it = messages[Symbol.asyncIterator]();
    let batch: JsMsg[] = [];
    // Age: one timer per batch, from its first record.
    let aged = false;
    let agedSignal: Promise<typeof AGED> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deliver = async () => {
      clearTimeout(timer);
      aged = false;
      agedSignal = undefined;
      if (batch.length === 0) return;
      this.throwIfRestarting();
      const b = batch;
      batch = [];
      await this.o.handle(b, { pending: b[b.length - 1]!.info.pending });
      this.held -= b.length;
      this.failures = 0;
    };
    try {
      let next = it.next();
      // Each turn takes one record (or one age signal) from a consumer that holds at most pullAhead.
      for (;;) {
        // With a batch open, its age may end the wait for the next record. (Raced for every record: the
        // iterator's getPending() can't tell whether one is at hand, it counts a pull it has already sent.)
        const r = batch.length > 0 && aging ? await Promise.race([next, agedSignal!]) : await next;
        if (r === AGED) {
          await deliver();
          continue;
        }
        if (r.done) {
          if (!this.stopping) throw new ConsumerEndedError(this.o.stream, this.o.subject);
          // Stopped: what was delivered before the stop is handed over (a partial batch is as good a unit as any).
          await deliver();
          return;
        }
        this.throwIfRestarting();
        const m = r.value;
        if (until && m.seq > until.seq) {
          await deliver();
          return;
        }
        // The server may start a consumer earlier than asked: it moves a start sequence past the stream's end
        // back to the end (a stream made again numbers from 1). Records at or below the caller's position are
        // applied already, or belong to a stream the caller never saw: neither is handed over.
        if (m.seq <= this.from) {
          const caughtUp = m.info.pending === 0;
          if (until?.whenCaughtUp && caughtUp) {
            await deliver();
            return;
          }
          if (whenCaughtUp && caughtUp) await deliver();
          next = it.next();
          continue;
        }
        batch.push(m);
        this.held++;
        if (batch.length === 1 && aging) {
          agedSignal = new Promise<typeof AGED>((resolve) => {
            timer = setTimeout(() => {
              aged = true;
              resolve(AGED);
            }, maxAgeMs);
          });
        }
        const pending = m.info.pending;
        if (until && (m.seq >= until.seq || (until.whenCaughtUp && pending === 0))) {
          await deliver();
          return;
        }
        if (batch.length >= maxRecords || (whenCaughtUp && pending === 0) || aged) await deliver();
        next = it.next();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** After restart(): nothing more is handed over from this consumer. */
  private throwIfRestarting(): void {
    const r = this.requested;
    if (r) throw r.why;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
