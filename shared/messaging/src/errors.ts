import { JetStreamApiError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/nats-core";

export class MessagingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MessagingError";
  }
}

/** The compare-and-set append lost: someone else appended to the subject first. A normal outcome. */
export class CasConflictError extends MessagingError {
  constructor(
    readonly subject: string,
    readonly expectedLastSeq: number,
    options: { cause: unknown },
  ) {
    super(`compare-and-set append to ${subject} lost: its last sequence is no longer ${expectedLastSeq}`, options);
    this.name = "CasConflictError";
  }
}

/** The append may or may not have been stored (timeout, connection loss): re-read before retrying. */
export class PublishOutcomeUnknownError extends MessagingError {
  constructor(
    readonly subject: string,
    options: { cause: unknown },
  ) {
    super(`append to ${subject} has an unknown outcome; re-read the subject before retrying`, options);
    this.name = "PublishOutcomeUnknownError";
  }
}

/**
 * JetStream refused the append (message too large, no stream for the subject, ...): retrying won't help,
 * except when the code is 503 (JetStream not available right now), which isNatsUnavailable counts as
 * unavailability.
 */
export class AppendRejectedError extends MessagingError {
  constructor(
    readonly subject: string,
    readonly code: number,
    options: { cause: unknown },
  ) {
    super(`JetStream refused the append to ${subject} (error ${code}): ${(options.cause as Error).message}`, options);
    this.name = "AppendRejectedError";
  }
}

export function isAppendRejected(e: unknown): e is AppendRejectedError {
  return e instanceof AppendRejectedError;
}

/** An API error JetStream answered (as opposed to a timeout or a lost connection). */
export function jetStreamErrorCode(e: unknown): number | undefined {
  return e instanceof JetStreamApiError ? e.code : undefined;
}

export function isCasConflict(e: unknown): e is CasConflictError {
  return e instanceof CasConflictError;
}

/**
 * NATS can't be reached right now (a timeout, a closed or reconnecting connection, no JetStream to
 * answer, an append whose outcome is unknown), anywhere in the cause chain: a caller should retry
 * later, nothing was refused for good.
 */
export function isNatsUnavailable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if (
      c instanceof PublishOutcomeUnknownError ||
      c instanceof natsErrors.TimeoutError ||
      c instanceof natsErrors.ClosedConnectionError ||
      c instanceof natsErrors.ConnectionError ||
      c instanceof natsErrors.DrainingConnectionError ||
      c instanceof natsErrors.NoRespondersError ||
      (c instanceof JetStreamApiError && c.code === 503)
    )
      return true;
  }
  return false;
}

export function isPublishOutcomeUnknown(e: unknown): e is PublishOutcomeUnknownError {
  return e instanceof PublishOutcomeUnknownError;
}

// JetStream's error code for "wrong last sequence" (Nats-Expected-Last-Subject-Sequence mismatch).
const JS_WRONG_LAST_SEQUENCE = 10071;

export function isWrongLastSequence(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JS_WRONG_LAST_SEQUENCE;
}

/** A consumer's messages ended though nobody stopped them (the connection closed them, or nats.js gave up). */
export class ConsumerEndedError extends MessagingError {
  constructor(
    readonly stream: string,
    readonly subject: string,
  ) {
    super(`the consumer of ${subject} on ${stream} ended without being stopped`);
    this.name = "ConsumerEndedError";
  }
}
