// isNatsUnavailable: what a caller may retry later (NATS restarting or unreachable), told apart from a
// refusal, anywhere in an error's cause chain.
import assert from "node:assert/strict";
import { test } from "node:test";

import { errors as natsErrors } from "@nats-io/nats-core";

import { CasConflictError, isNatsUnavailable, PublishOutcomeUnknownError } from "../src/index.ts";

test("timeouts, closed or failed connections, no responders and unknown append outcomes are unavailability, also as causes", { timeout: 5_000 }, () => {
  const timeout = new natsErrors.TimeoutError();
  assert.equal(isNatsUnavailable(timeout), true);
  assert.equal(isNatsUnavailable(new natsErrors.ClosedConnectionError()), true);
  assert.equal(isNatsUnavailable(new PublishOutcomeUnknownError("lake.commits.x", { cause: timeout })), true);
  assert.equal(isNatsUnavailable(new Error("reading the head failed", { cause: new Error("wrapped", { cause: timeout }) })), true);
});

test("refusals and other errors are not", { timeout: 5_000 }, () => {
  assert.equal(isNatsUnavailable(new CasConflictError("lake.commits.x", 3, { cause: new Error("the last record is 4") })), false);
  assert.equal(isNatsUnavailable(new Error("boom")), false);
  assert.equal(isNatsUnavailable("not an error"), false);
  assert.equal(isNatsUnavailable(undefined), false);
});
