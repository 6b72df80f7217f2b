// JetStream publishes that wait for their ack, for the lake's hot paths (ingest: every accepted event;
// the aggregator: every result). nats.js's js.publish() is a full request per message (a RequestOne,
// its own timer and deferred, a mux lookup, the ack's headers decoded, an Error for the async stack):
// 17-20 µs of client CPU per event with noAsyncTraces, 40-50 µs without. The wire protocol is the
// same for a plain publish with a reply subject, so this sends every publish with a reply subject on
// one subscription of this client's own (`<inbox prefix>.<random>.<n>`), parses each ack itself and
// times out what is unanswered from one sweep timer: about 10 µs per event (measured with 500 in
// flight against a real nats-server; docs/benchmarks.md).
//
// Same outcomes as js.publish for what the lake uses (a Nats-Msg-Id, headers, a timeout): the PubAck
// (stream, seq, duplicate); the stream's refusal (JetStream's error: code, err_code, description);
// no stream on the subject (the server's 503 no-responders status); a timeout; a closed connection.
//
// A publish sent while the connection is down, or whose ack was on its way when it went, is lost with
// it: after a nats-server restart, nats.js reconnects within a second, but those publishes would wait
// out their whole timeout (5 s) for an ack that never comes. At the reconnect, every publish still
// waiting is sent again when it has a Nats-Msg-Id (JetStream keeps it once: a copy that did land is
// answered as a duplicate with the first one's sequence) and fails at once as outcome unknown when it
// has none. After a send again, either copy's answer may come first: an ack is the message's (a
// duplicate when the first copy had landed), a refusal is no longer proof that nothing was stored
// (outcome unknown). The caller must leave `data` and `headers` as they are until its publish settles.
import { headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/nats-core";

import { newInbox, onReconnect } from "./connect.ts";

/** What JetStream answered for a stored message. */
export interface Ack {
  stream: string;
  seq: number;
  duplicate: boolean;
  domain?: string;
}

/** Why a publish has no ack. `outcomeUnknown`: the message may or may not be stored (a retry with the same Nats-Msg-Id settles it). */
export class PublishAckError extends Error {
  constructor(
    message: string,
    readonly kind: "refused" | "no_stream" | "timeout" | "closed" | "bad_ack",
    readonly outcomeUnknown: boolean,
    /** JetStream's error, when the stream refused the message. */
    readonly api?: { code: number; err_code?: number; description: string },
  ) {
    super(message);
    this.name = "PublishAckError";
  }
}

export interface AckedPublishOptions {
  /** Nats-Msg-Id: JetStream's dedupe id. */
  msgID?: string;
  headers?: MsgHdrs;
  /** Milliseconds to wait for the ack (default 5000). */
  timeout?: number;
}

interface Pending {
  subject: string;
  /** What was sent, to send again after a reconnect (only with a Nats-Msg-Id). */
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  dedupe: boolean;
  /** Sent again after a reconnect: an error answer may be the other copy's. */
  resent: boolean;
  deadline: number;
  resolve(a: Ack): void;
  reject(e: unknown): void;
}

const td = new TextDecoder();

export class AckedPublisher {
  private readonly inbox: string;
  private readonly prefixLength: number;
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private closedWith: PublishAckError | undefined;
  private readonly stopWatching: () => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: { sweepMs?: number; defaultTimeoutMs?: number } = {},
  ) {
    this.inbox = newInbox(nc);
    this.prefixLength = this.inbox.length + 1;
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => (err ? this.failAll(err) : this.answer(m.subject, m.headers, m.data)) });
    this.sub.closed.then(
      () => this.failAll(new Error("the ack subscription closed")),
      (e: unknown) => this.failAll(e),
    );
    this.stopWatching = onReconnect(nc, () => this.reconnected());
  }

  /** Acks awaited right now. */
  get inFlight(): number {
    return this.pending.size;
  }

  publish(subject: string, data: Uint8Array, opts: AckedPublishOptions = {}): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      const id = this.next++;
      const timeout = opts.timeout ?? this.o.defaultTimeoutMs ?? 5000;
      let h = opts.headers;
      if (opts.msgID) {
        h ??= natsHeaders();
        h.set("Nats-Msg-Id", opts.msgID);
      }
      this.pending.set(id, {
        subject,
        data,
        headers: h,
        dedupe: opts.msgID !== undefined,
        resent: false,
        deadline: performance.now() + timeout,
        resolve,
        reject,
      });
      try {
        this.send(id, subject, data, h);
      } catch (e) {
        this.pending.delete(id);
        return reject(e);
      }
      this.sweeper ??= this.startSweeper();
    });
  }

  private send(id: number, subject: string, data: Uint8Array, h: MsgHdrs | undefined): void {
    this.nc.publish(subject, data, h ? { reply: `${this.inbox}.${id}`, headers: h } : { reply: `${this.inbox}.${id}` });
  }

  /** The connection came back: what waits for an ack was lost with the old one (see the top of the file). */
  private reconnected(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.dedupe && p.deadline > now) {
        try {
          this.send(id, p.subject, p.data, p.headers);
          p.resent = true;
          continue;
        } catch {
          // fails below, like one without a dedupe id
        }
      }
      this.pending.delete(id);
      p.reject(new PublishAckError(`the connection to NATS was lost before the ack for ${p.subject}: the message may or may not be stored`, "timeout", true));
    }
  }

  /** Rejects whatever still waits for an ack and stops listening. */
  close(): void {
    this.failAll(new PublishAckError("the publisher was closed before the ack came", "closed", true));
    this.sub.unsubscribe();
    this.stopWatching();
  }

  private answer(replySubject: string, headers: MsgHdrs | undefined, data: Uint8Array): void {
    const id = Number(replySubject.slice(this.prefixLength));
    const p = this.pending.get(id);
    if (!p) return; // already timed out, or not ours
    this.pending.delete(id);
    if (headers && headers.code !== 0) {
      if (headers.code === 503) {
        p.reject(new PublishAckError(`no JetStream stream stores ${p.subject} (no responders)`, "no_stream", p.resent));
      } else {
        p.reject(new PublishAckError(`the server answered ${headers.code} ${headers.description} instead of an ack`, "bad_ack", true));
      }
      return;
    }
    let ack: { stream?: unknown; seq?: unknown; duplicate?: unknown; domain?: unknown; error?: { code?: number; err_code?: number; description?: string } };
    try {
      ack = JSON.parse(td.decode(data)) as typeof ack;
    } catch {
      p.reject(new PublishAckError(`the ack for ${p.subject} is not JSON`, "bad_ack", true));
      return;
    }
    if (ack?.error) {
      const api = { code: Number(ack.error.code), err_code: ack.error.err_code, description: String(ack.error.description ?? "") };
      p.reject(
        new PublishAckError(
          `JetStream refused the message on ${p.subject}: ${api.description} (${api.code}${api.err_code ? `, err_code ${api.err_code}` : ""})`,
          "refused",
          p.resent,
          api,
        ),
      );
      return;
    }
    if (typeof ack?.stream !== "string" || ack.stream === "" || typeof ack.seq !== "number") {
      p.reject(new PublishAckError(`the ack for ${p.subject} has no stream and sequence`, "bad_ack", true));
      return;
    }
    p.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true, ...(typeof ack.domain === "string" ? { domain: ack.domain } : {}) });
  }

  private startSweeper(): ReturnType<typeof setInterval> {
    const t = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.pending) {
        if (p.deadline > now) continue;
        this.pending.delete(id);
        p.reject(new PublishAckError(`no ack for ${p.subject} in time: the message may or may not be stored`, "timeout", true));
      }
      if (this.pending.size === 0) {
        clearInterval(t);
        this.sweeper = undefined;
      }
    }, this.o.sweepMs ?? 100);
    t.unref();
    return t;
  }

  private failAll(e: unknown): void {
    // The first reason stays: what fails later fails for it too.
    this.closedWith ??= e instanceof PublishAckError ? e : new PublishAckError(`no ack: ${e instanceof Error ? e.message : String(e)}`, "closed", true);
    for (const p of this.pending.values()) p.reject(this.closedWith);
    this.pending.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
