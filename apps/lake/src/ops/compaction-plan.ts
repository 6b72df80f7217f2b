// Compaction, the pure part: which small files of a dataset to rewrite into larger ones, what to do
// when the compare-and-set is lost, and the version a compaction commits. No I/O, no clock.
//
// A compaction version holds the SAME rows as its parent in fewer files: `added_files` are the
// rewritten files, `removed_files` the small files they replace, `total_rows` is unchanged, and its
// source range is empty (first_seq = parent's last_seq + 1, last_seq = parent's last_seq): it covers
// no new source data, so a committer resuming from it resumes where the parent left off, and the
// catalog's covering query (first version with last_offset ≥ X) still answers the version that first
// contained an offset.
import { buildManifest, type DatasetSpec, evolve, initialState, type Manifest, type PlannedBatch } from "@lake/committer";
import type { LakeLog, VersionCommitted } from "@lake/contracts";

export const COMPACTION_DEFAULTS = {
  /** Files at or above this size are left alone; smaller ones are packed into files up to it. */
  targetBytes: 128 * 1024 * 1024,
  /** Input files one run rewrites at most (bounds the run's work and its commit record's size). */
  maxFiles: 1000,
  /**
   * Rows per rewritten file at most. A group is held in memory as rows while it is rewritten (about
   * 1 GB of RSS per million domain_events rows, measured): this bounds it whatever the compression
   * ratio, so a 128 MiB target of tiny rows doesn't become a multi-GB heap.
   */
  maxRows: 1_000_000,
  /** Appends one run tries before giving up when other writers keep winning the race. */
  maxAttempts: 20,
} as const;

export const OPERATIONS = { append: "append", compaction: "compaction", backfill: "backfill" } as const;

export interface CompactionOptions {
  targetBytes: number;
  maxFiles: number;
  /** Default COMPACTION_DEFAULTS.maxRows. */
  maxRows?: number;
  /**
   * Only partitions with at least this many small files are planned (default 2, any partition with
   * something to merge). The maintenance worker passes its policy's bound + 1, so a partition under the
   * bound is not rewritten again and again as it grows.
   */
  minSmallFiles?: number;
}

/** Small files of one partition rewritten into one file. */
export interface CompactionGroup {
  partition: string;
  files: LakeLog.DataFile[];
  bytes: number;
  rows: number;
}

export interface CompactionPlan {
  groups: CompactionGroup[];
  /** Input files, bytes and rows of all groups. */
  files: number;
  bytes: number;
  rows: number;
  /** Live files of the dataset when planned, and how many partitions it has. */
  liveFiles: number;
  partitions: number;
  /** Small files that would be worth compacting but are left for a later run (--max-files). */
  deferredFiles: number;
}

/** The live files of each partition, folded from the commit log (parent's files + added − removed). */
export function applyVersionFiles(live: Map<string, LakeLog.DataFile[]>, r: Pick<VersionCommitted, "added_files" | "removed_files">): void {
  const gone = new Set(r.removed_files);
  if (gone.size > 0) {
    for (const [p, files] of live) {
      const kept = files.filter((f) => !gone.has(f.key));
      if (kept.length === 0) live.delete(p);
      else if (kept.length !== files.length) live.set(p, kept);
    }
  }
  for (const f of r.added_files) live.set(f.partition, [...(live.get(f.partition) ?? []), f]);
}

/**
 * Which files to rewrite. Per partition (in name order), the files smaller than the target, in key
 * order (write ids sort by time, so rows stay roughly in offset order); only partitions with at least
 * two of them. They are packed greedily, in order, into groups of at most `targetBytes` of input and
 * `maxRows` rows (a group always takes its first file); a group of one file would only copy it and is
 * dropped. At most
 * `maxFiles` input files in all: the rest are deferred to the next run.
 */
export function planCompaction(live: ReadonlyMap<string, readonly LakeLog.DataFile[]>, opts: CompactionOptions): CompactionPlan {
  if (!(opts.targetBytes >= 1)) throw new RangeError(`targetBytes must be ≥ 1, got ${opts.targetBytes}`);
  if (!(opts.maxFiles >= 2)) throw new RangeError(`maxFiles must be ≥ 2 (a compaction merges at least two files), got ${opts.maxFiles}`);
  const maxRows = opts.maxRows ?? COMPACTION_DEFAULTS.maxRows;
  if (!(maxRows >= 1)) throw new RangeError(`maxRows must be ≥ 1, got ${maxRows}`);
  const minSmall = Math.max(2, opts.minSmallFiles ?? 2);
  const groups: CompactionGroup[] = [];
  let budget = opts.maxFiles;
  let deferred = 0;
  let liveFiles = 0;
  const partitions = [...live.keys()].sort();
  for (const partition of partitions) {
    const files = live.get(partition)!;
    liveFiles += files.length;
    const small = files.filter((f) => f.bytes < opts.targetBytes).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (small.length < minSmall) continue;
    const bins: LakeLog.DataFile[][] = [];
    let bin: LakeLog.DataFile[] = [];
    let binBytes = 0;
    let binRows = 0;
    for (const f of small) {
      if (bin.length > 0 && (binBytes + f.bytes > opts.targetBytes || binRows + f.rows > maxRows)) {
        bins.push(bin);
        bin = [];
        binBytes = 0;
        binRows = 0;
      }
      bin.push(f);
      binBytes += f.bytes;
      binRows += f.rows;
    }
    bins.push(bin);
    for (const b of bins) {
      if (b.length < 2) continue;
      const take = b.length <= budget ? b : budget >= 2 ? b.slice(0, budget) : [];
      deferred += b.length - take.length;
      if (take.length === 0) continue;
      budget -= take.length;
      groups.push({ partition, files: take, bytes: sum(take, (f) => f.bytes), rows: sum(take, (f) => f.rows) });
    }
  }
  return {
    groups,
    files: sum(groups, (g) => g.files.length),
    bytes: sum(groups, (g) => g.bytes),
    rows: sum(groups, (g) => g.rows),
    liveFiles,
    partitions: partitions.length,
    deferredFiles: deferred,
  };
}

