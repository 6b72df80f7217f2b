import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { injectTrace } from "@lake/telemetry";
import { AppendRejectedError, CasConflictError, PublishOutcomeUnknownError, isWrongLastSequence, jetStreamErrorCode } from "./errors.ts";

export interface AppendOptions {
  /** Stream sequence of the last message the writer saw on this subject; 0 when it saw none. */
  expectedLastSubjectSeq: number;
  msgId?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Appends with a compare-and-set on the subject's last sequence. Returns the new stream sequence.
 * Throws CasConflictError when someone else appended first and PublishOutcomeUnknownError when the
 * reply was lost (the caller must re-read the subject to learn whether its record landed).
 */
export async function appendWithCas(js: JetStreamClient, subject: string, data: Uint8Array, opts: AppendOptions): Promise<number> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
  // Every log record carries the trace of the work that produced it (a commit, a verdict, a command).
  injectTrace(h);
  try {
    const ack = await js.publish(subject, data, {
      headers: h,
      msgID: opts.msgId,
      expect: { lastSubjectSequence: opts.expectedLastSubjectSeq },
      timeout: opts.timeoutMs ?? 5000,
    });
    return ack.seq;
  } catch (cause) {
    if (isWrongLastSequence(cause)) throw new CasConflictError(subject, opts.expectedLastSubjectSeq, { cause });
    // JetStream answered with an error: the record was not stored, and won't be on a retry.
    const code = jetStreamErrorCode(cause);
    if (code !== undefined) throw new AppendRejectedError(subject, code, { cause });
    throw new PublishOutcomeUnknownError(subject, { cause });
  }
}
