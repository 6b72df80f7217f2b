// The quality service's shell: follow lake.commits.> into the state (one transaction per batch, with
// the position), and whenever it has caught up with the log (so it knows every verdict already there)
// judge the lowest unjudged version of each dataset and append the verdict with a CAS on the
// dataset's head. The CAS is what makes a verdict exactly-once across restarts and racing instances:
// an append only lands if nothing (no other verdict) reached the subject since the state was read.
// Losing it is a normal outcome: catch up, and decide again.
import { dirname, join } from "node:path";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { LakeLog, QualityVerdict, VersionCommitted } from "@lake/contracts";
import {
  appendLogRecord,
  appendUntilStands,
  type CasRetryPolicy,
  ConsumerStalledError,
  decodeLogRecord,
  ensureStreams,
  follow,
  type Follower,
  inspectLogRecord,
  isCasConflict,
  isPublishOutcomeUnknown,
  recordsBetween,
  type RetryPolicy,
  STREAMS,
  subjects,
} from "@lake/messaging";
import type { ObjectStore } from "@lake/storage";
import { type Context, contextFromHeaders, inSpan, type Logger, SpanKind } from "@lake/telemetry";

import { rulesFor } from "../dataset-rules.ts";
import { type DatasetHead, type LogEntry, QualityState } from "../db/state.ts";
import { type Drift, driftOf } from "../domain/drift.ts";
import { judge, judgeRevert, REVERT } from "../domain/rules.ts";
import type { VerdictObservation } from "../metrics.ts";
import { ParquetInspector } from "../parquet/inspect.ts";
import { VersionMeasurer } from "../parquet/measure.ts";

/** A verdict that loses its race to a new version or a promotion rebases onto it and appends again, 20 rounds at most. */
const VERDICT_RETRY: CasRetryPolicy = { maxAttempts: 20 };

export interface CheckerOptions {
  nc: NatsConnection;
  store: ObjectStore;
  /** SQLite file of the state. Deleting it is safe: it is rebuilt from the commit log. */
  dbPath: string;
  /** Where files of a remote store are copied for DuckDB (defaults to a cache beside the database). */
  cacheDir?: string;
  checkerId: string;
  log: Logger;
  /** Log records applied per SQLite transaction at most. */
  maxBatch: number;
  /** The clock, injectable for tests; only the shell reads it. */
  now?: () => number;
  /** Runs just before each verdict append attempt (tests use it to land a record first). */
  beforeAppend?: (verdict: QualityVerdict, attempt: number) => Promise<void>;
  /** Told of each verdict this checker got into the log (metrics); must not throw. */
  onVerdict?: (o: VerdictObservation) => void;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** The commit-log tail restarts a second after any failure, however many in a row. */
const TAIL_RETRY: RetryPolicy = { initialMs: 1000, factor: 1, maxMs: 1000 };

/** The msgId of a verdict: JetStream drops a retried append of the same verdict within its dedupe window. */
export const verdictMsgId = (dataset: string, version: number) => `quality:${dataset}:${version}`;

export class QualityChecker {
  readonly state: QualityState;
  private readonly js: JetStreamClient;
  private jsm!: JetStreamManager;
  private parquet: ParquetInspector | undefined;
  private measurer!: VersionMeasurer;
  private readonly now: () => number;
  private live: Follower | undefined;
  /** True when the last batch applied left nothing pending on the log. */
  private caughtUp = false;
  private stopped = false;
  /** Everything touching the state or judging runs here, one step at a time. */
  private chain: Promise<void> = Promise.resolve();
  /** dataset → sequence of the verdict we appended but have not read back yet; judged again only after. */
  private readonly awaiting = new Map<string, number>();
  private readonly backoff = new Map<string, { attempts: number; notBefore: number }>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  readonly stats = { verdicts: 0, passed: 0, failed: 0, conflicts: 0, rebases: 0, deduplicated: 0, errors: 0 };

  constructor(private readonly o: CheckerOptions) {
    this.js = jetstream(o.nc);
    this.state = new QualityState(o.dbPath);
    this.now = o.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.o.nc);
    await ensureStreams(this.jsm);
    this.parquet = await ParquetInspector.open();
    this.measurer = new VersionMeasurer(this.state, this.o.store, this.parquet, this.o.cacheDir ?? join(dirname(this.o.dbPath), "cache"));
    await this.startTail();
  }

