// The committer's shell: consume the dataset's source stream from just after the last committed offset,
// buffer a micro-batch, write Parquet (append: new files; upsert: rewritten partitions) + manifest, then
// append VersionCommitted with a CAS. Losing the CAS to another data version means: drop the batch,
// re-read the head, resume after it.
import { createHash, randomBytes } from "node:crypto";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { type LakeLog, quarantinedRecordCodec, type VersionCommitted } from "@lake/contracts";
import type { DataFileInfo } from "@lake/iceberg";
import {
  appendLogRecord,
  appendUntilStands,
  type CasRetryPolicy,
  type CommitHead,
  ConsumerEndedError,
  ConsumerStalledError,
  DEFAULT_POISON_POLICY,
  ensureStreams,
  foldCommitLog,
  follow,
  type Follower,
  HEADERS,
  isCasConflict,
  isNatsUnavailable,
  type PoisonPolicy,
  readCommitHead,
  type RetryPolicy,
  StallGuard,
  STREAMS,
  subjects,
} from "@lake/messaging";
import { isUnknownSchema } from "@lake/registry";
import type { ObjectStore } from "@lake/storage";
import { batchParent, type Context, inSpan, type Logger, SpanKind, traceparentOf } from "@lake/telemetry";

import { mergePartition } from "../domain/merge.ts";
import { type DatasetSpec, keyOf, MODES, type UpstreamSpec, WATERMARK_CLOCK_TOLERANCE_MS } from "../domain/spec.ts";
import {
  type BufferedEvent,
  buildManifest,
  buildRevertManifest,
  commitRecord,
  type CommitterState,
  evolve,
  initialState,
  keys,
  partitionOfKey,
  planBatch,
  REVERT,
} from "../domain/version.ts";
import type { Failpoint } from "../failpoints.ts";
import { IcebergVersions } from "../iceberg.ts";
import { fromParquet, type Tombstones, toParquet } from "../parquet.ts";
import { auditReason, type FailedRow, quarantineFailedBatch } from "./audit.ts";

export interface CommitterOptions {
  nc: NatsConnection;
  store: ObjectStore;
  spec: DatasetSpec;
  maxRows: number;
  maxAgeMs: number;
  /**
   * Records gather on the server this long between the pulls that take them (follow's lingerMs): one
   * delivery per burst instead of one per few records. 0: nats.js's ordered consumer.
   */
  pullLingerMs?: number;
  committerId: string;
  log: Logger;
  failpoint: (name: Failpoint) => Promise<void> | undefined;
  /** How long a message that can't be decoded yet (unknown schema) is retried before it is quarantined. */
  poison?: PoisonPolicy;
}

/** A message written with a schema still unknown after catching up: retried within the poison policy, then quarantined. */
class TransientDecodeError extends Error {
  constructor(cause: unknown) {
    super(`cannot decode yet: ${(cause as Error).message}`, { cause });
    this.name = "TransientDecodeError";
  }
}

/** The schema registry could not be read to decode a message: the consumer restarts; the message is not poison. */
class RegistryUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`cannot catch up with the schema registry: ${(cause as Error).message}`, { cause });
    this.name = "RegistryUnavailableError";
  }
}

/**
 * What a derived message's watermark may reach: this clock plus the source's skew (and a tolerance for
 * clocks that differ); the aggregator's never passes the time the stream stored its newest event plus
 * the skew. Worked out once per batch (the skew is the largest over the source contract's versions).
 */
function watermarkBound(upstream: UpstreamSpec): { bound: number; now: number; skew: number } {
  const now = Date.now();
  const skew = upstream.maxFutureSkewMs();
  return { bound: now + skew + WATERMARK_CLOCK_TOLERANCE_MS, now, skew };
}

/** Throws for a watermark past `limit` (watermarkBound). */
function assertHonestWatermark(upstream: UpstreamSpec, value: Record<string, unknown>, limit: ReturnType<typeof watermarkBound>): void {
  const watermark = upstream.watermark(value);
  if (watermark !== null && watermark > limit.bound)
    throw new Error(
      `claims watermark ${watermark}, past this clock (${limit.now}) plus the source's max_future_skew_ms (${limit.skew}) and ${WATERMARK_CLOCK_TOLERANCE_MS} ms: no aggregator sent it`,
    );
}

