// Pure logic of a committer: what the next version looks like, given the head of the commit log and
// a buffered micro-batch. No I/O, no clock: time and ids come in as arguments.
import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";

import { type DatasetSpec, keyOf, MODES } from "./spec.ts";

export interface BufferedEvent {
  /** Stream sequence of the event (the ingest offset). */
  seq: number;
  value: Record<string, unknown>;
  /** The trace the event belongs to (its traceparent header), linked from the commit's span. */
  traceparent?: string;
  /** Its partition, when the caller has worked it out already (spec.partition otherwise). */
  partition?: string;
}

/** What a committer knows of its dataset: the head of the commit log. */
export interface CommitterState {
  /** Stream sequence of the last record of any kind on the dataset's commit subject (0: none): the CAS token. */
  headSeq: number;
  /** Stream sequence of the latest VersionCommitted (0: none). */
  versionSeq: number;
  version: number;
  /** Last source stream sequence covered by a committed version (0: none). */
  lastSourceSeq: number;
  totalRows: number;
  /** Ordered sources (CDC): highest source position committed (for the record; ordering is per key); null when none or not tracked. */
  maxSourcePosition?: number | null;
  /** Derived datasets: the upstream position the head version covers (its lineage), and its watermark. */
  upstreamThroughSeq?: number;
  watermark?: number | null;
}

export const initialState: CommitterState = { headSeq: 0, versionSeq: 0, version: 0, lastSourceSeq: 0, totalRows: 0 };

/** Folds one commit-log record into the state; records other than data versions only move the head. */
export function evolve(state: CommitterState, seq: number, record: LogRecord): CommitterState {
  if (record.kind !== "VersionCommitted") return { ...state, headSeq: seq };
  const r = record.body;
  const next: CommitterState = { headSeq: seq, versionSeq: seq, version: r.version, lastSourceSeq: r.source.last_seq, totalRows: r.total_rows };
  if (r.max_source_position !== null && r.max_source_position !== undefined) next.maxSourcePosition = r.max_source_position;
  const upstream = r.lineage?.upstream ?? [];
  if (upstream.length > 0) next.upstreamThroughSeq = Math.max(...upstream.map((u) => u.through_seq));
  if (r.lineage?.watermark !== null && r.lineage?.watermark !== undefined) next.watermark = r.lineage.watermark;
  return next;
}

export interface PartitionBatch {
  partition: string;
  rows: Record<string, unknown>[];
  seqs: number[];
}

export interface PlannedBatch {
  firstSeq: number;
  lastSeq: number;
  partitions: PartitionBatch[];
  rowCount: number;
  /** Events skipped because an earlier one in the batch had the same key (retries past the dedupe window within one batch). */
  duplicateKeys: number;
  minEventTime: number | null;
  maxEventTime: number | null;
  /** Ordered sources: the highest source position in the batch (or the state's, if higher). */
  maxSourcePosition?: number | null;
  /** Derived datasets: the highest upstream position of a marker in the batch (0: none), and the newest watermark. */
  upstreamThroughSeq?: number;
  watermark?: number | null;
}

/**
 * Groups a batch into partitions, dropping events at or below the committed offset (replays after a
 * restart). Append: a repeated key within the batch is a retry, the first copy stays. Upsert: the
 * newest row of a key replaces the earlier ones; the merge with the partition's live rows then keeps
 * the newest change per key (mergePartition). Ordering is per key, never dataset-wide: one change
 * with an extreme source position must not make every later change of other keys look stale.
 */
