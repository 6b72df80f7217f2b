// The catalog's state: a projection of the commit log into SQLite. Every change comes from one log
// record, applied in the same transaction as the log position, so a crash never half-applies a record
// and replaying the log from scratch gives the same rows. Nothing here reads the clock.
// The tables are in schema.ts, the SQL in queries.ts, and the rules of which version is current in
// domain/current.ts; this class applies records with them and answers reads.
import type Database from "better-sqlite3";

import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import { judgeNext } from "@lake/messaging";
import { validateKey } from "@lake/storage";

import { type DatasetFacts, expireProblem, liveVersionIn, QUALITY, type RetentionFacts, tagProblem, versionRanges } from "../domain/commands.ts";
import { autoPromotes, type CurrentFacts, currentOnCommit, promotionRecordProblem, rollbackFloorAfter, verdictProblem } from "../domain/current.ts";
import {
  type AuditRow,
  type DatasetRow,
  type FileRow,
  prepareQueries,
  type QualityRow,
  type Queries,
  type RegistryFileRow,
  type VersionRow,
} from "./queries.ts";
import { openProjectionDb } from "./schema.ts";

export type { AuditRow, DatasetRow, FileRow, QualityRow, RegistryFileRow, VersionRow };

/** Which audit rows to list: kinds (any of), one actor, a time range [since, until) in epoch ms. */
export interface AuditFilter {
  kinds?: readonly string[];
  actor?: string;
  since?: number;
  until?: number;
}

export class Projection {
  readonly db: Database.Database;
  private readonly q: Queries;

  constructor(path: string) {
    this.db = openProjectionDb(path);
    this.q = prepareQueries(this.db);
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
  readonly applyBatch = (
    records: readonly { seq: number; record: LogRecord | undefined; dataset?: string; expected?: number; versionSeq?: number; problem?: string }[],
  ) => {
    const voids: { seq: number; problem: string }[] = [];
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
            voids.push({ seq, problem: `${dataset}@${seq}: ${problem}` });
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
      this.q.anomaly.run(
        seq,
        r.dataset,
        `void VersionCommitted (version ${r.version}): version ${r.version} (parent ${r.parent_version}) does not follow the latest standing version ${expected - 1}`,
      );
      if (ds) this.q.touchDataset.run(seq, r.dataset);
      return;
    }
    const iceberg = icebergRef(r);
    if (r.iceberg && !iceberg)
      this.q.anomaly.run(
        seq,
        r.dataset,
        `VersionCommitted (version ${r.version}): its iceberg reference is not under datasets/${r.dataset}/metadata/ (or not a valid store key); the version is served without an Iceberg snapshot`,
      );
    const current = currentOnCommit(r.policy, r.version, ds?.current_version ?? 0);
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
      operation: r.operation,
      max_source_position: r.max_source_position,
      ...icebergColumns(iceberg),
      ...lineageColumns(r.lineage),
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
    const ds = this.guard(seq, r.dataset, () => verdictProblem(r.version, this.q.version.get(r.dataset, r.version)?.quality));
    if (!ds) return;
    this.q.setQuality.run(r.outcome, seq, r.dataset, r.version);
    this.q.insertQuality.run({
      dataset: r.dataset,
      version: r.version,
      seq,
      outcome: r.outcome,
      rules: JSON.stringify(r.rules),
      checked_at: r.checked_at,
      checker_id: r.checker_id,
    });
    const failedRules = r.rules.filter((x) => !x.passed).map((x) => x.rule);
    this.audit(
      seq,
      r.dataset,
      r.outcome === "passed" ? "quality_passed" : "quality_failed",
      r.version,
      null,
      r.checker_id,
      failedRules.length ? `failed: ${failedRules.join(", ")}` : "all rules passed",
      r.checked_at,
      JSON.stringify(r.rules),
    );
    if (autoPromotes(currentFacts(ds), r, this.q.expiredSeq.get(r.dataset, r.version) !== undefined)) {
      this.q.setCurrent.run(r.version, r.dataset);
      this.audit(seq, r.dataset, "auto_promote", r.version, ds.current_version || null, r.checker_id, "passed its quality checks", r.checked_at, null);
    }
  }

  private applyPromotion(seq: number, r: LakeLog.VersionPromoted): void {
    const ds = this.guard(seq, r.dataset, () => promotionRecordProblem(this.facts(r.dataset)!, r));
    if (!ds) return;
    this.q.setCurrent.run(r.version, r.dataset);
    const floor = rollbackFloorAfter(ds.rollback_floor, r);
    if (floor !== ds.rollback_floor) this.q.setRollbackFloor.run(floor, r.dataset);
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
    this.audit(
      seq,
      r.dataset,
      "expire",
      r.versions.at(-1)!,
      null,
      r.actor,
      r.reason,
      r.at,
      JSON.stringify({ policy: r.policy, count: r.versions.length, versions: ranges }),
    );
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
    if (lost.length > 0)
      this.q.anomaly.run(
        seq,
        r.dataset,
        `collected ${lost.length} object(s) a live version references: ${lost.slice(0, 5).join(", ")}${lost.length > 5 ? ", …" : ""}`,
      );
    for (const k of r.keys) this.q.insertCollected.run(r.dataset, k, seq);
    const reason = `deleted ${r.keys.length} object(s), ${r.bytes} bytes: ${r.keys.length - r.orphans} no live version references, ${r.orphans} orphan(s) of failed writes`;
    this.audit(
      seq,
      r.dataset,
      "gc",
      ds.latest_version,
      null,
      r.actor,
      reason,
      r.at,
      JSON.stringify({ keys: r.keys.length, bytes: r.bytes, orphans: r.orphans }),
    );
  }