/** The upstream stream's last sequence could not be read to check a message: the consumer restarts; the message is not poison. */
class UpstreamUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`cannot read the upstream stream's last sequence: ${(cause as Error).message}`, { cause });
    this.name = "UpstreamUnavailableError";
  }
}

/** Reading starts over 500 ms after a failure, then a second apart while failures follow each other. */
const FOLLOW_RETRY: RetryPolicy = { initialMs: 500, factor: 2, maxMs: 1000 };

/** How much of an undecodable message is kept (base64) in its quarantine record. */
const POISON_KEEP_BYTES = 16 * 1024;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function stateFromHead(head: CommitHead): CommitterState {
  const s = head.version ? evolve(initialState, head.version.seq, { kind: "VersionCommitted", body: head.version.record }) : initialState;
  return { ...s, headSeq: head.seq };
}

function applyFiles(live: Map<string, LakeLog.DataFile[]>, r: LakeLog.VersionCommitted): void {
  const gone = new Set(r.removed_files);
  if (gone.size > 0)
    for (const [p, files] of live)
      live.set(
        p,
        files.filter((f) => !gone.has(f.key)),
      );
  for (const f of r.added_files) live.set(f.partition, [...(live.get(f.partition) ?? []), f]);
}

function newWriteId(now: number): string {
  // Sortable by time, unique across processes; safe as an object-key segment.
  return `w${now.toString(36)}-${randomBytes(6).toString("hex")}`;
}

/** Stands in for the manifest reference while the Iceberg snapshot (which doesn't name the manifest) is written. */
const NO_MANIFEST: LakeLog.ManifestRef = { key: "", sha256: "", bytes: 0 };

/** The policy whose versions are staged and audited before they are published. */
const CRITICAL = "critical";

/** Write-audit-publish: looks at the log while a staged version awaits its verdict, backing off to maxMs; warns every warnEveryMs. */
const AUDIT_POLL = { initialMs: 10, maxMs: 250, warnEveryMs: 30_000 };

/** Most messages a derived dataset's committer holds back waiting for a position marker. */
const MAX_CARRIED = 100_000;

/**
 * The commit append's rounds: rebased onto records that are not data versions (verdicts, promotions) up
 * to COMMIT_MAX_REBASES times, and tried again while the commit log doesn't answer for up to
 * COMMIT_PATIENCE_MS. Those two are the limits; this one only bounds the loop.
 */
const COMMIT_RETRY: CasRetryPolicy = { maxAttempts: 1_000 };

/** Lost compare-and-set races against records that are not data versions, before the batch is given up. */
const COMMIT_MAX_REBASES = 10;

/**
 * How long the commit point waits for any one answer from the commit log (the head read before an
 * append, the append, the read after it). When the node leading the commit log's stream is lost, the
 * stream answers nothing until a new leader is elected (6-10 s on a 3-node cluster): a request sent in
 * between is lost, so a short wait and another try lands the commit soon after the election.
 */
const COMMIT_REQUEST_TIMEOUT_MS = 2_000;

/**
 * How long the commit point keeps trying a batch whose files are written while the commit log can't
 * be reached (no stream leader, the connection down), before dropping it and reading its events again.
 */
const COMMIT_PATIENCE_MS = 60_000;

/** The pause between tries while the commit log can't be reached, and after an append whose outcome is unknown (growing with the tries, up to the max). */
const COMMIT_UNREACHABLE_PAUSE_MS = 250;
const COMMIT_UNKNOWN_PAUSE_MS = { step: 100, max: 1_000 };

export class Committer {
  private readonly js: JetStreamClient;
  private jsm!: JetStreamManager;
  /** The commit point's own clients, with its short request timeout (COMMIT_REQUEST_TIMEOUT_MS). */
  private readonly logJs: JetStreamClient;
  private logJsm!: JetStreamManager;
  private readonly spec: DatasetSpec;
  /** Upsert datasets: the live files of each partition (the ones a merge rewrites). */
  private liveFiles = new Map<string, LakeLog.DataFile[]>();
  private state: CommitterState = initialState;
  /** The commit record of the version the next one builds on (its Iceberg snapshot is the parent's). */
  private headRecord: VersionCommitted | undefined;
  private readonly iceberg: IcebergVersions;
  private follower: Follower | undefined;
  /** Rows handed to flushes and not yet in a committed version (queued, or being written). */
  private flushingRows = 0;
  /** The message the consumer keeps failing on (unknown schema), if any: retried within the poison policy. */
  private readonly stall: StallGuard;
  private flushing: Promise<void> = Promise.resolve();
  private queuedFlushes = 0;
  /** Derived datasets: messages after the last position marker read so far, for the next micro-batch. */
  private carried: { epoch: number; events: BufferedEvent[] } = { epoch: -1, events: [] };
  private stopped = false;
  /** Bumped when a flush fails and when reading resumes, so a stale flush can't commit events of an old epoch. */
  private epoch = 0;
  /** The upstream stream's last sequence as last read (derived datasets): what a message may claim to cover. */
  private upstreamLastSeq = 0;
  /** superseded: changes of an upsert dataset that arrived after a newer change of their key (kept out, as they should be). */
  readonly stats = { versions: 0, rows: 0, conflicts: 0, rebases: 0, poison: 0, superseded: 0, lastCommitMs: 0, reverts: 0, quarantinedRows: 0 };

