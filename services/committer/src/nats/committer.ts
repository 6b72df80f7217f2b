// The committer's shell: consume the dataset's source stream from just after the last committed offset,
// buffer a micro-batch, write Parquet (append: new files; upsert: rewritten partitions) + manifest, then
// append VersionCommitted with a CAS. Losing the CAS to another data version means: drop the batch,
// re-read the head, resume after it.
import { randomBytes, createHash } from "node:crypto";
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { quarantinedRecordCodec, type LakeLog } from "@lake/contracts";
import { headers as natsHeaders } from "@nats-io/nats-core";
import {
  type CommitHead,
  DEFAULT_POISON_POLICY,
  HEADERS,
  LIVE_PULL_EXPIRES_MS,
  StallGuard,
  endWhenStalled,
  subjects,
  appendLogRecord,
  ensureStreams,
  readCommitHead,
  foldCommitLog,
  isCasConflict,
  isPublishOutcomeUnknown,
  type PoisonPolicy,
} from "@lake/messaging";
import type { ObjectStore } from "@lake/storage";
import { type Logger, SpanKind, batchParent, inSpan, traceparentOf } from "@lake/telemetry";
import { type BufferedEvent, type CommitterState, initialState, evolve, planBatch, buildManifest, commitRecord, keys } from "../domain/version.ts";
import { type DatasetSpec, MODES, keyOf } from "../domain/spec.ts";
import { isUnknownSchema } from "@lake/registry";
import { mergePartition } from "../domain/merge.ts";
import { type Tombstones, fromParquet, toParquet } from "../parquet.ts";
import type { Failpoint } from "../failpoints.ts";

export interface CommitterOptions {
  nc: NatsConnection;
  store: ObjectStore;
  spec: DatasetSpec;
  maxRows: number;
  maxAgeMs: number;
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

/** How much of an undecodable message is kept (base64) in its quarantine record. */
const POISON_KEEP_BYTES = 16 * 1024;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function stateFromHead(head: CommitHead): CommitterState {
  const s = head.version ? evolve(initialState, head.version.seq, { kind: "VersionCommitted", body: head.version.record }) : initialState;
  return { ...s, headSeq: head.seq };
}

function applyFiles(live: Map<string, LakeLog.DataFile[]>, r: LakeLog.VersionCommitted): void {
  const gone = new Set(r.removed_files);
  if (gone.size > 0) for (const [p, files] of live) live.set(p, files.filter((f) => !gone.has(f.key)));
  for (const f of r.added_files) live.set(f.partition, [...(live.get(f.partition) ?? []), f]);
}

function newWriteId(now: number): string {
  // Sortable by time, unique across processes; safe as an object-key segment.
  return `w${now.toString(36)}-${randomBytes(6).toString("hex")}`;
}

export class Committer {
  private readonly js: JetStreamClient;
  private jsm!: JetStreamManager;
  private readonly spec: DatasetSpec;
  /** Upsert datasets: the live files of each partition (the ones a merge rewrites). */
  private liveFiles = new Map<string, LakeLog.DataFile[]>();
  private state: CommitterState = initialState;
  private buffer: BufferedEvent[] = [];
  private oldestAt = 0;
  private messages: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  /** Messages taken from the stream but not yet in a committed version (being decoded, buffered or in queued flushes). */
  private inFlight = 0;
  /** The message the consumer keeps failing on (unknown schema), if any: retried within the poison policy. */
  private readonly stall: StallGuard;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private queuedFlushes = 0;
  private stopped = false;
  /** Bumped whenever the consumer restarts, so a stale flush can't commit events of an old epoch. */
  private epoch = 0;
  /** superseded: changes of an upsert dataset that arrived after a newer change of their key (kept out, as they should be). */
  readonly stats = { versions: 0, rows: 0, conflicts: 0, rebases: 0, poison: 0, superseded: 0, lastCommitMs: 0 };

  constructor(private readonly o: CommitterOptions) {
    this.js = jetstream(o.nc);
    this.spec = o.spec;
    this.stall = new StallGuard(o.poison ?? DEFAULT_POISON_POLICY);
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.o.nc);
    await ensureStreams(this.jsm);
    await this.resume();
  }

