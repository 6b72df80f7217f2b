// The commit log protocol. Every record of a dataset (data versions, quality verdicts, promotions,
// tags) goes to lake.commits.<dataset>, in one order, each appended with a compare-and-set on the
// subject's last sequence. The `Lake-Record` header names the Avro contract of the body. Every record
// carries `Lake-Version-Seq`, the sequence of the dataset's latest standing VersionCommitted when it
// was appended (for a VersionCommitted: the version it follows), so a committer finds its resume point
// in a few reads, and `Lake-Expected-Seq`, its compare-and-set token: a record whose token is not the
// record just before it on the subject is void (see standsAfter in append.ts) and every reader skips it.
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { logCodecs, isLogRecordKind, type LogRecord, type VersionCommitted } from "@lake/contracts";
import { STREAMS, subjects } from "./streams.ts";
import { EXPECTED_SEQ_HEADER, appendWithCas, standsAfter } from "./append.ts";
import { CasConflictError } from "./errors.ts";

export const HEADERS = {
  record: "Lake-Record",
  schema: "Lake-Schema",
  versionSeq: "Lake-Version-Seq",
  expectedSeq: EXPECTED_SEQ_HEADER,
} as const;

type HeaderGetter = { get(k: string): string } | undefined;

/** Decodes a commit-log message; undefined for a record kind this build doesn't know (newer writer). */
export function decodeLogRecord(msg: { data: Uint8Array; headers?: HeaderGetter }): LogRecord | undefined {
  const kind = msg.headers?.get(HEADERS.record);
  if (!isLogRecordKind(kind)) return undefined;
  return { kind, body: logCodecs[kind].decode(msg.data) } as LogRecord;
}

export interface CommitHead {
  /** Sequence of the dataset's last record of any kind: the CAS token for the next append. */
  seq: number;
  /** The dataset's latest standing VersionCommitted and its sequence, if any. */
  version: { seq: number; record: VersionCommitted } | undefined;
}

/** The first message on `subject` at or after `seq`, or null. */
function nextOnSubject(jsm: JetStreamManager, subject: string, seq: number): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(STREAMS.commits, { seq, next_by_subj: subject } as never);
}

/**
 * The dataset's last record and its latest standing version, in two or three reads whatever the
 * history. A standing last record's `Lake-Version-Seq` is exact: its writer read the head at the
 * record's token (readCommitHead, inductively) and nothing landed between token and record, or it
 * would be void. Only a void last record (rare: a clustered server let two appends land) makes this
 * walk the records after the version it points at, so a version that landed beside it can't mislead
 * a committer into resuming from an older one.
 */
export async function readCommitHead(jsm: JetStreamManager, dataset: string): Promise<CommitHead> {
  const subject = subjects.commits(dataset);
  const last = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subject });
  if (!last) return { seq: 0, version: undefined };
  const pointer = last.header?.get(HEADERS.versionSeq);
  const lastRec = () => decodeStored(last);
  if (!pointer) {
    // Written before records carried the pointer: a version stands for itself.
    const rec = lastRec();
    return { seq: last.seq, version: rec?.kind === "VersionCommitted" ? { seq: last.seq, record: rec.body } : undefined };
  }
  const token = last.header?.get(EXPECTED_SEQ_HEADER);
  const stands = token === undefined || (await nextOnSubject(jsm, subject, Number(token) + 1))?.seq === last.seq;
  if (stands && last.header?.get(HEADERS.record) === "VersionCommitted") {
    const rec = lastRec();
    if (rec?.kind === "VersionCommitted") return { seq: last.seq, version: { seq: last.seq, record: rec.body } };
  }
  let version: CommitHead["version"];
  const prev = Number(pointer);
  if (prev > 0) {
    const vmsg = await jsm.streams.getMessage(STREAMS.commits, { seq: prev });
    const vrec = vmsg ? decodeStored(vmsg) : undefined;
    if (vrec?.kind !== "VersionCommitted") throw new Error(`commit log: record ${last.seq} points at ${prev}, which is not a VersionCommitted`);
    version = { seq: prev, record: vrec.body };
  }
  if (stands) return { seq: last.seq, version };
  for (const e of await recordsBetween(jsm, dataset, prev, last.seq)) {
    if (e.stands && e.record?.kind === "VersionCommitted") version = { seq: e.seq, record: e.record.body };
  }
  return { seq: last.seq, version };
}

