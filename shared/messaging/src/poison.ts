// A message that fails for a reason that may pass (a schema this process hasn't seen yet, a registry
// copy behind) is retried by restarting the consumer at the service's own position. Retried forever,
// one such message froze its dataset with nothing to show for it. A StallGuard bounds the retries in
// count and time; past both the caller sets the message aside (quarantine, with the reason) and goes on.

export interface PoisonPolicy {
  /** Failures of the same message before it may be set aside... */
  attempts: number;
  /** ...and the least time from its first failure (a burst of quick retries is not enough). */
  ms: number;
}

/**
 * Short on purpose: the one transient case is a registry copy that is behind, and a consumer catches up
 * with the registry before it retries. A schema registered before the message was published is then
 * known; one still unknown after that was never registered (junk or forgery), so waiting longer only
 * lets each such message freeze its dataset for longer.
 */
export const DEFAULT_POISON_POLICY: PoisonPolicy = { attempts: 3, ms: 2_000 };

/** LAKE_POISON_RETRY_ATTEMPTS and LAKE_POISON_RETRY_MS, each defaulting to DEFAULT_POISON_POLICY. */
export function poisonPolicyFromEnv(env: Record<string, string | undefined>): PoisonPolicy {
  const num = (name: string, def: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    if (!/^[0-9]{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max)
      throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`);
    return Number(raw);
  };
  return {
    attempts: num("LAKE_POISON_RETRY_ATTEMPTS", DEFAULT_POISON_POLICY.attempts, 1, 1000),
    ms: num("LAKE_POISON_RETRY_MS", DEFAULT_POISON_POLICY.ms, 0, 86_400_000),
  };
}

/** How many given-up positions a guard remembers (a consumer that restarts re-reads them). */
const REMEMBER = 10_000;

/**
 * Tracks the one message a consumer is stuck on (the stalled position), and remembers the ones it gave
 * up on: a consumer that restarts from its committed position reads those again, and must not spend
 * its retries on them anew (two such messages would otherwise take turns resetting each other).
 */
export class StallGuard {
  private seq = -1;
  private firstAt = 0;
  private attempts = 0;
  private readonly givenUp = new Set<number>();

  constructor(
    private readonly policy: PoisonPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failure of the message at `seq`; true once it has used its retries (count and time). */
  failed(seq: number): boolean {
    if (this.givenUp.has(seq)) return true;
    const now = this.now();
    if (seq !== this.seq) {
      this.seq = seq;
      this.firstAt = now;
      this.attempts = 0;
    }
    this.attempts++;
    if (this.attempts < this.policy.attempts || now - this.firstAt < this.policy.ms) return false;
    this.givenUp.add(seq);
    if (this.givenUp.size > REMEMBER) this.givenUp.delete(this.givenUp.values().next().value!);
    return true;
  }

  /** What the guard says about the stuck message, for the reason it is set aside with. */
  describe(): string {
    return `${this.attempts} attempts over ${Math.round((this.now() - this.firstAt) / 1000)} s`;
  }

  /** Since when the consumer has been stuck at `seq`, or undefined if it is not. */
  stuckSince(seq: number): number | undefined {
    return seq === this.seq && this.attempts > 0 ? this.firstAt : undefined;
  }
}
