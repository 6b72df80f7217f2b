// Seeded producers for the chaos harness. Each sends batches of domain_events over HTTP or NATS
// request/reply and retries a batch with the same event ids until ingest has acknowledged every record
// in it (network errors, timeouts and 5xx are retried; dedupe on event_id makes that safe). Every
// acknowledged event is recorded with its offset. Some batches are sent again later on purpose (a
// producer retry after a lost reply), and a few invalid records are mixed in (they must be rejected and
// stay out of the dataset).
import type { NatsConnection } from "@nats-io/nats-core";

import { type IngestReply, rng, type SampleEvent, sendHttp, sendNats } from "@lake/client";

export const DATASET = "domain_events";
const TYPES = ["view", "click", "purchase", "refund", "signup"] as const;

/**
 * Event time of the whole run: one shared clock, so events sent at about the same moment have about
 * the same event time whichever producer sends them (the aggregator's windows then close as the run
 * goes; a batch held back by retries can still arrive past the allowed lateness and go to the side
 * output, which the checks account for).
 */
export class EventClock {
  private n = 0;
  constructor(
    private readonly startMs: number,
    private readonly stepMs: number,
    private readonly r: () => number,
  ) {}
  next(): number {
    // Up to 20 s out of order: within the aggregator's out-of-orderness (60 s).
    return this.startMs + Math.floor(this.n++ * this.stepMs + (this.r() * 2 - 1) * 20_000);
  }
  get maxMs(): number {
    return this.startMs + Math.ceil(this.n * this.stepMs) + 20_000;
  }
}

export interface ProducerOptions {
  ingestUrl: string;
  /** A producer token for ingest's HTTP API (the lake's, when it runs with authentication). */
  ingestToken: string | undefined;
  nc: NatsConnection;
  seed: number;
  /** Event id prefix: unique per run. */
  prefix: string;
  producers: number;
  /** Events per second, all producers together (a target: retries slow it down). */
  rate: number;
  maxBatch: number;
  /** Probability that an acknowledged batch is sent again later (a producer retry). */
  duplicateRate: number;
  /** Probability that a batch carries one invalid record. */
  invalidRate: number;
  clock: EventClock;
  /** Give up on a batch after this long without an acknowledgement (its events count as unknown). */
  giveUpMs: number;
  requestTimeoutMs: number;
}

export interface ProducerStats {
  batches: number;
  requests: number;
  retries: number;
  /** Requests that failed whole (network error, timeout, no responders, 5xx). */
  failedRequests: number;
  duplicateSends: number;
  /** Records answered `duplicate` (retries and deliberate re-sends). */
  duplicateAnswers: number;
  /** Records of a deliberate re-send of an acknowledged batch answered `accepted` again (dedupe missed). */
  reaccepted: number;
  rejected: number;
  /** Valid records ingest refused: should never happen. */
  unexpectedRejections: number;
  gaveUp: number;
  byVia: { http: number; nats: number };
}

export class Producers {
  /** Every acknowledged event (accepted or duplicate), by event id, with the offset ingest gave it. */
  readonly acked = new Map<string, SampleEvent & { offset: number }>();
  /** Invalid records ingest refused: must not be in the dataset. */
  readonly rejectedIds = new Set<string>();
  /** Events of batches given up on: may or may not be in the dataset. */
  readonly unknownIds = new Set<string>();
  readonly stats: ProducerStats = {
    batches: 0,
    requests: 0,
    retries: 0,
    failedRequests: 0,
    duplicateSends: 0,
    duplicateAnswers: 0,
    reaccepted: 0,
    rejected: 0,
    unexpectedRejections: 0,
    gaveUp: 0,
    byVia: { http: 0, nats: 0 },
  };
  maxOffset = 0;
  private readonly r: () => number;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private sentBatches: SampleEvent[][] = [];
  private seq = 0;
  private paceFrom = performance.now();
  private pacedEvents = 0;
  private sentEvents = 0;

  constructor(private readonly o: ProducerOptions) {
    this.r = rng(o.seed);
  }

  start(): void {
    this.loops = Array.from({ length: this.o.producers }, (_, i) => this.loop(i));
  }

  /** Stops sending new batches; resolves once every batch already started is acknowledged (or given up). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** One event, now, sent until acknowledged: a probe of the pipeline, or the flush that closes every window. */
  async sendOne(e: SampleEvent): Promise<number> {
    await this.sendUntilAcked([e], this.r() < 0.5 ? "http" : "nats", this.r);
    const acked = this.acked.get(e.event_id);
    if (!acked) throw new Error(`event ${e.event_id} was not acknowledged within ${this.o.giveUpMs} ms`);
    return acked.offset;
  }

