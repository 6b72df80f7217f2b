import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { isWaitTimeout, waitFor, WaitTimeoutError } from "../src/index.ts";

describe("waitFor", () => {
  test("returns the first non-undefined value", async () => {
    let calls = 0;
    const value = await waitFor("the third poll", () => (++calls >= 3 ? `done after ${calls}` : undefined), {
      intervalMs: 1,
    });
    assert.equal(value, "done after 3");
  });

  test("falsy values other than undefined count as done", async () => {
    assert.equal(await waitFor("zero", async () => 0), 0);
    assert.equal(await waitFor("false", () => false), false);
  });

  test("times out with an error naming what it waited for", async () => {
    await assert.rejects(
      waitFor("consumer to reach seq 42", () => undefined, { timeoutMs: 100, intervalMs: 10 }),
      (e: unknown) => {
        assert.ok(isWaitTimeout(e));
        assert.ok(e instanceof WaitTimeoutError);
        assert.equal(e.message, "timed out after 100 ms waiting for consumer to reach seq 42");
        return true;
      },
    );
  });

  test("a poll that never settles still times out", async () => {
    await assert.rejects(
      waitFor("a hung probe", () => new Promise<number>(() => undefined), { timeoutMs: 100 }),
      /waiting for a hung probe/,
    );
  });

  test("an error from the poll ends the wait at once", async () => {
    await assert.rejects(
      waitFor("never", () => {
        throw new Error("probe broke");
      }),
      /probe broke/,
    );
  });
});
