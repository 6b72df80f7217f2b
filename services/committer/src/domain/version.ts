// Pure logic of a committer: what the next version looks like, given the head of the commit log and
// a buffered micro-batch. No I/O, no clock: time and ids come in as arguments.
import type { DomainContract, LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";

export interface BufferedEvent {
  /** Stream sequence of the event (the ingest offset). */
  seq: number;
  value: Record<string, unknown>;
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
}

export const initialState: CommitterState = { headSeq: 0, versionSeq: 0, version: 0, lastSourceSeq: 0, totalRows: 0 };

/** Folds one commit-log record into the state; records other than data versions only move the head. */
export function evolve(state: CommitterState, seq: number, record: LogRecord): CommitterState {
  if (record.kind !== "VersionCommitted") return { ...state, headSeq: seq };
  const r = record.body;
  return { headSeq: seq, versionSeq: seq, version: r.version, lastSourceSeq: r.source.last_seq, totalRows: r.total_rows };
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
}

export function dayPartition(epochMillis: number): string {
  return `dt=${new Date(epochMillis).toISOString().slice(0, 10)}`;
}

/**
 * Groups a batch into day partitions, dropping events at or below the committed position (replays
 * after a restart) and repeated keys within the batch.
 */
export function planBatch(state: CommitterState, events: readonly BufferedEvent[], contract: DomainContract): PlannedBatch | undefined {
  const byPartition = new Map<string, PartitionBatch>();
  const seen = new Set<string>();
  let firstSeq = 0;
  let lastSeq = 0;
  let rowCount = 0;
  let duplicateKeys = 0;
  let minT: number | null = null;
  let maxT: number | null = null;
  for (const e of events) {
    if (e.seq <= state.lastSourceSeq) continue;
    if (firstSeq === 0) firstSeq = e.seq;
    lastSeq = e.seq;
    const key = e.value[contract.keyField] as string;
    if (seen.has(key)) {
      duplicateKeys++;
      continue;
    }
    seen.add(key);
    const t = e.value[contract.eventTimeField] as number;
    if (minT === null || t < minT) minT = t;
    if (maxT === null || t > maxT) maxT = t;
    const partition = dayPartition(t);
    let p = byPartition.get(partition);
    if (!p) byPartition.set(partition, (p = { partition, rows: [], seqs: [] }));
    p.rows.push(e.value);
    p.seqs.push(e.seq);
    rowCount++;
  }
  if (lastSeq === 0) return undefined;
  const partitions = [...byPartition.values()].sort((a, b) => (a.partition < b.partition ? -1 : 1));
  return { firstSeq, lastSeq, partitions, rowCount, duplicateKeys, minEventTime: minT, maxEventTime: maxT };
}

export const keys = {
  dataFile: (dataset: string, partition: string, writeId: string, index: number) =>
    `datasets/${dataset}/data/${partition}/${writeId}-${String(index).padStart(3, "0")}.parquet`,
  manifest: (dataset: string, version: number, writeId: string) =>
    `datasets/${dataset}/manifests/v${String(version).padStart(12, "0")}-${writeId}.json`,
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
}

/** The manifest of the next version on top of `state`. Immutable once written: it names its version and parent. */
export function buildManifest(
  state: CommitterState,
  batch: PlannedBatch,
  files: LakeLog.DataFile[],
  ctx: { dataset: string; writeId: string; committerId: string; now: number; contract: DomainContract; stream: string; subject: string },
): Manifest {
  return {
    format: "lake.manifest/1",
    dataset: ctx.dataset,
    version: state.version + 1,
    parent_version: state.version,
    write_id: ctx.writeId,
    committer_id: ctx.committerId,
    created_at: ctx.now,
    schema: { name: ctx.contract.name, version: ctx.contract.version, fingerprint: ctx.contract.fingerprint },
    policy: ctx.contract.policy,
    added_files: files,
    removed_files: [],
    source: { stream: ctx.stream, subject: ctx.subject, first_seq: batch.firstSeq, last_seq: batch.lastSeq },
    row_count: batch.rowCount,
    total_rows: state.totalRows + batch.rowCount,
    min_event_time: batch.minEventTime,
    max_event_time: batch.maxEventTime,
  };
}

export function commitRecord(m: Manifest, manifestRef: LakeLog.ManifestRef): VersionCommitted {
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
  };
}
