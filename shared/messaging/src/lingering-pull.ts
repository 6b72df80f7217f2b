// A pull reader that takes records in bursts, for followers of busy streams (a committer or the
// aggregator on EVENTS). nats.js's consume() keeps a pull open, so the server sends each record the
// moment it is stored: with one event per producer request, a write in nats-server and a read wakeup
// in the follower per handful of records. This reader waits for one record, then lets records gather
// on the server for `lingerMs` with no pull open, and takes all of them (up to `maxBatch`) with one
// no_wait pull: one write and one wakeup per burst. Measured on a real nats-server with 5,000 records/s
// stored a few at a time: 17-18 µs of follower CPU per record with consume(), 9-10 µs with a 20 ms
// linger (docs/benchmarks.md). The price is up to `lingerMs` more latency for the records after the
// first, so it is for followers that gather records for a while anyway (micro-batches by age).
//
// Same contract as the ordered consumer follow() uses otherwise: a new ephemeral consumer (AckPolicy
// none, in memory, one replica) from a start sequence, records in stream order, each once. What it
// can't vouch for ends it with a ConsumerStalledError, and follow() starts again from the caller's
// position (a false alarm costs a restart, never data):
// - the server says nothing, not even a heartbeat, for `missedHeartbeats` intervals of a waiting pull
//   (the consumer was deleted, the server is gone), or a no_wait pull isn't answered in that time;
// - the server ends a pull with an error status (409: consumer deleted, leadership change, ...);
// - the connection reconnects and the consumer is gone (a restarted server keeps no memory consumer),
//   or it delivered records while the connection was down (they were lost with it); else the pull in
//   flight, lost with the old connection, is asked again, and the read goes on with the same consumer;
// - a record's consumer sequence skips ahead (a record was lost on the way).
// A message on the inbox that is not a delivery of this consumer's (another stream or consumer, a
// consumer sequence already seen) is dropped: it can't be a record of this read.
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  type DeliveryInfo,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  type PullOptions,
} from "@nats-io/jetstream";
import { type Msg, type MsgHdrs, type NatsConnection, nuid, type Subscription } from "@nats-io/nats-core";

import { newInbox, onReconnect } from "./connect.ts";
import { ConsumerStalledError, LIVE_PULL_EXPIRES_MS, LIVE_PULL_HEARTBEAT_MS, STALL_MISSED_HEARTBEATS } from "./streams.ts";

export interface LingeringPullOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  /** The subject read (wildcards allowed). */
  subject: string;
  /** The first stream sequence wanted. */
  startSeq: number;
  /** How long records gather on the server between bursts, when none is known to be waiting. */
  lingerMs: number;
  /** Most records asked for by one pull, and most held here unread before pulling again. */
  maxBatch: number;
  /** A waiting pull's heartbeat interval (default LIVE_PULL_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Heartbeat intervals of silence after which the read ends stalled (default STALL_MISSED_HEARTBEATS). */
  missedHeartbeats?: number;
  /**
   * The consumer's replicas: 1 (default), or 0 for the stream's own. On a cluster, one replica lives on
   * one node, and just after a node loss nats-server 2.9 can place it on the lost node, where it never
   * answers; with the stream's replicas it stands on the nodes that are up.
   */
  replicas?: 0 | 1;
}

const td = new TextDecoder();
const NANOS_PER_MS = 1_000_000;

