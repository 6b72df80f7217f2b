// The catalog's state: a projection of the commit log into SQLite. Every change comes from one log
// record, applied in the same transaction as the log position, so a crash never half-applies a record
// and replaying the log from scratch gives the same rows. Nothing here reads the clock.
import Database from "better-sqlite3";
import type { LogRecord, VersionCommitted } from "@lake/contracts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS datasets (
  name TEXT PRIMARY KEY,
  first_commit_seq INTEGER NOT NULL,
  latest_version INTEGER NOT NULL,
  latest_commit_seq INTEGER NOT NULL,
  total_rows INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
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
CREATE TABLE IF NOT EXISTS anomalies (
  commit_seq INTEGER PRIMARY KEY,
  dataset TEXT NOT NULL,
  problem TEXT NOT NULL
) STRICT;
`;

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
}

export interface FileRow {
  key: string;
  partition: string;
  rows: number;
  bytes: number;
  sha256: string;
  added_version: number;
}

export interface DatasetRow {
  name: string;
  first_commit_seq: number;
  latest_version: number;
  latest_commit_seq: number;
  total_rows: number;
  updated_at: number;
}

export class Projection {
  readonly db: Database.Database;
  private readonly q;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare<[string, string]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      dataset: this.db.prepare<[string], DatasetRow>("SELECT * FROM datasets WHERE name = ?"),
      datasets: this.db.prepare<[], DatasetRow>("SELECT * FROM datasets ORDER BY name"),
      insertDataset: this.db.prepare(
        "INSERT INTO datasets (name, first_commit_seq, latest_version, latest_commit_seq, total_rows, updated_at) VALUES (@name, @seq, @version, @seq, @total_rows, @at)",
      ),
      updateDataset: this.db.prepare(
        "UPDATE datasets SET latest_version = @version, latest_commit_seq = @seq, total_rows = @total_rows, updated_at = @at WHERE name = @name",
      ),
      insertVersion: this.db.prepare(`INSERT INTO versions VALUES (@dataset, @version, @parent_version, @commit_seq, @write_id, @committer_id, @committed_at,
        @schema_name, @schema_version, @schema_fingerprint, @manifest_key, @manifest_sha256, @manifest_bytes, @source_stream, @source_subject,
        @first_offset, @last_offset, @row_count, @total_rows, @added_files, @removed_files, @min_event_time, @max_event_time)`),
      insertFile: this.db.prepare(
        "INSERT INTO files (dataset, key, partition, rows, bytes, sha256, added_version, removed_version) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
      ),
      removeFile: this.db.prepare("UPDATE files SET removed_version = ? WHERE dataset = ? AND key = ? AND removed_version IS NULL"),
      anomaly: this.db.prepare("INSERT OR REPLACE INTO anomalies (commit_seq, dataset, problem) VALUES (?, ?, ?)"),
      version: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version = ?"),
      versions: this.db.prepare<[string, number, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version > ? ORDER BY version LIMIT ?"),
      covering: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? ORDER BY version LIMIT 1"),
      coveringCommit: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND commit_seq >= ? ORDER BY version LIMIT 1"),
      files: this.db.prepare<[string, number, number], FileRow>(
        "SELECT key, partition, rows, bytes, sha256, added_version FROM files WHERE dataset = ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY key",
      ),
    };
  }

  get lastSeq(): number {
    return Number(this.q.getMeta.get("last_seq")?.value ?? 0);
  }

  /** Applies a batch of log records and advances the log position, atomically. */
  readonly applyBatch = (records: readonly { seq: number; record: LogRecord | undefined }[]) => {
    this.db.transaction(() => {
      for (const { seq, record } of records) if (record?.kind === "VersionCommitted") this.applyVersion(seq, record.body);
      const last = records.at(-1);
      if (last) this.q.setMeta.run("last_seq", String(last.seq));
    })();
  };

  private applyVersion(seq: number, r: VersionCommitted): void {
    const ds = this.q.dataset.get(r.dataset);
    const expected = (ds?.latest_version ?? 0) + 1;
    if (r.version !== expected || r.parent_version !== expected - 1) {
      // The CAS makes this impossible; if it happens anyway the record is kept out of the history and noted.
      this.q.anomaly.run(seq, r.dataset, `version ${r.version} (parent ${r.parent_version}) does not follow ${expected - 1}`);
      return;
    }
    const row = { name: r.dataset, seq, version: r.version, total_rows: r.total_rows, at: r.committed_at };
    if (ds) this.q.updateDataset.run(row);
    else this.q.insertDataset.run(row);
    this.q.insertVersion.run({
      dataset: r.dataset,
      version: r.version,
      parent_version: r.parent_version,
      commit_seq: seq,
      write_id: r.write_id,
      committer_id: r.committer_id,
      committed_at: r.committed_at,
      schema_name: r.schema_name,
      schema_version: r.schema_version,
      schema_fingerprint: r.schema_fingerprint,
      manifest_key: r.manifest.key,
      manifest_sha256: r.manifest.sha256,
      manifest_bytes: r.manifest.bytes,
      source_stream: r.source.stream,
      source_subject: r.source.subject,
      first_offset: r.source.first_seq,
      last_offset: r.source.last_seq,
      row_count: r.row_count,
      total_rows: r.total_rows,
      added_files: r.added_files.length,
      removed_files: r.removed_files.length,
      min_event_time: r.min_event_time,
      max_event_time: r.max_event_time,
    });
    for (const f of r.added_files) this.q.insertFile.run(r.dataset, f.key, f.partition, f.rows, f.bytes, f.sha256, r.version);
    for (const key of r.removed_files) this.q.removeFile.run(r.version, r.dataset, key);
  }

  dataset(name: string): DatasetRow | undefined {
    return this.q.dataset.get(name);
  }
  datasets(): DatasetRow[] {
    return this.q.datasets.all();
  }
  version(dataset: string, version: number): VersionRow | undefined {
    return this.q.version.get(dataset, version);
  }
  versions(dataset: string, after: number, limit: number): VersionRow[] {
    return this.q.versions.all(dataset, after, limit);
  }
  coveringOffset(dataset: string, offset: number): VersionRow | undefined {
    return this.q.covering.get(dataset, offset);
  }
  coveringCommit(dataset: string, commitSeq: number): VersionRow | undefined {
    return this.q.coveringCommit.get(dataset, commitSeq);
  }
  /** The full file set of a version: files added at or before it and not removed by then. */
  files(dataset: string, version: number): FileRow[] {
    return this.q.files.all(dataset, version, version);
  }

  /** Every table, every row, in primary-key order: equal dumps mean equal catalogs. */
  canonicalDump(): string {
    const tables = ["meta", "datasets", "versions", "files", "anomalies"];
    const order: Record<string, string> = { meta: "key", datasets: "name", versions: "dataset, version", files: "dataset, key", anomalies: "commit_seq" };
    const out: Record<string, unknown[]> = {};
    for (const t of tables) out[t] = this.db.prepare(`SELECT * FROM ${t} ORDER BY ${order[t]}`).raw().all();
    return JSON.stringify(out);
  }

  close(): void {
    this.db.close();
  }
}
