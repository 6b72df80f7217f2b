// Pure logic of the aggregator: keyed event-time windows with a watermark and allowed lateness
// (Flink's semantics). No I/O and no clock: everything depends only on the input events and their
// order, which is what makes replay deterministic.
//
// Each event is applied on its own, in stream order: its windows are updated under the watermark as it
// stood before the event, then the watermark advances and windows it passed fire or are purged. Final
// results and late events therefore don't depend on batching: the same events split into different
// batches give the same ones. Update mode adds, at the end of each batch, the running (provisional)
// result of every open window the batch changed and a position marker: those are emitted at batch
// ends, so which of them exist depends on batching, but each one equals the recomputation over the
// source events at or below its `throughSeq`.
import { futureEventTimeProblem, MAX_DATE_MS, utcDay } from "@lake/contracts";

import type { DerivedJob, WindowSpec } from "../contract.ts";

export type KeyValue = string | number;

/** What the window logic needs of a job (a subset of DerivedJob, so tests can build one inline). */
export interface WindowJob {
  window: WindowSpec;
  outOfOrdernessMs: number;
  allowedLatenessMs: number;
}

/** One source event as the window logic sees it; `invalid` events only move the input position. */
export type InputEvent =
  { kind: "event"; seq: number; eventId: string; time: number; key: readonly KeyValue[]; value: number } | { kind: "invalid"; seq: number; reason: string };

/** Accumulator of one (window, key). */
export interface WindowAcc {
  start: number;
  end: number;
  /** Encoded key (see keyId); with `start`, the window's identity. */
  keyId: string;
  key: readonly KeyValue[];
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Results emitted so far for this window: 0 until it fires. */
  revision: number;
}

export interface Counters {
  /** Every event consumed, late and invalid ones included. */
  eventsIn: number;
  /** Every window result emitted (all revisions). */
  windowsEmitted: number;
  /** Results with revision ≥ 2: updates caused by late events within the allowed lateness. */
  revisions: number;
  /** Events sent to the side output. */
  lateEvents: number;
  /** Events that could not be read (undecodable, non-finite value): skipped, logged, counted. */
  invalidEvents: number;
}

export interface AggState {
  /** Stream sequence of the last event applied (0: none). */
  inputSeq: number;
  /** Largest event time seen; the watermark is this minus the out-of-orderness. */
  maxEventTime: number | null;
  /** Open windows (not yet purged), by windowId. */
  windows: ReadonlyMap<string, WindowAcc>;
  counters: Counters;
}

export const initialCounters: Counters = { eventsIn: 0, windowsEmitted: 0, revisions: 0, lateEvents: 0, invalidEvents: 0 };

export function initialState(): AggState {
  return { inputSeq: 0, maxEventTime: null, windows: new Map(), counters: { ...initialCounters } };
}

/**
 * A window result, as of its emission: final (revision ≥ 1: the window fired, or a late event within
 * the lateness revised it) or provisional (revision 0: the running result of a window still open).
 */
export interface WindowResult {
  kind: "window";
  start: number;
  end: number;
  keyId: string;
  key: readonly KeyValue[];
  count: number;
  sum: number;
  min: number;
  max: number;
  revision: number;
  watermark: number;
  provisional: boolean;
  /**
   * The source position the result reflects: it equals the window's recomputation over the source
   * events at or below it. A final result: the event that fired or revised it. A provisional one: the
   * end of its batch. Strictly increasing across the emissions of one window, in every replay.
   */
  throughSeq: number;
}

/**
 * Ends every batch that moved the input position, after its other outputs: every result for the
 * source events at or below `throughSeq` comes before it. Writes no row; a committer ends versions here.
 */
export interface PositionOutput {
  kind: "position";
  throughSeq: number;
  watermark: number | null;
}

/** An event that missed (some of) its windows: the side output. */
export interface LateOutput {
  kind: "late";
  seq: number;
  eventId: string;
  eventTime: number;
  watermark: number;
  /** Start of the earliest window it missed. */
  windowStart: number;
  reason: string;
}

export type Output = WindowResult | LateOutput | PositionOutput;

/**
 * Outputs that are the same however the input was batched (final results and late events): what the
 * output digest covers, so two runs over the same offsets can be compared.
 */
export function isBatchIndependent(o: Output): boolean {
  return o.kind === "late" || (o.kind === "window" && !o.provisional);
}

/** What one batch changes: applied to storage in one transaction, then to memory by `evolve`. */
export interface BatchOutcome {
  inputSeq: number;
  maxEventTime: number | null;
  counters: Counters;
  /** Windows created or changed by the batch, as they stand after it. */
  upserts: WindowAcc[];
  /** Windows purged by the batch (past their allowed lateness). */
  purged: { start: number; keyId: string }[];
  /** Results and late events in the order they happened, then the batch's provisional results and its position. */
  outputs: Output[];
}