  event(id: string, r = this.r, timestamp = this.o.clock.next()): SampleEvent {
    return {
      event_id: id,
      user_id: `user-${Math.floor(r() * 40)}`,
      event_type: TYPES[Math.floor(r() * TYPES.length)]!,
      timestamp,
      amount: Math.round(r() * 100_000) / 100,
    };
  }

  private async loop(p: number): Promise<void> {
    // Each producer draws from its own stream of the seed, so what it sends doesn't depend on how the
    // others interleave with it (event times do: they come from the shared clock).
    const r = rng(this.o.seed * 1009 + p + 1);
    while (!this.stopping) {
      // Pace all producers together to the target rate; after a stall, go on at the rate instead of
      // bursting to make up for it.
      const now = performance.now();
      if (now - (this.paceFrom + (this.pacedEvents / this.o.rate) * 1000) > 1000) {
        this.paceFrom = now;
        this.pacedEvents = this.sentEvents;
      }
      const due = this.paceFrom + ((this.sentEvents - this.pacedEvents) / this.o.rate) * 1000;
      const wait = due - now;
      if (wait > 0) await sleep(wait);
      if (this.stopping) break;
      const via = r() < 0.5 ? "http" : "nats";
      if (this.sentBatches.length > 0 && r() < this.o.duplicateRate) {
        // A producer that never saw its reply sends the same batch again, maybe much later.
        const again = this.sentBatches[Math.floor(r() * this.sentBatches.length)]!;
        this.stats.duplicateSends++;
        await this.sendUntilAcked(again, via, r, true);
        continue;
      }
      const size = 1 + Math.floor(r() * this.o.maxBatch);
      const batch: SampleEvent[] = [];
      for (let k = 0; k < size; k++) batch.push(this.event(`${this.o.prefix}p${p}-${this.seq++}`, r));
      this.sentEvents += size;
      const body: unknown[] = [...batch];
      if (r() < this.o.invalidRate) {
        // An event type outside the enum: ingest must reject and quarantine it, and nothing of it may land.
        const bad = { ...this.event(`${this.o.prefix}p${p}-bad${this.seq++}`, r), event_type: "teleport" };
        body.splice(Math.floor(r() * (body.length + 1)), 0, bad);
      }
      this.stats.batches++;
      await this.sendUntilAcked(body as SampleEvent[], via, r);
      this.sentBatches.push(batch.filter((e) => this.acked.has(e.event_id)));
    }
  }

  private async sendUntilAcked(batch: SampleEvent[], via: "http" | "nats", r: () => number, isResend = false): Promise<void> {
    const deadline = performance.now() + this.o.giveUpMs;
    const pending = new Set(batch.map((e) => e.event_id));
    for (let attempt = 1; ; attempt++) {
      this.stats.requests++;
      this.stats.byVia[via]++;
      const reply = await this.request(batch, via);
      for (const res of reply?.results ?? []) {
        const e = batch[res.index];
        if (!e || e.event_id !== res.event_id) continue;
        if (res.status === "accepted" || res.status === "duplicate") {
          if (res.status === "duplicate") this.stats.duplicateAnswers++;
          // Everything in a deliberate re-send was acknowledged before: `accepted` means dedupe missed it.
          else if (isResend && this.acked.has(e.event_id)) this.stats.reaccepted++;
          if (!this.acked.has(e.event_id)) this.acked.set(e.event_id, { ...e, offset: res.offset });
          if (res.offset > this.maxOffset) this.maxOffset = res.offset;
          pending.delete(e.event_id);
        } else if (res.status === "rejected") {
          if (e.event_type === "teleport") {
            if (!this.rejectedIds.has(e.event_id)) this.stats.rejected++;
            this.rejectedIds.add(e.event_id);
          } else this.stats.unexpectedRejections++;
          pending.delete(e.event_id);
        }
      }
      if (pending.size === 0) return;
      if (performance.now() > deadline) {
        this.stats.gaveUp++;
        for (const id of pending) this.unknownIds.add(id);
        return;
      }
      this.stats.retries++;
      // The failed part is retried with the same event ids (the whole batch: what a plain client does).
      await sleep(Math.min(1000, 25 * 2 ** Math.min(attempt, 6)) * (0.5 + r()));
      // Switch transport now and then, as a producer with two paths would.
      if (r() < 0.3) via = via === "http" ? "nats" : "http";
    }
  }

  private async request(batch: SampleEvent[], via: "http" | "nats"): Promise<IngestReply | undefined> {
    const attempt: Promise<IngestReply> =
      via === "http"
        ? sendHttp({ url: this.o.ingestUrl, token: this.o.ingestToken }, DATASET, batch)
        : sendNats(this.o.nc, DATASET, batch, this.o.requestTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.o.requestTimeoutMs + 1000)));
    try {
      const reply = await Promise.race([attempt.catch(() => undefined), timeout]);
      if (!reply || reply.status === 0 || reply.status >= 500) this.stats.failedRequests++;
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
