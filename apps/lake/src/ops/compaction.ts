// Compaction, the shell: one more writer of a dataset's commit log, fenced by the same compare-and-set
// as the committers. It reads the head, folds the live file set, rewrites groups of small files of a
// partition into one file each (same rows, same `_offset` lineage, values read and written by the
// committer's own Parquet code), writes a manifest, and appends a VersionCommitted with
// `operation: "compaction"` and expectedLastSeq = the head it planned on.
//
// Racing committers: if the compaction wins, a committer holding a batch loses its CAS against a data
// version, drops the batch and re-reads the stream after the head; the compaction's source range is
// empty and ends where its parent's did, so that is exactly where the committer was: nothing lost,
// nothing twice. If the compaction loses, it reads the versions that won: appends only add files, so
// it rebases (same files, a manifest renumbered onto the new head) and appends again; a partition
// whose files some version removed (an upsert rewrote it, another compaction took it) is given up and
// reported. Files written for a give-up or a crash are referenced by no version: garbage, never read.
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";

import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { tableFromIPC } from "apache-arrow";
import { readParquet, readSchema } from "parquet-wasm";

import { commitRecord, type DatasetSpec, fromParquet, IcebergVersions, keys, OFFSET_COLUMN, type Tombstones, toParquet } from "@lake/committer";
import type { LakeLog, VersionCommitted } from "@lake/contracts";
import type { DataFileInfo } from "@lake/iceberg";
import { appendLogRecord, appendUntilStands, foldCommitLog, isCasConflict, isPublishOutcomeUnknown, type JudgeState, readCommitHead } from "@lake/messaging";
import { failpointHook as runtimeFailpointHook } from "@lake/runtime";
import type { ObjectStore } from "@lake/storage";
import { inSpan, type Logger } from "@lake/telemetry";

import {
  applyVersionFiles,
  buildCompactionManifest,
  type CompactedGroup,
  COMPACTION_DEFAULTS,
  type CompactionGroup,
  type CompactionPlan,
  decideRebase,
  type DroppedPartition,
  planCompaction,
  RowCountMismatchError,
} from "./compaction-plan.ts";

/** Fault-test hooks: `compact_after_files` (rewritten files stored, nothing committed) and `compact_before_commit` (manifest written, before each append). */
export const COMPACTION_FAILPOINTS = ["compact_after_files", "compact_before_commit"] as const;
export type CompactionFailpoint = (typeof COMPACTION_FAILPOINTS)[number];
/** `LAKE_COMPACT_FAILPOINTS` syntax (as LAKE_FAILPOINTS): `compact_before_commit@1=wait` holds until SIGUSR2. */
export const compactionFailpointHook = (spec: string) => runtimeFailpointHook(spec, COMPACTION_FAILPOINTS);

export interface CompactionProgress {
  phase: "read" | "write" | "commit";
  partition: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  groupsDone: number;
  groupsTotal: number;
  /** Commit phase: the append being tried (2 and up: after a lost race). */
  attempt: number;
  elapsedMs: number;
}

export interface CompactDatasetOptions {
  nc: NatsConnection;
  store: ObjectStore;
  spec: DatasetSpec;
  targetBytes?: number;
  maxFiles?: number;
  /** Rows per rewritten file at most (memory bound; default COMPACTION_DEFAULTS.maxRows). */
  maxRows?: number;
  /** Only partitions with at least this many small files (default 2; see CompactionOptions.minSmallFiles). */
  minSmallFiles?: number;
  /** Plan only: read the log, write and commit nothing. */
  dryRun?: boolean;
  /** Recorded as the version's committer_id (default `compact-<host>-<pid>`). */
  committerId?: string;
  /** Appends tried before giving up when other writers keep winning (default 10). */
  maxAttempts?: number;
  log?: Logger;
  onProgress?: (p: CompactionProgress) => void;
  /** Fault tests: hold or kill the compaction at a step (see COMPACTION_FAILPOINTS). */
  failpoint?: (name: CompactionFailpoint) => Promise<void> | undefined;
  now?: () => number;
}

