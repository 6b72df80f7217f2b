// What the console shows of a dataset's history, decided from projection rows. Pure: rows in, views
// out, no I/O and no clock.
//
// - the timeline: its newest versions (operation, rows, files, verdict with the rules that failed,
//   current, tags) and the events of the audit trail that are not verdicts (promote, rollback,
//   auto-promotion, tag, expire, gc), which the verdict column already shows;
// - the diff of two versions: the files one has and the other hasn't, the rows of each, and whether
//   the schema changed.

/** A version as the timeline needs it (a subset of the projection's VersionRow). */
export interface TimelineVersionFacts {
  version: number;
  parent_version: number;
  commit_seq: number;
  committed_at: number;
  operation: string | null;
  row_count: number;
  total_rows: number;
  added_files: number;
  removed_files: number;
  quality: string;
  schema_version: number;
  schema_fingerprint: string;
  base_version: number | null;
  reverted_version: number | null;
  min_event_time: number | null;
  max_event_time: number | null;
}

export interface TimelineVersion {
  version: number;
  parent_version: number;
  commit_seq: number;
  committed_at: string;
  /** append (records from before operations were named are appends too), compaction, backfill, revert, ... */
  operation: string;
  rows_added: number;
  total_rows: number;
  files_added: number;
  files_removed: number;
  quality: string;
  /** The rules a failed version broke (from its verdict). */
  failed_rules: string[];
  schema_version: number;
  /** The schema differs from the parent's (by fingerprint). */
  schema_changed: boolean;
  current: boolean;
  expired: boolean;
  tags: string[];
  base_version: number | null;
  reverted_version: number | null;
  max_event_time: string | null;
}

export interface TimelineEvent {
  seq: number;
  kind: string;
  version: number;
  previous_version: number | null;
  actor: string;
  reason: string;
  at: string;
}

/** Audit kinds the version rows already show (their verdict column). */
const VERDICT_KINDS = new Set(["quality_passed", "quality_failed"]);

const iso = (ms: number) => new Date(ms).toISOString();

export function timelineVersions(
  rows: readonly TimelineVersionFacts[],
  o: {
    current: number;
    expired: (version: number) => boolean;
    tags: readonly { tag: string; version: number }[];
    failedRules: (version: number) => string[];
    /** The version before the first row, for the first row's schema change (undefined: none before it). */
    parentFingerprint: string | undefined;
  },
): TimelineVersion[] {
  const out: TimelineVersion[] = [];
  let prev = o.parentFingerprint;
  for (const v of rows) {
    out.push({
      version: v.version,
      parent_version: v.parent_version,
      commit_seq: v.commit_seq,
      committed_at: iso(v.committed_at),
      operation: v.operation ?? "append",
      rows_added: v.row_count,
      total_rows: v.total_rows,
      files_added: v.added_files,
      files_removed: v.removed_files,
      quality: v.quality,
      failed_rules: v.quality === "failed" ? o.failedRules(v.version) : [],
      schema_version: v.schema_version,
      schema_changed: prev !== undefined && prev !== v.schema_fingerprint,
      current: v.version === o.current,
      expired: o.expired(v.version),
      tags: o.tags.filter((t) => t.version === v.version).map((t) => t.tag),
      base_version: v.base_version,
      reverted_version: v.reverted_version,
      max_event_time: v.max_event_time === null ? null : iso(v.max_event_time),
    });
    prev = v.schema_fingerprint;
  }
  return out;
}

/** The audit trail's events that are not verdicts, at or after `fromSeq`. */
export function timelineEvents(
  audit: readonly { seq: number; kind: string; version: number; previous_version: number | null; actor: string; reason: string; at: number }[],
  fromSeq: number,
): TimelineEvent[] {
  return audit
    .filter((a) => a.seq >= fromSeq && !VERDICT_KINDS.has(a.kind))
    .map((a) => ({ seq: a.seq, kind: a.kind, version: a.version, previous_version: a.previous_version, actor: a.actor, reason: a.reason, at: iso(a.at) }));
}

/** A data file of a version (a subset of the projection's FileRow). */
export interface DiffFile {
  key: string;
  partition: string;
  rows: number;
  bytes: number;
}

export interface VersionDiff {
  /** Files in `to` and not in `from`, and the other way round (the first `limit` of each, by key). */
  added: DiffFile[];
  removed: DiffFile[];
  added_count: number;
  removed_count: number;
  rows_added: number;
  rows_removed: number;
  unchanged_files: number;
}

/** The files `to` has that `from` hasn't (added) and the other way round (removed), with their rows. */
export function diffFiles(from: readonly DiffFile[], to: readonly DiffFile[], limit: number): VersionDiff {
  const inFrom = new Map(from.map((f) => [f.key, f]));
  const inTo = new Map(to.map((f) => [f.key, f]));
  const added = to.filter((f) => !inFrom.has(f.key)).sort((a, b) => (a.key < b.key ? -1 : 1));
  const removed = from.filter((f) => !inTo.has(f.key)).sort((a, b) => (a.key < b.key ? -1 : 1));
  const sum = (fs: readonly DiffFile[]) => fs.reduce((n, f) => n + f.rows, 0);
  const pick = (f: DiffFile): DiffFile => ({ key: f.key, partition: f.partition, rows: f.rows, bytes: f.bytes });
  return {
    added: added.slice(0, limit).map(pick),
    removed: removed.slice(0, limit).map(pick),
    added_count: added.length,
    removed_count: removed.length,
    rows_added: sum(added),
    rows_removed: sum(removed),
    unchanged_files: to.length - added.length,
  };
}
