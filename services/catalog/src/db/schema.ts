// The projection's tables, and what brings an older catalog database up to them. The tables hold only
// what the commit log says (nothing here reads the clock), so replaying the log into an empty database
// gives the same rows, and the canonical dump (every table, in primary-key order) compares two catalogs.
import type Database from "better-sqlite3";

import { openStateDb } from "@lake/runtime";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS datasets (
  name TEXT PRIMARY KEY,
  first_commit_seq INTEGER NOT NULL,
  latest_version INTEGER NOT NULL,
  latest_commit_seq INTEGER NOT NULL,
  total_rows INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  policy TEXT NOT NULL,
  current_version INTEGER NOT NULL,
  last_record_seq INTEGER NOT NULL,
  rollback_floor INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS versions (
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  parent_version INTEGER NOT NULL,
  commit_seq INTEGER NOT NULL,
  write_id TEXT NOT NULL,
  committer_id TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  schema_name TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  schema_fingerprint TEXT NOT NULL,
  manifest_key TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  manifest_bytes INTEGER NOT NULL,
  source_stream TEXT NOT NULL,
  source_subject TEXT NOT NULL,
  first_offset INTEGER NOT NULL,
  last_offset INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  total_rows INTEGER NOT NULL,
  added_files INTEGER NOT NULL,
  removed_files INTEGER NOT NULL,
  min_event_time INTEGER,
  max_event_time INTEGER,
  policy TEXT NOT NULL,
  quality TEXT NOT NULL,
  quality_seq INTEGER,
  -- What an Iceberg snapshot of the version needs beyond the columns above (lakeSnapshot in @lake/iceberg).
  operation TEXT,
  max_source_position INTEGER,
  -- The version as an Iceberg snapshot (VersionCommitted.iceberg): store keys of its manifest list and
  -- table metadata JSON, its schema id and file count. All four NULL: the record named none, or one
  -- that was not the dataset's own (see Projection.icebergRef).
  iceberg_manifest_list TEXT,
  iceberg_metadata TEXT,
  iceberg_schema_id INTEGER,
  iceberg_total_files INTEGER,
  -- Lineage (VersionCommitted.lineage): see VersionRow.
  base_version INTEGER,
  reverted_version INTEGER,
  upstream TEXT,
  through_seq INTEGER,
  watermark INTEGER,
  PRIMARY KEY (dataset, version)
) STRICT;
CREATE INDEX IF NOT EXISTS versions_by_offset ON versions (dataset, last_offset);
CREATE INDEX IF NOT EXISTS versions_by_commit ON versions (dataset, commit_seq);
CREATE TABLE IF NOT EXISTS files (
  dataset TEXT NOT NULL,
  key TEXT NOT NULL,
  partition TEXT NOT NULL,
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  added_version INTEGER NOT NULL,
  removed_version INTEGER,
  PRIMARY KEY (dataset, key)
) STRICT;
CREATE INDEX IF NOT EXISTS files_by_version ON files (dataset, added_version);
CREATE TABLE IF NOT EXISTS quality_results (
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  rules TEXT NOT NULL,
  checked_at INTEGER NOT NULL,
  checker_id TEXT NOT NULL,
  PRIMARY KEY (dataset, version)
) STRICT;
CREATE TABLE IF NOT EXISTS tags (
  dataset TEXT NOT NULL,
  tag TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (dataset, tag)
) STRICT;
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER NOT NULL,
  dataset TEXT NOT NULL,
  kind TEXT NOT NULL,
  version INTEGER NOT NULL,
  previous_version INTEGER,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT,
  PRIMARY KEY (seq, kind)
) STRICT;
CREATE INDEX IF NOT EXISTS audit_by_dataset ON audit (dataset, seq);
CREATE TABLE IF NOT EXISTS anomalies (
  commit_seq INTEGER PRIMARY KEY,
  dataset TEXT NOT NULL,
  problem TEXT NOT NULL
) STRICT;
-- Retention (VersionsExpired) and garbage collection (FilesCollected). Tables of their own rather than
-- columns, so a catalog database from before them opens and fills them from here on.
CREATE TABLE IF NOT EXISTS expired_versions (
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (dataset, version)
) STRICT;
-- The last record of every dataset's subject, standing or void: a record stands only if it was
-- appended against this one (its Lake-Expected-Seq), see judgeNext in @lake/messaging.
CREATE TABLE IF NOT EXISTS log_heads (
  dataset TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS collected_files (
  dataset TEXT NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (dataset, key)
) STRICT;
`;

/** Opens (or creates) a catalog database with the current tables, and migrates one from before them. */
export function openProjectionDb(path: string): Database.Database {
  const db = openStateDb(path, SCHEMA);
  migrate(db);
  return db;
}

/** Columns of `versions` added after its first release, in SCHEMA's order. */
const VERSION_COLUMNS_ADDED = [
  ["operation", "TEXT"],
  ["max_source_position", "INTEGER"],
  ["iceberg_manifest_list", "TEXT"],
  ["iceberg_metadata", "TEXT"],
  ["iceberg_schema_id", "INTEGER"],
  ["iceberg_total_files", "INTEGER"],
  ["base_version", "INTEGER"],
  ["reverted_version", "INTEGER"],
  ["upstream", "TEXT"],
  ["through_seq", "INTEGER"],
  ["watermark", "INTEGER"],
] as const;

/**
 * Lineage lookups (db/lineage.ts): the first derived version whose upstream positions reach a source
 * offset (an index seek on through_seq, version), and the version that reverted a batch. Indexes are not
 * in the canonical dump: a rebuilt catalog has them whatever order they were made in.
 */
const INDEXES_ON_ADDED_COLUMNS = `
CREATE INDEX IF NOT EXISTS versions_by_through_seq ON versions (dataset, through_seq, version);
CREATE INDEX IF NOT EXISTS versions_by_reverted ON versions (dataset, reverted_version) WHERE reverted_version IS NOT NULL;
`;

/** Fills what a database from an earlier build lacks; idempotent, so it runs on every open. */
function migrate(db: Database.Database): void {
  // A database from before the Iceberg columns: they are added last, in the order SCHEMA has them, so a
  // migrated database dumps its columns as a fresh one does. Its older versions keep NULLs until a rebuild.
  const columns = new Set(
    db
      .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('versions')")
      .all()
      .map((c) => c.name),
  );
  for (const [name, type] of VERSION_COLUMNS_ADDED) if (!columns.has(name)) db.exec(`ALTER TABLE versions ADD COLUMN ${name} ${type}`);
  // Indexes on added columns come after them (in SCHEMA they would fail on a database that lacks them).
  db.exec(INDEXES_ON_ADDED_COLUMNS);
  // A database from before log_heads: every dataset's last record is its last_record_seq.
  db.exec("INSERT OR IGNORE INTO log_heads (dataset, seq) SELECT name, last_record_seq FROM datasets");
}

/**
 * Every table in the canonical dump, in its order, with the columns its rows are dumped in order of
 * (its primary key). A table added to SCHEMA goes here too, or rebuilds stop being compared on it.
 */
export const DUMP_ORDER = [
  ["meta", "key"],
  ["datasets", "name"],
  ["versions", "dataset, version"],
  ["files", "dataset, key"],
  ["quality_results", "dataset, version"],
  ["tags", "dataset, tag"],
  ["audit", "seq, kind"],
  ["anomalies", "commit_seq"],
  ["expired_versions", "dataset, version"],
  ["collected_files", "dataset, key"],
  ["log_heads", "dataset"],
] as const;
