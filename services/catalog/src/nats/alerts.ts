// The console's view of the ALERTS stream (lake.alerts.<alert>): the last KEEP alert transitions any
// service published, kept in memory and followed live, so GET /v1/alerts answers from memory and the
// console's event stream pushes each new one. Only what is recent matters here, so a (re)start reads
// the stream's last KEEP records, never its whole week.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type AlertChanged, alertChangedCodec } from "@lake/contracts";
import { follow, type Follower, STREAMS, subjects } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";

/** One alert transition as the console shows it: the record, with its stream sequence and an ISO time. */
export interface AlertEntry {
  seq: number;
  alert: string;
  state: AlertChanged["state"];
  service: string;
  subject: string;
  value: number;
  threshold: number;
  message: string;
  at: string;
}

/** The largest AlertChanged the feed decodes: a real one is a few hundred bytes; anything bigger is junk. */
const MAX_RECORD_BYTES = 16 * 1024;

export class AlertFeed {
  private readonly entries: AlertEntry[] = [];
  private position = 0;
  private follower: Follower | undefined;
  private readonly listeners = new Set<(e: AlertEntry) => void>();

  constructor(private readonly o: { nc: NatsConnection; log: Logger; keep: number }) {}

  async start(): Promise<void> {
    const info = await (await jetstreamManager(this.o.nc)).streams.info(STREAMS.alerts);
    this.position = Math.max(0, info.state.last_seq - this.o.keep);
    this.follower = await follow({
      nc: this.o.nc,
      stream: STREAMS.alerts,
      subject: subjects.allAlerts,
      position: () => this.position,
      batch: { maxRecords: 100, maxAgeMs: 20 },
      retry: { initialMs: 1000, factor: 2, maxMs: 10_000 },
      onError: (err, next) => this.o.log.warn("following the alerts stream failed; restarting it", { err, retry_ms: next?.retryMs }),
      handle: (msgs) => {
        for (const m of msgs) {
          this.position = m.seq;
          const e = decodeAlert(m.seq, m.data);
          if (!e) continue;
          this.entries.push(e);
          if (this.entries.length > this.o.keep) this.entries.shift();
          for (const l of this.listeners) l(e);
        }
      },
    });
  }

  /** Newest first. */
  recent(): AlertEntry[] {
    return [...this.entries].reverse();
  }

  /** Calls `fn` with every alert transition that arrives from now on, until the returned function is called. */
  onAlert(fn: (e: AlertEntry) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
  }
}

/** A record on lake.alerts.> as an entry, or undefined when it is not a readable AlertChanged (junk is skipped, never shown). */
export function decodeAlert(seq: number, data: Uint8Array): AlertEntry | undefined {
  if (data.byteLength > MAX_RECORD_BYTES) return undefined;
  try {
    const a = alertChangedCodec.decode(data);
    const at = new Date(Number(a.at));
    return {
      seq,
      alert: a.alert,
      state: a.state,
      service: a.service,
      subject: a.subject,
      value: a.value,
      threshold: a.threshold,
      message: a.message,
      at: Number.isNaN(at.getTime()) ? "" : at.toISOString(),
    };
  } catch {
    return undefined;
  }
}
