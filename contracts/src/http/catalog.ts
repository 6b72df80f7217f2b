// The catalog's HTTP API: the bodies its read and command routes answer with, typed once here for the
// service that answers and the clients that ask. The routes are documented in docs/http-api.md.
import type { CatalogFreshness } from "./freshness.ts";

/** A data file of a version: its key in the object store, partition, rows, size and sha256. */
export interface CatalogFile {
  key: string;
  partition: string;
  rows: number;
  bytes: number;
  sha256: string;
  added_version: number;
}

/** A version as listings show it (GET /v1/datasets/<d>/versions), and the head of a version read. */
export interface CatalogVersionSummary {
  dataset: string;
  version: number;
  parent_version: number;
  commit_seq: number;
  write_id: string;
  committer_id: string;
  committed_at: string;
  schema: { name: string; version: number; fingerprint: string };
  manifest: { key: string; sha256: string; bytes: number };
  source: { stream: string; subject: string; first_offset: number; last_offset: number };
  row_count: number;
  total_rows: number;
  min_event_time: string | null;
  max_event_time: string | null;
  policy: string;
  quality: "pending" | "passed" | "failed";
  /** What made the version: append, compaction, backfill, revert… */
  operation?: string;
  /**
   * The version as an Iceberg v2 snapshot (snapshot id = version): store keys of its manifest list and
   * table metadata JSON, its schema id and data file count. Null for versions written before the lake
   * wrote Iceberg metadata, and for a commit record whose reference was not the dataset's own.
   */
  iceberg: CatalogIcebergRef | null;
  /** Listings: retention expired it (reading it answers 410 version_expired). */
  expired?: boolean;
  /** Listings: the commit-log sequence of the VersionsExpired record, or null. */
  expired_seq?: number | null;
}

export interface CatalogIcebergRef {
  manifest_list: string;
  metadata: string;
  schema_id: number;
  total_files: number;
}

/**
 * Where a version's file set is, by reference: its Iceberg manifest list (a store key; manifests are
 * immutable and shared between versions, so a reader caches them by key) and how many data files it holds.
 */
export interface CatalogFileSet {
  manifest_list: string;
  total_files: number;
}

/** How a version read names the version's files: `list` (the default) every file inline, `reference` its file set only. */
export const FILES_MODES = { list: "list", reference: "reference" } as const;
export type FilesMode = (typeof FILES_MODES)[keyof typeof FILES_MODES];

/** A version read (latest, current, a number, a tag, covering an offset): the summary and every file. */
export interface CatalogVersion extends CatalogVersionSummary {
  files: CatalogFile[];
  /** The file set by reference; null for versions without an Iceberg snapshot (written before the lake wrote one). */
  file_set: CatalogFileSet | null;
  consistency: "eventual" | "covering";
  /** Eventual reads: the commit-log position the answer reflects (also the Lake-Log-Position header). */
  projected_through_seq?: number;
  /** How fresh the version is, measured when the catalog answered (absent from catalogs before it was served). */
  freshness?: CatalogFreshness;
}

/**
 * A version read with `files=reference`: the file set by reference, without the list. Versions without
 * an Iceberg snapshot (`file_set` null) still list their files, so one request always tells a reader
 * which files make the version.
 */
export type CatalogVersionRef = Omit<CatalogVersion, "files"> & { files?: CatalogFile[] };

/** A data file in a dataset's history (GET /v1/datasets/<d>/files): its version range and liveness. */
export interface CatalogRegistryFile extends CatalogFile {
  /** The first version that no longer references it; null while the latest does. */
  removed_version: number | null;
  /** Some version that has not expired references it: GC keeps it, fsck checks it. */
  live: boolean;
  /** Commit-log sequence of the FilesCollected record that deleted it, if any. */
  collected_seq: number | null;
}

export interface ExpireResult {
  changed: boolean;
  seq: number;
  message?: string;
  actor?: string;
  expired_count: number;
  /** The versions this call expired, as ranges (e.g. "1-5,7"). */
  expired: string;
  current_version: number | null;
  latest_version: number;
}

export interface CatalogDataset {
  name: string;
  latest_version: number;
  latest_commit_seq: number;
  total_rows: number;
  updated_at: number;
  policy: string;
  current_version: number;
  /** Sequence of the dataset's last commit-log record of any kind the catalog has applied. */
  last_record_seq?: number;
}

export interface CommandResult {
  changed: boolean;
  seq: number;
  message?: string;
  /** Who the command was recorded for: the token's name when the catalog authenticates, else the actor sent. */
  actor?: string;
  current_version: number | null;
  latest_version: number;
}

export interface AuditEntry {
  seq: number;
  kind: "promote" | "rollback" | "auto_promote" | "tag" | "quality_passed" | "quality_failed" | "expire" | "gc";
  version: number;
  previous_version: number | null;
  actor: string;
  reason: string;
  at: string;
  detail: unknown;
}

/** A refused request (401/403) as GET /v1/admin/denials lists it. */
export interface CatalogDenial {
  /** 1, 2, 3… per catalog process: page with `after`. */
  seq: number;
  at: string;
  status: 401 | 403;
  error: string;
  message: string;
  method: string;
  path: string;
  /** The token's name and role when it was known (403), null otherwise (401). */
  token: string | null;
  role: string | null;
  /** For an unknown token: the start of its sha256, to match it against a tokens-file entry. */
  presented_sha256_prefix: string | null;
  remote: string | null;
}

