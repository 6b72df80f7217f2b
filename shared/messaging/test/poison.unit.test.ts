// The poison policy: a message failing for a maybe-transient reason is retried until it has failed
// `attempts` times over at least `ms`, then given up on, and stays given up on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { poisonPolicyFromEnv, StallGuard } from "../src/poison.ts";

test("gives up only when both the count and the time are used, and remembers it", () => {
  let now = 1000;
  const g = new StallGuard({ attempts: 3, ms: 2000 }, () => now);
  assert.equal(g.failed(7), false);
  assert.equal(g.failed(7), false);
  assert.equal(g.failed(7), false, "3 attempts, but within 2 s");
  now += 2000;
  assert.equal(g.failed(7), true, "4 attempts over 2 s");
  assert.equal(g.describe(), "4 attempts over 2 s");
  // Another message gets its own retries; the first stays given up on (a restarted consumer re-reads it).
  assert.equal(g.failed(9), false);
  assert.equal(g.failed(7), true);
  assert.equal(g.failed(9), false, "9's retries were not reset by re-reading 7");
  now += 2000;
  assert.equal(g.failed(9), true);
});

test("the policy is read from the environment, with clear errors", () => {
  assert.deepEqual(poisonPolicyFromEnv({}), { attempts: 3, ms: 2000 });
  assert.deepEqual(poisonPolicyFromEnv({ LAKE_POISON_RETRY_ATTEMPTS: "5", LAKE_POISON_RETRY_MS: "0" }), { attempts: 5, ms: 0 });
  assert.throws(() => poisonPolicyFromEnv({ LAKE_POISON_RETRY_ATTEMPTS: "0" }), /LAKE_POISON_RETRY_ATTEMPTS must be an integer from 1 to 1000/);
  assert.throws(() => poisonPolicyFromEnv({ LAKE_POISON_RETRY_MS: "1e3" }), /LAKE_POISON_RETRY_MS/);
});