export const COMPACTION_OUTCOMES = {
  /** A compaction version is in the log. */
  committed: "committed",
  /** No partition has two or more files below the target. */
  nothingToDo: "nothing_to_do",
  /** --dry-run: the plan, nothing written. */
  dryRun: "dry_run",
  /** Every partition planned was rewritten by someone else (or unreadable) before the compaction could land. */
  abandoned: "abandoned",
} as const;
export type CompactionOutcome = (typeof COMPACTION_OUTCOMES)[keyof typeof COMPACTION_OUTCOMES];

export interface CompactionResult {
  dataset: string;
  outcome: CompactionOutcome;
  plan: CompactionPlan;
  /** The committed version, its parent and its commit-log sequence. */
  version?: number;
  parentVersion?: number;
  commitSeq?: number;
  writeId?: string;
  /** Live files before (at the head planned on) and after (in the committed version). */
  filesBefore: number;
  filesAfter: number;
  filesRemoved: number;
  filesAdded: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  /** Appends tried, and how many of them were rebased onto a newer head. */
  attempts: number;
  rebases: number;
  /** Partitions given up: rewritten by another version while this one was in flight, or unreadable. */
  dropped: (DroppedPartition | { partition: string; reason: string })[];
  ms: number;
}

/** Another writer kept winning the race for longer than maxAttempts appends. */
export class CompactionContendedError extends Error {
  constructor(
    readonly dataset: string,
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(`compaction of ${dataset}: lost the commit race ${attempts} times in a row; nothing committed (run it again)`, options);
    this.name = "CompactionContendedError";
  }
}

