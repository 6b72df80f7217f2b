// The one loop every writer of a compare-and-set subject runs: decide from what it read, append with
// the sequence it read as the token, and when another writer got there first (CasConflictError, or a
// record that landed void), read again and decide again, a bounded number of times. The committer, the
// quality checker, the catalog's commands, the schema registry, compaction and backfill each give it
// their policy as data; what a round reads and decides stays theirs.
import { isCasConflict } from "./errors.ts";

/** How often a writer tries to land its record, and how long it waits between tries. */
export interface CasRetryPolicy {
  /** Rounds at most (the first included); the last round's conflict is thrown. */
  maxAttempts: number;
  /** Wait before the second round, ms (default 0: at once, the other writer is done)... */
  initialMs?: number;
  /** ...multiplied by this for each further round (default 2)... */
  factor?: number;
  /** ...and never longer than this (default 1000). */
  maxMs?: number;
}

/** The wait before round `n + 1` after `n` lost rounds. */
export function casRetryDelayMs(policy: CasRetryPolicy, lost: number): number {
  const initial = policy.initialMs ?? 0;
  if (initial <= 0) return 0;
  return Math.min(policy.maxMs ?? 1000, initial * (policy.factor ?? 2) ** Math.max(0, lost - 1));
}

export interface CasLoopOptions<T> {
  /** Which errors mean "lost the race, read again" (default: isCasConflict). Anything else ends the loop at once. */
  retryOn?: (err: unknown) => boolean;
  /**
   * After a lost round (`lost` rounds so far; `final` when no round is left): look at what won. Return
   * `{ stands }` to end the loop with that value (the record landed after all, or what won makes it
   * unneeded), throw to end it with an error, or return nothing to catch up and go on.
   */
  onLost?: (err: unknown, lost: number, final: boolean) => Promise<{ stands: T } | undefined | void> | { stands: T } | undefined | void;
  /** The error to throw when every round was lost (default: the last round's own error). */
  exhausted?: (err: unknown, attempts: number) => unknown;
}

/**
 * Runs `round(n)` (n = 1, 2, ...) until it returns: each round reads the subject's head, decides and
 * appends against it. A lost race (retryOn) is looked at (onLost) and starts a new round, up to
 * policy.maxAttempts rounds.
 */
export async function appendUntilStands<T>(policy: CasRetryPolicy, round: (attempt: number) => Promise<T>, opts: CasLoopOptions<T> = {}): Promise<T> {
  if (!(Number.isSafeInteger(policy.maxAttempts) && policy.maxAttempts >= 1))
    throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${policy.maxAttempts}`);
  const retryOn = opts.retryOn ?? isCasConflict;
  for (let attempt = 1; ; attempt++) {
    try {
      return await round(attempt);
    } catch (err) {
      if (!retryOn(err)) throw err;
      const final = attempt >= policy.maxAttempts;
      const settled = await opts.onLost?.(err, attempt, final);
      if (settled) return settled.stands;
      if (final) throw opts.exhausted ? opts.exhausted(err, attempt) : err;
      const wait = casRetryDelayMs(policy, attempt);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