/** A record delivered by a LingeringPull: JsMsg's fields; there is nothing to acknowledge (AckPolicy none). */
class PulledMsg implements JsMsg {
  readonly redelivered = false;
  constructor(
    private readonly m: Msg,
    readonly info: DeliveryInfo,
  ) {}
  get seq(): number {
    return this.info.streamSequence;
  }
  get headers(): MsgHdrs | undefined {
    return this.m.headers;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get subject(): string {
    return this.m.subject;
  }
  get sid(): number {
    return this.m.sid;
  }
  get time(): Date {
    return new Date(Math.floor(this.info.timestampNanos / NANOS_PER_MS));
  }
  get timestamp(): string {
    return this.time.toISOString();
  }
  get timestampNanos(): bigint {
    return BigInt(this.info.timestampNanos);
  }
  json<T>(): T {
    return JSON.parse(td.decode(this.m.data)) as T;
  }
  string(): string {
    return td.decode(this.m.data);
  }
  ack(): void {
    throw noAcks();
  }
  nak(): void {
    throw noAcks();
  }
  working(): void {
    throw noAcks();
  }
  next(): void {
    throw noAcks();
  }
  term(): void {
    throw noAcks();
  }
  ackAck(): Promise<boolean> {
    return Promise.reject(noAcks());
  }
}

/** Thrown by a lingering pull's record when asked to acknowledge: its consumer's AckPolicy is none. */
export class NothingToAckError extends Error {
  constructor() {
    super("a record of a lingering pull has nothing to acknowledge: its consumer's AckPolicy is none");
    this.name = "NothingToAckError";
  }
}
const noAcks = () => new NothingToAckError();

/** A consumer's deliveries' reply subjects begin with `prefix`: `$JS.ACK.<stream>.<consumer>.`. */
export interface OwnAck {
  prefix: string;
  stream: string;
  consumer: string;
}

/**
 * A delivery's info from its reply subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`,
 * or the form with domain and account hash; undefined for anything else. A subject that starts with
 * `own.prefix` (every delivery of the reader's own consumer) is read in place, without splitting it
 * into tokens (splitting was 3-6% of a follower's CPU).
 */
export function deliveryInfoOf(reply: string | undefined, own?: OwnAck): DeliveryInfo | undefined {
  if (own !== undefined && reply?.startsWith(own.prefix)) {
    if (!tail(reply, own.prefix.length)) return undefined;
    const deliveryCount = TAIL[0]!;
    const streamSequence = TAIL[1]!;
    const deliverySequence = TAIL[2]!;
    const timestampNanos = TAIL[3]!;
    const pending = TAIL[4]!;
    return {
      domain: "",
      account_hash: "",
      stream: own.stream,
      consumer: own.consumer,
      deliveryCount,
      redelivered: deliveryCount > 1,
      streamSequence,
      deliverySequence,
      timestampNanos,
      pending,
    };
  }
  return deliveryInfo(reply);
}

/** Where tail() leaves its five numbers: one array for every read, none allocated per delivery. */
const TAIL = [0, 0, 0, 0, 0];

/** Reads the five decimal tokens after `from` (the end of the subject after the fifth), as count() reads each, into TAIL; false if they aren't. */
function tail(reply: string, from: number): boolean {
  let count = 0;
  let start = from;
  for (let i = from; i <= reply.length; i++) {
    const c = i < reply.length ? reply.charCodeAt(i) : 46;
    if (c !== 46) continue; // "."
    const len = i - start;
    if (len === 0 || len > 20 || count === 5) return false;
    let n = 0;
    for (let j = start; j < i; j++) {
      const d = reply.charCodeAt(j) - 48;
      if (d < 0 || d > 9) return false;
      n = n * 10 + d;
    }
    // Past 15 digits the running sum can round differently from parsing the token: parse it.
    TAIL[count++] = len > 15 ? Number(reply.slice(start, i)) : n;
    start = i + 1;
  }
  return count === 5;
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the form with domain and account hash. */
function deliveryInfo(reply: string | undefined): DeliveryInfo | undefined {
  if (!reply?.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  if (t.length === 9) t.splice(2, 0, "_", "");
  if (t.length < 11) return undefined;
  const deliveryCount = count(t[6]!);
  const info: DeliveryInfo = {
    domain: t[2] === "_" ? "" : t[2]!,
    account_hash: t[3]!,
    stream: t[4]!,
    consumer: t[5]!,
    deliveryCount,
    redelivered: deliveryCount > 1,
    streamSequence: count(t[7]!),
    deliverySequence: count(t[8]!),
    timestampNanos: count(t[9]!),
    pending: count(t[10]!),
  };
  return info.streamSequence >= 0 && info.deliverySequence >= 0 && info.pending >= 0 && info.timestampNanos >= 0 ? info : undefined;
}

/** A token of decimal digits as a number (nanosecond timestamps lose their last digits); -1 for anything else. */
function count(token: string): number {
  if (token.length === 0 || token.length > 20) return -1;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(token);
}

interface Pull {
  /** Its number: the server answers it on `<inbox>.<n>`. */
  n: number;
  /** Records still to come before the pull is filled. */
  remaining: number;
  received: number;
  done: (received: number) => void;
  fail: (err: Error) => void;
}

/** How long the look at the consumer after a reconnect may take before the read ends stalled. */
const RECONNECT_CHECK_TIMEOUT_MS = 2_000;

export class LingeringPull implements AsyncIterable<JsMsg> {
  private readonly sub: Subscription;
  private readonly inbox: string;
  private readonly next: string;
  /** How this consumer's deliveries' reply subjects begin. */
  private readonly ownAck: OwnAck;
  private readonly heartbeatMs: number;
  private readonly silenceMs: number;
  /** Records delivered and not read yet. */
  private readonly queue: JsMsg[] = [];
  /** Wakes the iterator waiting for a record or the end. */
  private wakeReader: (() => void) | undefined;
  /** Set by stop(): once the queue is read, the iterator ends (or throws `err`). */
  private ended: { err: Error | undefined } | undefined;
  private pull: Pull | undefined;
  private silence: ReturnType<typeof setTimeout> | undefined;
  private lingering: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  private drained: (() => void) | undefined;
  private lastDelivery = 0;
  private stopped = false;
  private readonly stopWatching: () => void;
  private pulls = 0;
  /** lastDelivery when the silence timer was last armed: records since count as the server answering. */
  private deliveredAtArm = 0;
  /** Bumped whenever the silence timer is cleared or armed again, so a check already on its way is dropped. */
  private silenceArmings = 0;
  /** Settles once the consumer has been looked at after the last reconnect; no pull is asked before. */
  private resumed: Promise<void> = Promise.resolve();

  private constructor(
    private readonly o: LingeringPullOptions,
    private readonly consumer: string,
    apiPrefix: string,
    /** o.jsm with a short timeout: the look at the consumer after a reconnect. */
    private readonly checker: JetStreamManager,
  ) {
    this.heartbeatMs = o.heartbeatMs ?? LIVE_PULL_HEARTBEAT_MS;
    this.silenceMs = this.heartbeatMs * (o.missedHeartbeats ?? STALL_MISSED_HEARTBEATS);
    this.next = `${apiPrefix}.CONSUMER.MSG.NEXT.${o.stream}.${consumer}`;
    this.ownAck = { prefix: `$JS.ACK.${o.stream}.${consumer}.`, stream: o.stream, consumer };
    // Each pull is answered on a subject of its own (`<inbox>.<n>`), so a status that answers an earlier
    // pull (a late 408) can't end the current one.
    this.inbox = newInbox(o.nc);
    this.sub = o.nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => (err ? this.stop(err) : this.receive(m)) });
    // Pulls in flight die with the connection: after a reconnect the consumer is looked at before the
    // next pull (reconnected()). The listener is taken off with the read.
    this.stopWatching = onReconnect(o.nc, (server) => {
      if (!this.stopped) this.reconnected(server);
    });
    void this.run().catch((err: unknown) => this.stop(err instanceof Error ? err : new Error(String(err))));
  }

  /** Makes the consumer (from `startSeq`) and starts reading. */
  static async open(o: LingeringPullOptions): Promise<LingeringPull> {
    if (!(o.lingerMs >= 0)) throw new RangeError(`lingerMs must be 0 or more, got ${o.lingerMs}`);
    if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${o.maxBatch}`);
    const name = `lp_${nuid.next()}`;
    // Named, with one filter subject: nats.js creates it on `CONSUMER.CREATE.<stream>.<name>.<filter>`,
    // the API subject the lake's permissions grant readers (the filter pins what a user may read).
    await o.jsm.consumers.add(o.stream, {
      name,
      filter_subject: o.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, o.startSeq),
      ack_policy: AckPolicy.None,
      inactive_threshold: 5 * 60 * 1000 * NANOS_PER_MS,
      num_replicas: o.replicas ?? 1,
      max_deliver: 1,
      mem_storage: true,
    });
    // The manager's own timeout (5 s) is what a cluster node loss would cost before a new consumer when
    // this one lived on the lost node.
    const checker = await jetstreamManager(o.nc, { ...o.jsm.getOptions(), timeout: RECONNECT_CHECK_TIMEOUT_MS, checkAPI: false });
    return new LingeringPull(o, name, o.jsm.getOptions().apiPrefix ?? "$JS.API", checker);
  }

  /**
   * The connection came back: the pull in flight was lost with the old one. Whether the read can go on
   * with the same consumer is settled before the next pull: it must still exist, and must not have
   * delivered records this reader never got (sent while the connection was down). Either way, the lost
   * pull is over with what it brought.
   */
  private reconnected(server: string | undefined): void {
    const where = server ? ` to ${server}` : "";
    this.resumed = (async () => {
      let delivered: number;
      try {
        delivered = (await this.checker.consumers.info(this.o.stream, this.consumer)).delivered.consumer_seq;
      } catch (e) {
        const what = e instanceof JetStreamApiError && e.status === 404 ? "is gone" : "could not be looked at";
        return this.stop(new ConsumerStalledError(`the connection reconnected${where} and the consumer ${what}: ${(e as Error).message}`));
      }
      if (delivered > this.lastDelivery)
        this.stop(
          new ConsumerStalledError(
            `the connection reconnected${where}; records ${this.lastDelivery + 1}-${delivered} the consumer delivered meanwhile were lost with the old connection`,
          ),
        );
    })();
    this.pull?.done(this.pull.received);
  }

  /** Records delivered here and not read yet. */
  getPending(): number {
    return this.queue.length;
  }

  info(): Promise<ConsumerInfo> {
    return this.o.jsm.consumers.info(this.o.stream, this.consumer);
  }

  /**
   * Ends the read: records already delivered are still read, then the iterator ends (or throws `err`).
   * The consumer is deleted (it would go by itself after 5 idle minutes).
   */
  stop(err?: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearSilence();
    if (this.lingering) {
      clearTimeout(this.lingering.timer);
      this.lingering.wake();
    }
    this.drained?.();
    this.drained = undefined;
    this.pull?.fail(err ?? new Error("stopped"));
    this.pull = undefined;
    this.sub.unsubscribe();
    this.stopWatching();
    this.o.jsm.consumers.delete(this.o.stream, this.consumer).catch(() => {});
    this.ended = { err };
    this.wake();
  }

  [Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    return {
      next: async () => {
        // Each turn ends with a record, the end, or a wait that only a delivery or stop() ends.
        for (;;) {
          const msg = this.queue.shift();
          if (msg) {
            if (this.drained && this.queue.length <= this.o.maxBatch / 2) {
              const d = this.drained;
              this.drained = undefined;
              d();
            }
            return { done: false, value: msg };
          }
          if (this.ended) {
            if (this.ended.err) throw this.ended.err;
            return { done: true, value: undefined };
          }
          await new Promise<void>((resolve) => (this.wakeReader = resolve));
        }
      },
      return: async () => {
        this.stop();
        return { done: true, value: undefined };
      },
    };
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }

  /** Wait for one record; then, until a burst comes back empty, let records gather and take them. */
  private async run(): Promise<void> {
    const waiting = JSON.stringify({
      batch: 1,
      expires: LIVE_PULL_EXPIRES_MS * NANOS_PER_MS,
      idle_heartbeat: this.heartbeatMs * NANOS_PER_MS,
    } satisfies Partial<PullOptions>);
    while (!this.stopped) {
      const first = await this.ask(waiting, 1);
      if (first === undefined) return;
      if (first === 0) continue; // the pull expired with nothing: ask again
      for (;;) {
        // Records known to be waiting are taken at once; else the next ones gather first.
        if (this.lastPending === 0) await this.linger();
        if (this.queue.length > this.o.maxBatch / 2 && !this.stopped) await new Promise<void>((resolve) => (this.drained = resolve));
        if (this.stopped) return;
        const want = this.o.maxBatch - this.queue.length;
        const got = await this.ask(JSON.stringify({ batch: want, no_wait: true } satisfies Partial<PullOptions>), want);
        if (got === undefined) return;
        if (got === 0) break;
      }
    }
  }

  /** What the server still held for the consumer after the last record delivered. */
  private lastPending = 0;

  private linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.lingering = undefined;
        resolve();
      }, this.o.lingerMs);
      this.lingering = { timer, wake: resolve };
    });
  }

  /** One pull (once the consumer is known to be fit after a reconnect); resolves with the records it brought (0: none), or undefined once stopped. */
  private async ask(body: string, batch: number): Promise<number | undefined> {
    // The latest reconnect's check: another reconnect while waiting brings a newer one.
    for (let r: Promise<void> | undefined; r !== this.resumed;) await (r = this.resumed);
    if (this.stopped) return undefined;
    return new Promise<number | undefined>((resolve) => {
      const n = ++this.pulls;
      this.pull = {
        n,
        remaining: batch,
        received: 0,
        done: (n) => {
          this.pull = undefined;
          this.clearSilence();
          resolve(n);
        },
        fail: (err) => {
          this.pull = undefined;
          this.clearSilence();
          resolve(undefined);
          if (!this.stopped) this.stop(err);
        },
      };
      this.armSilence();
      this.o.nc.publish(this.next, body, { reply: `${this.inbox}.${n}` });
    });
  }

  /** Armed per pull and per heartbeat, not per record: when it fires, records since count as an answer. */
  private armSilence(): void {
    this.clearSilence();
    this.deliveredAtArm = this.lastDelivery;
    const armed = this.silenceArmings;
    this.silence = setTimeout(() => {
      // What already waits on the socket (a heartbeat, records) is read first (setImmediate runs after
      // the loop's I/O): a process that was busy for seconds must not take its own pause for the server's.
      setImmediate(() => {
        if (armed !== this.silenceArmings) return; // armed again (something came) or cleared since
        if (this.lastDelivery !== this.deliveredAtArm) return this.armSilence();
        this.pull?.fail(new ConsumerStalledError(`no record, status or heartbeat from the server for ${this.silenceMs} ms of a pull`));
      });
    }, this.silenceMs);
  }

  private clearSilence(): void {
    clearTimeout(this.silence);
    this.silenceArmings++;
  }

  private receive(m: Msg): void {
    if (this.stopped) return;
    const p = this.pull;
    // A status: 100 a heartbeat; 404/408 the pull is over with what it brought; anything else an error.
    if (!m.reply && m.data.length === 0 && m.headers && m.headers.code !== 0) {
      const code = m.headers.code;
      // A status comes on the subject of the pull it answers (a record on the subject it was stored
      // under): one for an earlier pull (a late 408) doesn't end the current one.
      if (!p || m.subject !== `${this.inbox}.${p.n}`) return;
      if (code === 100) return this.armSilence();
      if (code === 404 || code === 408) return p.done(p.received);
      return p.fail(new ConsumerStalledError(`the server ended a pull: ${code} ${m.headers.description}`));
    }
    const info = deliveryInfoOf(m.reply, this.ownAck);
    if (!info || info.stream !== this.o.stream || info.consumer !== this.consumer || info.deliverySequence <= this.lastDelivery) return;
    if (info.deliverySequence !== this.lastDelivery + 1) {
      return this.stop(new ConsumerStalledError(`consumer sequence ${info.deliverySequence} after ${this.lastDelivery}: a record was lost on the way`));
    }
    this.lastDelivery = info.deliverySequence;
    this.lastPending = info.pending;
    this.queue.push(new PulledMsg(m, info));
    this.wake();
    if (!p) return;
    p.received++;
    if (--p.remaining <= 0) p.done(p.received);
  }
}