export function isCompactionContended(e: unknown): e is CompactionContendedError {
  return e instanceof CompactionContendedError;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function newWriteId(now: number): string {
  // The committer's shape (`w<time>-<random>`), tagged so a file's name says a compaction wrote it.
  return `w${now.toString(36)}-c${randomBytes(6).toString("hex")}`;
}

/** Compacts one dataset once (bounded by maxFiles). See the file comment for the protocol. */
export function compactDataset(o: CompactDatasetOptions): Promise<CompactionResult> {
  return inSpan(`compact ${o.spec.dataset}`, { attributes: { "lake.dataset": o.spec.dataset, "lake.operation": "compaction" } }, () => run(o));
}

async function run(o: CompactDatasetOptions): Promise<CompactionResult> {
  const started = performance.now();
  const now = (o.now ?? Date.now)();
  const dataset = o.spec.dataset;
  const targetBytes = o.targetBytes ?? COMPACTION_DEFAULTS.targetBytes;
  const maxFiles = o.maxFiles ?? COMPACTION_DEFAULTS.maxFiles;
  const maxAttempts = o.maxAttempts ?? COMPACTION_DEFAULTS.maxAttempts;
  const committerId = o.committerId ?? `compact-${hostname()}-${process.pid}`;
  const js = jetstream(o.nc);
  const jsm = await jetstreamManager(o.nc);

  let head = await readCommitHead(jsm, dataset);
  const live = new Map<string, LakeLog.DataFile[]>();
  await foldCommitLog(js, dataset, head.seq, (rec) => {
    if (rec.kind === "VersionCommitted") applyVersionFiles(live, rec.body);
  });
  const plan = planCompaction(live, {
    targetBytes,
    maxFiles,
    maxRows: o.maxRows ?? COMPACTION_DEFAULTS.maxRows,
    ...(o.minSmallFiles === undefined ? {} : { minSmallFiles: o.minSmallFiles }),
  });
  const result: CompactionResult = {
    dataset,
    outcome: COMPACTION_OUTCOMES.nothingToDo,
    plan,
    filesBefore: plan.liveFiles,
    filesAfter: plan.liveFiles,
    filesRemoved: 0,
    filesAdded: 0,
    rows: 0,
    bytesIn: 0,
    bytesOut: 0,
    attempts: 0,
    rebases: 0,
    dropped: [],
    ms: 0,
  };
  const done = (r: Partial<CompactionResult>) => Object.assign(result, r, { ms: Math.round(performance.now() - started) });
  o.log?.info("compaction planned", {
    dataset,
    head_version: head.version?.record.version ?? 0,
    live_files: plan.liveFiles,
    groups: plan.groups.length,
    files: plan.files,
    bytes: plan.bytes,
    deferred_files: plan.deferredFiles,
    target_bytes: targetBytes,
  });
  if (!head.version || plan.groups.length === 0) return done({});
  if (o.dryRun) return done({ outcome: COMPACTION_OUTCOMES.dryRun });

  // Rewrite each group: one output file per group, all under one write id.
  const writeId = newWriteId(now);
  const progress = { filesDone: 0, bytesDone: 0, groupsDone: 0, attempt: 0 };
  const report = (phase: CompactionProgress["phase"], partition: string) =>
    o.onProgress?.({
      phase,
      partition,
      ...progress,
      filesTotal: plan.files,
      bytesTotal: plan.bytes,
      groupsTotal: plan.groups.length,
      elapsedMs: performance.now() - started,
    });
  let compacted: { group: CompactionGroup; out: CompactedGroup; entry: DataFileInfo }[] = [];
  const iceberg = new IcebergVersions(o.store);
  let snapshot: { basis: string; ref: LakeLog.IcebergSnapshotRef; pending: { key: string; body: Uint8Array }[] } | undefined;
  let writtenManifest: string | undefined;
  let index = 0;
  for (const group of plan.groups) {
    try {
      const { out, rows, offsets } = await rewriteGroup(o.store, o.spec, group, keys.dataFile(dataset, group.partition, writeId, index++), (f) => {
        progress.filesDone++;
        progress.bytesDone += f.bytes;
        report("read", group.partition);
      });
      compacted.push({ group, out, entry: iceberg.dataFile(o.spec, out.file, rows, offsets) });
      progress.groupsDone++;
      report("write", group.partition);
    } catch (err) {
      if (!(err instanceof UncompactableError)) throw err;
      // One odd partition doesn't stop the others; it is reported and left as it is.
      o.log?.warn("partition left uncompacted", { dataset, partition: group.partition, reason: err.message });
      result.dropped.push({ partition: group.partition, reason: err.message });
    }
  }
  if (compacted.length === 0) return done({ outcome: COMPACTION_OUTCOMES.abandoned });
  await o.failpoint?.("compact_after_files");

  // Commit: build the manifest on the head we know, append with a CAS on it; on a lost race, rebase.
  type Outcome = { kind: "landed"; seq: number; record: VersionCommitted; attempt: number } | { kind: "abandoned"; attempt: number };
  const outcome = await appendUntilStands<Outcome>(
    { maxAttempts },
    async (attempt) => {
      const manifest = buildCompactionManifest(
        head.version!.record,
        compacted.map((c) => c.out),
        { writeId, committerId, now, spec: o.spec },
      );
      // The same rows in fewer files: a `replace` snapshot on top of the head's. Written again only when
      // the head's version or the groups changed (a race lost to a verdict or a promotion changes neither).
      const basis = `${head.version!.record.version}:${head.version!.record.write_id}:${compacted.length}`;
      if (snapshot?.basis !== basis) {
        const ice = await iceberg.prepare(
          o.spec,
          head.version!.record,
          commitRecord(manifest, { key: "", sha256: "", bytes: 0 }, null),
          compacted.map((c) => c.entry),
          compacted.flatMap((c) => c.out.replaces),
          async () => [...live.values()].flat(),
        );
        snapshot = { basis, ref: ice.ref, pending: ice.puts.map((x) => ({ key: x.key, body: x.bytes })) };
      }
      manifest.iceberg = snapshot.ref;
      manifest.parent_write_id = head.version!.record.write_id;
      const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
      const manifestKey = keys.manifest(dataset, manifest.version, writeId);
      // The snapshot (if not written yet) and the manifest in one go: the shorter an attempt, the better
      // its chance against a committer that keeps appending.
      const manifestId = `${manifestKey}:${sha256(manifestBytes)}`;
      await o.store.putAll([...snapshot.pending, ...(manifestId === writtenManifest ? [] : [{ key: manifestKey, body: manifestBytes }])]);
      snapshot.pending = [];
      writtenManifest = manifestId;
      const record = commitRecord(manifest, { key: manifestKey, sha256: sha256(manifestBytes), bytes: manifestBytes.byteLength }, snapshot.ref);
      progress.attempt = attempt;
      report("commit", "");
      await o.failpoint?.("compact_before_commit");
      result.attempts = attempt;
      // The msg id names the write AND the version number: a retry of the same record dedupes, a
      // rebased record (another number) can't be mistaken for an earlier attempt that landed late.
      const seq = await appendLogRecord(
        js,
        dataset,
        { kind: "VersionCommitted", body: record },
        { expectedLastSeq: head.seq, msgId: `${writeId}:v${record.version}` },
      );
      return { kind: "landed", seq, record, attempt };
    },
    {
      retryOn: (e) => isCasConflict(e) || isPublishOutcomeUnknown(e),
      onLost: async (e, attempt, final) => {
        const newHead = await readCommitHead(jsm, dataset);
        const since = await versionsBetween(js, dataset, newHead.seq, {
          prev: head.seq,
          latestVersion: head.version?.record.version ?? 0,
          latestVersionSeq: head.version?.seq ?? 0,
        });
        const mine = since.find((v) => v.record.write_id === writeId);
        // The append landed; its answer was lost.
        if (mine) return { stands: { kind: "landed", seq: mine.seq, record: mine.record, attempt } };
        if (final) throw new CompactionContendedError(dataset, attempt, { cause: e });
        if (!newHead.version) throw new Error(`commit log of ${dataset} lost its versions while compacting`, { cause: e });
        const decision = decideRebase(
          compacted.map((c) => c.group),
          since.map((v) => v.record),
        );
        result.dropped.push(...decision.dropped);
        for (const d of decision.dropped)
          o.log?.warn("partition given up: another version rewrote its files", {
            dataset,
            partition: d.partition,
            removed_by: d.removedBy,
            files: d.files.length,
          });
        if (decision.kind === "abandon") return { stands: { kind: "abandoned", attempt } };
        for (const v of since) applyVersionFiles(live, v.record);
        const kept = new Set(decision.keep);
        compacted = compacted.filter((c) => kept.has(c.group));
        if (newHead.version.seq !== head.version!.seq) result.rebases++;
        o.log?.info("compaction lost the commit race; rebasing", { dataset, attempt, onto_version: newHead.version.record.version, err: (e as Error).message });
        if (isPublishOutcomeUnknown(e)) await new Promise((r) => setTimeout(r, 100 * attempt));
        head = newHead;
        return undefined;
      },
    },
  );
  if (outcome.kind === "abandoned") return done({ outcome: COMPACTION_OUTCOMES.abandoned, attempts: outcome.attempt });
  const landed = outcome.record;
  applyVersionFiles(live, landed);
  const removed = compacted.reduce((n, c) => n + c.out.replaces.length, 0);
  o.log?.info("compaction committed", {
    dataset,
    version: landed.version,
    removed_files: removed,
    added_files: compacted.length,
    rows: landed.total_rows,
    attempts: outcome.attempt,
  });
  return done({
    outcome: COMPACTION_OUTCOMES.committed,
    version: landed.version,
    parentVersion: landed.parent_version,
    commitSeq: outcome.seq,
    writeId,
    filesBefore: plan.liveFiles,
    // The files live in the version just committed (the head may have grown while we raced).
    filesAfter: [...live.values()].reduce((n, files) => n + files.length, 0),
    filesRemoved: removed,
    filesAdded: compacted.length,
    rows: compacted.reduce((n, c) => n + c.out.file.rows, 0),
    bytesIn: compacted.reduce((n, c) => n + c.group.bytes, 0),
    bytesOut: compacted.reduce((n, c) => n + c.out.file.bytes, 0),
  });
}

/** A group that can't be rewritten without changing its rows (a corrupt file, a column the contract lost). */
class UncompactableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UncompactableError";
  }
}

