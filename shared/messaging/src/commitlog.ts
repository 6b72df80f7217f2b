// The commit log protocol. Every record of a dataset (data versions, quality verdicts, promotions,
// tags) goes to lake.commits.<dataset>, in one order, each appended with a compare-and-set on the
// subject's last sequence. The `Lake-Record` header names the Avro contract of the body. Records other
// than VersionCommitted carry `Lake-Version-Seq`, the sequence of the dataset's latest
// VersionCommitted when they were appended, so a committer finds its resume point in two reads.
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { logCodecs, isLogRecordKind, type LogRecord, type VersionCommitted } from "@lake/contracts";
import { STREAMS, subjects } from "./streams.ts";
import { appendWithCas } from "./append.ts";
import { CasConflictError } from "./errors.ts";

export const HEADERS = {
  record: "Lake-Record",
  schema: "Lake-Schema",
  versionSeq: "Lake-Version-Seq",
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
  /** The dataset's latest VersionCommitted and its sequence, if any. */
  version: { seq: number; record: VersionCommitted } | undefined;
}

export async function readCommitHead(jsm: JetStreamManager, dataset: string): Promise<CommitHead> {
  const last = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subjects.commits(dataset) });
  if (!last) return { seq: 0, version: undefined };
  const rec = decodeStored(last);
  if (rec?.kind === "VersionCommitted") return { seq: last.seq, version: { seq: last.seq, record: rec.body } };
  const versionSeq = Number(last.header?.get(HEADERS.versionSeq) ?? "0");
  if (!versionSeq) return { seq: last.seq, version: undefined };
  const vmsg = await jsm.streams.getMessage(STREAMS.commits, { seq: versionSeq });
  const vrec = vmsg ? decodeStored(vmsg) : undefined;
  if (vrec?.kind !== "VersionCommitted") throw new Error(`commit log: record ${last.seq} points at ${versionSeq}, which is not a VersionCommitted`);
  return { seq: last.seq, version: { seq: versionSeq, record: vrec.body } };
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
  if (record.kind !== "VersionCommitted") {
    const head = await readCommitHead(await js.jetstreamManager(), dataset);
    if (head.seq !== opts.expectedLastSeq) throw new CasConflictError(subjects.commits(dataset), opts.expectedLastSeq, { cause: new Error(`the last record is ${head.seq}`) });
    if (!head.version) throw new Error(`${record.kind} for ${dataset}: the dataset has no committed version to refer to`);
    headers[HEADERS.versionSeq] = String(head.version.seq);
  }
  return appendWithCas(js, subjects.commits(dataset), codec.encode(record.body), {
    expectedLastSubjectSeq: opts.expectedLastSeq,
    msgId: opts.msgId,
    headers,
  });
}

/**
 * Reads a dataset's commit log from the start through `untilSeq` (inclusive), in order, calling `fn`
 * for each record it knows. For services that keep a fold of the history (live file sets).
 */
export async function foldCommitLog(js: JetStreamClient, dataset: string, untilSeq: number, fn: (record: LogRecord, seq: number) => void): Promise<void> {
  if (untilSeq <= 0) return;
  const consumer = await js.consumers.get(STREAMS.commits, { filter_subjects: subjects.commits(dataset) });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages) {
      const rec = decodeLogRecord(m);
      if (rec) fn(rec, m.seq);
      if (m.seq >= untilSeq) break;
    }
  } finally {
    messages.stop();
  }
}
