// appendUntilStands, the loop every compare-and-set writer runs, on its own: a lost race starts a new
// round (after the caller's catch-up), up to the policy's rounds; anything else ends it at once; the
// waits follow the policy. (Writers racing on a real nats-server: append.int.test.ts and the services'.)
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { appendUntilStands, casRetryDelayMs } from "../src/cas-loop.ts";
import { CasConflictError } from "../src/errors.ts";

const lost = (seq: number) => new CasConflictError("lake.commits.x", seq, { cause: new Error("wrong last sequence") });

describe("appendUntilStands", { timeout: 30_000 }, () => {
  test("the first round that lands wins; each lost round is followed by the caller's catch-up", async () => {
    const log: string[] = [];
    const out = await appendUntilStands(
      { maxAttempts: 5 },
      async (n) => {
        log.push(`round ${n}`);
        if (n < 3) throw lost(n);
        return `landed on round ${n}`;
      },
      { onLost: (err, k) => void log.push(`catch up after ${k} (${(err as Error).name})`) },
    );
    assert.equal(out, "landed on round 3");
    assert.deepEqual(log, ["round 1", "catch up after 1 (CasConflictError)", "round 2", "catch up after 2 (CasConflictError)", "round 3"]);
  });

  test("every round lost: the last conflict is thrown after maxAttempts rounds, or what `exhausted` makes of it", async () => {
    let rounds = 0;
    await assert.rejects(
      appendUntilStands({ maxAttempts: 4 }, async (n) => {
        rounds++;
        throw lost(n);
      }),
      (e: unknown) => e instanceof CasConflictError && e.expectedLastSeq === 4,
    );
    assert.equal(rounds, 4);
    class Contended extends Error {}
    await assert.rejects(
      appendUntilStands({ maxAttempts: 2 }, async (n) => Promise.reject(lost(n)), {
        exhausted: (err, n) => new Contended(`gave up after ${n}`, { cause: err }),
      }),
      (e: unknown) => e instanceof Contended && e.message === "gave up after 2" && e.cause instanceof CasConflictError,
    );
  });

  test("an error that is not a lost race ends the loop at once, without a catch-up", async () => {
    let rounds = 0;
    let caughtUp = 0;
    await assert.rejects(
      appendUntilStands(
        { maxAttempts: 10 },
        async () => {
          rounds++;
          throw new TypeError("incompatible schema");
        },
        { onLost: () => void caughtUp++ },
      ),
      TypeError,
    );
    assert.deepEqual([rounds, caughtUp], [1, 0]);
  });

  test("onLost can end the loop with a value (the record landed after all), or with its own error; it is told the last round", async () => {
    const finals: boolean[] = [];
    const out = await appendUntilStands({ maxAttempts: 3 }, async (n) => Promise.reject(lost(n)), {
      onLost: (_err, k, final) => {
        finals.push(final);
        return k === 2 ? { stands: "it landed" } : undefined;
      },
    });
    assert.deepEqual([out, finals], ["it landed", [false, false]]);
    const seen: boolean[] = [];
    await assert.rejects(
      appendUntilStands({ maxAttempts: 2 }, async (n) => Promise.reject(lost(n)), { onLost: (_e, _k, final) => void seen.push(final) }),
      CasConflictError,
    );
    assert.deepEqual(seen, [false, true], "the last lost round is looked at too, then the conflict is thrown");
    await assert.rejects(
      appendUntilStands({ maxAttempts: 5 }, async (n) => Promise.reject(lost(n)), {
        onLost: () => {
          throw new RangeError("another data version won");
        },
      }),
      RangeError,
    );
  });

  test("retryOn widens what counts as a lost race (an unknown publish outcome, say)", async () => {
    class Unknown extends Error {}
    let rounds = 0;
    const out = await appendUntilStands({ maxAttempts: 3 }, async () => (++rounds < 2 ? Promise.reject(new Unknown()) : "ok"), {
      retryOn: (e) => e instanceof Unknown,
    });
    assert.deepEqual([out, rounds], ["ok", 2]);
  });

  test("waits: none by default; otherwise initialMs growing by factor up to maxMs, and they are taken", async () => {
    assert.equal(casRetryDelayMs({ maxAttempts: 5 }, 3), 0);
    const policy = { maxAttempts: 5, initialMs: 20, factor: 3, maxMs: 100 };
    assert.deepEqual(
      [1, 2, 3, 4].map((k) => casRetryDelayMs(policy, k)),
      [20, 60, 100, 100],
    );
    const started = performance.now();
    await appendUntilStands({ maxAttempts: 3, initialMs: 40, factor: 1 }, async (n) => (n < 3 ? Promise.reject(lost(n)) : n));
    assert.ok(performance.now() - started >= 75, "two waits of 40 ms were taken");
  });

  test("a policy without a round is refused", async () => {
    await assert.rejects(
      appendUntilStands({ maxAttempts: 0 }, async () => 1),
      RangeError,
    );
  });
});
