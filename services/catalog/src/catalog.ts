// The catalog process's core: owns the projection, its live tail, read-after-write waiters and rebuild.
import { existsSync, renameSync, rmSync } from "node:fs";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { CatalogFreshness, LogRecord } from "@lake/contracts";
import { appendLogRecord, appendUntilStands, type CasRetryPolicy, ensureStreams, type Follower, readCommitHead } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";

import { Projection } from "./db/projection.ts";
import { CommandError, type DatasetFacts, type Decision } from "./domain/commands.ts";
import { type FreshnessFacts, freshnessOf, freshnessTargets, measurable, type TargetOutcome } from "./domain/freshness.ts";
import { SourceProbe } from "./nats/freshness.ts";
import { type AppliedRecord, logLastSeq, logStartTarget, tailCommitLog } from "./nats/tail.ts";

/** A command that loses its race (a commit or another command landed first) decides again, 5 rounds at most. */
const COMMAND_RETRY: CasRetryPolicy = { maxAttempts: 5 };
/** The longest a version read waits for its freshness lookups (then it answers them unmeasured). */
const FRESHNESS_TIMEOUT_MS = 500;

/** The catalog started behind the commit log and has not caught up yet: reads are held (503, retryable). */
export class CatchingUpError extends Error {
  constructor(
    readonly targetSeq: number,
    readonly projectedSeq: number,
  ) {
    super(
      `the catalog is catching up with the commit log (applied ${projectedSeq} of ${targetSeq}) and holds reads until it has, so no answer is older than one served before it started; retry shortly`,
    );
    this.name = "CatchingUpError";
  }
}

export function isCatchingUp(e: unknown): e is CatchingUpError {
  return e instanceof CatchingUpError;
}

export class Catalog {
  projection!: Projection;
  private jsm!: JetStreamManager;
  private js!: JetStreamClient;
  private live: Follower | undefined;
  private waiters = new Set<() => void>();
  /** Told after each applied batch (the table-state publisher; the console's live updates, with its records). */
  private readonly appliedListeners = new Set<(applied: readonly AppliedRecord[]) => void>();
  private rebuilding: Promise<{ seq: number; ms: number }> | undefined;
  /** The commit log's end when this process started; reads are held until the projection reaches it. */
  private startTarget = 0;
  private caughtUp = false;
  private probe!: SourceProbe;

  constructor(
    private readonly nc: NatsConnection,
    private readonly dbPath: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    await ensureStreams(this.jsm);
    this.probe = new SourceProbe(await jetstreamManager(this.nc, { timeout: FRESHNESS_TIMEOUT_MS }));
    // What this catalog (or the process it replaces, killed or on a database since lost) may have served
    // is at most the log as it stands now: until the projection has applied that much, reads are held.
    this.startTarget = await logStartTarget(this.jsm);
    this.projection = new Projection(this.dbPath);
    if (this.projection.lastSeq < this.startTarget)
      this.log.info("catching up with the commit log before serving reads", { target_seq: this.startTarget, projected_through_seq: this.projection.lastSeq });
    await this.startTail();
  }

  /**
   * Undefined once the projection has reached the log's end as it was at start (from then on it only
   * moves forward); until then where it stands, for a 503 that says so.
   */
  catchingUp(): { targetSeq: number; projectedSeq: number } | undefined {
    if (this.caughtUp) return undefined;
    const projectedSeq = this.projection.lastSeq;
    if (projectedSeq < this.startTarget) return { targetSeq: this.startTarget, projectedSeq };
    this.caughtUp = true;
    this.log.info("caught up with the commit log; serving reads", { target_seq: this.startTarget, projected_through_seq: projectedSeq });
    return undefined;
  }

  /** Throws CatchingUpError while reads are held. */
  assertServing(): void {
    const behind = this.catchingUp();
    if (behind) throw new CatchingUpError(behind.targetSeq, behind.projectedSeq);
  }

  /** How fresh version `v` is now: one lookup per source (cached), at most FRESHNESS_TIMEOUT_MS. */
  async freshness(v: FreshnessFacts): Promise<CatalogFreshness> {
    const targets = freshnessTargets(v);
    const now = Date.now();
    const skipped: TargetOutcome = { kind: "unmeasured", why: "not a lake source" };
    const outcomes = await Promise.all(targets.map((t) => (measurable(t) ? this.probe.lookup(t, now) : skipped)));
    return freshnessOf(v, targets, outcomes, Date.now());
  }

  /** The live tail: it restarts by itself after any failure, from the projection's position, until stopped. */
  private async startTail(): Promise<void> {
    this.live = await tailCommitLog({ nc: this.nc, projection: this.projection, log: this.log, onApplied: (applied) => this.notify(applied), traced: true });
  }

