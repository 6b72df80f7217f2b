// The catalog's state: a projection of the commit log into SQLite. Every change comes from one log
// record, applied in the same transaction as the log position, so a crash never half-applies a record
// and replaying the log from scratch gives the same rows. Nothing here reads the clock.
import type Database from "better-sqlite3";
import { openStateDb } from "@lake/runtime";
import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import { judgeNext } from "@lake/messaging";
import {
  type DatasetFacts,
  type QualityStatus,
  type RetentionFacts,
  POLICIES,
  QUALITY,
  expireProblem,
  liveVersionIn,
  promotionProblem,
  tagProblem,
  versionRanges,
} from "../domain/commands.ts";

const SCHEMA = `
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

export class Projection {
  readonly db: Database.Database;
  private readonly q;

  constructor(path: string) {
    this.db = openStateDb(path, SCHEMA);
    // A database from before log_heads: every dataset's last record is its last_record_seq.
    this.db.exec("INSERT OR IGNORE INTO log_heads (dataset, seq) SELECT name, last_record_seq FROM datasets");
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare<[string, string]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      dataset: this.db.prepare<[string], DatasetRow>("SELECT * FROM datasets WHERE name = ?"),
      datasets: this.db.prepare<[], DatasetRow>("SELECT * FROM datasets ORDER BY name"),
      insertDataset: this.db.prepare(
        "INSERT INTO datasets (name, first_commit_seq, latest_version, latest_commit_seq, total_rows, updated_at, policy, current_version, last_record_seq) VALUES (@name, @seq, @version, @seq, @total_rows, @at, @policy, @current, @seq)",
      ),
      updateDataset: this.db.prepare(
        "UPDATE datasets SET latest_version = @version, latest_commit_seq = @seq, total_rows = @total_rows, updated_at = @at, policy = @policy, current_version = @current, last_record_seq = @seq WHERE name = @name",
      ),
      touchDataset: this.db.prepare<[number, string]>("UPDATE datasets SET last_record_seq = ? WHERE name = ?"),
      logHead: this.db.prepare<[string], { seq: number }>("SELECT seq FROM log_heads WHERE dataset = ?"),
      setLogHead: this.db.prepare<[string, number]>("INSERT INTO log_heads (dataset, seq) VALUES (?, ?) ON CONFLICT (dataset) DO UPDATE SET seq = excluded.seq"),
      setCurrent: this.db.prepare<[number, string]>("UPDATE datasets SET current_version = ? WHERE name = ?"),
      setRollbackFloor: this.db.prepare<[number, string]>("UPDATE datasets SET rollback_floor = MAX(rollback_floor, ?) WHERE name = ?"),
      setQuality: this.db.prepare<[string, number, string, number]>("UPDATE versions SET quality = ?, quality_seq = ? WHERE dataset = ? AND version = ?"),
      insertQuality: this.db.prepare("INSERT INTO quality_results VALUES (@dataset, @version, @seq, @outcome, @rules, @checked_at, @checker_id)"),
      insertTag: this.db.prepare<[string, string, number, number]>("INSERT INTO tags (dataset, tag, version, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
      insertAudit: this.db.prepare(
        "INSERT INTO audit VALUES (@seq, @dataset, @kind, @version, @previous_version, @actor, @reason, @at, @detail)",
      ),
      tag: this.db.prepare<[string, string], { version: number }>("SELECT version FROM tags WHERE dataset = ? AND tag = ?"),
      tags: this.db.prepare<[string], { tag: string; version: number; seq: number }>("SELECT tag, version, seq FROM tags WHERE dataset = ? ORDER BY tag"),
      audit: this.db.prepare<[string, number, number], AuditRow>("SELECT * FROM audit WHERE dataset = ? AND seq > ? ORDER BY seq, kind = 'auto_promote', kind LIMIT ?"),
      // Versions that were current, most recently current first: audited promotions, plus every
      // non-critical version (current on its commit).
      formerCurrents: this.db.prepare<{ dataset: string }, { version: number }>(
        `SELECT version FROM (
           SELECT version, seq FROM audit WHERE dataset = @dataset AND kind IN ('promote', 'rollback', 'auto_promote')
           UNION ALL
           SELECT version, commit_seq AS seq FROM versions WHERE dataset = @dataset AND policy <> 'critical'
         ) GROUP BY version ORDER BY MAX(seq) DESC`,
      ),
      qualityResult: this.db.prepare<[string, number], QualityRow>("SELECT * FROM quality_results WHERE dataset = ? AND version = ?"),
      // An event time is taken as no later than its version's commit: one event dated in the future
      // (written past ingest) would otherwise make the dataset look fresh, and silence the freshness
      // alert, for as long as that version is in the history.
      maxEventTime: this.db.prepare<[string, number], { t: number | null }>("SELECT MAX(MIN(max_event_time, committed_at)) AS t FROM versions WHERE dataset = ? AND version <= ?"),
      verdictCounts: this.db.prepare<[], { dataset: string; outcome: string; n: number }>("SELECT dataset, outcome, COUNT(*) AS n FROM quality_results GROUP BY dataset, outcome"),
      insertVersion: this.db.prepare(`INSERT INTO versions VALUES (@dataset, @version, @parent_version, @commit_seq, @write_id, @committer_id, @committed_at,
        @schema_name, @schema_version, @schema_fingerprint, @manifest_key, @manifest_sha256, @manifest_bytes, @source_stream, @source_subject,
        @first_offset, @last_offset, @row_count, @total_rows, @added_files, @removed_files, @min_event_time, @max_event_time,
        @policy, @quality, NULL)`),
      insertFile: this.db.prepare(
        "INSERT INTO files (dataset, key, partition, rows, bytes, sha256, added_version, removed_version) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
      ),
      removeFile: this.db.prepare("UPDATE files SET removed_version = ? WHERE dataset = ? AND key = ? AND removed_version IS NULL"),
      anomaly: this.db.prepare("INSERT OR REPLACE INTO anomalies (commit_seq, dataset, problem) VALUES (?, ?, ?)"),
      version: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version = ?"),
      versions: this.db.prepare<[string, number, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND version > ? ORDER BY version LIMIT ?"),
      covering: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? ORDER BY version LIMIT 1"),
      coveringCommit: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND commit_seq >= ? ORDER BY version LIMIT 1"),
      coveringPassed: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? AND quality = 'passed' ORDER BY version LIMIT 1"),
      coveringCommitPassed: this.db.prepare<[string, number], VersionRow>("SELECT * FROM versions WHERE dataset = ? AND commit_seq >= ? AND quality = 'passed' ORDER BY version LIMIT 1"),
      insertExpired: this.db.prepare<[string, number, number]>("INSERT INTO expired_versions (dataset, version, seq) VALUES (?, ?, ?)"),
      expiredSeq: this.db.prepare<[string, number], { seq: number }>("SELECT seq FROM expired_versions WHERE dataset = ? AND version = ?"),
      unexpired: this.db.prepare<[string], { version: number; committed_at: number; quality: QualityStatus; manifest_key: string }>(
        "SELECT v.version, v.committed_at, v.quality, v.manifest_key FROM versions v WHERE v.dataset = ? AND NOT EXISTS (SELECT 1 FROM expired_versions e WHERE e.dataset = v.dataset AND e.version = v.version) ORDER BY v.version",
      ),
      taggedVersions: this.db.prepare<[string], { version: number }>("SELECT DISTINCT version FROM tags WHERE dataset = ?"),
      fileRange: this.db.prepare<[string, string], { added_version: number; removed_version: number | null }>("SELECT added_version, removed_version FROM files WHERE dataset = ? AND key = ?"),
      registry: this.db.prepare<[string, string, number], Omit<RegistryFileRow, "live">>(
        `SELECT f.key, f.partition, f.rows, f.bytes, f.sha256, f.added_version, f.removed_version, c.seq AS collected_seq
         FROM files f LEFT JOIN collected_files c ON c.dataset = f.dataset AND c.key = f.key
         WHERE f.dataset = ? AND f.key > ? ORDER BY f.key LIMIT ?`,
      ),
      insertCollected: this.db.prepare<[string, string, number]>("INSERT OR IGNORE INTO collected_files (dataset, key, seq) VALUES (?, ?, ?)"),
      files: this.db.prepare<[string, number, number], FileRow>(
        "SELECT key, partition, rows, bytes, sha256, added_version FROM files WHERE dataset = ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) ORDER BY key",
      ),
    };
  }

  get lastSeq(): number {
    return Number(this.q.getMeta.get("last_seq")?.value ?? 0);
  }

  /**
   * Applies a batch of log records and advances the log position, atomically. `dataset` is the
   * dataset named by the record's subject, `expected` its compare-and-set token (Lake-Expected-Seq).
   * A record appended against anything but the dataset's previous record is void: a concurrent append
   * won the compare-and-set (nats-server 2.9 clusters let both land). It is noted as an anomaly and
   * not applied, so a second "version N" never enters the history.
   */
  readonly applyBatch = (records: readonly { seq: number; record: LogRecord | undefined; dataset?: string; expected?: number; versionSeq?: number; problem?: string }[]) => {
    const voids: string[] = [];
    this.db.transaction(() => {
      for (const { seq, record, dataset: subjectDataset, expected, versionSeq, problem } of records) {
        const dataset = subjectDataset || record?.body.dataset;
        if (dataset !== undefined) {
          const prev = this.q.logHead.get(dataset)?.seq ?? 0;
          this.q.setLogHead.run(dataset, seq);
          // The commit log's one rule (judgeNext), on the state this projection keeps: a record read
          // from the log (the tail gives its headers) is void unless it stands after the records before
          // it. Records handed in without headers come from this process's own tests and are trusted.
          let why: string | undefined;
          if (expected !== undefined || versionSeq !== undefined || problem !== undefined) {
            const ds = this.q.dataset.get(dataset);
            const state = { prev, latestVersion: ds?.latest_version ?? 0, latestVersionSeq: ds?.latest_commit_seq ?? 0 };
            why = judgeNext(state, { seq, dataset, record, expected, versionSeq, problem }).why;
          }
          if (why !== undefined) {
            const problem = `void ${record?.kind ?? "record"}${record?.kind === "VersionCommitted" ? ` (version ${record.body.version})` : ""}: ${why}`;
            this.q.anomaly.run(seq, dataset, problem);
            this.q.touchDataset.run(seq, dataset);
            voids.push(`${dataset}@${seq}: ${problem}`);
            continue;
          }
        }
        if (!record) {
          // A record this build can't read still occupies the subject: commands CAS against it.
          if (dataset) this.q.touchDataset.run(seq, dataset);
          continue;
        }
        switch (record.kind) {
          case "VersionCommitted":
            this.applyVersion(seq, record.body);
            break;
          case "QualityVerdict":
            this.applyVerdict(seq, record.body);
            break;
          case "VersionPromoted":
            this.applyPromotion(seq, record.body);
            break;
          case "VersionTagged":
            this.applyTag(seq, record.body);
            break;
          case "VersionsExpired":
            this.applyExpired(seq, record.body);
            break;
          case "FilesCollected":
            this.applyCollected(seq, record.body);
            break;
        }
      }
      const last = records.at(-1);
      if (last) this.q.setMeta.run("last_seq", String(last.seq));
    })();
    return voids;
  };

  private applyVersion(seq: number, r: VersionCommitted): void {
    const ds = this.q.dataset.get(r.dataset);
    const expected = (ds?.latest_version ?? 0) + 1;
    if (r.version !== expected || r.parent_version !== expected - 1) {
      // The CAS makes this impossible; if it happens anyway the record is kept out of the history and noted.
      this.q.anomaly.run(seq, r.dataset, `void VersionCommitted (version ${r.version}): version ${r.version} (parent ${r.parent_version}) does not follow the latest standing version ${expected - 1}`);
      if (ds) this.q.touchDataset.run(seq, r.dataset);
      return;
    }
    // Non-critical datasets are current on commit; critical ones keep their current until a version passes.
    const current = r.policy === POLICIES.critical ? (ds?.current_version ?? 0) : r.version;
    const row = { name: r.dataset, seq, version: r.version, total_rows: r.total_rows, at: r.committed_at, policy: r.policy, current };
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
      policy: r.policy,
      quality: QUALITY.pending,
    });
    for (const f of r.added_files) this.q.insertFile.run(r.dataset, f.key, f.partition, f.rows, f.bytes, f.sha256, r.version);
    for (const key of r.removed_files) this.q.removeFile.run(r.version, r.dataset, key);
  }

  /** Records about a dataset that doesn't exist, or that break a rule, are anomalies: noted, not applied. */
  private guard(seq: number, dataset: string, check: (ds: DatasetRow) => string | undefined): DatasetRow | undefined {
    const ds = this.q.dataset.get(dataset);
    const problem = ds ? check(ds) : `no dataset ${dataset}`;
    if (ds) this.q.touchDataset.run(seq, dataset);
    if (problem !== undefined) {
      this.q.anomaly.run(seq, dataset, problem);
      return undefined;
    }
    return ds;
  }

  private applyVerdict(seq: number, r: LakeLog.QualityVerdict): void {
    const ds = this.guard(seq, r.dataset, () => {
      const v = this.q.version.get(r.dataset, r.version);
      if (!v) return `verdict for unknown version ${r.version}`;
      if (v.quality !== QUALITY.pending) return `second verdict for version ${r.version} (first: ${v.quality})`;
      return undefined;
    });
    if (!ds) return;
    this.q.setQuality.run(r.outcome, seq, r.dataset, r.version);
    this.q.insertQuality.run({ dataset: r.dataset, version: r.version, seq, outcome: r.outcome, rules: JSON.stringify(r.rules), checked_at: r.checked_at, checker_id: r.checker_id });
    const failedRules = r.rules.filter((x) => !x.passed).map((x) => x.rule);
    this.audit(seq, r.dataset, r.outcome === "passed" ? "quality_passed" : "quality_failed", r.version, null, r.checker_id, failedRules.length ? `failed: ${failedRules.join(", ")}` : "all rules passed", r.checked_at, JSON.stringify(r.rules));
    // A critical dataset's newest passing version becomes current: that is what the gate opens to.
    // (Never an expired one: retention keeps versions awaiting a verdict, so this only guards.)
    if (r.outcome === "passed" && ds.policy === POLICIES.critical && r.version > ds.current_version && r.version > ds.rollback_floor && !this.q.expiredSeq.get(r.dataset, r.version)) {
      this.q.setCurrent.run(r.version, r.dataset);
      this.audit(seq, r.dataset, "auto_promote", r.version, ds.current_version || null, r.checker_id, "passed its quality checks", r.checked_at, null);
    }
  }

  private applyPromotion(seq: number, r: LakeLog.VersionPromoted): void {
    const ds = this.guard(seq, r.dataset, () => {
      const facts = this.facts(r.dataset)!;
      if (r.previous_version !== facts.currentVersion) return `${r.mode} of version ${r.version} expected current ${r.previous_version}, found ${facts.currentVersion}`;
      // The same rules the command's decision applied (domain/commands.ts), checked again on the record.
      const problem = promotionProblem(facts, r.version);
      if (problem) return problem;
      if (r.mode === "promote" && r.version <= facts.currentVersion) return `promote to version ${r.version} does not move current (${facts.currentVersion}) forward`;
      if (r.mode === "rollback" && r.version >= facts.currentVersion) return `rollback to version ${r.version} does not move current (${facts.currentVersion}) back`;
      if (r.mode === "rollback" && facts.policy === POLICIES.critical && !facts.formerCurrents().includes(r.version)) return `rollback to version ${r.version}, which was never current`;
      return undefined;
    });
    if (!ds) return;
    this.q.setCurrent.run(r.version, r.dataset);
    // After a rollback, versions committed before it stay out of current unless an operator promotes
    // them: a late verdict must not undo the rollback.
    if (r.mode === "rollback") this.q.setRollbackFloor.run(r.previous_version, r.dataset);
    this.audit(seq, r.dataset, r.mode, r.version, r.previous_version || null, r.actor, r.reason, r.at, null);
  }

  private applyTag(seq: number, r: LakeLog.VersionTagged): void {
    const ds = this.guard(seq, r.dataset, () => tagProblem(this.facts(r.dataset)!, r.tag, r.version));
    if (!ds) return;
    if (this.q.tag.get(r.dataset, r.tag)) return; // the same tag again: nothing new to record
    this.q.insertTag.run(r.dataset, r.tag, r.version, seq);
    this.audit(seq, r.dataset, "tag", r.version, null, r.actor, r.reason, r.at, JSON.stringify({ tag: r.tag }));
  }

  private applyExpired(seq: number, r: LakeLog.VersionsExpired): void {
    const ds = this.guard(seq, r.dataset, () => expireProblem(this.retentionFacts(r.dataset)!, r.versions));
    if (!ds) return;
    for (const v of r.versions) this.q.insertExpired.run(r.dataset, v, seq);
    const ranges = versionRanges(r.versions);
    this.audit(seq, r.dataset, "expire", r.versions.at(-1)!, null, r.actor, r.reason, r.at, JSON.stringify({ policy: r.policy, count: r.versions.length, versions: ranges }));
  }

  /**
   * The objects are already gone when this record is written, so it is always recorded; if it names a
   * file or manifest a live version references (data loss, which GC never causes), that is noted too.
   */
  private applyCollected(seq: number, r: LakeLog.FilesCollected): void {
    const ds = this.guard(seq, r.dataset, () => undefined);
    if (!ds) return;
    const unexpired = this.q.unexpired.all(r.dataset);
    const live = unexpired.map((v) => v.version);
    const liveManifests = new Set(unexpired.map((v) => v.manifest_key));
    const lost = r.keys.filter((k) => {
      if (liveManifests.has(k)) return true;
      const f = this.q.fileRange.get(r.dataset, k);
      return f !== undefined && liveVersionIn(live, f.added_version, f.removed_version) !== undefined;
    });
    if (lost.length > 0) this.q.anomaly.run(seq, r.dataset, `collected ${lost.length} object(s) a live version references: ${lost.slice(0, 5).join(", ")}${lost.length > 5 ? ", …" : ""}`);
    for (const k of r.keys) this.q.insertCollected.run(r.dataset, k, seq);
    const reason = `deleted ${r.keys.length} object(s), ${r.bytes} bytes: ${r.keys.length - r.orphans} no live version references, ${r.orphans} orphan(s) of failed writes`;
    this.audit(seq, r.dataset, "gc", ds.latest_version, null, r.actor, reason, r.at, JSON.stringify({ keys: r.keys.length, bytes: r.bytes, orphans: r.orphans }));
  }

  private audit(seq: number, dataset: string, kind: string, version: number, previous: number | null, actor: string, reason: string, at: number, detail: string | null): void {
    this.q.insertAudit.run({ seq, dataset, kind, version, previous_version: previous, actor, reason, at, detail });
  }

  /** What command decisions need to know about a dataset. */
  facts(name: string): DatasetFacts | undefined {
    const ds = this.q.dataset.get(name);
    if (!ds) return undefined;
    return {
      name,
      policy: ds.policy,
      latestVersion: ds.latest_version,
      currentVersion: ds.current_version,
      version: (v) => {
        const row = this.q.version.get(name, v);
        return row ? { version: row.version, quality: row.quality, expired: this.q.expiredSeq.get(name, v) !== undefined } : undefined;
      },
      formerCurrents: () => this.q.formerCurrents.all({ dataset: name }).map((r) => r.version),
      tag: (t) => this.q.tag.get(name, t)?.version,
    };
  }

  /** What retention decisions need to know about a dataset. */
  retentionFacts(name: string): RetentionFacts | undefined {
    const ds = this.q.dataset.get(name);
    if (!ds) return undefined;
    return {
      name,
      latestVersion: ds.latest_version,
      currentVersion: ds.current_version,
      unexpired: this.q.unexpired.all(name).map((v) => ({ version: v.version, committedAt: v.committed_at, quality: v.quality })),
      tagged: new Set(this.q.taggedVersions.all(name).map((t) => t.version)),
    };
  }
  /** The commit-log sequence of the VersionsExpired record that expired a version; undefined if it is served. */
  expiredSeq(dataset: string, version: number): number | undefined {
    return this.q.expiredSeq.get(dataset, version)?.seq;
  }
  /** Versions that are not expired, ascending. */
  liveVersions(dataset: string): number[] {
    return this.q.unexpired.all(dataset).map((v) => v.version);
  }
  /**
   * Every data file a dataset's history ever referenced, by key (page with `afterKey`), each with its
   * version range and whether a live (not expired) version references it: what GC keeps and fsck checks.
   */
  fileRegistry(dataset: string, afterKey: string, limit: number): RegistryFileRow[] {
    const live = this.liveVersions(dataset);
    return this.q.registry.all(dataset, afterKey, limit).map((f) => ({ ...f, live: liveVersionIn(live, f.added_version, f.removed_version) !== undefined }));
  }

  tags(dataset: string): { tag: string; version: number; seq: number }[] {
    return this.q.tags.all(dataset);
  }
  tagVersion(dataset: string, tag: string): number | undefined {
    return this.q.tag.get(dataset, tag)?.version;
  }
  auditTrail(dataset: string, after: number, limit: number): AuditRow[] {
    return this.q.audit.all(dataset, after, limit);
  }
  /** Newest event time in a version (the freshness of what readers of that version see). */
  maxEventTime(dataset: string, version: number): number | null {
    return this.q.maxEventTime.get(dataset, version)?.t ?? null;
  }
  verdictCounts(): { dataset: string; outcome: string; n: number }[] {
    return this.q.verdictCounts.all();
  }
  qualityResult(dataset: string, version: number): QualityRow | undefined {
    return this.q.qualityResult.get(dataset, version);
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
  /** The first version containing `offset` (with `passed`: the first that also passed quality). */
  coveringOffset(dataset: string, offset: number, passed = false): VersionRow | undefined {
    return (passed ? this.q.coveringPassed : this.q.covering).get(dataset, offset);
  }
  coveringCommit(dataset: string, commitSeq: number, passed = false): VersionRow | undefined {
    return (passed ? this.q.coveringCommitPassed : this.q.coveringCommit).get(dataset, commitSeq);
  }
  /** The full file set of a version: files added at or before it and not removed by then. */
  files(dataset: string, version: number): FileRow[] {
    return this.q.files.all(dataset, version, version);
  }

  /** Every table, every row, in primary-key order: equal dumps mean equal catalogs. */
  canonicalDump(): string {
    const tables = ["meta", "datasets", "versions", "files", "quality_results", "tags", "audit", "anomalies", "expired_versions", "collected_files", "log_heads"];
    const order: Record<string, string> = {
      meta: "key",
      datasets: "name",
      versions: "dataset, version",
      files: "dataset, key",
      quality_results: "dataset, version",
      tags: "dataset, tag",
      audit: "seq, kind",
      anomalies: "commit_seq",
      expired_versions: "dataset, version",
      collected_files: "dataset, key",
      log_heads: "dataset",
    };
    const out: Record<string, unknown[]> = {};
    for (const t of tables) out[t] = this.db.prepare(`SELECT * FROM ${t} ORDER BY ${order[t]}`).raw().all();
    return JSON.stringify(out);
  }

  close(): void {
    this.db.close();
  }
}
