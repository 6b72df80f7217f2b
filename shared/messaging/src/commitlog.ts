// The commit log protocol. Every record of a dataset (data versions, quality verdicts, promotions,
// tags) goes to lake.commits.<dataset>, in one order, each appended with a compare-and-set on the
// subject's last sequence. The `Lake-Record` header names the Avro contract of the body. Every record
// carries `Lake-Version-Seq`, the sequence of the dataset's latest standing VersionCommitted when it
// was appended (for a VersionCommitted: the version it follows), so a committer finds its resume point
// in a few reads, and `Lake-Expected-Seq`, its compare-and-set token: a record whose token is not the
// record just before it on the subject is void (see standsAfter in append.ts) and every reader skips it.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { logCodecs, isLogRecordKind, isValidName, type LogRecord, type VersionCommitted } from "@lake/contracts";
import { STREAMS, subjects } from "./streams.ts";
import { EXPECTED_SEQ_HEADER, appendWithCas } from "./append.ts";
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

/** A canonical non-negative decimal integer below `below`, or undefined. */
function seqHeader(v: string | undefined, below: number): number | undefined {
  if (v === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(v)) return undefined;
  const n = Number(v);
  return n < below ? n : undefined;
}

/** What a commit-log message says about itself, before knowing what came before it on its subject. */
export interface InspectedRecord {
  seq: number;
  /** The dataset its subject names (never its body's: a body naming another dataset is void); not always a valid name. */
  dataset: string;
  /** The decoded record, or undefined when `problem` says why it can't stand. */
  record: LogRecord | undefined;
  /** Its compare-and-set token (Lake-Expected-Seq). */
  expected: number | undefined;
  /** Its Lake-Version-Seq pointer. */
  versionSeq: number | undefined;
  /** Why the record is void whatever came before it; undefined when it is well-formed. */
  problem: string | undefined;
}

/**
 * Reads one message of the commit log and says whether it is a well-formed lake record: lake headers
 * (a known Lake-Record kind, a compare-and-set token and a version pointer, both below its own
 * sequence), a body that decodes as that kind, and a body naming the dataset of its subject. Anything
 * else (junk, a record without headers, a body for another dataset) is void for every reader: skipped
 * and counted, never applied, never a reset. Whether it *stands* also depends on what came before it
 * (see standsAfter and LogJudge); this part depends on the message alone, so every reader agrees.
 */
