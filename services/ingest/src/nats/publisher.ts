// Publishes classified records: valid ones to the domain stream (Nats-Msg-Id = event_id, so producer
// retries dedupe in JetStream), refused ones to quarantine with their reason. One request's publishes
// are pipelined, not awaited one by one.
import { createHash } from "node:crypto";

import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import type { IngestReply, RecordResult } from "@lake/contracts";
import { cdcChangeCodec, type DomainContract, isCdcContract, isValidName, quarantinedRecordCodec, UnknownDomainError } from "@lake/contracts";
import { type Ack, AckedPublisher, type AckedPublishOptions, HEADERS, subjects } from "@lake/messaging";
import { type Context, Counter, Histogram, injectTrace, inSpan, type Registry, SpanKind } from "@lake/telemetry";

import {
  type Classified,
  classify,
  failedReason,
  HEADER_ALLOWANCE_BYTES,
  parseBody,
  replyBound,
  RequestError,
  summarise,
  type WireLimits,
} from "../domain/classify.ts";
import { rejectReason } from "../domain/reasons.ts";

/**
 * Publishes asked for within one turn of the event loop go to nats.js together. nats.js writes to its
 * socket once per synchronous run (a microtask after the first publish), and ingest handles each HTTP
 * request or NATS request in a run of its own: many producers sending one event each cost a socket write
 * per event here, and a read and an ack write per event in nats-server. Held until the turn's I/O
 * callbacks are done (setImmediate), they leave in one write and their acks come back together; a
 * request of many records publishes them in one run anyway. Measured with one event per request, 16 in
 * flight (docs/benchmarks.md): ingest 170-194 → 141-143 µs and nats-server 87-107 → 63-69 µs per event.
 */
export class PublishWindow {
  private queue: { subject: string; bytes: Uint8Array; opts: AckedPublishOptions; resolve: (a: Ack) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly js: { publish(subject: string, bytes: Uint8Array, opts: AckedPublishOptions): Promise<Ack> }) {}

  publish(subject: string, bytes: Uint8Array, opts: AckedPublishOptions): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      this.queue.push({ subject, bytes, opts, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const p of queue) {
      try {
        this.js.publish(p.subject, p.bytes, p.opts).then(p.resolve, p.reject);
      } catch (e) {
        p.reject(e);
      }
    }
  }
}

/** Nats-Msg-Id of an event: unique across the EVENTS stream, the same for every retry of the event. */
export const eventMsgId = (domain: string, eventId: string) => `${domain}:${eventId}`;

/** What publishing a valid record can come to: stored (new or a dedupe hit), or unknown. */
export type PublishedResult = Extract<RecordResult, { status: "accepted" | "duplicate" | "failed" }>;

/** Where contracts come from: the schema registry (latest version of each domain). */
export interface ContractSource {
  latest(domain: string): DomainContract;
}

export interface PublisherOptions {
  nc: NatsConnection;
  /** Metrics go here (lake_ingest_records_total, lake_ingest_rejected_total, lake_ingest_request_seconds). */
  metrics: Registry;
  contracts: ContractSource;
  maxBatch: number;
  maxQuarantineBytes: number;
}

export class Publisher {
  private readonly js: JetStreamClient;
  private readonly window: PublishWindow;
  readonly stats = { accepted: 0, duplicates: 0, rejected: 0, failed: 0 };

  private readonly records: Counter;
  private readonly rejections: Counter;
  private readonly latency: Histogram;

