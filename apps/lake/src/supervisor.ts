// `lake up`'s supervisor: it watches every service process it starts and, when one exits without
// being asked to, starts it again after a backoff (0.5 s doubling to 30 s; a service that stayed up a
// minute starts over at 0.5 s). It never gives up: a lake left with a dead committer silently stops
// committing that dataset, which is worse than a loud crash loop. So it says so each time, and says it
// louder once a service keeps crashing. Stopping the lake disarms it first, so a Ctrl-C (which reaches
// every child at once) or stop() is never answered with restarts.
//
// The backoff arithmetic is pure (nextBackoff); the class only holds timers and handles. What it knows
// about each service (state, pid, start time, restarts, last exit) is what run.json and `lake status`
// show, reported through onChange.
import type { ExitStatus, ServiceHandle } from "@lake/testing";
import { isServiceStartError } from "@lake/testing";

export interface BackoffPolicy {
  /** Delay before the first restart of a crash streak. */
  initialMs: number;
  /** Each further crash in the streak multiplies the delay by this. */
  factor: number;
  maxMs: number;
  /** A service that ran at least this long before exiting starts a new streak (its next delay is initialMs). */
  resetAfterMs: number;
  /** From this many crashes in a row on, each restart line comes with a warning that the service keeps crashing. */
  loudAfter: number;
}

export const BACKOFF_DEFAULTS: BackoffPolicy = { initialMs: 500, factor: 2, maxMs: 30_000, resetAfterMs: 60_000, loudAfter: 5 };

/**
 * The delay before restarting a service that exited after running `upMs`, with `streak` crashes in a
 * row before this one; and the streak this crash makes.
 */
export function nextBackoff(policy: BackoffPolicy, streak: number, upMs: number): { delayMs: number; streak: number } {
  const before = upMs >= policy.resetAfterMs ? 0 : streak;
  return { delayMs: Math.min(policy.maxMs, Math.round(policy.initialMs * policy.factor ** before)), streak: before + 1 };
}

/** "code 1" or "signal SIGKILL": how a process ended, as the restart line says it. */
export function describeExit(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `code ${s.code}`;
}

/** A delay as a person reads it: 500 ms, 1 s, 2.5 s, 30 s. */
export function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

export const SERVICE_STATES = {
  /** Started and not exited. */
  running: "running",
  /** Exited on its own; a restart is scheduled or under way. */
  restarting: "restarting",
  /** Exited on its own and, unsupervised, left down. */
  exited: "exited",
  /** Stopped with the lake. */
  stopped: "stopped",
} as const;
export type ServiceState = (typeof SERVICE_STATES)[keyof typeof SERVICE_STATES];

export interface ServiceExit {
  at: number;
  code: number | null;
  signal: string | null;
  /** "signal SIGKILL", "code 1", or why a restart could not start it. */
  reason: string;
  /** How long the process had run (0 when it never became ready). */
  up_ms: number;
}

/** What the supervisor knows of one service: run.json's and `lake status`'s view of it. */
export interface SupervisedService {
  name: string;
  state: ServiceState;
  pid: number | null;
  /** When the running process became ready (epoch ms). */
  startedAt: number | null;
  /** Restarts since the lake started. */
  restarts: number;
  /** Crashes in a row without a run of resetAfterMs in between. */
  streak: number;
  lastExit: ServiceExit | null;
  /** When the scheduled restart runs (epoch ms); null unless restarting. */
  nextRestartAt: number | null;
}

export interface SupervisorOptions {
  /** Restart services that exit on their own (`lake up`); false only records the exit (the tests' own lakes restart by hand). */
  restart: boolean;
  policy?: Partial<BackoffPolicy>;
  /** `lake up`'s own output. */
  log(line: string): void;
  /** A line for the service's own log file, so its log tells its restarts too. */
  note?(service: string, line: string): void;
  /** Called after every change of a service's state or process. */
  onChange?(service: SupervisedService): void;
  now?(): number;
}

interface Entry {
  record: SupervisedService;
  start: () => Promise<ServiceHandle>;
  handle: ServiceHandle | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Bumped when run() replaces the service: an exit or a restart of an older generation is ignored. */
  generation: number;
}

export class Supervisor {
  readonly policy: BackoffPolicy;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private readonly now: () => number;

  constructor(private readonly o: SupervisorOptions) {
    this.policy = { ...BACKOFF_DEFAULTS, ...o.policy };
    this.now = o.now ?? Date.now;
  }