export function planBatch(
  state: CommitterState,
  events: readonly BufferedEvent[],
  spec: Pick<DatasetSpec, "mode" | "key" | "eventTimeField" | "partition" | "versionField" | "orderField" | "sourcePositionField" | "upstream">,
): PlannedBatch | undefined {
  const positionField = spec.sourcePositionField;
  let maxPosition = state.maxSourcePosition ?? null;
  const byPartition = new Map<string, PartitionBatch>();
  const where = new Map<string, { p: PartitionBatch; i: number }>();
  let firstSeq = 0;
  let lastSeq = 0;
  let duplicateKeys = 0;
  let minT: number | null = null;
  let maxT: number | null = null;
  const upsert = spec.mode === MODES.upsert;
  const upstream = spec.upstream;
  let throughSeq = 0;
  let watermark: number | null = null;
  for (const e of events) {
    if (e.seq <= state.lastSourceSeq) continue;
    if (firstSeq === 0) firstSeq = e.seq;
    lastSeq = e.seq;
    if (upstream) {
      // A position marker moves the version's upstream position and is no row.
      const at = upstream.position(e.value);
      const w = at ? at.watermark : upstream.watermark(e.value);
      if (w !== null && (watermark === null || w > watermark)) watermark = w;
      if (at) {
        if (at.throughSeq > throughSeq) throughSeq = at.throughSeq;
        continue;
      }
    }
    if (positionField) {
      const pos = e.value[positionField] as number;
      if (maxPosition === null || pos > maxPosition) maxPosition = pos;
    }
    const key = keyOf(spec, e.value);
    const t = e.value[spec.eventTimeField] as number;
    const seen = where.get(key);
    if (seen) {
      duplicateKeys++;
      if (!upsert || olderThan(spec, e.value, seen.p.rows[seen.i]!)) continue;
      seen.p.rows[seen.i] = e.value;
      seen.p.seqs[seen.i] = e.seq;
    }
    if (minT === null || t < minT) minT = t;
    if (maxT === null || t > maxT) maxT = t;
    if (seen) continue;
    const partition = e.partition ?? spec.partition(e.value);
    let p = byPartition.get(partition);
    if (!p) byPartition.set(partition, (p = { partition, rows: [], seqs: [] }));
    where.set(key, { p, i: p.rows.length });
    p.rows.push(e.value);
    p.seqs.push(e.seq);
  }
  if (lastSeq === 0) return undefined;
  // Only markers, none past the head's position (a replay's): nothing a new version would say.
  if (upstream && byPartition.size === 0 && throughSeq <= (state.upstreamThroughSeq ?? 0)) return undefined;
  const partitions = [...byPartition.values()].sort((a, b) => (a.partition < b.partition ? -1 : 1));
  const rowCount = partitions.reduce((n, p) => n + p.rows.length, 0);
  const plan: PlannedBatch = { firstSeq, lastSeq, partitions, rowCount, duplicateKeys, minEventTime: minT, maxEventTime: maxT };
  if (positionField) plan.maxSourcePosition = maxPosition;
  if (upstream) {
    plan.upstreamThroughSeq = throughSeq;
    plan.watermark = watermark;
  }
  return plan;
}

/** Upsert order: `a` loses to `b` when its version field is lower, or equal with a lower order field (rows arrive in offset order otherwise). */
export function olderThan(spec: Pick<DatasetSpec, "versionField" | "orderField">, a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (!spec.versionField) return false;
  const va = a[spec.versionField] as number;
  const vb = b[spec.versionField] as number;
  if (va !== vb || !spec.orderField) return va < vb;
  return orderValue(a[spec.orderField]) < orderValue(b[spec.orderField]);
}

/** An order-field value for comparison: null (a row written before the field existed) is lowest. */
export function orderValue(v: unknown): number {
  return typeof v === "number" ? v : -1;
}

export const keys = {
  dataFile: (dataset: string, partition: string, writeId: string, index: number) =>
    `datasets/${dataset}/data/${partition}/${writeId}-${String(index).padStart(3, "0")}.parquet`,
  manifest: (dataset: string, version: number, writeId: string) => `datasets/${dataset}/manifests/v${String(version).padStart(12, "0")}-${writeId}.json`,
};

export interface Manifest {
  format: "lake.manifest/1";
  dataset: string;
  version: number;
  parent_version: number;
  write_id: string;
  committer_id: string;
  created_at: number;
  schema: { name: string; version: number; fingerprint: string };
  policy: string;
  added_files: LakeLog.DataFile[];
  removed_files: string[];
  source: LakeLog.SourceRange;
  row_count: number;
  total_rows: number;
  min_event_time: number | null;
  max_event_time: number | null;
  max_source_position: number | null;
  /** What made the version: "append" for a committer's micro-batch. */
  operation: string;
  /** The version as an Iceberg snapshot (written before the manifest). */
  iceberg?: LakeLog.IcebergSnapshotRef;
  /**
   * The write id of the parent version (null for the first): the store alone then tells which of two
   * manifests of one version number (a winner's and a losing writer's) a later version built on.
   */
  parent_write_id?: string | null;
  /** What the version was made from beyond its source range (write-audit-publish reverts, derived upstream positions). */
  lineage?: LakeLog.Lineage | null;
}

/**
 * What a derived version was made from: its upstream (the source domain's stream) through the highest
 * marker it covers, never lower than its parent's, and the newest watermark. Undefined for other datasets.
 */
export function derivedLineage(state: CommitterState, batch: PlannedBatch, spec: Pick<DatasetSpec, "upstream">): LakeLog.Lineage | undefined {
  const u = spec.upstream;
  if (!u) return undefined;
  const throughSeq = Math.max(state.upstreamThroughSeq ?? 0, batch.upstreamThroughSeq ?? 0);
  const marks = [state.watermark, batch.watermark].filter((w): w is number => typeof w === "number");
  return {
    base_version: null,
    reverted_version: null,
    upstream: [{ dataset: u.dataset, stream: u.stream, subject: u.subject, through_seq: throughSeq }],
    watermark: marks.length > 0 ? Math.max(...marks) : null,
  };
}