  constructor(private readonly o: PublisherOptions) {
    this.js = jetstream(o.nc);
    // Events go out through one ack subscription of ingest's own (AckedPublisher), not a request each.
    this.window = new PublishWindow(new AckedPublisher(o.nc));
    this.records = new Counter({
      name: "lake_ingest_records_total",
      help: "Records by outcome (rejected ones are quarantined)",
      labelNames: ["domain", "status"],
      registers: [o.metrics],
    });
    // Why records were refused, as a fixed set of classes (never the reason's text: it quotes input).
    this.rejections = new Counter({
      name: "lake_ingest_rejected_total",
      help: "Records refused and quarantined, by class of reason",
      labelNames: ["domain", "reason"],
      registers: [o.metrics],
    });
    this.latency = new Histogram({
      name: "lake_ingest_request_seconds",
      help: "Time to answer an ingest request",
      labelNames: ["source"],
      registers: [o.metrics],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
  }

  /** What a record must fit to be published: the connected server's max_payload (it can change on reconnect). */
  wireLimits(): WireLimits {
    return { maxRecordBytes: (this.o.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ALLOWANCE_BYTES };
  }

  /** The latest registered contract of a domain; the name is checked before it is looked up. */
  contract(domain: string): DomainContract {
    if (!isValidName(domain)) throw new UnknownDomainError(domain);
    return this.o.contracts.latest(domain);
  }

  /**
   * Body text in, per-record reply out; one request, whose span is the root of every accepted event's
   * trace (or a child of the caller's). Throws RequestError for a request that isn't records at all,
   * or whose reply could be larger than `maxReplyBytes` (checked before anything is published).
   */
  ingest(
    domain: string,
    body: string,
    source: "http" | "nats",
    parent?: Context,
    opts: { maxReplyBytes?: number } = {},
  ): Promise<{ batch: boolean; reply: IngestReply }> {
    return inSpan(`ingest ${domain}`, { kind: SpanKind.SERVER, parent, attributes: { "lake.domain": domain, "lake.source": source } }, async (span, ctx) => {
      const stop = this.latency.startTimer({ source });
      const r = await this.ingestRecords(domain, body, source, opts.maxReplyBytes, ctx).finally(stop);
      if (r.reply.accepted) this.records.inc({ domain, status: "accepted" }, r.reply.accepted);
      if (r.reply.duplicates) this.records.inc({ domain, status: "duplicate" }, r.reply.duplicates);
      if (r.reply.rejected) this.records.inc({ domain, status: "rejected" }, r.reply.rejected);
      if (r.reply.failed) this.records.inc({ domain, status: "failed" }, r.reply.failed);
      span.setAttributes({ "lake.accepted": r.reply.accepted, "lake.duplicates": r.reply.duplicates, "lake.rejected": r.reply.rejected });
      return r;
    });
  }

  private async ingestRecords(
    domain: string,
    body: string,
    source: "http" | "nats",
    maxReplyBytes: number | undefined,
    ctx: Context,
  ): Promise<{ batch: boolean; reply: IngestReply }> {
    const contract = this.contract(domain);
    const parsed = parseBody(body, this.o.maxBatch);
    // The ingest clock bounds event times (how far in the future they may be): read once per request.
    const classified = classify(parsed.records, contract, Date.now(), this.wireLimits());
    if (maxReplyBytes !== undefined) {
      const bound = replyBound(domain, classified);
      if (bound > maxReplyBytes) {
        const perRecord = bound / classified.length;
        throw new RequestError(
          413,
          "reply_too_large",
          `the reply to these ${classified.length} records could be ${bound} bytes, more than the ${maxReplyBytes} bytes a NATS message may carry (the server's max_payload); ` +
            `nothing was published or quarantined: split the batch (about ${Math.max(1, Math.floor(maxReplyBytes / perRecord) - 1)} records like these per request) or send it over HTTP`,
        );
      }
    }
    const results = await Promise.all(classified.map((c) => this.publishOne(domain, contract, c, source, ctx)));
    const reply = summarise(domain, results);
    this.stats.accepted += reply.accepted;
    this.stats.duplicates += reply.duplicates;
    this.stats.rejected += reply.rejected;
    this.stats.failed += reply.failed;
    return { batch: parsed.batch, reply };
  }

  private async publishOne(domain: string, contract: DomainContract, c: Classified, source: "http" | "nats", ctx: Context): Promise<RecordResult> {
    if (!c.ok) {
      await this.quarantine(domain, c, source);
      this.rejections.inc({ domain, reason: rejectReason(c.reason) });
      return { index: c.index, event_id: c.eventId, status: "rejected", reason: c.reason, path: c.path };
    }
    return this.publishValid(domain, contract, c, { ctx });
  }

  /**
   * Publishes one record that passed classify to its domain stream. Quarantine replay calls this too,
   * so a replayed record takes exactly the path (encoding, headers, dedupe id) a fresh one does.
   */
  async publishValid(
    domain: string,
    contract: DomainContract,
    c: Classified & { ok: true },
    opts: { msgId?: string; ctx?: Context } = {},
  ): Promise<PublishedResult> {
    let ack: Ack;
    try {
      const h = natsHeaders();
      h.set(HEADERS.schema, contract.fingerprint);
      // The request's context, handed on (ingest runs without a context manager when not exporting).
      injectTrace(h, opts.ctx);
      // CDC changes travel in the change codec of the row contract they were checked against.
      const bytes = c.bytes ?? (isCdcContract(contract) ? cdcChangeCodec(contract).encode(c.value) : contract.encode(c.value));
      // The dedupe id names the domain: JetStream dedupes across the whole EVENTS stream, and event ids
      // are only unique within a domain.
      ack = await this.window.publish(subjects.events(domain), bytes, { msgID: opts.msgId ?? eventMsgId(domain, c.eventId), headers: h, timeout: 5000 });
    } catch (e) {
      // The event may or may not be stored: the producer retries with the same event_id and dedupe settles it.
      return { index: c.index, event_id: c.eventId, status: "failed", reason: failedReason("publish failed", e), retryable: true };
    }
    return { index: c.index, event_id: c.eventId, status: ack.duplicate ? "duplicate" : "accepted", offset: ack.seq };
  }

  private async quarantine(domain: string, c: Classified & { ok: false }, source: "http" | "nats"): Promise<void> {
    let raw: string;
    try {
      raw = JSON.stringify(c.raw) ?? typeof c.raw;
    } catch (e) {
      // Too deep (or otherwise unserializable) to copy: keep the reason, not the record.
      raw = `(record not kept: ${(e as Error).message})`;
    }
    const truncated = raw.length > this.o.maxQuarantineBytes;
    const record = {
      domain,
      event_id: c.eventId,
      reason: c.reason,
      path: c.path,
      raw: truncated ? raw.slice(0, this.o.maxQuarantineBytes) : raw,
      truncated,
      received_at: Date.now(),
      source,
    };
    const h = natsHeaders();
    h.set(HEADERS.record, quarantinedRecordCodec.name);
    // A retried request doesn't quarantine the same record twice (within the dedupe window).
    const msgID = createHash("sha256").update(domain).update("\u0000").update(record.raw).update("\u0000").update(record.reason).digest("hex");
    await this.js.publish(subjects.quarantine(domain), quarantinedRecordCodec.encode(record), { headers: h, msgID, timeout: 5000 });
  }
}
