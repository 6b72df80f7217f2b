export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
    this.name = "WaitTimeoutError";
  }
}

export function isWaitTimeout(e: unknown): e is WaitTimeoutError {
  return e instanceof WaitTimeoutError;
}

/**
 * Polls `fn` until it returns something other than undefined, and returns that. Tests wait on
 * observable progress this way instead of sleeping. An error thrown by `fn` ends the wait at once
 * (catch inside `fn` and return undefined to mean "not yet"). A call to `fn` that hangs does not
 * stall the wait past its deadline.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), timeoutMs);
  });
  try {
    for (;;) {
      const result = await Promise.race([Promise.resolve().then(fn), expired]);
      if (result === EXPIRED) break;
      if (result !== undefined) return result;
      const pause = Math.min(intervalMs, deadline - Date.now());
      if (pause <= 0) break;
      if ((await Promise.race([delay(pause), expired])) === EXPIRED) break;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new WaitTimeoutError(what, timeoutMs);
}

const EXPIRED: unique symbol = Symbol("expired");

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