  get head(): CommitterState {
    return this.state;
  }

  /** Re-read the commit log head and (re)start consuming just after the offset it covers. */
  private async resume(): Promise<void> {
    this.epoch++;
    this.buffer = [];
    this.messages?.stop();
    this.state = stateFromHead(await readCommitHead(this.jsm, this.spec.dataset));
    if (this.spec.mode === MODES.upsert) await this.loadLiveFiles();
    const consumer = await this.js.consumers.get(this.spec.source.stream, {
      filter_subjects: this.spec.source.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.state.lastSourceSeq + 1,
    });
    this.consumer = consumer;
    this.inFlight = 0;
    const messages = await consumer.consume({ max_messages: Math.min(this.o.maxRows, 5000), expires: LIVE_PULL_EXPIRES_MS });
    endWhenStalled(messages, this.o.nc, (err) => this.o.log.warn("source consumer stalled; resuming from the committed head", { why: err.why }));
    this.messages = messages;
    this.o.log.info("resumed", { version: this.state.version, from_seq: this.state.lastSourceSeq + 1 });
    const epoch = this.epoch;
    void (async () => {
      try {
        for await (const m of messages) {
          if (epoch !== this.epoch) break;
          this.inFlight++;
          let value: Record<string, unknown>;
          let partition: string;
          const writer = m.headers?.get(HEADERS.schema) || undefined;
          try {
            value = await this.decode(m.data, writer);
            // A row the dataset can't place (no partition or key) would fail every flush: poison too.
            partition = this.spec.partition(value);
            keyOf(this.spec, value);
          } catch (err) {
            // Unknown schema: the registry copy may be behind, so the consumer restarts at the head and
            // tries again, within the poison policy (count and time); past it, the message is poison.
            if (err instanceof RegistryUnavailableError) throw err;
            if (err instanceof TransientDecodeError && !this.stall.failed(m.seq)) throw err;
            const why = err instanceof TransientDecodeError ? new Error(`${err.message} (set aside after ${this.stall.describe()})`, { cause: err }) : err;
            // Not something ingest wrote (ingest only publishes what it validated and encoded): set it
            // aside in quarantine and go on, so one bad message can't stall the dataset.
            await this.poison(m.seq, m.data, why);
            this.inFlight--;
            continue;
          }
          this.add({ seq: m.seq, value, traceparent: traceparentOf(m.headers), partition });
          // Backpressure: with two batches already waiting to be written, stop pulling until one is done.
          if (this.queuedFlushes >= 2) await this.flushing;
        }
      } catch (e) {
        // An undecodable event or a broken consumer: start over from the committed head (with backoff),
        // loudly, rather than stall in silence.
        if (!this.stopped && epoch === this.epoch) this.flushing = this.flushing.then(() => this.onFlushError(e));
      }
    })();
  }

