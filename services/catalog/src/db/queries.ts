// Every SQL statement the projection runs, prepared once per database, and the rows they return.
import type Database from "better-sqlite3";

import type { QualityStatus } from "../domain/commands.ts";
import { DUMP_ORDER } from "./schema.ts";

export interface VersionRow {
  dataset: string;
  version: number;
  parent_version: number;
  commit_seq: number;
  write_id: string;
  committer_id: string;
  committed_at: number;
  schema_name: string;
  schema_version: number;
  schema_fingerprint: string;
  manifest_key: string;
  manifest_sha256: string;
  manifest_bytes: number;
  source_stream: string;
  source_subject: string;
  first_offset: number;
  last_offset: number;
  row_count: number;
  total_rows: number;
  added_files: number;
  removed_files: number;
  min_event_time: number | null;
  max_event_time: number | null;
  policy: string;
  quality: QualityStatus;
  quality_seq: number | null;
  operation: string | null;
  max_source_position: number | null;
  /** The version's Iceberg snapshot (all four null or none): see Projection.icebergRef. */
  iceberg_manifest_list: string | null;
  iceberg_metadata: string | null;
  iceberg_schema_id: number | null;
  iceberg_total_files: number | null;
  /** Lineage (VersionCommitted.lineage): the published version a revert restores or a version builds on after a failed audit. */
  base_version: number | null;
  /** A revert: the version that failed its audit and whose batch it takes out. */
  reverted_version: number | null;
  /** Derived datasets: the upstream positions the version covers, as JSON ([{dataset, stream, subject, through_seq}]), or null. */
  upstream: string | null;
  /** The highest upstream through_seq (what a covering read by source offset compares against), or null. */
  through_seq: number | null;
  /** Derived datasets: the aggregator's watermark when it emitted the newest result in the version. */
  watermark: number | null;
}

export interface FileRow {
  key: string;
  partition: string;
  rows: number;
  bytes: number;
  sha256: string;
  added_version: number;
}

/** A data file of a dataset with what GC and fsck need: which versions reference it, and whether a live one does. */
export interface RegistryFileRow extends FileRow {
  /** The first version that no longer references it (null: still in the latest version). */
  removed_version: number | null;
  /** Some version that is not expired references it. */
  live: boolean;
  /** Commit-log sequence of the FilesCollected record that deleted it, if any. */
  collected_seq: number | null;
}

export interface DatasetRow {
  name: string;
  first_commit_seq: number;
  latest_version: number;
  latest_commit_seq: number;
  total_rows: number;
  updated_at: number;
  policy: string;
  current_version: number;
  last_record_seq: number;
  /** Highest version an operator rolled back from: passed verdicts at or below it don't auto-promote. */
  rollback_floor: number;
}

export interface AuditRow {
  seq: number;
  dataset: string;
  kind: string;
  version: number;
  previous_version: number | null;
  actor: string;
  reason: string;
  at: number;
  detail: string | null;
}

export interface QualityRow {
  dataset: string;
  version: number;
  seq: number;
  outcome: string;
  rules: string;
  checked_at: number;
  checker_id: string;
}

export type Queries = ReturnType<typeof prepareQueries>;