  private audit(
    seq: number,
    dataset: string,
    kind: string,
    version: number,
    previous: number | null,
    actor: string,
    reason: string,
    at: number,
    detail: string | null,
  ): void {
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
  auditTrail(dataset: string, after: number, limit: number, filter?: AuditFilter): AuditRow[] {
    if (!filter) return this.q.audit.all(dataset, after, limit);
    return this.q.auditFiltered.all({
      dataset,
      after,
      limit,
      kinds: filter.kinds ? JSON.stringify(filter.kinds) : null,
      actor: filter.actor ?? null,
      since: filter.since ?? null,
      until: filter.until ?? null,
    });
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
  /** The verdicts of a dataset's versions that are not expired, by version; `rules` is the stored JSON text. */
  liveVerdicts(dataset: string): Omit<QualityRow, "dataset" | "seq">[] {
    return this.q.liveVerdicts.all(dataset);
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
  /** The revert that took `offset`'s batch back out (its version failed its audit), if there is one. */
  revertCovering(dataset: string, offset: number): VersionRow | undefined {
    return this.q.revertCovering.get(dataset, offset, offset);
  }
  /** Derived datasets: the first version whose upstream position (lineage through_seq) reaches `sourceOffset`. */
  coveringSource(dataset: string, sourceOffset: number, passed = false): VersionRow | undefined {
    return (passed ? this.q.coveringSourcePassed : this.q.coveringSource).get(dataset, sourceOffset);
  }
  coveringCommit(dataset: string, commitSeq: number, passed = false): VersionRow | undefined {
    return (passed ? this.q.coveringCommitPassed : this.q.coveringCommit).get(dataset, commitSeq);
  }
  /** The full file set of a version: files added at or before it and not removed by then. */
  files(dataset: string, version: number): FileRow[] {
    return this.q.files.all(dataset, version, version);
  }

  /** Versions served as Iceberg snapshots: not expired, with an Iceberg reference; ascending. */
  snapshotVersions(dataset: string): VersionRow[] {
    return this.q.snapshotVersions.all(dataset);
  }
  /** snapshotVersions, of the given versions only (what refs name), without reading the others. */
  snapshotVersionsOf(dataset: string, versions: Iterable<number | undefined>): VersionRow[] {
    const wanted = [...new Set([...versions].filter((v): v is number => v !== undefined))].sort((a, b) => a - b);
    return wanted.flatMap((v) => {
      const row = this.q.version.get(dataset, v);
      return row && row.iceberg_metadata !== null && this.q.expiredSeq.get(dataset, v) === undefined ? [row] : [];
    });
  }
  newestSnapshotVersion(dataset: string): VersionRow | undefined {
    return this.q.newestSnapshotVersion.get(dataset);
  }
  /** The rows and bytes of each file a version added (what its snapshot summary counts). */
  addedFiles(dataset: string, version: number): { rows: number; bytes: number }[] {
    return this.q.addedFiles.all(dataset, version);
  }

  /** Every table, every row, in primary-key order: equal dumps mean equal catalogs. */
  canonicalDump(): string {
    const out: Record<string, unknown[]> = {};
    for (const [table, rows] of this.q.dump) out[table] = rows.all();
    return JSON.stringify(out);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * A commit record's Iceberg reference, if the catalog may serve it. Anyone who may publish on
 * lake.commits.* can forge a VersionCommitted whose reference points at another dataset's metadata (its
 * schemas and files would then be served under this table's name), outside the lake's metadata, or at
 * a key no store accepts: only keys under the dataset's own `datasets/<dataset>/metadata/` (where every
 * writer of versions puts them) stand; anything else is kept as no reference (null), never served.
 * The record itself stands or not by the commit log's rules; only its reference is dropped.
 */
export function icebergRef(r: Pick<VersionCommitted, "dataset" | "iceberg">): VersionCommitted["iceberg"] {
  const ref = r.iceberg;
  if (!ref) return null;
  const prefix = `datasets/${r.dataset}/metadata/`;
  const own = (key: string) => {
    if (!key.startsWith(prefix)) return false;
    try {
      validateKey(key);
      return true;
    } catch {
      return false;
    }
  };
  const count = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!own(ref.manifest_list) || !own(ref.metadata) || !count(ref.schema_id) || !count(ref.total_files)) return null;
  return ref;
}

function icebergColumns(ref: VersionCommitted["iceberg"]) {
  return {
    iceberg_manifest_list: ref?.manifest_list ?? null,
    iceberg_metadata: ref?.metadata ?? null,
    iceberg_schema_id: ref?.schema_id ?? null,
    iceberg_total_files: ref?.total_files ?? null,
  };
}

/** A record's lineage as columns; upstream positions that are not sequences are dropped, never served. */
function lineageColumns(l: VersionCommitted["lineage"]) {
  const seq = (n: number | null | undefined) => (typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null);
  const upstream = (l?.upstream ?? []).filter((u) => seq(u.through_seq) !== null);
  return {
    base_version: seq(l?.base_version),
    reverted_version: seq(l?.reverted_version),
    upstream: upstream.length > 0 ? JSON.stringify(upstream) : null,
    through_seq: upstream.length > 0 ? Math.max(...upstream.map((u) => u.through_seq)) : null,
    watermark: seq(l?.watermark),
  };
}

function currentFacts(ds: DatasetRow): CurrentFacts {
  return { policy: ds.policy, currentVersion: ds.current_version, rollbackFloor: ds.rollback_floor };
}