/**
 * What a version was made from (GET /v1/datasets/<d>/versions/<v>/lineage): its operation, files,
 * source range, upstream positions (derived datasets), quality verdict, and where it stands now.
 */
export interface CatalogLineage {
  dataset: string;
  version: number;
  parent_version: number;
  commit_seq: number;
  /** What made it: append (new source data; also for records from before operations were named), compaction, backfill, revert, ... */
  operation: string;
  committed_at: string;
  committer_id: string;
  write_id: string;
  schema: { name: string; version: number; fingerprint: string };
  /** The version readers are served now (`current`). */
  current: boolean;
  /** Retention expired it: its files may be gone, its lineage stays. */
  expired: boolean;
  expired_seq: number | null;
  /** Tags naming it. */
  tags: string[];
  files: CatalogLineageFiles;
  /** The source stream range it read (inclusive; empty, first > last, for a version without new source data). */
  source: { stream: string; subject: string; first_offset: number; last_offset: number; rows_added: number };
  /** Write-audit-publish: the published version it builds on when that is not its parent (a revert: the one it restores). */
  base_version: number | null;
  /** A revert: the version that failed its audit and whose batch it takes out. */
  reverted_version: number | null;
  /** Derived datasets: the upstream positions its rows reflect, each with the upstream version that first covered it. */
  upstream: CatalogUpstreamPosition[];
  /** The version whose record names those positions: this one, or for a compaction (same rows) the newest earlier one; null if none. */
  upstream_recorded_in: number | null;
  /** Derived datasets: the aggregator's event-time watermark when it emitted the newest result in the version. */
  watermark: string | null;
  quality: CatalogLineageQuality;
  consistency: "eventual";
  projected_through_seq: number;
}

/** The whole file set of a version (not only what it added), and where it is written down. */
export interface CatalogLineageFiles {
  count: number;
  rows: number;
  bytes: number;
  /** Distinct partitions of its files, sorted. */
  partitions: string[];
  /** Files this version added and removed relative to its parent. */
  added: number;
  removed: number;
  /** The version's manifest in the object store. */
  manifest: { key: string; sha256: string; bytes: number };
  /** Its Iceberg manifest list (the file set by reference); null for versions without an Iceberg snapshot. */
  manifest_list: string | null;
  /** With `files=list`: every file's key, sorted. */
  keys?: string[];
}

/**
 * How an upstream position of a derived version relates to the upstream dataset: `covered` (version is
 * the first upstream version whose source range reaches through_seq), `not_yet` (no upstream version
 * reaches it yet), `unknown_dataset` (the catalog has no such dataset), `not_readable` (the caller may not
 * read it, so its versions are not named).
 */
export const UPSTREAM_STATUSES = { covered: "covered", not_yet: "not_yet", unknown_dataset: "unknown_dataset", not_readable: "not_readable" } as const;
export type UpstreamStatus = (typeof UPSTREAM_STATUSES)[keyof typeof UPSTREAM_STATUSES];

export interface CatalogUpstreamPosition {
  dataset: string;
  stream: string;
  subject: string;
  /** Every upstream record at or below this stream sequence is reflected. */
  through_seq: number;
  /** The first version of the upstream dataset whose source range reaches through_seq (status covered), else null. */
  version: number | null;
  status: UpstreamStatus;
}

export interface CatalogLineageQuality {
  status: "pending" | "passed" | "failed";
  checked_at: string | null;
  checker_id: string | null;
  /** The rules it failed, with what was measured and expected. */
  failed_rules: { rule: string; measured: string; expected: string; message: string }[];
}

/**
 * The reverse question (GET /v1/lineage?source_offset=X): which versions hold a source offset, for every
 * dataset the caller may read that is fed by the stream (directly, or upstream of a derived dataset).
 */
export interface CatalogSourceLineage {
  source: { stream: string; subject: string | null; offset: number };
  datasets: CatalogSourceMatch[];
  consistency: "eventual";
  projected_through_seq: number;
}

/**
 * How a dataset is fed by the stream: `source` (it commits the stream's records itself: `version` is
 * the one whose source range holds the offset, which added it) or `upstream` (a derived dataset whose
 * window state reads the stream: `version` is the first whose upstream position reaches the offset; every
 * later version reflects it too).
 */
export const SOURCE_RELATIONS = { source: "source", upstream: "upstream" } as const;
export type SourceRelation = (typeof SOURCE_RELATIONS)[keyof typeof SOURCE_RELATIONS];

export interface CatalogSourceMatch {
  dataset: string;
  relation: SourceRelation;
  /** The subject the dataset reads on the stream. */
  subject: string;
  latest_version: number;
  /** null: no version holds the offset yet (or, relation source, the offset is between the ranges of its versions). */
  version: CatalogSourceMatchVersion | null;
}

export interface CatalogSourceMatchVersion {
  version: number;
  operation: string;
  committed_at: string;
  quality: "pending" | "passed" | "failed";
  expired: boolean;
  /** relation source: the version's source range. */
  first_offset: number | null;
  last_offset: number | null;
  /** relation upstream: its highest upstream position, and its watermark. */
  through_seq: number | null;
  watermark: string | null;
  /** relation source: the version that took this batch out again (write-audit-publish revert), if any. */
  reverted_by: number | null;
}