/** What every manifest starts with: the version after the head's, who wrote it, when, and the dataset's schema and policy. */
function manifestHead(
  state: CommitterState,
  ctx: { writeId: string; committerId: string; now: number; spec: Pick<DatasetSpec, "dataset" | "schema" | "policy"> },
): Pick<Manifest, "format" | "dataset" | "version" | "parent_version" | "write_id" | "committer_id" | "created_at" | "schema" | "policy"> {
  return {
    format: "lake.manifest/1",
    dataset: ctx.spec.dataset,
    version: state.version + 1,
    parent_version: state.version,
    write_id: ctx.writeId,
    committer_id: ctx.committerId,
    created_at: ctx.now,
    schema: ctx.spec.schema,
    policy: ctx.spec.policy,
  };
}

/** The manifest of the next version on top of `state`. Immutable once written: it names its version and parent. */
export function buildManifest(
  state: CommitterState,
  batch: PlannedBatch,
  files: LakeLog.DataFile[],
  ctx: { writeId: string; committerId: string; now: number; spec: Pick<DatasetSpec, "dataset" | "schema" | "policy" | "source" | "upstream"> },
  /** Upsert: the files the new ones replace, with their row counts. */
  removed: readonly { key: string; rows: number }[] = [],
): Manifest {
  const written = files.reduce((n, f) => n + f.rows, 0);
  const dropped = removed.reduce((n, f) => n + f.rows, 0);
  const lineage = derivedLineage(state, batch, ctx.spec);
  return {
    ...manifestHead(state, ctx),
    added_files: files,
    removed_files: removed.map((f) => f.key),
    source: { stream: ctx.spec.source.stream, subject: ctx.spec.source.subject, first_seq: batch.firstSeq, last_seq: batch.lastSeq },
    row_count: batch.rowCount,
    total_rows: state.totalRows - dropped + written,
    min_event_time: batch.minEventTime,
    max_event_time: batch.maxEventTime,
    max_source_position: batch.maxSourcePosition ?? null,
    operation: "append",
    ...(lineage ? { lineage } : {}),
  };
}

/** The commit record of a version: its manifest, and (written before it) the version as an Iceberg snapshot. */
export function commitRecord(m: Manifest, manifestRef: LakeLog.ManifestRef, iceberg: LakeLog.IcebergSnapshotRef | null): VersionCommitted {
  return {
    dataset: m.dataset,
    version: m.version,
    parent_version: m.parent_version,
    write_id: m.write_id,
    committer_id: m.committer_id,
    committed_at: m.created_at,
    schema_name: m.schema.name,
    schema_version: m.schema.version,
    schema_fingerprint: m.schema.fingerprint,
    manifest: manifestRef,
    added_files: m.added_files,
    removed_files: m.removed_files,
    source: m.source,
    row_count: m.row_count,
    total_rows: m.total_rows,
    min_event_time: m.min_event_time,
    max_event_time: m.max_event_time,
    policy: m.policy,
    max_source_position: m.max_source_position,
    operation: m.operation,
    iceberg,
    lineage: m.lineage ?? null,
  };
}

/** The operation of a version that takes a failed audit's batch back out (write-audit-publish). */
export const REVERT = "revert";

/**
 * The version that reverts `failed` (a critical dataset's version that failed its audit): its files are
 * its parent's again. The batch's files go (removed), and the files it replaced (an upsert's rewritten
 * partitions) come back as `restored` copies under this write's id: a file is added once in a history.
 * It accounts for the same source range (those events went to quarantine; reading resumes after them)
 * and names the version it restores (`base_version`, the failed one's parent, which passed) and the one
 * it reverts. Derived datasets keep their upstream positions: those inputs were processed.
 */
export function buildRevertManifest(
  state: CommitterState,
  failed: VersionCommitted,
  restored: LakeLog.DataFile[],
  ctx: { writeId: string; committerId: string; now: number; spec: Pick<DatasetSpec, "dataset" | "schema" | "policy"> },
): Manifest {
  const added = failed.added_files.reduce((n, f) => n + f.rows, 0);
  const back = restored.reduce((n, f) => n + f.rows, 0);
  return {
    ...manifestHead(state, ctx),
    added_files: restored,
    removed_files: failed.added_files.map((f) => f.key),
    source: failed.source,
    row_count: 0,
    total_rows: state.totalRows - added + back,
    min_event_time: null,
    max_event_time: null,
    max_source_position: failed.max_source_position ?? null,
    operation: REVERT,
    lineage: {
      base_version: failed.parent_version,
      reverted_version: failed.version,
      upstream: failed.lineage?.upstream ?? [],
      watermark: failed.lineage?.watermark ?? null,
    },
  };
}

/** The partition a data file's key names (keys.dataFile): `datasets/<d>/data/<partition>/<write>-<n>.parquet`. */
export function partitionOfKey(dataset: string, key: string): string | undefined {
  const prefix = `datasets/${dataset}/data/`;
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.lastIndexOf("/");
  return slash > 0 ? rest.slice(0, slash) : undefined;
}