  /**
   * Starts a service and watches it. A failure of this first start is thrown (a lake that cannot start
   * says why once, instead of looping). Calling it again for a running name replaces the watched process
   * (the caller stopped the old one).
   */
  async run(name: string, start: () => Promise<ServiceHandle>): Promise<ServiceHandle> {
    if (this.stopping) throw new SupervisorStoppedError(name);
    let entry = this.entries.get(name);
    if (entry) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      entry.start = start;
      entry.generation++;
      entry.handle = undefined; // its exit, if it has not happened yet, is the caller's doing
    } else {
      entry = {
        record: { name, state: SERVICE_STATES.running, pid: null, startedAt: null, restarts: 0, streak: 0, lastExit: null, nextRestartAt: null },
        start,
        handle: undefined,
        timer: undefined,
        generation: 0,
      };
      this.entries.set(name, entry);
    }
    const generation = entry.generation;
    const h = await start();
    if (this.stopping || generation !== entry.generation) {
      await h.stop();
      throw new SupervisorStoppedError(name);
    }
    this.adopt(entry, h);
    return h;
  }

  get(name: string): SupervisedService | undefined {
    const e = this.entries.get(name);
    return e && { ...e.record };
  }

  list(): SupervisedService[] {
    return [...this.entries.values()].map((e) => ({ ...e.record }));
  }

  /**
   * No more restarts: pending ones are cancelled, ones under way are stopped as soon as they start.
   * The running processes are the caller's to stop (their exits are then recorded as `stopped`).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const e of this.entries.values()) {
      clearTimeout(e.timer);
      e.timer = undefined;
      if (e.record.state === SERVICE_STATES.restarting) this.change(e, { state: SERVICE_STATES.stopped, nextRestartAt: null });
    }
    await Promise.allSettled([...this.inflight]);
  }

  private adopt(e: Entry, h: ServiceHandle): void {
    e.handle = h;
    this.change(e, { state: SERVICE_STATES.running, pid: h.pid, startedAt: this.now(), nextRestartAt: null });
    void h.exitStatus.then((s) => this.exited(e, h, s));
  }

  private exited(e: Entry, h: ServiceHandle, s: ExitStatus): void {
    if (e.handle !== h) return; // replaced by run(): the caller stopped this one
    e.handle = undefined;
    const at = this.now();
    const lastExit: ServiceExit = { at, code: s.code, signal: s.signal, reason: describeExit(s), up_ms: at - (e.record.startedAt ?? at) };
    if (this.stopping) {
      this.o.note?.(e.record.name, `${e.record.name} stopped (${lastExit.reason})`);
      return this.change(e, { state: SERVICE_STATES.stopped, pid: null, lastExit });
    }
    if (!this.o.restart) {
      this.o.note?.(e.record.name, `${e.record.name} exited (${lastExit.reason})`);
      return this.change(e, { state: SERVICE_STATES.exited, pid: null, lastExit });
    }
    this.schedule(e, lastExit, `exited (${lastExit.reason})`);
  }

  private schedule(e: Entry, lastExit: ServiceExit, what: string): void {
    const { delayMs, streak } = nextBackoff(this.policy, e.record.streak, lastExit.up_ms);
    const restarts = e.record.restarts + 1;
    const name = e.record.name;
    const line = `${name} ${what}; restarting in ${formatDelay(delayMs)} (restart ${restarts})`;
    this.o.log(line);
    this.o.note?.(name, line);
    if (streak >= this.policy.loudAfter) {
      const loud = `WARNING: ${name} keeps crashing: ${streak} times in a row, each within ${formatDelay(this.policy.resetAfterMs)} of starting; still restarting, at most every ${formatDelay(this.policy.maxMs)} (see lake logs ${name})`;
      this.o.log(loud);
      this.o.note?.(name, loud);
    }
    this.change(e, { state: SERVICE_STATES.restarting, pid: null, lastExit, restarts, streak, nextRestartAt: this.now() + delayMs });
    const generation = e.generation;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.restartNow(e, generation);
    }, delayMs);
  }

  private restartNow(e: Entry, generation: number): void {
    if (this.stopping || generation !== e.generation) return;
    const name = e.record.name;
    const attempt = e.start().then(
      async (h) => {
        if (this.stopping || generation !== e.generation) {
          await h.stop();
          return;
        }
        this.adopt(e, h);
        this.o.log(`${name} restarted (pid ${h.pid}, restart ${e.record.restarts})`);
        this.o.note?.(name, `${name} restarted (pid ${h.pid}, restart ${e.record.restarts})`);
      },
      (err: unknown) => {
        if (this.stopping || generation !== e.generation) return;
        const why = startFailure(err);
        const at = this.now();
        this.schedule(e, { at, code: why.code, signal: why.signal, reason: why.reason, up_ms: 0 }, `failed to start (${why.reason})`);
      },
    );
    const tracked = attempt.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private change(e: Entry, patch: Partial<SupervisedService>): void {
    Object.assign(e.record, patch);
    this.o.onChange?.({ ...e.record });
  }
}

/** Why a (re)start failed, in one line: ServiceStartError's first line, without the log tail it carries. */
function startFailure(err: unknown): { reason: string; code: number | null; signal: string | null } {
  if (isServiceStartError(err)) {
    const first = err.message.split("\n")[0]!.replace(/^service \S+ /, "");
    return { reason: first, code: err.exitCode, signal: err.exitSignal };
  }
  return { reason: err instanceof Error ? err.message.split("\n")[0]! : String(err), code: null, signal: null };
}

/** A service was asked to start while (or just before) the lake stopped. */
export class SupervisorStoppedError extends Error {
  constructor(
    readonly service: string,
    options?: { cause?: unknown },
  ) {
    super(`${service} was not started: the lake is stopping`, options);
    this.name = "SupervisorStoppedError";
  }
}
