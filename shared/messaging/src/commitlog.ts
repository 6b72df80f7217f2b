// The commit log protocol. Every record of a dataset (data versions, quality verdicts, promotions,
// tags) goes to lake.commits.<dataset>, in one order, each appended with a compare-and-set on the
// subject's last sequence. The `Lake-Record` header names the Avro contract of the body. Every record
// carries `Lake-Version-Seq`, the sequence of the dataset's latest standing VersionCommitted when it
// was appended (for a VersionCommitted: the version it follows), and `Lake-Expected-Seq`, its
// compare-and-set token. A record that breaks the protocol (see judgeNext: not a lake record of its
// subject's dataset, a token that is not the record just before it, a pointer that is not the latest
// standing version, a version that doesn't follow it) is void, and every reader skips it alike.
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { isLogRecordKind, isValidName, logCodecs, type LogRecord, type QualityVerdict, type VersionCommitted } from "@lake/contracts";
import type { Context } from "@lake/telemetry";

import { appendWithCas, EXPECTED_SEQ_HEADER, parseSeq } from "./append.ts";
import { CasConflictError } from "./errors.ts";
import { DEFAULT_FOLLOW_RETRY, follow } from "./follow.ts";
import { STREAMS, subjects } from "./streams.ts";

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
  const n = parseSeq(v);
  return n !== undefined && n < below ? n : undefined;
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
 * (see judgeNext); this part depends on the message alone, so every reader agrees.
 */
export function inspectLogRecord(m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }): InspectedRecord {
  const prefix = subjects.commits("");
  const dataset = m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : "";
  const out: InspectedRecord = { seq: m.seq, dataset, record: undefined, expected: undefined, versionSeq: undefined, problem: undefined };
  const h = m.headers;
  const fail = (problem: string) => ({ ...out, record: undefined, problem });
  if (!isValidName(dataset)) return fail(`subject ${JSON.stringify(m.subject.slice(0, 100))} names no valid dataset`);
  const kind = h?.get(HEADERS.record) || undefined;
  if (!isLogRecordKind(kind))
    return fail(kind === undefined ? "no Lake-Record header: not a lake record" : `unknown record kind ${JSON.stringify(kind.slice(0, 64))}`);
  const rawToken = h?.get(EXPECTED_SEQ_HEADER) || undefined;
  out.expected = seqHeader(rawToken, m.seq);
  if (out.expected === undefined)
    return fail(
      rawToken === undefined
        ? "no compare-and-set token (Lake-Expected-Seq): not appended by a lake writer"
        : `malformed compare-and-set token ${JSON.stringify(rawToken.slice(0, 32))}`,
    );
  const rawPointer = h?.get(HEADERS.versionSeq) || undefined;
  out.versionSeq = seqHeader(rawPointer, m.seq);
  if (out.versionSeq === undefined)
    return fail(rawPointer === undefined ? "no version pointer (Lake-Version-Seq)" : `malformed version pointer ${JSON.stringify(rawPointer.slice(0, 32))}`);
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

/** What a reader knows of one dataset's subject after judging its records in order. */
export interface JudgeState {
  /** Sequence of the last message judged (standing or void; 0: none). */
  prev: number;
  /** Number of the latest standing version (0: none; undefined: unknown, taken from the first version seen). */
  latestVersion: number | undefined;
  /** Sequence of the latest standing version (0: none; undefined: unknown, not checked). */
  latestVersionSeq: number | undefined;
}

export const EMPTY_JUDGE_STATE: JudgeState = { prev: 0, latestVersion: 0, latestVersionSeq: 0 };

/**
 * The one rule of the commit log, pure: whether a record stands after `state`, and the state after it.
 * A record stands when it is a well-formed lake record of its subject's dataset (inspectLogRecord), was
 * appended against the record just before it on the subject (its compare-and-set token), points at the
 * latest standing version (its Lake-Version-Seq, which committers resume from), and, for a data
 * version, follows that version. Each part is fixed once the record has landed, so every reader that
 * judges the subject in order decides alike, whoever wrote the record. The catalog's projection and
 * quality's state keep the same state in SQLite and apply this rule.
 */
export function judgeNext(state: JudgeState, r: InspectedRecord): { why: string | undefined; state: JudgeState } {
  const next: JudgeState = { ...state, prev: r.seq };
  let why = r.problem;
  if (!why && r.expected !== state.prev)
    why = `appended against ${r.expected}, but ${state.prev} is the record before it (a concurrent append won the compare-and-set)`;
  // (A record read from the log always has a pointer when it has no problem; one handed in without
  // headers by a trusted caller, e.g. a test of the projection, is not checked for it.)
  if (!why && state.latestVersionSeq !== undefined && r.versionSeq !== undefined && r.versionSeq !== state.latestVersionSeq) {
    why = `points at ${r.versionSeq} as the latest version, but the latest standing version is at ${state.latestVersionSeq}`;
  }
  const rec = r.record;
  if (!why && rec?.kind === "VersionCommitted" && state.latestVersion !== undefined && !follows(rec.body, state.latestVersion)) {
    why = `version ${rec.body.version} (parent ${rec.body.parent_version}) does not follow the latest standing version ${state.latestVersion}`;
  }
  if (!why && rec?.kind === "VersionCommitted") {
    next.latestVersion = rec.body.version;
    next.latestVersionSeq = r.seq;
  }
  return { why, state: next };
}

/** Judges the records of one dataset's subject in order (judgeNext), for readers that walk a subject. */
export class LogJudge {
  /** Records found void so far, with why. */
  readonly voids: { seq: number; why: string }[] = [];
  state: JudgeState;
  constructor(state: JudgeState = EMPTY_JUDGE_STATE) {
    this.state = state;
  }

  get latestVersion(): number | undefined {
    return this.state.latestVersion;
  }

  /** The record if it stands, else undefined (and noted in `voids`). */
  judge(m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }): LogRecord | undefined {
    const r = inspectLogRecord(m);
    const { why, state } = judgeNext(this.state, r);
    this.state = state;
    if (why !== undefined) {
      this.voids.push({ seq: m.seq, why });
      return undefined;
    }
    return r.record;
  }
}