/**
 * The dataset's records after `afterSeq` through `untilSeq` (default: to the end), in order, void ones
 * included and marked: what a writer that lost a compare-and-set needs to see to decide whether its
 * record still holds, and what readCommitHead walks after a void head.
 */
export async function recordsBetween(
  jsm: JetStreamManager,
  dataset: string,
  afterSeq: number,
  untilSeq = Number.POSITIVE_INFINITY,
): Promise<{ seq: number; record: LogRecord | undefined; stands: boolean }[]> {
  const subject = subjects.commits(dataset);
  const out: { seq: number; record: LogRecord | undefined; stands: boolean }[] = [];
  for (let prev = afterSeq; prev < untilSeq; ) {
    const m = await nextOnSubject(jsm, subject, prev + 1);
    if (!m || m.seq > untilSeq) break;
    out.push({ seq: m.seq, record: decodeStored(m), stands: standsAfter(m.header, prev) });
    prev = m.seq;
  }
  return out;
}

function decodeStored(msg: StoredMsg): LogRecord | undefined {
  // A stored message carries its headers as `header`, a consumed one as `headers`.
  return decodeLogRecord({ data: msg.data, headers: msg.header });
}

/**
 * Appends one record to a dataset's commit log with a CAS on `expectedLastSeq` (the seq of the last
 * record the writer saw on the subject). For every kind but VersionCommitted, the `Lake-Version-Seq`
 * header is read from the log itself, not from the writer's view: the head is re-read and must still
 * be `expectedLastSeq` (else CasConflictError), and the append's CAS keeps it so until the record lands.
 * A writer that failed to decode some newer version can't point committers at an older one.
 */
export async function appendLogRecord(
  js: JetStreamClient,
  dataset: string,
  record: LogRecord,
  opts: { expectedLastSeq: number; msgId?: string },
): Promise<number> {
  const codec = logCodecs[record.kind] as { encode(v: unknown): Uint8Array; fingerprint: string };
  const headers: Record<string, string> = { [HEADERS.record]: record.kind, [HEADERS.schema]: codec.fingerprint };
  const head = await readCommitHead(await js.jetstreamManager(false), dataset);
  if (head.seq !== opts.expectedLastSeq) throw new CasConflictError(subjects.commits(dataset), opts.expectedLastSeq, { cause: new Error(`the last record is ${head.seq}`) });
  if (!head.version && record.kind !== "VersionCommitted") throw new Error(`${record.kind} for ${dataset}: the dataset has no committed version to refer to`);
  // A version must follow the latest standing one, whatever the writer's own view says.
  if (record.kind === "VersionCommitted" && record.body.parent_version !== (head.version?.record.version ?? 0)) {
    throw new CasConflictError(subjects.commits(dataset), opts.expectedLastSeq, {
      cause: new Error(`version ${record.body.version} follows ${record.body.parent_version}, but the latest standing version is ${head.version?.record.version ?? 0}`),
    });
  }
  headers[HEADERS.versionSeq] = String(head.version?.seq ?? 0);
  return appendWithCas(js, subjects.commits(dataset), codec.encode(record.body), {
    expectedLastSubjectSeq: opts.expectedLastSeq,
    // Per token: a retry of the same append (unknown outcome) is deduplicated, while an append of the
    // same record against a newer head is not answered with a void copy that landed earlier.
    msgId: opts.msgId === undefined ? undefined : `${opts.msgId}@${opts.expectedLastSeq}`,
    headers,
  });
}

/**
 * Reads a dataset's commit log from the start through `untilSeq` (inclusive), in order, calling `fn`
 * for each standing record it knows (void ones are skipped). For services that keep a fold of the
 * history (live file sets).
 */
export async function foldCommitLog(js: JetStreamClient, dataset: string, untilSeq: number, fn: (record: LogRecord, seq: number) => void): Promise<void> {
  if (untilSeq <= 0) return;
  const consumer = await js.consumers.get(STREAMS.commits, { filter_subjects: subjects.commits(dataset) });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    let prev = 0;
    for await (const m of messages) {
      const stands = standsAfter(m.headers, prev);
      prev = m.seq;
      const rec = stands ? decodeLogRecord(m) : undefined;
      if (rec) fn(rec, m.seq);
      if (m.seq >= untilSeq) break;
    }
  } finally {
    messages.stop();
  }
}
