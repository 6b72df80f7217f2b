// The quality service's state in SQLite: what it has read of the commit log (per dataset: head, live
// file set, versions and the verdicts already in the log) plus stats it computed from files. Log
// records are applied in batches, each in one transaction with the log position, so a crash never
// leaves the state ahead of or behind the position. Computed stats are a cache of facts about
// immutable files: they are written on their own and never decide what the log says.
import type Database from "better-sqlite3";

import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import { judgeNext } from "@lake/messaging";
import { openStateDb } from "@lake/runtime";

import type { ColumnStats } from "../domain/stats.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS datasets (
  name TEXT PRIMARY KEY,
  head_seq INTEGER NOT NULL,
  latest_version INTEGER NOT NULL,
  latest_version_seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS versions (
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  commit_seq INTEGER NOT NULL,
  schema_name TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  policy TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  total_rows INTEGER NOT NULL,
  max_event_time INTEGER,
  added_files TEXT NOT NULL,
  removed_files TEXT NOT NULL,
  verdict TEXT,
  verdict_seq INTEGER,
  checker_id TEXT,
  stats TEXT,
  iceberg_manifest_list TEXT,
  PRIMARY KEY (dataset, version)
) STRICT;
CREATE INDEX IF NOT EXISTS versions_unjudged ON versions (dataset, version) WHERE verdict IS NULL;
CREATE TABLE IF NOT EXISTS files (
  dataset TEXT NOT NULL,
  key TEXT NOT NULL,
  added_version INTEGER NOT NULL,
  removed_version INTEGER,
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  stats TEXT,
  PRIMARY KEY (dataset, key)
) STRICT;
CREATE TABLE IF NOT EXISTS anomalies (
  seq INTEGER PRIMARY KEY,
  dataset TEXT NOT NULL,
  problem TEXT NOT NULL
) STRICT;
`;

export interface DatasetHead {
  name: string;
  /** Sequence of the last record of any kind on lake.commits.<name>: the CAS token for an append. */
  head_seq: number;
  latest_version: number;
  /** Sequence of the latest VersionCommitted: the Lake-Version-Seq every other record carries. */
  latest_version_seq: number;
}

export interface VersionState {
  dataset: string;
  version: number;
  commitSeq: number;
  schemaName: string;
  schemaVersion: number;
  policy: string;
  rowCount: number;
  totalRows: number;
  maxEventTime: number | null;
  addedFiles: LakeLog.DataFile[];
  removedFiles: string[];
  verdict: LakeLog.QualityOutcome | null;
  verdictSeq: number | null;
  checkerId: string | null;
  stats: ColumnStats | undefined;
  /** Store key of the version's Iceberg manifest list (its whole file set), when it has one. */
  icebergManifestList: string | null;
}

export interface FileState {
  key: string;
  addedVersion: number;
  rows: number;
  bytes: number;
  sha256: string;
  stats: ColumnStats | undefined;
}

interface VersionRow {
  dataset: string;
  version: number;
  commit_seq: number;
  schema_name: string;
  schema_version: number;
  policy: string;
  row_count: number;
  total_rows: number;
  max_event_time: number | null;
  added_files: string;
  removed_files: string;
  verdict: string | null;
  verdict_seq: number | null;
  checker_id: string | null;
  stats: string | null;
  iceberg_manifest_list: string | null;
}

interface FileRow {
  key: string;
  added_version: number;
  rows: number;
  bytes: number;
  sha256: string;
  stats: string | null;
}

export interface LogEntry {
  seq: number;
  subject: string;
  /** undefined: a record this build cannot decode; it still moves the position and the dataset's head. */
  record: LogRecord | undefined;
  /** The record's compare-and-set token (Lake-Expected-Seq); undefined for a record written without one. */
  expected?: number;
  /** The record's Lake-Version-Seq pointer. */
  versionSeq?: number;
  /** Why the record can't stand whatever came before it (inspectLogRecord in @lake/messaging). */
  problem?: string;
}

const SUBJECT_PREFIX = "lake.commits.";

function toVersion(r: VersionRow): VersionState {
  return {
    dataset: r.dataset,
    version: r.version,
    commitSeq: r.commit_seq,
    schemaName: r.schema_name,
    schemaVersion: r.schema_version,
    policy: r.policy,
    rowCount: r.row_count,
    totalRows: r.total_rows,
    maxEventTime: r.max_event_time,
    addedFiles: JSON.parse(r.added_files) as LakeLog.DataFile[],
    removedFiles: JSON.parse(r.removed_files) as string[],
    verdict: r.verdict as LakeLog.QualityOutcome | null,
    verdictSeq: r.verdict_seq,
    checkerId: r.checker_id,
    stats: r.stats === null ? undefined : (JSON.parse(r.stats) as ColumnStats),
    icebergManifestList: r.iceberg_manifest_list ?? null,
  };
}

function toFile(r: FileRow): FileState {
  return {
    key: r.key,
    addedVersion: r.added_version,
    rows: r.rows,
    bytes: r.bytes,
    sha256: r.sha256,
    stats: r.stats === null ? undefined : (JSON.parse(r.stats) as ColumnStats),
  };
}

export class QualityState {
  readonly db: Database.Database;
  private readonly q;

  constructor(path: string) {
    this.db = openStateDb(path, SCHEMA);
    // A database from before versions named their Iceberg manifest list gets the column (null for its versions).
    if (!(this.db.prepare("PRAGMA table_info(versions)").all() as { name: string }[]).some((c) => c.name === "iceberg_manifest_list"))
      this.db.exec("ALTER TABLE versions ADD COLUMN iceberg_manifest_list TEXT");
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare<[string, string]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      dataset: this.db.prepare<[string], DatasetHead>("SELECT * FROM datasets WHERE name = ?"),
      upsertHead: this.db.prepare<[{ name: string; seq: number }]>(
        "INSERT INTO datasets (name, head_seq, latest_version, latest_version_seq) VALUES (@name, @seq, 0, 0) ON CONFLICT (name) DO UPDATE SET head_seq = @seq",
      ),
      setLatest: this.db.prepare<[number, number, string]>("UPDATE datasets SET latest_version = ?, latest_version_seq = ? WHERE name = ?"),
      insertVersion: this.db.prepare(`INSERT INTO versions (dataset, version, commit_seq, schema_name, schema_version, policy, row_count, total_rows,
        max_event_time, added_files, removed_files, iceberg_manifest_list) VALUES (@dataset, @version, @commit_seq, @schema_name, @schema_version, @policy, @row_count,
        @total_rows, @max_event_time, @added_files, @removed_files, @iceberg_manifest_list)`),
      insertFile: this.db.prepare<[string, string, number, number, number, string]>(
        "INSERT OR IGNORE INTO files (dataset, key, added_version, removed_version, rows, bytes, sha256) VALUES (?, ?, ?, NULL, ?, ?, ?)",
      ),
      removeFile: this.db.prepare<[number, string, string]>("UPDATE files SET removed_version = ? WHERE dataset = ? AND key = ? AND removed_version IS NULL"),
      setVerdict: this.db.prepare<[string, number, string, string, number]>(
        "UPDATE versions SET verdict = ?, verdict_seq = ?, checker_id = ? WHERE dataset = ? AND version = ? AND verdict IS NULL",
      ),
      version: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version = ?"),
      nextUnjudged: this.db.prepare<[string], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND verdict IS NULL ORDER BY version LIMIT 1"),
      pending: this.db.prepare<[], DatasetHead>(
        "SELECT d.* FROM datasets d WHERE EXISTS (SELECT 1 FROM versions v WHERE v.dataset = d.name AND v.verdict IS NULL) ORDER BY d.name",
      ),
      file: this.db.prepare<[string, string], FileRow>("SELECT key, added_version, rows, bytes, sha256, stats FROM files WHERE dataset = ? AND key = ?"),
      liveFiles: this.db.prepare<[string, number, number], FileRow>(
        "SELECT key, added_version, rows, bytes, sha256, stats FROM files WHERE dataset = ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY key",
      ),
      setFileStats: this.db.prepare<[string, string, string]>("UPDATE files SET stats = ? WHERE dataset = ? AND key = ?"),
      setVersionStats: this.db.prepare<[string, string, number]>("UPDATE versions SET stats = ? WHERE dataset = ? AND version = ?"),
      anomaly: this.db.prepare<[number, string, string]>("INSERT OR REPLACE INTO anomalies (seq, dataset, problem) VALUES (?, ?, ?)"),
      anomalies: this.db.prepare<[], { seq: number; dataset: string; problem: string }>("SELECT * FROM anomalies ORDER BY seq"),
      verdicts: this.db.prepare<[string], { version: number; verdict: string | null; verdict_seq: number | null }>(
        "SELECT version, verdict, verdict_seq FROM versions WHERE dataset = ? ORDER BY version",
      ),
    };
  }

  /** Stream sequence of the last commit-log record applied (0: none). */
  get lastSeq(): number {
    return Number(this.q.getMeta.get("last_seq")?.value ?? 0);
  }

  /** Applies a batch of commit-log records and advances the position, atomically. Returns anomalies found. */
  readonly applyBatch = (entries: readonly LogEntry[]): string[] => {
    const problems: string[] = [];
    this.db.transaction(() => {
      for (const e of entries) {
        const problem = this.apply(e);
        if (problem) problems.push(problem);
      }
      const last = entries.at(-1);
      if (last) this.q.setMeta.run("last_seq", String(last.seq));
    })();
    return problems;
  };

  private apply({ seq, subject, record, expected, versionSeq, problem }: LogEntry): string | undefined {
    if (!subject.startsWith(SUBJECT_PREFIX)) return undefined;
    const dataset = subject.slice(SUBJECT_PREFIX.length);
    const head = this.q.dataset.get(dataset);
    const prev = head?.head_seq ?? 0;
    this.q.upsertHead.run({ name: dataset, seq });
    const note = (problem: string) => {
      this.q.anomaly.run(seq, dataset, problem);
      return `seq ${seq} (${dataset}): ${problem}`;
    };
    // The commit log's one rule (judgeNext), on the state kept here; entries without headers come from
    // this package's own tests and are trusted.
    if (expected !== undefined || versionSeq !== undefined || problem !== undefined) {
      const state = { prev, latestVersion: head?.latest_version ?? 0, latestVersionSeq: head?.latest_version_seq ?? 0 };
      const { why } = judgeNext(state, { seq, dataset, record, expected, versionSeq, problem });
      if (why !== undefined) return note(`void ${record?.kind ?? "record"}: ${why}`);
    }
    if (record === undefined) return undefined;
    if (record.body.dataset !== dataset) return note(`record names dataset ${JSON.stringify(record.body.dataset)} but is on ${subject}`);
    if (record.kind === "VersionCommitted") return this.applyVersion(seq, record.body, note);
    if (record.kind === "QualityVerdict") {
      const v = record.body;
      const changed = this.q.setVerdict.run(v.outcome, seq, v.checker_id, dataset, v.version).changes;
      if (changed === 0) {
        const existing = this.q.version.get(dataset, v.version);
        // Kept out of the state (the first verdict stands) and noted: it means two checkers both won.
        return note(existing ? `second verdict for version ${v.version} (first at seq ${existing.verdict_seq})` : `verdict for unknown version ${v.version}`);
      }
    }
    return undefined;
  }

  private applyVersion(seq: number, r: VersionCommitted, note: (p: string) => string): string | undefined {
    const head = this.q.dataset.get(r.dataset)!;
    if (r.version !== head.latest_version + 1 || r.parent_version !== head.latest_version) {
      // The committers' CAS makes this impossible; if it happens anyway the record is not judged.
      return note(`version ${r.version} (parent ${r.parent_version}) does not follow ${head.latest_version}`);
    }
    this.q.setLatest.run(r.version, seq, r.dataset);
    this.q.insertVersion.run({
      dataset: r.dataset,
      version: r.version,
      commit_seq: seq,
      schema_name: r.schema_name,
      schema_version: r.schema_version,
      policy: r.policy,
      row_count: r.row_count,
      total_rows: r.total_rows,
      max_event_time: r.max_event_time,
      added_files: JSON.stringify(r.added_files),
      removed_files: JSON.stringify(r.removed_files),
      // Only a list under the dataset's own metadata (a forged record may name any key).
      iceberg_manifest_list: r.iceberg?.manifest_list.startsWith(`datasets/${r.dataset}/metadata/`) ? r.iceberg.manifest_list : null,
    });
    for (const f of r.added_files) this.q.insertFile.run(r.dataset, f.key, r.version, f.rows, f.bytes, f.sha256);
    for (const key of r.removed_files) this.q.removeFile.run(r.version, r.dataset, key);
    return undefined;
  }

  dataset(name: string): DatasetHead | undefined {
    return this.q.dataset.get(name);
  }

  /** Datasets with at least one version that has no verdict in the log yet. */
  datasetsWithUnjudged(): DatasetHead[] {
    return this.q.pending.all();
  }

  /** The lowest version of the dataset without a verdict: versions are judged in order. */
  nextUnjudged(dataset: string): VersionState | undefined {
    const r = this.q.nextUnjudged.get(dataset);
    return r && toVersion(r);
  }

  version(dataset: string, version: number): VersionState | undefined {
    const r = this.q.version.get(dataset, version);
    return r && toVersion(r);
  }

  file(dataset: string, key: string): FileState | undefined {
    const r = this.q.file.get(dataset, key);
    return r && toFile(r);
  }

  /** The full file set of a version: added at or before it, not removed by then. */
  liveFiles(dataset: string, version: number): FileState[] {
    return this.q.liveFiles.all(dataset, version, version).map(toFile);
  }

  setFileStats(dataset: string, key: string, stats: ColumnStats): void {
    this.q.setFileStats.run(JSON.stringify(stats), dataset, key);
  }

  setVersionStats(dataset: string, version: number, stats: ColumnStats): void {
    this.q.setVersionStats.run(JSON.stringify(stats), dataset, version);
  }

  /** Every version of the dataset with its verdict as read from the log (for status and tests). */
  verdicts(dataset: string): { version: number; verdict: string | null; verdict_seq: number | null }[] {
    return this.q.verdicts.all(dataset);
  }

  anomalies(): { seq: number; dataset: string; problem: string }[] {
    return this.q.anomalies.all();
  }

  close(): void {
    this.db.close();
  }
}