  private serial(step: () => Promise<void> | void): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => {});
    return run;
  }

  /** Runs a judging pass soon (after a restart, a retry delay); its failure is logged, never thrown. */
  private kick(): void {
    this.serial(() => this.judgeAll()).catch((err: unknown) => this.o.log.error("judging pass failed", { err }));
  }

  /**
   * Follows the log from the state's position; after any failure it starts again from there, a second
   * later (the state is only ever behind, never wrong).
   */
  private async startTail(): Promise<void> {
    this.live = await follow({
      nc: this.o.nc,
      stream: STREAMS.commits,
      subject: subjects.allCommits,
      position: () => {
        this.caughtUp = false;
        return this.state.lastSeq;
      },
      onStart: async (position) => {
        // With nothing new in the log no batch will arrive to say "caught up", yet versions read before a
        // restart may still wait for a verdict: judge them now.
        if ((await this.jsm.streams.info(STREAMS.commits)).state.last_seq <= position) {
          this.caughtUp = true;
          this.kick();
        }
      },
      batch: { maxRecords: this.o.maxBatch },
      retry: TAIL_RETRY,
      onError: (err, next) => {
        if (err instanceof ConsumerStalledError) this.o.log.warn("commit-log tail stalled; starting a new consumer", { why: err.why, retry_ms: next?.retryMs });
        else this.o.log.error(`commit-log tail failed; restarting it in ${next?.retryMs} ms`, { err });
      },
      handle: (msgs, { pending }) => this.applyBatch(msgs, pending),
    });
  }

  private applyBatch(msgs: readonly JsMsg[], pending: number): Promise<void> {
    // A malformed record is void (never judged), but the position and the dataset's head still move
    // past it, or the CAS token would be stale forever.
    const entries: LogEntry[] = msgs.map((m) => {
      const r = inspectLogRecord(m);
      return { seq: m.seq, subject: m.subject, record: r.record, expected: r.expected, versionSeq: r.versionSeq, problem: r.problem };
    });
    return this.serial(async () => {
      for (const problem of this.state.applyBatch(entries)) this.o.log.warn("commit-log anomaly", { problem });
      this.noticeReadBack(entries);
      // Only a batch that leaves nothing pending lets us judge: then every verdict in the log is known.
      this.caughtUp = pending === 0;
      if (this.caughtUp) await this.judgeAll();
    });
  }

  /**
   * Two checkers judging the same version send the same msgId, and JetStream answers the second
   * append as a duplicate of the first, with the first's sequence: it looks like success. Reading the
   * record back tells whose verdict the log holds.
   */
  private noticeReadBack(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      if (e.record?.kind !== "QualityVerdict") continue;
      const v = e.record.body;
      if (this.awaiting.get(v.dataset) !== e.seq || v.checker_id === this.o.checkerId) continue;
      this.stats.deduplicated++;
      this.o.log.info("verdict race: the log already held another checker's verdict; ours was dropped as a duplicate", {
        dataset: v.dataset,
        version: v.version,
        seq: e.seq,
        by: v.checker_id,
        outcome: v.outcome,
      });
    }
  }

  private async judgeAll(): Promise<void> {
    if (!this.caughtUp || this.stopped) return;
    for (const head of this.state.datasetsWithUnjudged()) {
      if (this.stopped) return;
      const appended = this.awaiting.get(head.name);
      if (appended !== undefined) {
        if (head.head_seq < appended) continue; // our last verdict is not read back yet
        this.awaiting.delete(head.name);
      }
      const b = this.backoff.get(head.name);
      if (b && b.notBefore > Date.now()) continue;
      await this.judgeNext(head);
    }
  }

  /** Judges one version in a span that continues the trace of its commit (read back from the log). */
  private async judgeNext(head: DatasetHead): Promise<void> {
    const v = this.state.nextUnjudged(head.name);
    if (!v) return;
    const commit = await this.jsm.streams.getMessage(STREAMS.commits, { seq: v.commitSeq }).catch(() => null);
    // The commit record names the manifest (key, size, sha256): a manifest that doesn't match is a
    // failed version, like a data file that doesn't.
    const rec = commit ? decodeLogRecord({ data: commit.data, headers: commit.header }) : undefined;
    const manifestRef = rec?.kind === "VersionCommitted" ? rec.body.manifest : undefined;
    const revert = rec?.kind === "VersionCommitted" && rec.body.operation === REVERT ? rec.body : undefined;
    await inSpan(
      `quality ${v.dataset} v${v.version}`,
      { kind: SpanKind.CONSUMER, parent: contextFromHeaders(commit?.header), attributes: { "lake.dataset": v.dataset, "lake.version": v.version } },
      (_span, ctx) => this.judgeVersion(head, v, manifestRef, revert, commit?.time.getTime(), ctx),
    );
  }

  private async judgeVersion(
    head: DatasetHead,
    v: NonNullable<ReturnType<QualityState["nextUnjudged"]>>,
    manifestRef: LakeLog.ManifestRef | undefined,
    revert: VersionCommitted | undefined,
    committedAt: number | undefined,
    /** The judging span: the verdict continues its trace (services run without a context manager). */
    ctx: Context,
  ): Promise<void> {
    const started = performance.now();
    try {
      const now = this.now();
      let outcome: LakeLog.QualityOutcome;
      let rules: LakeLog.RuleResult[];
      let drift: Drift | undefined;
      if (revert) {
        ({ outcome, rules } = judgeRevert(v, revert.lineage?.base_version ?? null, (n) => this.state.version(v.dataset, n)));
      } else {
        const input = await this.measurer.inputFor(v, rulesFor(v.schemaName, v.schemaVersion), now);
        if (manifestRef) input.manifest = { key: manifestRef.key, problem: await this.measurer.manifestProblem(manifestRef) };
        ({ outcome, rules } = judge(input));
        drift = driftOf(input);
      }
      const body: QualityVerdict = { dataset: v.dataset, version: v.version, outcome, rules, checked_at: now, checker_id: this.o.checkerId };
      const seq = await this.appendVerdict(body, head.head_seq, ctx);
      if (seq === undefined) {
        this.stats.conflicts++;
        this.o.log.info("another checker judged this version first; its verdict stands", { dataset: v.dataset, version: v.version });
        return;
      }
      this.awaiting.set(v.dataset, seq);
      this.backoff.delete(v.dataset);
      this.stats.verdicts++;
      this.stats[outcome]++;
      this.o.onVerdict?.({
        dataset: v.dataset,
        outcome,
        rules,
        judgeMs: performance.now() - started,
        sinceCommitMs: committedAt === undefined ? undefined : this.now() - committedAt,
        drift,
      });
      this.o.log.info("verdict appended", {
        dataset: v.dataset,
        version: v.version,
        outcome,
        failed_rules: rules.filter((r) => !r.passed).map((r) => r.rule),
        seq,
        ms: Math.round(performance.now() - started),
      });
    } catch (err) {
      if (isCasConflict(err)) {
        this.stats.conflicts++;
        // Someone appended to the subject since we read it (another checker's verdict, a new version):
        // that record will reach us, and we decide again once caught up.
        this.o.log.info("lost the verdict race; deciding again once caught up", { dataset: v.dataset, version: v.version });
        return;
      }
      this.stats.errors++;
      const attempts = (this.backoff.get(v.dataset)?.attempts ?? 0) + 1;
      // An unknown outcome is retried soon (the msgId and the CAS make the retry safe); anything else
      // (I/O, DuckDB) backs off. Other datasets are judged meanwhile.
      const delay = isPublishOutcomeUnknown(err) ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempts);
      this.backoff.set(v.dataset, { attempts, notBefore: Date.now() + delay });
      this.o.log.error("could not judge; retrying", { dataset: v.dataset, version: v.version, attempt: attempts, retry_ms: delay, err });
      this.retryIn(delay);
    }
  }

  /**
   * Appends a verdict with a compare-and-set on the dataset's last record. Losing that race to a new
   * version or a promotion leaves the verdict valid (it judges its own version's files): rebase onto
   * the new head and append again, without judging again. Under a steady stream of commits, judging
   * again on every lost race never caught up. Undefined if a verdict for the same version got there
   * first (another checker).
   */
  private async appendVerdict(body: QualityVerdict, expectedLastSeq: number, ctx: Context): Promise<number | undefined> {
    return appendUntilStands<number | undefined>(
      VERDICT_RETRY,
      async (attempt) => {
        // The body names the judged version; appendLogRecord reads Lake-Version-Seq (the dataset's
        // latest VersionCommitted, which a committer resumes from) from the log itself.
        await this.o.beforeAppend?.(body, attempt);
        return await appendLogRecord(
          this.js,
          body.dataset,
          { kind: "QualityVerdict", body },
          { expectedLastSeq, msgId: verdictMsgId(body.dataset, body.version), ctx },
        );
      },
      {
        onLost: async (_err, _lost, final) => {
          if (final) return undefined;
          const between = await recordsBetween(this.jsm, body.dataset, expectedLastSeq);
          if (between.some((e) => e.stands && e.record?.kind === "QualityVerdict" && e.record.body.version === body.version)) return { stands: undefined };
          this.stats.rebases++;
          expectedLastSeq = between.at(-1)?.seq ?? expectedLastSeq;
          return undefined;
        },
      },
    );
  }

  private retryIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.stopped || at >= this.retryAt) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    this.retryTimer = setTimeout(() => {
      this.retryAt = Infinity;
      this.retryTimer = undefined;
      this.kick();
    }, ms);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.live?.stop();
    await this.chain;
    this.parquet?.close();
    this.state.close();
  }
}