export interface CommitHead {
  /** Sequence of the dataset's last record of any kind: the CAS token for the next append. */
  seq: number;
  /** The dataset's latest standing VersionCommitted and its sequence, if any. */
  version: { seq: number; record: VersionCommitted } | undefined;
  /** The first standing quality verdict of that version, if one has been appended (write-audit-publish waits for it). */
  verdict?: { seq: number; record: QualityVerdict } | undefined;
}

/** The first message on `subject` at or after `seq`, or null. */
function nextOnSubject(jsm: JetStreamManager, subject: string, seq: number): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(STREAMS.commits, { seq, next_by_subj: subject } as never);
}

const inspectStored = (m: StoredMsg) => inspectLogRecord({ seq: m.seq, subject: m.subject, data: m.data, headers: m.header });

/** What this process has judged of a dataset's subject: the judge's state and the latest standing version. */
interface Folded {
  state: JudgeState;
  version: CommitHead["version"];
  verdict: CommitHead["verdict"];
}

/**
 * Per connection (one NATS server or cluster), per dataset: the commit log as judged so far. A record's
 * standing can only be decided from the records before it, so a head read judges forward from here
 * instead of trusting the last record's own headers (a record that forges a token and a pointer would
 * send a committer back to an old version, or to none).
 */
const folds = new WeakMap<object, Map<string, Folded>>();

function foldsOf(jsm: JetStreamManager): Map<string, Folded> {
  // nats.js's API clients carry their connection; an instance without one caches on itself.
  const key = ((jsm as unknown as { nc?: object }).nc ?? jsm) as object;
  let m = folds.get(key);
  if (!m) folds.set(key, (m = new Map()));
  return m;
}

/** Judges at most this many new records with single reads before switching to a consumer. */
const STEP_READS = 8;

/**
 * The dataset's last record and its latest standing version. The first read of a dataset in a process
 * judges its whole subject (an ordered consumer: one request per thousand records); later reads judge
 * only the records that landed since, so a committer re-reading the head before each append pays for
 * one read plus the records appended since its last one (usually one or two).
 */
export async function readCommitHead(jsm: JetStreamManager, dataset: string): Promise<CommitHead> {
  const subject = subjects.commits(dataset);
  const cache = foldsOf(jsm);
  const last = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subject });
  if (!last) {
    cache.delete(dataset);
    return { seq: 0, version: undefined };
  }
  let start = cache.get(dataset);
  // A stream that was purged or recreated has gone back: judge it anew.
  if (start && start.state.prev > last.seq) start = undefined;
  const f: Folded = start ? { ...start } : { state: EMPTY_JUDGE_STATE, version: undefined, verdict: undefined };
  const apply = (m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }) => {
    const r = inspectLogRecord(m);
    const { why, state } = judgeNext(f.state, r);
    f.state = state;
    if (why !== undefined) return;
    if (r.record?.kind === "VersionCommitted") {
      f.version = { seq: r.seq, record: r.record.body };
      f.verdict = undefined;
    } else if (r.record?.kind === "QualityVerdict" && !f.verdict && r.record.body.version === f.version?.record.version) {
      // The first verdict of a version is its verdict (the catalog notes a second one as an anomaly).
      f.verdict = { seq: r.seq, record: r.record.body };
    }
  };
  for (let i = 0; f.state.prev < last.seq && i < STEP_READS; i++) {
    const m = await nextOnSubject(jsm, subject, f.state.prev + 1);
    if (!m || m.seq > last.seq) break;
    apply({ seq: m.seq, subject: m.subject, data: m.data, headers: m.header });
  }
  if (f.state.prev < last.seq) await scanSubject(jsm.jetstream(), subject, f.state.prev, last.seq, apply);
  // Concurrent reads may fold the same records: keep whichever got further.
  const cur = cache.get(dataset);
  if (!cur || cur.state.prev < f.state.prev) cache.set(dataset, f);
  return { seq: last.seq, version: f.version, verdict: f.verdict };
}

