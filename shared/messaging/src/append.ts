import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { type Context, injectTrace } from "@lake/telemetry";

import { AppendRejectedError, CasConflictError, isWrongLastSequence, jetStreamErrorCode, PublishOutcomeUnknownError } from "./errors.ts";

/**
 * The sequence a record was appended against (its writer's compare-and-set token). A record stands
 * only if this is the sequence of the record just before it on its subject: see `standsAfter`.
 */
export const EXPECTED_SEQ_HEADER = "Lake-Expected-Seq";

type HeaderGetter = { get(k: string): string } | undefined;

export interface AppendOptions {
  /** Stream sequence of the last message the writer saw on this subject; 0 when it saw none. */
  expectedLastSubjectSeq: number;
  msgId?: string;
  headers?: Record<string, string>;
  /** How long to wait for JetStream's answer (default: the client's own request timeout). */
  timeoutMs?: number;
  /** The trace the record continues (default: the active context; services hand it on themselves). */
  ctx?: Context;
}

/** A stream sequence written in a header: a canonical decimal integer, or undefined. */
export function parseSeq(v: string | undefined): number | undefined {
  return v !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : undefined;
}

/** The compare-and-set token a record was appended with; undefined for a record written without one. */
export function expectedSeqOf(headers: HeaderGetter): number | undefined {
  return parseSeq(headers?.get(EXPECTED_SEQ_HEADER) || undefined);
}

/**
 * Whether a record stands after the record just before it on its subject (`prevSeq`, 0: none), as far
 * as its compare-and-set token tells. JetStream's compare-and-set is meant to make every append follow
 * the one its writer saw, but a clustered nats-server 2.9 lets two appends against the same sequence
 * both land (nats-server #4320). The second one's recorded token then names a record that is no longer
 * just before it: every reader treats it as void (not applied, not followed), and its writer learns it
 * lost (appendWithCas). A record without a token was not appended by a lake writer: void too. Whether
 * a record stands never changes once it has landed, so every reader decides alike. (Commit-log readers
 * use LogJudge, which also checks the record itself.)
 */
export function standsAfter(headers: HeaderGetter, prevSeq: number): boolean {
  return expectedSeqOf(headers) === prevSeq;
}

/**
 * Appends with a compare-and-set on the subject's last sequence. Returns the new stream sequence.
 * Throws CasConflictError when someone else appended first and PublishOutcomeUnknownError when the
 * reply was lost (the caller must re-read the subject to learn whether its record landed).
 *
 * The server's check is not trusted alone: after the append, the subject's first record after the
 * expected sequence must be ours. If another append against the same sequence landed first, ours is
 * void (see `standsAfter`) and this throws CasConflictError like a refused append.
 */
export async function appendWithCas(js: JetStreamClient, subject: string, data: Uint8Array, opts: AppendOptions): Promise<number> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
  h.set(EXPECTED_SEQ_HEADER, String(opts.expectedLastSubjectSeq));
  // Every log record carries the trace of the work that produced it (a commit, a verdict, a command).
  injectTrace(h, opts.ctx);
  let ack: { seq: number; stream: string };
  try {
    ack = await js.publish(subject, data, {
      headers: h,
      msgID: opts.msgId,
      expect: { lastSubjectSequence: opts.expectedLastSubjectSeq },
      timeout: opts.timeoutMs ?? js.getOptions().timeout,
    });
  } catch (cause) {
    if (isWrongLastSequence(cause)) throw new CasConflictError(subject, opts.expectedLastSubjectSeq, { cause });
    // JetStream answered with an error: the record was not stored (and won't be on a retry, unless it was a 503).
    const code = jetStreamErrorCode(cause);
    if (code !== undefined) throw new AppendRejectedError(subject, code, { cause });
    throw new PublishOutcomeUnknownError(subject, { cause });
  }
  let first: { seq: number } | null;
  try {
    const jsm = await js.jetstreamManager(false);
    first = await jsm.streams.getMessage(ack.stream, { seq: opts.expectedLastSubjectSeq + 1, next_by_subj: subject } as never);
  } catch (cause) {
    // Stored, but whether it stands is unknown until the subject is read again.
    throw new PublishOutcomeUnknownError(subject, { cause });
  }
  if (first?.seq !== ack.seq) {
    throw new CasConflictError(subject, opts.expectedLastSubjectSeq, {
      cause: new Error(`record ${ack.seq} landed but is void: record ${first?.seq} was appended after ${opts.expectedLastSubjectSeq} first`),
    });
  }
  return ack.seq;
}