export function prepareQueries(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
    setMeta: db.prepare<[string, string]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    dataset: db.prepare<[string], DatasetRow>("SELECT * FROM datasets WHERE name = ?"),
    datasets: db.prepare<[], DatasetRow>("SELECT * FROM datasets ORDER BY name"),
    insertDataset: db.prepare(
      "INSERT INTO datasets (name, first_commit_seq, latest_version, latest_commit_seq, total_rows, updated_at, policy, current_version, last_record_seq) VALUES (@name, @seq, @version, @seq, @total_rows, @at, @policy, @current, @seq)",
    ),
    updateDataset: db.prepare(
      "UPDATE datasets SET latest_version = @version, latest_commit_seq = @seq, total_rows = @total_rows, updated_at = @at, policy = @policy, current_version = @current, last_record_seq = @seq WHERE name = @name",
    ),
    touchDataset: db.prepare<[number, string]>("UPDATE datasets SET last_record_seq = ? WHERE name = ?"),
    logHead: db.prepare<[string], { seq: number }>("SELECT seq FROM log_heads WHERE dataset = ?"),
    setLogHead: db.prepare<[string, number]>("INSERT INTO log_heads (dataset, seq) VALUES (?, ?) ON CONFLICT (dataset) DO UPDATE SET seq = excluded.seq"),
    setCurrent: db.prepare<[number, string]>("UPDATE datasets SET current_version = ? WHERE name = ?"),
    setRollbackFloor: db.prepare<[number, string]>("UPDATE datasets SET rollback_floor = ? WHERE name = ?"),
    setQuality: db.prepare<[string, number, string, number]>("UPDATE versions SET quality = ?, quality_seq = ? WHERE dataset = ? AND version = ?"),
    insertQuality: db.prepare("INSERT INTO quality_results VALUES (@dataset, @version, @seq, @outcome, @rules, @checked_at, @checker_id)"),
    insertTag: db.prepare<[string, string, number, number]>("INSERT INTO tags (dataset, tag, version, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
    insertAudit: db.prepare("INSERT INTO audit VALUES (@seq, @dataset, @kind, @version, @previous_version, @actor, @reason, @at, @detail)"),
    tag: db.prepare<[string, string], { version: number }>("SELECT version FROM tags WHERE dataset = ? AND tag = ?"),
    tags: db.prepare<[string], { tag: string; version: number; seq: number }>("SELECT tag, version, seq FROM tags WHERE dataset = ? ORDER BY tag"),
    audit: db.prepare<[string, number, number], AuditRow>(
      "SELECT * FROM audit WHERE dataset = ? AND seq > ? ORDER BY seq, kind = 'auto_promote', kind LIMIT ?",
    ),
    // The same, filtered (GET …/audit?kind=&actor=&since=&until=): a NULL filter lets every row through.
    auditFiltered: db.prepare<
      { dataset: string; after: number; limit: number; kinds: string | null; actor: string | null; since: number | null; until: number | null },
      AuditRow
    >(
      `SELECT * FROM audit WHERE dataset = @dataset AND seq > @after
         AND (@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))
         AND (@actor IS NULL OR actor = @actor)
         AND (@since IS NULL OR at >= @since) AND (@until IS NULL OR at < @until)
       ORDER BY seq, kind = 'auto_promote', kind LIMIT @limit`,
    ),
    // Versions that were current, most recently current first: audited promotions, plus every
    // non-critical version (current on its commit).
    formerCurrents: db.prepare<{ dataset: string }, { version: number }>(
      `SELECT version FROM (
         SELECT version, seq FROM audit WHERE dataset = @dataset AND kind IN ('promote', 'rollback', 'auto_promote')
         UNION ALL
         SELECT version, commit_seq AS seq FROM versions WHERE dataset = @dataset AND policy <> 'critical'
       ) GROUP BY version ORDER BY MAX(seq) DESC`,
    ),
    qualityResult: db.prepare<[string, number], QualityRow>("SELECT * FROM quality_results WHERE dataset = ? AND version = ?"),
    // An event time is taken as no later than its version's commit: one event dated in the future
    // (written past ingest) would otherwise make the dataset look fresh, and silence the freshness
    // alert, for as long as that version is in the history.
    maxEventTime: db.prepare<[string, number], { t: number | null }>(
      "SELECT MAX(MIN(max_event_time, committed_at)) AS t FROM versions WHERE dataset = ? AND version <= ?",
    ),
    verdictCounts: db.prepare<[], { dataset: string; outcome: string; n: number }>(
      "SELECT dataset, outcome, COUNT(*) AS n FROM quality_results GROUP BY dataset, outcome",
    ),
    insertVersion: db.prepare(`INSERT INTO versions VALUES (@dataset, @version, @parent_version, @commit_seq, @write_id, @committer_id, @committed_at,
      @schema_name, @schema_version, @schema_fingerprint, @manifest_key, @manifest_sha256, @manifest_bytes, @source_stream, @source_subject,
      @first_offset, @last_offset, @row_count, @total_rows, @added_files, @removed_files, @min_event_time, @max_event_time,
      @policy, @quality, NULL, @operation, @max_source_position, @iceberg_manifest_list, @iceberg_metadata, @iceberg_schema_id, @iceberg_total_files,
      @base_version, @reverted_version, @upstream, @through_seq, @watermark)`),
    insertFile: db.prepare(
      "INSERT INTO files (dataset, key, partition, rows, bytes, sha256, added_version, removed_version) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    ),
    removeFile: db.prepare("UPDATE files SET removed_version = ? WHERE dataset = ? AND key = ? AND removed_version IS NULL"),
    anomaly: db.prepare("INSERT OR REPLACE INTO anomalies (commit_seq, dataset, problem) VALUES (?, ?, ?)"),
    version: db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version = ?"),
    versions: db.prepare<[string, number, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version > ? ORDER BY version LIMIT ?"),
    covering: db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? ORDER BY version LIMIT 1"),
    revertCovering: db.prepare<[string, number, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND reverted_version IS NOT NULL AND last_offset >= ? AND first_offset <= ? ORDER BY version LIMIT 1",
    ),
    coveringCommit: db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND commit_seq >= ? ORDER BY version LIMIT 1"),
    coveringPassed: db.prepare<[string, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? AND quality = 'passed' ORDER BY version LIMIT 1",
    ),
    // Derived datasets: by the upstream (source) position a version records in its lineage.
    coveringSource: db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND through_seq >= ? ORDER BY version LIMIT 1"),
    coveringSourcePassed: db.prepare<[string, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND through_seq >= ? AND quality = 'passed' ORDER BY version LIMIT 1",
    ),
    coveringCommitPassed: db.prepare<[string, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND commit_seq >= ? AND quality = 'passed' ORDER BY version LIMIT 1",
    ),
    insertExpired: db.prepare<[string, number, number]>("INSERT INTO expired_versions (dataset, version, seq) VALUES (?, ?, ?)"),
    expiredSeq: db.prepare<[string, number], { seq: number }>("SELECT seq FROM expired_versions WHERE dataset = ? AND version = ?"),
    unexpired: db.prepare<[string], { version: number; committed_at: number; quality: QualityStatus; manifest_key: string }>(
      "SELECT v.version, v.committed_at, v.quality, v.manifest_key FROM versions v WHERE v.dataset = ? AND NOT EXISTS (SELECT 1 FROM expired_versions e WHERE e.dataset = v.dataset AND e.version = v.version) ORDER BY v.version",
    ),
    // The verdicts of versions that are not expired, as stored (rules as JSON text), for the table state.
    liveVerdicts: db.prepare<[string], Omit<QualityRow, "dataset" | "seq">>(
      "SELECT q.version, q.outcome, q.rules, q.checked_at, q.checker_id FROM quality_results q WHERE q.dataset = ? AND NOT EXISTS (SELECT 1 FROM expired_versions e WHERE e.dataset = q.dataset AND e.version = q.version) ORDER BY q.version",
    ),
    // Versions that are not expired and are Iceberg snapshots: what the Iceberg REST catalog lists.
    snapshotVersions: db.prepare<[string], VersionRow>(
      "SELECT v.* FROM versions v WHERE v.dataset = ? AND v.iceberg_metadata IS NOT NULL AND NOT EXISTS (SELECT 1 FROM expired_versions e WHERE e.dataset = v.dataset AND e.version = v.version) ORDER BY v.version",
    ),
    newestSnapshotVersion: db.prepare<[string], VersionRow>(
      "SELECT v.* FROM versions v WHERE v.dataset = ? AND v.iceberg_metadata IS NOT NULL AND NOT EXISTS (SELECT 1 FROM expired_versions e WHERE e.dataset = v.dataset AND e.version = v.version) ORDER BY v.version DESC LIMIT 1",
    ),
    addedFiles: db.prepare<[string, number], { rows: number; bytes: number }>(
      "SELECT rows, bytes FROM files WHERE dataset = ? AND added_version = ? ORDER BY key",
    ),
    taggedVersions: db.prepare<[string], { version: number }>("SELECT DISTINCT version FROM tags WHERE dataset = ?"),
    fileRange: db.prepare<[string, string], { added_version: number; removed_version: number | null }>(
      "SELECT added_version, removed_version FROM files WHERE dataset = ? AND key = ?",
    ),
    registry: db.prepare<[string, string, number], Omit<RegistryFileRow, "live">>(
      `SELECT f.key, f.partition, f.rows, f.bytes, f.sha256, f.added_version, f.removed_version, c.seq AS collected_seq
       FROM files f LEFT JOIN collected_files c ON c.dataset = f.dataset AND c.key = f.key
       WHERE f.dataset = ? AND f.key > ? ORDER BY f.key LIMIT ?`,
    ),
    insertCollected: db.prepare<[string, string, number]>("INSERT OR IGNORE INTO collected_files (dataset, key, seq) VALUES (?, ?, ?)"),
    files: db.prepare<[string, number, number], FileRow>(
      "SELECT key, partition, rows, bytes, sha256, added_version FROM files WHERE dataset = ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY key",
    ),
    /** Each table of the canonical dump, whole, in primary-key order, rows as arrays. */
    dump: DUMP_ORDER.map(([table, order]) => [table, db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).raw()] as const),
  };
}