export function inspectLogRecord(m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }): InspectedRecord {
  const prefix = subjects.commits("");
  const dataset = m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : "";
  const out: InspectedRecord = { seq: m.seq, dataset, record: undefined, expected: undefined, versionSeq: undefined, problem: undefined };
  const h = m.headers;
  const fail = (problem: string) => ({ ...out, record: undefined, problem });
  if (!isValidName(dataset)) return fail(`subject ${JSON.stringify(m.subject.slice(0, 100))} names no valid dataset`);
  const kind = h?.get(HEADERS.record) || undefined;
  if (!isLogRecordKind(kind)) return fail(kind === undefined ? "no Lake-Record header: not a lake record" : `unknown record kind ${JSON.stringify(kind.slice(0, 64))}`);
  const rawToken = h?.get(EXPECTED_SEQ_HEADER) || undefined;
  out.expected = seqHeader(rawToken, m.seq);
  if (out.expected === undefined) return fail(rawToken === undefined ? "no compare-and-set token (Lake-Expected-Seq): not appended by a lake writer" : `malformed compare-and-set token ${JSON.stringify(rawToken.slice(0, 32))}`);
  const rawPointer = h?.get(HEADERS.versionSeq) || undefined;
  out.versionSeq = seqHeader(rawPointer, m.seq);
  if (out.versionSeq === undefined) return fail(rawPointer === undefined ? "no version pointer (Lake-Version-Seq)" : `malformed version pointer ${JSON.stringify(rawPointer.slice(0, 32))}`);
  let record: LogRecord;
  try {
    record = { kind, body: logCodecs[kind].decode(m.data) } as LogRecord;
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  if (record.body.dataset !== dataset) return fail(`${kind} names dataset ${JSON.stringify(String(record.body.dataset).slice(0, 64))} but is on ${m.subject}`);
  out.record = record;
  return out;
}

/** Whether a VersionCommitted follows the dataset's latest standing version (number `latest`). */
function follows(r: VersionCommitted, latest: number): boolean {
  return r.parent_version === latest && r.version === latest + 1;
}

/**
 * Judges the records of one dataset's subject in order: a record stands when it is well-formed
 * (inspectLogRecord), was appended against the record just before it (standsAfter), and, for a data
 * version, follows the latest standing version. One rule for every reader that walks a subject.
 */
export class LogJudge {
  /** Records found void so far, with why. */
  readonly voids: { seq: number; why: string }[] = [];
  constructor(
    /** Sequence of the subject's record before the first one judged (0: none). */
    private prev = 0,
    /** Number of the latest standing version so far (0: none; undefined: unknown, the first version seen is taken as it comes). */
    public latestVersion: number | undefined = 0,
  ) {}

  /** The record if it stands, else undefined (and noted in `voids`). */
  judge(m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }): LogRecord | undefined {
    const r = inspectLogRecord(m);
    const prev = this.prev;
    this.prev = m.seq;
    let why = r.problem;
    if (!why && r.expected !== prev) why = `appended against ${r.expected}, but ${prev} is the record before it (a concurrent append won the compare-and-set)`;
    if (!why && r.record!.kind === "VersionCommitted" && this.latestVersion !== undefined && !follows(r.record!.body, this.latestVersion)) {
      why = `version ${r.record!.body.version} (parent ${r.record!.body.parent_version}) does not follow the latest standing version ${this.latestVersion}`;
    }
    if (why) {
      this.voids.push({ seq: m.seq, why });
      return undefined;
    }
    if (r.record!.kind === "VersionCommitted") this.latestVersion = r.record!.body.version;
    return r.record;
  }
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

const inspectStored = (m: StoredMsg) => inspectLogRecord({ seq: m.seq, subject: m.subject, data: m.data, headers: m.header });

/**
 * The dataset's last record and its latest standing version, in three reads whatever the history. A
 * standing last record's `Lake-Version-Seq` is exact: its writer read the head at the record's token
 * (readCommitHead, inductively) and nothing landed between token and record, or it would be void.
 * Only a void last record (a clustered server let two appends land, or something that is not a lake
 * record was published on the subject) makes this fold the dataset's records to find the latest
 * standing version: a void record can't send a committer back to an older version or to none.
 */
export async function readCommitHead(jsm: JetStreamManager, dataset: string): Promise<CommitHead> {
  const subject = subjects.commits(dataset);
  const last = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subject });
  if (!last) return { seq: 0, version: undefined };
  const head = inspectStored(last);
  if (head.record && (await nextOnSubject(jsm, subject, head.expected! + 1))?.seq === last.seq) {
    // Stands after its predecessor; the version it points at is the latest standing one before it.
    let pointed: CommitHead["version"];
    let pointerOk = head.versionSeq === 0;
    if (head.versionSeq! > 0) {
      const vmsg = await jsm.streams.getMessage(STREAMS.commits, { seq: head.versionSeq! });
      const v = vmsg && vmsg.subject === subject ? inspectStored(vmsg) : undefined;
      if (v?.record?.kind === "VersionCommitted") {
        pointed = { seq: v.seq, record: v.record.body };
        pointerOk = true;
      }
    }
    if (pointerOk) {
      if (head.record.kind !== "VersionCommitted") return { seq: last.seq, version: pointed };
      if (follows(head.record.body, pointed?.record.version ?? 0)) return { seq: last.seq, version: { seq: last.seq, record: head.record.body } };
    }
  }
  const judge = new LogJudge();
  let version: CommitHead["version"];
  await scanSubject(jsm.jetstream(), subject, 0, last.seq, (m) => {
    const r = judge.judge(m);
    if (r?.kind === "VersionCommitted") version = { seq: m.seq, record: r.body };
  });
  return { seq: last.seq, version };
}

/**
 * Calls `fn` for each message on `subject` after `afterSeq` through `untilSeq`, in order, with an
 * ordered consumer (one request per batch, not per record).
 */
async function scanSubject(
  js: JetStreamClient,
  subject: string,
  afterSeq: number,
  untilSeq: number,
  fn: (m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }) => void,
): Promise<void> {
  if (untilSeq <= afterSeq) return;
  const consumer = await js.consumers.get(STREAMS.commits, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages) {
      if (m.seq > untilSeq) break;
      fn(m);
      if (m.seq >= untilSeq || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
  }
}

/**
 * The dataset's records after `afterSeq` through `untilSeq` (default: to the end), in order, void ones
 * included and marked (`latestVersion`: the number of the latest standing version at `afterSeq`, if
 * known): what a writer that lost a compare-and-set needs to see to decide whether its record still holds.
 */
export async function recordsBetween(
  jsm: JetStreamManager,
  dataset: string,
  afterSeq: number,
  untilSeq = Number.POSITIVE_INFINITY,
  latestVersion?: number,
): Promise<{ seq: number; record: LogRecord | undefined; stands: boolean }[]> {
  const subject = subjects.commits(dataset);
  const judge = new LogJudge(afterSeq, latestVersion);
  const out: { seq: number; record: LogRecord | undefined; stands: boolean }[] = [];
  for (let prev = afterSeq; prev < untilSeq; ) {
    const m = await nextOnSubject(jsm, subject, prev + 1);
    if (!m || m.seq > untilSeq) break;
    const record = judge.judge({ seq: m.seq, subject: m.subject, data: m.data, headers: m.header });
    out.push({ seq: m.seq, record: record ?? inspectStored(m).record, stands: record !== undefined });
    prev = m.seq;
  }
  return out;
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
 * for each standing record (void ones are skipped, see LogJudge). For services that keep a fold of the
 * history (live file sets).
 */
export async function foldCommitLog(js: JetStreamClient, dataset: string, untilSeq: number, fn: (record: LogRecord, seq: number) => void): Promise<LogJudge> {
  const judge = new LogJudge();
  await scanSubject(js, subjects.commits(dataset), 0, untilSeq, (m) => {
    const rec = judge.judge(m);
    if (rec) fn(rec, m.seq);
  });
  return judge;
}