/**
 * The key as one string: each part percent-encoded (so ',' and ':' inside a value can't be confused
 * with separators, and the result is safe in a NATS header), joined with ','. Injective.
 */
export function keyId(key: readonly KeyValue[]): string {
  return key.map((v) => encodeURIComponent(String(v))).join(",");
}

export function windowId(start: number, kid: string): string {
  return `${start}|${kid}`;
}

/** Starts of the windows containing `t`, ascending: every multiple of slide in (t − size, t]. */
export function windowStarts(t: number, w: WindowSpec): number[] {
  const last = Math.floor(t / w.slideMs) * w.slideMs;
  const out: number[] = [];
  let first = last;
  while (first - w.slideMs > t - w.sizeMs) first -= w.slideMs;
  for (let s = first; s <= last; s += w.slideMs) out.push(s);
  return out;
}

export function watermarkOf(maxEventTime: number | null, job: WindowJob): number | null {
  return maxEventTime === null ? null : maxEventTime - job.outOfOrdernessMs;
}

/** UTC date of a window's start, YYYY-MM-DD; total (utcDay), so no window can stop the aggregator. */
export function dayOf(epochMillis: number): string {
  return utcDay(epochMillis);
}

/** Where a source message came from and what bounds its event time. */
export interface Arrival {
  /** When the stream stored the message (its JetStream timestamp), epoch ms: the same on every replay. */
  at: number;
  /** The source contract's allowed clock skew (lake.domain.max_future_skew_ms). */
  maxFutureSkewMs: number;
}

/**
 * One decoded source record as the window logic sees it, or `invalid` with the reason. Ingest refuses
 * an event time more than the skew past its clock, but a record can reach the stream past ingest (any
 * NATS client that may publish there): its event time is bounded here too, against the time the stream
 * stored it, so the watermark never runs ahead of the stream's clock plus the skew (one event dated
 * 2099 would otherwise make every later event late). The stream's timestamp, not this process's clock,
 * keeps replay deterministic: a rebuild decides every event as the live run did.
 */
export function toInputEvent(
  seq: number,
  record: Record<string, unknown>,
  job: Pick<DerivedJob, "eventTimeField" | "valueField" | "eventIdField" | "key">,
  arrival: Arrival,
): InputEvent {
  const time = record[job.eventTimeField];
  const value = record[job.valueField];
  // Ingest validates both, but a NaN would poison every later sum of its window: refuse it here too.
  if (typeof time !== "number" || !Number.isSafeInteger(time) || typeof value !== "number" || !Number.isFinite(value)) {
    return { kind: "invalid", seq, reason: "unusable event time or value" };
  }
  if (Math.abs(time) > MAX_DATE_MS) return { kind: "invalid", seq, reason: `event time ${time} is outside the range of dates` };
  const future = futureEventTimeProblem(job.eventTimeField, time, arrival.at, arrival.maxFutureSkewMs);
  if (future) return { kind: "invalid", seq, reason: `from the future: ${future.replace("the ingest clock", "the time the stream stored it")}` };
  return { kind: "event", seq, eventId: String(record[job.eventIdField]), time, key: job.key.map((k) => record[k] as KeyValue), value };
}

/**
 * Applies a batch of events (in stream order) to the state and returns what changes; `state` is not
 * modified. Events at or below the state's input position are skipped (a replay after a restart).
 */