  /**
   * A schema this process hasn't seen yet is transient (its registry copy is behind): catch up and
   * decode again; if that still fails the error goes up and the consumer restarts from the head.
   */
  private async decode(data: Uint8Array, writer: string | undefined): Promise<Record<string, unknown>> {
    try {
      return this.spec.decode(data, writer);
    } catch (err) {
      if (!isUnknownSchema(err) || !this.spec.refresh) throw err;
      try {
        await this.spec.refresh();
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
    await this.js.publish(subjects.quarantine(this.spec.dataset), quarantinedRecordCodec.encode(record), { headers: h, msgID: `poison:${this.spec.dataset}:${seq}` });
  }

  private add(e: BufferedEvent): void {
    if (this.buffer.length === 0) {
      this.oldestAt = Date.now();
      this.timer = setTimeout(() => this.scheduleFlush(), this.o.maxAgeMs);
    }
    this.buffer.push(e);
    if (this.buffer.length >= this.o.maxRows) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    const epoch = this.epoch;
    this.buffer = [];
    this.queuedFlushes++;
    this.flushing = this.flushing
      .then(() => this.flush(batch, epoch))
      .catch((e) => this.onFlushError(e))
      .finally(() => {
        this.queuedFlushes--;
        if (epoch === this.epoch) this.inFlight = Math.max(0, this.inFlight - batch.length);
      });
  }

  private async onFlushError(e: unknown): Promise<void> {
    if (this.stopped) return;
    if (isCasConflict(e)) {
      this.stats.conflicts++;
      this.o.log.warn("lost commit race; resuming from the new head", { err: e });
    } else {
      this.o.log.error("flush failed; resuming from the committed head", { err: e });
      await new Promise((r) => setTimeout(r, 500));
    }
    // Whatever was buffered or half-written is dropped: its files are unreferenced garbage, and the
    // events are re-read from the stream after the head.
    for (;;) {
      try {
        await this.resume();
        return;
      } catch (err) {
        if (this.stopped) return;
        this.o.log.error("resume failed; retrying", { err });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** One span per commit: the batch's first trace is its parent, the other traces are links. */
  private flush(events: BufferedEvent[], epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.stopped) return Promise.resolve();
    return inSpan(
      `commit ${this.spec.dataset}`,
      { kind: SpanKind.CONSUMER, ...batchParent(events.map((e) => e.traceparent)), attributes: { "lake.dataset": this.spec.dataset, "lake.events": events.length } },
      () => this.flushBatch(events, epoch),
    );
  }

  private async flushBatch(events: BufferedEvent[], epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.stopped) return;
    const started = performance.now();
    const batch = planBatch(this.state, events, this.spec);
    if (!batch) return;
    const now = Date.now();
    const writeId = newWriteId(now);
    const files: LakeLog.DataFile[] = [];
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
      await this.o.store.put(key, bytes);
      files.push({ key, partition: p.partition, rows: rows.length, bytes: bytes.byteLength, sha256: sha256(bytes) });
    }
    await this.o.failpoint("after_parquet");
    const manifest = buildManifest(this.state, batch, files, { writeId, committerId: this.o.committerId, now, spec: this.spec }, removed);
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    const manifestKey = keys.manifest(this.spec.dataset, manifest.version, writeId);
    await this.o.store.put(manifestKey, manifestBytes);
    await this.o.failpoint("after_manifest");
    const record = commitRecord(manifest, { key: manifestKey, sha256: sha256(manifestBytes), bytes: manifestBytes.byteLength });
    await this.o.failpoint("before_commit");
    const seq = await this.append(record);
    await this.o.failpoint("after_commit");
    this.state = evolve(this.state, seq, { kind: "VersionCommitted", body: record });
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
  }

  /**
   * The commit point. An unknown outcome is settled by re-reading the head (did our write land?). A lost
   * race against a record that is not a data version (a quality verdict, a promotion) leaves our batch
   * valid: the version number and parent are unchanged, so we rebase onto the new head and append again.
   * A lost race against another data version throws: the batch is dropped and we resume after it.
   */
  private async append(record: ReturnType<typeof commitRecord>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await appendLogRecord(this.js, this.spec.dataset, { kind: "VersionCommitted", body: record }, { expectedLastSeq: this.state.headSeq, msgId: record.write_id });
      } catch (e) {
        if (!isPublishOutcomeUnknown(e) && !isCasConflict(e)) throw e;
        const head = await readCommitHead(this.jsm, this.spec.dataset).catch(() => undefined);
        if (head?.version?.record.write_id === record.write_id) return head.version.seq; // it landed
        if (!head || attempt >= 10) throw e;
        if (head.version?.seq !== (this.state.versionSeq || undefined)) throw e; // another data version won
        if (isCasConflict(e)) this.stats.rebases++;
        else this.o.log.warn("commit append outcome unknown; retrying", { attempt, err: e });
        this.state = { ...this.state, headSeq: head.seq };
        if (isPublishOutcomeUnknown(e)) await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
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
   * Consumer lag: events in the stream not yet committed, whether still on the server (the consumer's
   * pending count), delivered to this process but not yet read (the client's buffer), or read and
   * waiting (decoding, buffered, being written). A consumer stuck on one message keeps it all counted:
   * its position doesn't move, so neither does the lag.
   */
  async lag(): Promise<number> {
    const info = await this.consumer?.info(false).catch(() => undefined);
    return (info?.num_pending ?? 0) + (this.messages?.getPending() ?? 0) + this.inFlight;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.messages?.stop();
    await this.flushing;
  }
}