  constructor(private readonly o: CommitterOptions) {
    this.js = jetstream(o.nc);
    this.logJs = jetstream(o.nc, { timeout: COMMIT_REQUEST_TIMEOUT_MS });
    this.spec = o.spec;
    this.stall = new StallGuard(o.poison ?? DEFAULT_POISON_POLICY);
    this.iceberg = new IcebergVersions(o.store);
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.o.nc);
    this.logJsm = await this.logJs.jetstreamManager(false);
    await ensureStreams(this.jsm);
    this.follower = await follow({
      nc: this.o.nc,
      stream: this.spec.source.stream,
      subject: this.spec.source.subject,
      position: () => this.resume(),
      onStart: (position) => this.o.log.info("resumed", { version: this.state.version, from_seq: position + 1 }),
      // A micro-batch: maxRows events, or what came within maxAgeMs of its first one. Not cut when the
      // stream is caught up: a trickle of events would make a version each.
      batch: { maxRecords: this.o.maxRows, maxAgeMs: this.o.maxAgeMs, whenCaughtUp: false },
      pullAhead: Math.min(this.o.maxRows, 5000),
      // Window results come a batch per aggregator round, not a few events per producer request.
      ...(this.o.pullLingerMs && this.spec.source.stream === STREAMS.events ? { lingerMs: this.o.pullLingerMs } : {}),
      retry: FOLLOW_RETRY,
      onError: (err, next) => this.failed(err, next?.retryMs),
      handle: (msgs) => this.take(msgs),
    });
  }

  get head(): CommitterState {
    return this.state;
  }

  /**
   * Where reading (re)starts: just after the offset the commit log head covers, read again once the
   * flushes in hand are done (a batch queued before a failing message still commits; after a failed
   * flush the epoch has moved and they are dropped).
   */
  private async resume(): Promise<number> {
    await this.flushing;
    this.epoch++;
    this.flushingRows = 0;
    const head = await readCommitHead(this.jsm, this.spec.dataset);
    this.state = stateFromHead(head);
    this.headRecord = head.version?.record;
    if (this.spec.mode === MODES.upsert) await this.loadLiveFiles();
    // A staged version left by the last run (awaiting its verdict, or failed and not yet reverted) is
    // settled before the next batch builds on it.
    if (this.gated) {
      const epoch = this.epoch;
      this.flushing = this.flushing.then(() => this.settle(epoch)).catch((e) => this.onFlushError(e));
    }
    return this.state.lastSourceSeq;
  }

  /** Write-audit-publish: a critical dataset's versions are staged, and the next one waits for the verdict of the last. */
  private get gated(): boolean {
    return this.spec.policy === CRITICAL;
  }

  /**
   * Decodes a micro-batch and queues its flush. An undecodable event or a broken consumer ends reading,
   * which starts over from the committed head (with backoff), loudly, rather than stall in silence.
   */
  private async take(msgs: readonly JsMsg[]): Promise<void> {
    const epoch = this.epoch;
    const events: BufferedEvent[] = [];
    // Derived: what a message may claim, worked out once for the batch.
    const upstream = this.spec.upstream;
    const limit = upstream && watermarkBound(upstream);
    for (const m of msgs) {
      if (this.stopped || epoch !== this.epoch) return;
      let value: Record<string, unknown>;
      let partition: string;
      const writer = m.headers?.get(HEADERS.schema) || undefined;
      try {
        // The common case decodes synchronously; only a schema not known yet takes the async path.
        value = this.decodeKnown(m.data, writer) ?? (await this.catchUpAndDecode(m.data, writer));
        // Derived: a position or revision past what the upstream stream holds is forged (poison); it
        // would otherwise pin a row or the version's upstream position for good.
        if (upstream && limit) {
          const claim = upstream.claim(value);
          if (claim > this.upstreamLastSeq) await this.checkUpstreamClaim(claim);
          assertHonestWatermark(upstream, value, limit);
        }
        // A row the dataset can't place (no partition or key) would fail every flush: poison too.
        partition = this.spec.partition(value);
        keyOf(this.spec, value);
      } catch (err) {
        // Unknown schema: the registry copy may be behind, so reading restarts at the head and tries
        // again, within the poison policy (count and time); past it, the message is poison.
        if (err instanceof RegistryUnavailableError || err instanceof UpstreamUnavailableError) throw err;
        if (err instanceof TransientDecodeError && !this.stall.failed(m.seq)) throw err;
        const why = err instanceof TransientDecodeError ? new Error(`${err.message} (set aside after ${this.stall.describe()})`, { cause: err }) : err;
        // Not something ingest wrote (ingest only publishes what it validated and encoded): set it
        // aside in quarantine and go on, so one bad message can't stall the dataset.
        await this.poison(m.seq, m.data, why);
        continue;
      }
      events.push({ seq: m.seq, value, traceparent: traceparentOf(m.headers), partition });
    }
    const ready = this.endAtPosition(events, epoch);
    if (ready.length > 0) this.scheduleFlush(ready, epoch);
    // Backpressure: with two batches already waiting to be written, stop pulling until one is done.
    if (this.queuedFlushes >= 2) await this.flushing;
  }

  /**
   * Throws when `claim` is past the upstream stream's last sequence, read again first (the cached one
   * only ever grows: a stream's last sequence never goes back).
   */
  private async checkUpstreamClaim(claim: number): Promise<void> {
    const upstream = this.spec.upstream!;
    let last: number;
    try {
      last = (await this.jsm.streams.info(upstream.stream)).state.last_seq;
    } catch (cause) {
      throw new UpstreamUnavailableError(cause);
    }
    if (last > this.upstreamLastSeq) this.upstreamLastSeq = last;
    if (claim > this.upstreamLastSeq)
      throw new Error(`claims upstream position ${claim}, past the last sequence of ${upstream.stream} (${this.upstreamLastSeq}): no aggregator sent it`);
  }

  /** The decoded record, or undefined when the writer schema is not known here yet (catchUpAndDecode()). */
  private decodeKnown(data: Uint8Array, writer: string | undefined): Record<string, unknown> | undefined {
    try {
      return this.spec.decode(data, writer);
    } catch (err) {
      if (isUnknownSchema(err) && this.spec.refresh) return undefined;
      throw err;
    }
  }

  /**
   * A schema this process hasn't seen yet is transient (its registry copy is behind): catch up and
   * decode again; if that still fails the error goes up and the consumer restarts from the head.
   */
  private async catchUpAndDecode(data: Uint8Array, writer: string | undefined): Promise<Record<string, unknown>> {
    try {
      await this.spec.refresh!();
    } catch (cause) {
      // Not the message's fault: start over from the head, without using up its poison retries.
      throw new RegistryUnavailableError(cause);
    }
    try {
      return this.spec.decode(data, writer);
    } catch (again) {
      throw new TransientDecodeError(again);
    }
  }

  private async poison(seq: number, data: Uint8Array, err: unknown): Promise<void> {
    this.stats.poison++;
    this.o.log.error("undecodable message on the source stream quarantined and skipped", { seq, bytes: data.byteLength, err });
    const raw = Buffer.from(data.subarray(0, POISON_KEEP_BYTES)).toString("base64");
    const h = natsHeaders();
    h.set(HEADERS.record, quarantinedRecordCodec.name);
    const record = {
      domain: this.spec.dataset,
      event_id: null,
      reason: `undecodable message on ${this.spec.source.subject} at sequence ${seq}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000),
      path: "$",
      raw,
      truncated: data.byteLength > POISON_KEEP_BYTES,
      received_at: Date.now(),
      source: "stream",
    };
    await this.js.publish(subjects.quarantine(this.spec.dataset), quarantinedRecordCodec.encode(record), {
      headers: h,
      msgID: `poison:${this.spec.dataset}:${seq}`,
    });
  }

  /**
   * Derived datasets: a version ends at a position marker (or a row from before markers), so it holds
   * every window as of the upstream position it records, never some of a batch's results and not the
   * rest. What follows the last such point waits for the next micro-batch; reading again after the
   * head (a new epoch) drops it, as it re-reads it. Past MAX_CARRIED messages without a marker (not
   * what an aggregator sends) they are committed anyway: the version's position then stays its parent's.
   */
  private endAtPosition(events: BufferedEvent[], epoch: number): BufferedEvent[] {
    const upstream = this.spec.upstream;
    if (!upstream) return events;
    const all = this.carried.epoch === epoch ? [...this.carried.events, ...events] : events;
    let end = all.length;
    while (end > 0 && !upstream.endsVersion(all[end - 1]!.value)) end--;
    if (all.length - end > MAX_CARRIED) end = all.length;
    this.carried = { epoch, events: all.slice(end) };
    return end === all.length ? all : all.slice(0, end);
  }

  private scheduleFlush(batch: BufferedEvent[], epoch: number): void {
    this.queuedFlushes++;
    this.flushingRows += batch.length;
    this.flushing = this.flushing
      .then(() => this.flush(batch, epoch))
      .catch((e) => this.onFlushError(e))
      .finally(() => {
        this.queuedFlushes--;
        if (epoch === this.epoch) this.flushingRows = Math.max(0, this.flushingRows - batch.length);
      });
  }

  /**
   * Whatever was queued or half-written is dropped (its files are unreferenced garbage) and the events
   * are read again after the head: at once after a lost race, after the retry policy's wait otherwise.
   */
  private onFlushError(e: unknown): void {
    if (this.stopped) return;
    this.epoch++;
    if (isCasConflict(e)) {
      this.stats.conflicts++;
      this.follower?.restart(e, { delayMs: 0 });
    } else {
      this.follower?.restart(e);
    }
  }

  /** Every end of reading but a stop, said once: a lost race, a stall, or a failure (flush, decode, consumer). */
  private failed(err: unknown, retryMs: number | undefined): void {
    if (this.stopped) return;
    if (isCasConflict(err)) this.o.log.warn("lost commit race; resuming from the new head", { err });
    else if (err instanceof ConsumerStalledError)
      this.o.log.warn("source consumer stalled; resuming from the committed head", { why: err.why, retry_ms: retryMs });
    else this.o.log.error("flush failed; resuming from the committed head", { err, retry_ms: retryMs });
  }

  /** One span per commit: the batch's first trace is its parent, the other traces are links. */
  private flush(events: BufferedEvent[], epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.stopped) return Promise.resolve();
    return inSpan(
      `commit ${this.spec.dataset}`,
      {
        kind: SpanKind.CONSUMER,
        ...batchParent(events.map((e) => e.traceparent)),
        attributes: { "lake.dataset": this.spec.dataset, "lake.events": events.length },
      },
      (_span, ctx) => this.flushBatch(events, epoch, ctx),
    );
  }

  /** `ctx`: the commit's span, handed on to what it appends (services run without a context manager). */
  private async flushBatch(events: BufferedEvent[], epoch: number, ctx: Context): Promise<void> {
    if (epoch !== this.epoch || this.stopped) return;
    const started = performance.now();
    const batch = planBatch(this.state, events, this.spec);
    if (!batch) return;
    const now = Date.now();
    const writeId = newWriteId(now);
    const files: LakeLog.DataFile[] = [];
    const entries: DataFileInfo[] = [];
    const objects: { key: string; body: Uint8Array }[] = [];
    const removed: LakeLog.DataFile[] = [];
    let index = 0;
    for (const p of batch.partitions) {
      let rows = p.rows;
      let offsets = p.seqs;
      let tombstones: Tombstones | undefined;
      if (this.spec.mode === MODES.upsert) {
        // Rewrite the partition: its live rows (and tombstones) merged with the batch (copy on write).
        const old = this.liveFiles.get(p.partition) ?? [];
        const existing = await Promise.all(old.map(async (f) => fromParquet(this.spec, await this.o.store.get(f.key))));
        const merged = mergePartition(this.spec, existing, { rows: p.rows, offsets: p.seqs });
        ({ rows, offsets, tombstones } = merged);
        this.stats.superseded += merged.superseded;
        removed.push(...old);
        // A partition whose every key is deleted keeps a file of no rows: it carries the tombstones.
        if (rows.length === 0 && tombstones.size === 0) continue;
      }
      const bytes = toParquet(this.spec, rows, offsets, tombstones);
      const key = keys.dataFile(this.spec.dataset, p.partition, writeId, index++);
      objects.push({ key, body: bytes });
      const file = { key, partition: p.partition, rows: rows.length, bytes: bytes.byteLength, sha256: sha256(bytes) };
      files.push(file);
      entries.push(this.iceberg.dataFile(this.spec, file, rows, offsets));
    }
    // The data files at once (each atomic and durable on its own); the snapshot is encoded meanwhile.
    // (A failure surfaces where the write is awaited; what a failed flush wrote is garbage.)
    const dataWritten = this.o.store.putAll(objects);
    dataWritten.catch(() => {});
    const manifest = buildManifest(this.state, batch, files, { writeId, committerId: this.o.committerId, now, spec: this.spec }, removed);
    const ice = await this.iceberg.prepare(this.spec, this.headRecord, commitRecord(manifest, NO_MANIFEST, null), entries, removed, () => this.allLiveFiles());
    if (ice.missing.length > 0)
      this.o.log.warn("files the version removes were not in the parent's Iceberg snapshot", { version: manifest.version, missing: ice.missing });
    await dataWritten;
    await this.o.failpoint("after_parquet");
    manifest.iceberg = ice.ref;
    manifest.parent_write_id = this.headRecord?.write_id ?? null;
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    const manifestKey = keys.manifest(this.spec.dataset, manifest.version, writeId);
    // The snapshot's objects and the manifest at once: none names the others' bytes, only their keys.
    await this.o.store.putAll([...ice.puts.map((o) => ({ key: o.key, body: o.bytes })), { key: manifestKey, body: manifestBytes }]);
    await this.o.failpoint("after_iceberg");
    await this.o.failpoint("after_manifest");
    const record = commitRecord(manifest, { key: manifestKey, sha256: sha256(manifestBytes), bytes: manifestBytes.byteLength }, ice.ref);
    await this.o.failpoint("before_commit");
    const seq = await this.append(record, ctx);
    await this.o.failpoint("after_commit");
    this.state = evolve(this.state, seq, { kind: "VersionCommitted", body: record });
    this.headRecord = record;
    this.iceberg.committed(record.dataset, record.version, record.write_id, ice.manifests);
    if (this.spec.mode === MODES.upsert) applyFiles(this.liveFiles, record);
    this.stats.versions++;
    this.stats.rows += batch.rowCount;
    this.stats.lastCommitMs = performance.now() - started;
    this.o.log.info("committed", {
      version: record.version,
      rows: batch.rowCount,
      files: files.length,
      first_seq: batch.firstSeq,
      last_seq: batch.lastSeq,
      ms: Math.round(this.stats.lastCommitMs),
    });
    if (this.gated) await this.settle(epoch, ctx);
  }

  /**
   * Write-audit-publish. A critical dataset's version is staged when committed; quality audits it and
   * only a passed version is published (made current, by the catalog). The next version must build on
   * a published one, so this waits for the verdict of the version just committed (as long as the audit
   * takes: a critical dataset doesn't publish without one; the events wait in the stream meanwhile).
   * A failed version is reverted: its batch's rows go to quarantine and a version restoring its parent
   * is committed, which is audited in turn.
   */
  private async settle(epoch: number, ctx?: Context): Promise<void> {
    let waitMs = AUDIT_POLL.initialMs;
    let since = performance.now();
    while (!this.stopped && epoch === this.epoch) {
      const head = await readCommitHead(this.jsm, this.spec.dataset);
      const v = head.version?.record;
      // Nothing staged, or the head moved under us (another committer): the next append's CAS settles it.
      if (!v || v.version !== this.state.version || v.write_id !== this.headRecord?.write_id) return;
      if (!head.verdict) {
        if (performance.now() - since > AUDIT_POLL.warnEveryMs) {
          this.o.log.warn("version awaits its audit; the next version waits for its verdict", {
            version: v.version,
            waited_ms: Math.round(performance.now() - since),
          });
          since = performance.now();
        }
        await new Promise((r) => setTimeout(r, waitMs));
        waitMs = Math.min(AUDIT_POLL.maxMs, waitMs * 2);
        continue;
      }
      if (head.verdict.record.outcome === "passed") return;
      if (v.operation === REVERT) {
        // A revert restores a version that passed; failing it again would loop. Say so and go on.
        this.o.log.error("a revert failed its audit; it is not reverted again", { version: v.version, rules: head.verdict.record.rules });
        return;
      }
      await this.revert(v, head.verdict.record, epoch, ctx);
      waitMs = AUDIT_POLL.initialMs;
    }
  }

  /** The rows of a failed version's batch: its files' rows whose offsets are in its source range. */
  private async batchRows(failed: VersionCommitted): Promise<FailedRow[]> {
    const out: FailedRow[] = [];
    const { first_seq, last_seq } = failed.source;
    for (const f of failed.added_files) {
      const { rows, offsets } = fromParquet(this.spec, await this.o.store.get(f.key));
      for (let i = 0; i < rows.length; i++) {
        const offset = offsets[i]!;
        if (offset < first_seq || offset > last_seq) continue;
        let eventId: string | null = null;
        try {
          eventId = keyOf(this.spec, rows[i]!);
        } catch {
          // a row without a usable key is still quarantined, with no event id
        }
        out.push({ offset, eventId, value: rows[i]! });
      }
    }
    return out.sort((a, b) => a.offset - b.offset);
  }

  /**
   * Takes a failed version's batch back out: its rows to quarantine (exactly once, see audit.ts), then a
   * version whose files are the failed one's parent's (operation "revert"). Files the failed version
   * replaced (an upsert's rewritten partitions) come back as copies under this write's id.
   */
  private async revert(failed: VersionCommitted, verdict: LakeLog.QualityVerdict, epoch: number, ctx: Context | undefined): Promise<void> {
    const rows = await this.batchRows(failed);
    const q = await quarantineFailedBatch(this.js, this.jsm, {
      dataset: this.spec.dataset,
      version: failed.version,
      rows,
      reason: auditReason(this.spec.dataset, failed.version, verdict),
      now: Date.now(),
      afterChunk: () => this.o.failpoint("during_quarantine"),
      ctx,
    });
    this.stats.quarantinedRows += q.published;
    await this.o.failpoint("after_quarantine");
    if (this.stopped || epoch !== this.epoch) return;
    const now = Date.now();
    const writeId = newWriteId(now);
    const restored: LakeLog.DataFile[] = [];
    const entries: DataFileInfo[] = [];
    const objects: { key: string; body: Uint8Array }[] = [];
    for (const [i, old] of failed.removed_files.entries()) {
      const partition = partitionOfKey(this.spec.dataset, old);
      if (partition === undefined) throw new Error(`version ${failed.version} removed ${old}, which is not a data file of ${this.spec.dataset}`);
      const body = await this.o.store.get(old);
      const { rows: fileRows, offsets } = fromParquet(this.spec, body);
      const file = {
        key: keys.dataFile(this.spec.dataset, partition, writeId, i),
        partition,
        rows: fileRows.length,
        bytes: body.byteLength,
        sha256: sha256(body),
      };
      objects.push({ key: file.key, body });
      restored.push(file);
      entries.push(this.iceberg.dataFile(this.spec, file, fileRows, offsets));
    }
    await this.o.store.putAll(objects);
    const manifest = buildRevertManifest(this.state, failed, restored, { writeId, committerId: this.o.committerId, now, spec: this.spec });
    const ice = await this.iceberg.prepare(this.spec, this.headRecord, commitRecord(manifest, NO_MANIFEST, null), entries, failed.added_files, () =>
      this.allLiveFiles(),
    );
    manifest.iceberg = ice.ref;
    manifest.parent_write_id = this.headRecord?.write_id ?? null;
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    const manifestKey = keys.manifest(this.spec.dataset, manifest.version, writeId);
    await this.o.store.putAll([...ice.puts.map((o) => ({ key: o.key, body: o.bytes })), { key: manifestKey, body: manifestBytes }]);
    const record = commitRecord(manifest, { key: manifestKey, sha256: sha256(manifestBytes), bytes: manifestBytes.byteLength }, ice.ref);
    const seq = await this.append(record, ctx);
    this.state = evolve(this.state, seq, { kind: "VersionCommitted", body: record });
    this.headRecord = record;
    this.iceberg.committed(record.dataset, record.version, record.write_id, ice.manifests);
    if (this.spec.mode === MODES.upsert) applyFiles(this.liveFiles, record);
    this.stats.reverts++;
    this.o.log.warn("version failed its audit: its batch went to quarantine and a revert restores the version before it", {
      failed: failed.version,
      revert: record.version,
      restores: failed.parent_version,
      quarantined_rows: rows.length,
      failed_rules: verdict.rules.filter((r) => !r.passed).map((r) => r.rule),
    });
  }

  /**
   * The commit point. An unknown outcome is settled by re-reading the head (did our write land?). A lost
   * race against a record that is not a data version (a quality verdict, a promotion) leaves our batch
   * valid: the version number and parent are unchanged, so we rebase onto the new head and append again.
   * A lost race against another data version throws: the batch is dropped and we resume after it.
   * While the commit log can't be reached (no stream leader after a node loss, the connection down), the
   * written batch is kept and its append tried again for up to COMMIT_PATIENCE_MS.
   */
  private async append(record: ReturnType<typeof commitRecord>, ctx: Context | undefined): Promise<number> {
    const giveUpAt = performance.now() + COMMIT_PATIENCE_MS;
    let unreachableSince: number | undefined;
    let rebases = 0;
    const stood = await appendUntilStands(
      COMMIT_RETRY,
      () =>
        appendLogRecord(
          this.logJs,
          this.spec.dataset,
          { kind: "VersionCommitted", body: record },
          { expectedLastSeq: this.state.headSeq, msgId: record.write_id, ctx },
        ),
      {
        // A head read cut short (its consumer stalled or ended with the connection) is the log not answering too.
        retryOn: (e) => isCasConflict(e) || isNatsUnavailable(e) || e instanceof ConsumerStalledError || e instanceof ConsumerEndedError,
        onLost: async (e, attempt, final) => {
          const head = await readCommitHead(this.logJsm, this.spec.dataset).catch((err: unknown) => ({ unreadable: err }));
          if ("unreadable" in head) {
            if (final || performance.now() >= giveUpAt) throw e;
            if (unreachableSince === undefined) {
              unreachableSince = performance.now();
              this.o.log.warn("the commit log does not answer; trying the commit again", { version: record.version, err: e });
            }
            await new Promise((r) => setTimeout(r, COMMIT_UNREACHABLE_PAUSE_MS));
            return undefined;
          }
          if (head.version?.record.write_id === record.write_id) return { stands: head.version.seq }; // it landed
          if (final) throw e;
          if (head.version?.seq !== (this.state.versionSeq || undefined)) throw e; // another data version won
          if (isCasConflict(e)) {
            this.stats.rebases++;
            if (++rebases >= COMMIT_MAX_REBASES) throw e;
          } else {
            if (performance.now() >= giveUpAt) throw e;
            if (unreachableSince === undefined) this.o.log.warn("commit append outcome unknown; retrying", { attempt, err: e });
          }
          this.state = { ...this.state, headSeq: head.seq };
          if (!isCasConflict(e)) await new Promise((r) => setTimeout(r, Math.min(COMMIT_UNKNOWN_PAUSE_MS.step * attempt, COMMIT_UNKNOWN_PAUSE_MS.max)));
          return undefined;
        },
      },
    );
    if (unreachableSince !== undefined)
      this.o.log.info("the commit log answers again", { version: record.version, unreachable_ms: Math.round(performance.now() - unreachableSince) });
    return stood;
  }

  /** The head version's whole file set (asked only when the head predates Iceberg metadata). */
  private async allLiveFiles(): Promise<LakeLog.DataFile[]> {
    if (this.spec.mode === MODES.upsert) return [...this.liveFiles.values()].flat();
    await this.loadLiveFiles();
    const files = [...this.liveFiles.values()].flat();
    this.liveFiles = new Map(); // append datasets don't keep them
    return files;
  }

  /** Folds the dataset's commit history into its live file set (upsert datasets rewrite partitions). */
  private async loadLiveFiles(): Promise<void> {
    const live = new Map<string, LakeLog.DataFile[]>();
    await foldCommitLog(this.js, this.spec.dataset, this.state.headSeq, (rec) => {
      if (rec.kind === "VersionCommitted") applyFiles(live, rec.body);
    });
    this.liveFiles = live;
  }

  /**
   * Consumer lag: events in the stream not yet committed, whether still on the server, delivered to this
   * process but not yet read, being decoded, or in flushes not yet committed. A consumer stuck on one
   * message keeps it all counted: its position doesn't move, so neither does the lag.
   */
  async lag(): Promise<number> {
    return ((await this.follower?.lag()) ?? 0) + this.flushingRows + (this.carried.epoch === this.epoch ? this.carried.events.length : 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.follower?.stop();
    await this.flushing;
  }
}