/**
 * Calls `fn` for each message on `subject` after `afterSeq` through `untilSeq`, in order, until then or
 * until nothing more is there (one request per batch, not per record). A read, not a follow: any error
 * (a stall, `fn`'s own throw) ends it, never a restart, because `fn` may have taken part of a batch.
 */
async function scanSubject(
  js: JetStreamClient,
  subject: string,
  afterSeq: number,
  untilSeq: number,
  fn: (m: { seq: number; subject: string; data: Uint8Array; headers?: HeaderGetter }) => void,
): Promise<void> {
  if (untilSeq <= afterSeq) return;
  const reading = await follow({
    nc: connectionOf(js),
    js,
    stream: STREAMS.commits,
    subject,
    position: () => afterSeq,
    until: { seq: untilSeq, whenCaughtUp: true },
    batch: { maxRecords: SCAN_BATCH },
    retry: { ...DEFAULT_FOLLOW_RETRY, maxRestarts: 0 },
    handle: (batch) => {
      for (const m of batch) fn(m);
    },
  });
  await reading.done;
}

/** Records a scan asks for per request. */
const SCAN_BATCH = 1000;

/** The connection a JetStream context was made on (nats.js's API clients carry it, untyped). */
function connectionOf(js: JetStreamClient): NatsConnection {
  const nc = (js as unknown as { nc?: NatsConnection }).nc;
  if (!nc) throw new TypeError("this JetStream client carries no NATS connection to read the commit log with");
  return nc;
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
  const judge = new LogJudge({ prev: afterSeq, latestVersion, latestVersionSeq: undefined });
  const out: { seq: number; record: LogRecord | undefined; stands: boolean }[] = [];
  for (let prev = afterSeq; prev < untilSeq;) {
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
  opts: { expectedLastSeq: number; msgId?: string; ctx?: Context },
): Promise<number> {
  const codec = logCodecs[record.kind] as { encode(v: unknown): Uint8Array; fingerprint: string };
  const headers: Record<string, string> = { [HEADERS.record]: record.kind, [HEADERS.schema]: codec.fingerprint };
  const head = await readCommitHead(await js.jetstreamManager(false), dataset);
  if (head.seq !== opts.expectedLastSeq)
    throw new CasConflictError(subjects.commits(dataset), opts.expectedLastSeq, { cause: new Error(`the last record is ${head.seq}`) });
  if (!head.version && record.kind !== "VersionCommitted") throw new Error(`${record.kind} for ${dataset}: the dataset has no committed version to refer to`);
  // A version must follow the latest standing one, whatever the writer's own view says.
  if (record.kind === "VersionCommitted" && record.body.parent_version !== (head.version?.record.version ?? 0)) {
    throw new CasConflictError(subjects.commits(dataset), opts.expectedLastSeq, {
      cause: new Error(
        `version ${record.body.version} follows ${record.body.parent_version}, but the latest standing version is ${head.version?.record.version ?? 0}`,
      ),
    });
  }
  headers[HEADERS.versionSeq] = String(head.version?.seq ?? 0);
  return appendWithCas(js, subjects.commits(dataset), codec.encode(record.body), {
    expectedLastSubjectSeq: opts.expectedLastSeq,
    // Per token: a retry of the same append (unknown outcome) is deduplicated, while an append of the
    // same record against a newer head is not answered with a void copy that landed earlier.
    msgId: opts.msgId === undefined ? undefined : `${opts.msgId}@${opts.expectedLastSeq}`,
    headers,
    ctx: opts.ctx,
  });
}

/**
 * Reads a dataset's commit log through `untilSeq` (inclusive), in order, calling `fn` for each standing
 * record (void ones are skipped, see judgeNext). From the start, or from `from`: the judge's state at a
 * point the caller has judged already (e.g. a head it read), to fold only what came after it. For
 * services that keep a fold of the history (live file sets) or look at what landed since a head.
 */
export async function foldCommitLog(
  js: JetStreamClient,
  dataset: string,
  untilSeq: number,
  fn: (record: LogRecord, seq: number) => void,
  from: JudgeState = EMPTY_JUDGE_STATE,
): Promise<LogJudge> {
  const judge = new LogJudge(from);
  await scanSubject(js, subjects.commits(dataset), from.prev, untilSeq, (m) => {
    const rec = judge.judge(m);
    if (rec) fn(rec, m.seq);
  });
  return judge;
}