export function decide(state: AggState, events: readonly InputEvent[], job: WindowJob): BatchOutcome {
  const { sizeMs, slideMs } = job.window;
  const lateness = job.allowedLatenessMs;
  // Copy-on-write view over state.windows: a window touched by this batch is copied once, then updated
  // in place; null marks a purged one.
  const overlay = new Map<string, WindowAcc | null>();
  const writable = (id: string, fresh: () => WindowAcc): WindowAcc => {
    let w = overlay.get(id);
    if (w) return w;
    const base = w === undefined ? state.windows.get(id) : undefined;
    w = base ? { ...base } : fresh();
    overlay.set(id, w);
    return w;
  };
  const counters = { ...state.counters };
  const outputs: Output[] = [];
  let inputSeq = state.inputSeq;
  let maxEventTime = state.maxEventTime;

  const result = (w: WindowAcc, watermark: number, throughSeq: number): WindowResult => ({
    kind: "window",
    start: w.start,
    end: w.end,
    keyId: w.keyId,
    key: w.key,
    count: w.count,
    sum: w.sum,
    min: w.min,
    max: w.max,
    revision: w.revision,
    watermark,
    provisional: w.revision === 0,
    throughSeq,
  });
  /** A final result (or revision), caused by the event at `seq`. */
  const emit = (w: WindowAcc, watermark: number, seq: number) => {
    w.revision++;
    counters.windowsEmitted++;
    if (w.revision > 1) counters.revisions++;
    outputs.push(result(w, watermark, seq));
  };
  // Windows an event of this batch was added to: the open ones among them get a provisional result.
  const touched = new Set<string>();

  // Fires every unfired window whose end the watermark has reached, then purges every window past its
  // allowed lateness (a window can do both in one step when the watermark jumps).
  const fireAndPurge = (wm: number, seq: number) => {
    const toFire: [string, WindowAcc][] = [];
    const toPurge: string[] = [];
    const consider = (id: string, w: WindowAcc) => {
      if (w.revision === 0 && w.end <= wm) toFire.push([id, w]);
      if (w.end + lateness <= wm) toPurge.push(id);
    };
    for (const [id, w] of state.windows) if (!overlay.has(id)) consider(id, w);
    for (const [id, w] of overlay) if (w) consider(id, w);
    toFire.sort(([, a], [, b]) => a.end - b.end || a.start - b.start || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
    for (const [id, w] of toFire)
      emit(
        writable(id, () => w),
        wm,
        seq,
      );
    for (const id of toPurge) overlay.set(id, null);
  };

  // Window ends are k·slide + size, so windows can only become due when the watermark passes such a
  // boundary (or that plus the lateness): scan the open windows only then, not on every event.
  const crossed = (before: number | null, after: number, offset: number) =>
    before === null || Math.floor((after - offset) / slideMs) > Math.floor((before - offset) / slideMs);

  for (const e of events) {
    if (e.seq <= inputSeq) continue;
    inputSeq = e.seq;
    counters.eventsIn++;
    if (e.kind === "invalid") {
      counters.invalidEvents++;
      continue;
    }
    const wm = watermarkOf(maxEventTime, job);
    const kid = keyId(e.key);
    let missed = 0;
    let firstMissed = 0;
    const starts = windowStarts(e.time, job.window);
    for (const start of starts) {
      const end = start + sizeMs;
      if (wm !== null && wm >= end + lateness) {
        if (missed++ === 0) firstMissed = start;
        continue;
      }
      const id = windowId(start, kid);
      const w = writable(id, () => ({ start, end, keyId: kid, key: e.key, count: 0, sum: 0, min: e.value, max: e.value, revision: 0 }));
      touched.add(id);
      w.count++;
      w.sum += e.value;
      if (e.value < w.min) w.min = e.value;
      if (e.value > w.max) w.max = e.value;
      // The watermark is already past the end: the window has fired (or fires now, if this event
      // opened it), and each late event within the lateness publishes a new revision.
      if (wm !== null && wm >= end) emit(w, wm, e.seq);
    }
    if (missed > 0) {
      counters.lateEvents++;
      outputs.push({
        kind: "late",
        seq: e.seq,
        eventId: e.eventId,
        eventTime: e.time,
        watermark: wm!,
        windowStart: firstMissed,
        reason: `past allowed lateness (${lateness} ms) for ${missed} of ${starts.length} windows`,
      });
    }
    if (maxEventTime === null || e.time > maxEventTime) {
      const before = watermarkOf(maxEventTime, job);
      maxEventTime = e.time;
      const after = maxEventTime - job.outOfOrdernessMs;
      if (crossed(before, after, sizeMs) || crossed(before, after, sizeMs + lateness)) fireAndPurge(after, e.seq);
    }
  }

  // Update mode: the running result of each open window the batch changed (a window that fired meanwhile
  // has its final result already), then the position, so a reader of the output stream knows every
  // result up to it has been published. In window order, so a batch always emits them the same way.
  if (inputSeq > state.inputSeq) {
    const wm = watermarkOf(maxEventTime, job);
    const open: WindowAcc[] = [];
    for (const id of touched) {
      const w = overlay.get(id);
      if (w && w.revision === 0) open.push(w);
    }
    open.sort((a, b) => a.start - b.start || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
    // wm is not null here: an open window was touched by an event, which set the max event time.
    for (const w of open) outputs.push(result(w, wm!, inputSeq));
    outputs.push({ kind: "position", throughSeq: inputSeq, watermark: wm });
  }

  const upserts: WindowAcc[] = [];
  const purged: { start: number; keyId: string }[] = [];
  for (const [id, w] of overlay) {
    if (w) upserts.push(w);
    else {
      const base = state.windows.get(id);
      if (base) purged.push({ start: base.start, keyId: base.keyId });
    }
  }
  return { inputSeq, maxEventTime, counters, upserts, purged, outputs };
}

/**
 * The state after a batch whose outcome has been stored. The window map is updated in place (copying
 * every open window per batch would cost more than the batch): callers replace their state with the
 * result and drop the old one.
 */
export function evolve(state: AggState, outcome: BatchOutcome): AggState {
  const windows = state.windows as Map<string, WindowAcc>;
  for (const p of outcome.purged) windows.delete(windowId(p.start, p.keyId));
  for (const w of outcome.upserts) windows.set(windowId(w.start, w.keyId), w);
  return { inputSeq: outcome.inputSeq, maxEventTime: outcome.maxEventTime, windows, counters: outcome.counters };
}