/**
 * Reads a group's files (checked against their recorded size, hash and row count), writes their rows
 * as one file (ordered by offset) with the dataset's spec, and checks the file holds exactly those
 * offsets before it is used.
 */
async function rewriteGroup(
  store: ObjectStore,
  spec: DatasetSpec,
  group: CompactionGroup,
  key: string,
  onFile: (f: LakeLog.DataFile) => void,
): Promise<{ out: CompactedGroup; rows: Record<string, unknown>[]; offsets: number[] }> {
  const known = new Set([...spec.columns.map((c) => c.name), OFFSET_COLUMN]);
  const rows: Record<string, unknown>[] = [];
  const offsets: number[] = [];
  // An upsert partition's tombstones (deleted keys) go into the rewritten file too, newest per key.
  const tombstones: Tombstones = new Map();
  for (const f of group.files) {
    const bytes = await store.get(f.key);
    if (bytes.byteLength !== f.bytes || sha256(bytes) !== f.sha256) throw new UncompactableError(`${f.key} does not match its recorded size and sha256`);
    // A column the current contract no longer has would be dropped by the rewrite: leave such files.
    const extra = columnsOf(bytes).filter((c) => !known.has(c));
    if (extra.length > 0) throw new UncompactableError(`${f.key} has columns the current contract lacks (${extra.join(", ")})`);
    const read = fromParquet(spec, bytes);
    if (read.rows.length !== f.rows) throw new UncompactableError(`${f.key} holds ${read.rows.length} rows, its record says ${f.rows}`);
    for (const [k, v] of read.tombstones) if (!(tombstones.get(k)! >= v)) tombstones.set(k, v);
    for (let i = 0; i < read.rows.length; i++) {
      rows.push(read.rows[i]!);
      offsets.push(read.offsets[i]!);
    }
    onFile(f);
  }
  if (rows.length !== group.rows) throw new RowCountMismatchError(group.partition, group.rows, rows.length, "read");
  // toParquet puts the rows in the dataset's natural order (event time or key): the read-back check
  // compares the offsets as sets, each exactly once.
  const bytes = toParquet(spec, rows, offsets, tombstones);
  const written = offsetsOf(bytes).sort((a, b) => a - b);
  const expected = [...offsets].sort((a, b) => a - b);
  if (written.length !== expected.length || written.some((x, i) => x !== expected[i])) {
    throw new RowCountMismatchError(group.partition, expected.length, written.length, "the rewritten file reads back");
  }
  await store.put(key, bytes);
  let minT: number | null = null;
  let maxT: number | null = null;
  for (const r of rows) {
    const t = r[spec.eventTimeField];
    if (typeof t !== "number") continue;
    if (minT === null || t < minT) minT = t;
    if (maxT === null || t > maxT) maxT = t;
  }
  const out = {
    partition: group.partition,
    file: { key, partition: group.partition, rows: rows.length, bytes: bytes.byteLength, sha256: sha256(bytes) },
    replaces: group.files,
    minEventTime: minT,
    maxEventTime: maxT,
  };
  return { out, rows, offsets };
}

function columnsOf(bytes: Uint8Array): string[] {
  return tableFromIPC(readSchema(bytes).intoIPCStream()).schema.fields.map((f) => f.name);
}

function offsetsOf(bytes: Uint8Array): number[] {
  const table = tableFromIPC(readParquet(bytes, { columns: [OFFSET_COLUMN] }).intoIPCStream());
  const col = table.getChild(OFFSET_COLUMN);
  const out = new Array<number>(table.numRows);
  for (let i = 0; i < table.numRows; i++) out[i] = Number(col!.get(i));
  return out;
}

/** The standing data versions appended after the head compaction read (`head`), through `untilSeq`. */
async function versionsBetween(js: JetStreamClient, dataset: string, untilSeq: number, head: JudgeState): Promise<{ seq: number; record: VersionCommitted }[]> {
  const out: { seq: number; record: VersionCommitted }[] = [];
  await foldCommitLog(
    js,
    dataset,
    untilSeq,
    (rec, seq) => {
      if (rec.kind === "VersionCommitted") out.push({ seq, record: rec.body });
    },
    head,
  );
  return out;
}