  private notify(applied: readonly AppliedRecord[]): void {
    if (!this.caughtUp) this.catchingUp();
    for (const w of this.waiters) w();
    for (const l of this.appliedListeners) l(applied);
  }

  /** Calls `fn` after each batch of records the live projection applies (none after a rebuild's swap), until the returned function is called. */
  onApplied(fn: (applied: readonly AppliedRecord[]) => void): () => void {
    this.appliedListeners.add(fn);
    return () => this.appliedListeners.delete(fn);
  }

  /** Resolves when `ready()` returns a value or `timeoutMs` passes (then undefined). */
  waitFor<T>(ready: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const now = ready();
    if (now !== undefined || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const check = () => {
        const v = ready();
        if (v !== undefined) finish(v);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (v: T | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      this.waiters.add(check);
    });
  }

  /**
   * Runs a command: decide on the projection's view of the dataset, append the record with a CAS on the
   * last record the projection has seen for it, and answer once the projection has applied it (so the
   * caller reads its own write). A lost race means the view was stale: catch up and decide again.
   */
  async command<K extends "VersionPromoted" | "VersionTagged" | "VersionsExpired" | "FilesCollected">(
    dataset: string,
    kind: K,
    decide: (facts: DatasetFacts, now: number) => Decision<Extract<LogRecord, { kind: K }>["body"]>,
  ): Promise<{ changed: boolean; seq: number; message?: string }> {
    return appendUntilStands(
      COMMAND_RETRY,
      async () => {
        const facts = this.projection.facts(dataset);
        if (!facts) throw new CommandError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
        const ds = this.projection.dataset(dataset)!;
        const decision = decide(facts, Date.now());
        if (decision.kind === "noop") return { changed: false, seq: ds.last_record_seq, message: decision.message };
        const record = { kind, body: decision.body } as LogRecord;
        const seq = await appendLogRecord(this.js, dataset, record, { expectedLastSeq: ds.last_record_seq });
        await this.waitFor(() => (this.projection.lastSeq >= seq ? true : undefined), 10_000);
        return { changed: true, seq };
      },
      {
        // The projection's view was stale: wait until it has applied what won, then decide again.
        onLost: async (_err, _lost, final) => {
          if (final) return;
          const head = await readCommitHead(this.jsm, dataset);
          await this.waitFor(() => (this.projection.lastSeq >= head.seq ? true : undefined), 5000);
        },
      },
    );
  }

  /**
   * Drops the database and replays the whole commit log into a fresh one, built aside and swapped in,
   * so readers see the old state until the new one is complete, never a half-built catalog.
   */
  rebuild(): Promise<{ seq: number; ms: number }> {
    this.rebuilding ??= this.doRebuild().finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  private async doRebuild(): Promise<{ seq: number; ms: number }> {
    const started = performance.now();
    const tmpPath = `${this.dbPath}.rebuild`;
    removeDb(tmpPath);
    const target = await logLastSeq(this.jsm);
    const fresh = new Projection(tmpPath);
    this.log.info("rebuild started", { target_seq: target });
    if (target > 0) {
      const replay = await tailCommitLog({ nc: this.nc, projection: fresh, log: this.log, onApplied: () => {}, untilSeq: target });
      await replay.done;
    }
    // Readers must never see the catalog go back: the live projection kept applying records while the
    // replay ran, so it is stopped (readers keep its state) and the fresh one catches up with it first.
    const old = this.live;
    this.live = undefined;
    await old?.stop();
    const served = this.projection.lastSeq;
    if (served > fresh.lastSeq) {
      try {
        const catchUp = await tailCommitLog({ nc: this.nc, projection: fresh, log: this.log, onApplied: () => {}, untilSeq: served });
        await catchUp.done;
      } catch (err) {
        // The rebuild failed: the live projection goes on as it was.
        fresh.close();
        removeDb(tmpPath);
        await this.startTail();
        throw err;
      }
    }
    fresh.db.pragma("wal_checkpoint(TRUNCATE)");
    fresh.close();
    // Swap: from here to the reopen nothing awaits, so no reader can observe the gap.
    this.projection.close();
    removeDb(this.dbPath);
    renameSync(tmpPath, this.dbPath);
    this.projection = new Projection(this.dbPath);
    await this.startTail();
    const ms = performance.now() - started;
    this.log.info("rebuild done", { seq: this.projection.lastSeq, ms: Math.round(ms) });
    this.notify([]);
    return { seq: this.projection.lastSeq, ms };
  }

  async stop(): Promise<void> {
    await this.live?.stop();
    this.projection.close();
  }
}

function removeDb(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) rmSync(p);
}
