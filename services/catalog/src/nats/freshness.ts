// The one lookup a version's freshness needs per source: the first record on the source's subject after
// the version's position (a JetStream get of `next_by_subj` from position + 1), for the time the stream
// stored it. Cheap, but a version read would otherwise pay a NATS round trip each time, so:
// - a record found is remembered for good (bounded): the first record after a position never changes;
// - "nothing after it" is remembered for NONE_TTL_MS only: a record may land any moment, and the
//   staleness an answer states is then at most that much too low;
// - concurrent reads of one source share one lookup;
// - after a lookup fails (NATS restarting), lookups are skipped for DOWN_MS: reads keep answering from
//   the projection at once, their freshness unmeasured, instead of each waiting for a timeout.
import type { JetStreamManager } from "@nats-io/jetstream";

import { isNatsUnavailable } from "@lake/messaging";

import type { FreshnessTarget, TargetOutcome } from "../domain/freshness.ts";

export interface SourceProbeOptions {
  /** How long "no record after this position" is believed. */
  noneTtlMs?: number;
  /** How long lookups are skipped after one failed. */
  downMs?: number;
  /** Found records remembered at most (oldest first out). */
  maxEntries?: number;
}

const NONE_TTL_MS = 100;
const DOWN_MS = 1000;
const MAX_ENTRIES = 10_000;

export class SourceProbe {
  private readonly found = new Map<string, { seq: number; at: number }>();
  private readonly none = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<TargetOutcome>>();
  private downUntil = 0;
  private downWhy = "";
  lookups = 0;

  constructor(
    /** A manager whose request timeout is short: a read waits at most that long for its freshness. */
    private readonly jsm: JetStreamManager,
    private readonly opts: SourceProbeOptions = {},
  ) {}

  /** The first record after `t.through` on `t.subject`, as of about `now`. Never throws. */
  lookup(t: FreshnessTarget, now: number): Promise<TargetOutcome> {
    const key = `${t.stream}\u0000${t.subject}\u0000${t.through}`;
    const hit = this.found.get(key);
    if (hit) return Promise.resolve({ kind: "found", ...hit });
    if ((this.none.get(key) ?? -Infinity) > now) return Promise.resolve({ kind: "none" });
    if (now < this.downUntil) return Promise.resolve({ kind: "unmeasured", why: `NATS unavailable (${this.downWhy})` });
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(key, t).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetch(key: string, t: FreshnessTarget): Promise<TargetOutcome> {
    this.lookups++;
    try {
      // `seq` with `next_by_subj`: the first message on the subject at or after seq (what nats-server
      // answers; nats.js's type only names the direct-get form).
      const m = await this.jsm.streams.getMessage(t.stream, { seq: t.through + 1, next_by_subj: t.subject } as never);
      if (!m) {
        this.none.set(key, Date.now() + (this.opts.noneTtlMs ?? NONE_TTL_MS));
        if (this.none.size > (this.opts.maxEntries ?? MAX_ENTRIES)) this.none.clear();
        return { kind: "none" };
      }
      const rec = { seq: m.seq, at: m.time.getTime() };
      this.found.set(key, rec);
      if (this.found.size > (this.opts.maxEntries ?? MAX_ENTRIES)) this.found.delete(this.found.keys().next().value!);
      return { kind: "found", ...rec };
    } catch (e) {
      const why = e instanceof Error ? e.message.slice(0, 200) : String(e);
      if (isNatsUnavailable(e)) {
        this.downUntil = Date.now() + (this.opts.downMs ?? DOWN_MS);
        this.downWhy = why;
        return { kind: "unmeasured", why: `NATS unavailable (${why})` };
      }
      return { kind: "unmeasured", why: `reading ${t.stream} failed: ${why}` };
    }
  }
}