export interface DroppedPartition {
  partition: string;
  /** The version that removed (rewrote) some of the files this compaction was replacing. */
  removedBy: number;
  files: string[];
}

export type RebaseDecision =
  /** Every file still live: commit the kept groups on top of the new head (all of them, unless some partitions were dropped). */
  | { kind: "rebase"; keep: CompactionGroup[]; dropped: DroppedPartition[] }
  /** Every partition of the compaction was rewritten by someone else: nothing left to commit. */
  | { kind: "abandon"; dropped: DroppedPartition[] };

/**
 * After losing the CAS: given the data versions committed since the head the compaction was planned
 * on, can it still land? Appends only ADD files, so a compaction rebases onto them. A version that
 * REMOVED one of the files being replaced (an upsert rewriting a partition, another compaction) means
 * that partition's rows changed under us: its groups are given up, the others still go in.
 */
export function decideRebase(groups: readonly CompactionGroup[], since: readonly Pick<VersionCommitted, "version" | "removed_files">[]): RebaseDecision {
  const removedBy = new Map<string, number>();
  for (const v of since) for (const key of v.removed_files) if (!removedBy.has(key)) removedBy.set(key, v.version);
  const dropped = new Map<string, DroppedPartition>();
  for (const g of groups) {
    for (const f of g.files) {
      const by = removedBy.get(f.key);
      if (by === undefined) continue;
      const d = dropped.get(g.partition) ?? { partition: g.partition, removedBy: by, files: [] };
      d.removedBy = Math.min(d.removedBy, by);
      d.files.push(f.key);
      dropped.set(g.partition, d);
    }
  }
  const keep = groups.filter((g) => !dropped.has(g.partition));
  const list = [...dropped.values()];
  return keep.length === 0 ? { kind: "abandon", dropped: list } : { kind: "rebase", keep, dropped: list };
}

/** A rewritten group, ready to commit: the new file and the files (with their rows) it replaces. */
export interface CompactedGroup {
  partition: string;
  file: LakeLog.DataFile;
  replaces: readonly LakeLog.DataFile[];
  minEventTime: number | null;
  maxEventTime: number | null;
}

export class RowCountMismatchError extends Error {
  constructor(
    readonly partition: string,
    readonly expected: number,
    readonly actual: number,
    what: string,
  ) {
    super(`compaction of ${partition}: ${what} ${actual} rows, the replaced files hold ${expected}; nothing committed`);
    this.name = "RowCountMismatchError";
  }
}

export function isRowCountMismatch(e: unknown): e is RowCountMismatchError {
  return e instanceof RowCountMismatchError;
}

/**
 * The manifest of a compaction on top of `head` (the latest data version): the committer's manifest,
 * built by the same function, with no source data (an empty range just after the head's), the head's
 * CDC position carried over, `total_rows` unchanged, and `operation: "compaction"`. `row_count` (rows
 * added by new source data) is 0. `max_event_time` is the newest event time the version is known to
 * hold (the head's, or a newer rewritten row), so a freshness check judges it like its parent.
 */
export function buildCompactionManifest(
  head: VersionCommitted,
  groups: readonly CompactedGroup[],
  ctx: { writeId: string; committerId: string; now: number; spec: Pick<DatasetSpec, "dataset" | "schema" | "policy" | "source"> },
): Manifest {
  if (groups.length === 0) throw new Error("a compaction version needs at least one rewritten file");
  for (const g of groups) {
    const expected = sum(g.replaces, (f) => f.rows);
    if (g.file.rows !== expected) throw new RowCountMismatchError(g.partition, expected, g.file.rows, "the rewritten file holds");
  }
  const state = evolve(initialState, 0, { kind: "VersionCommitted", body: head });
  const min = minOf(groups.map((g) => g.minEventTime));
  const max = maxOf([head.max_event_time, ...groups.map((g) => g.maxEventTime)]);
  const batch: PlannedBatch = {
    firstSeq: head.source.last_seq + 1,
    lastSeq: head.source.last_seq,
    partitions: [],
    rowCount: 0,
    duplicateKeys: 0,
    minEventTime: min,
    maxEventTime: max,
    maxSourcePosition: head.max_source_position ?? null,
  };
  const manifest = buildManifest(
    state,
    batch,
    groups.map((g) => g.file),
    ctx,
    groups.flatMap((g) => g.replaces),
  );
  if (manifest.total_rows !== head.total_rows) throw new RowCountMismatchError("the dataset", head.total_rows, manifest.total_rows, "the version would hold");
  return { ...manifest, operation: OPERATIONS.compaction };
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  let n = 0;
  for (const x of xs) n += f(x);
  return n;
}

function minOf(xs: readonly (number | null)[]): number | null {
  let m: number | null = null;
  for (const x of xs) if (x !== null && (m === null || x < m)) m = x;
  return m;
}

function maxOf(xs: readonly (number | null)[]): number | null {
  let m: number | null = null;
  for (const x of xs) if (x !== null && (m === null || x > m)) m = x;
  return m;
}
