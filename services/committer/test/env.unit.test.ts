// The committer's configuration: a derived dataset's versions are cut on their own age limit.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { readEnv } from "../src/env.ts";

const saved = { ...process.env };
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

function envFor(dataset: string, extra: Record<string, string> = {}) {
  for (const k of ["LAKE_COMMIT_MAX_AGE_MS", "LAKE_DERIVED_COMMIT_MAX_AGE_MS", "LAKE_PULL_LINGER_MS"]) delete process.env[k];
  Object.assign(process.env, { NATS_URL: "nats://127.0.0.1:1", LAKE_STORE_ROOT: "/nonexistent/store", LAKE_DATASET: dataset, ...extra });
  return readEnv();
}

test("a domain dataset's versions are cut at 250 ms and a derived one's at 1000 ms, each with its own variable", () => {
  assert.equal(envFor("domain_events").maxAgeMs, 250);
  assert.equal(envFor("daily_user_totals").maxAgeMs, 1000);
  assert.equal(envFor("domain_events", { LAKE_COMMIT_MAX_AGE_MS: "100", LAKE_DERIVED_COMMIT_MAX_AGE_MS: "700" }).maxAgeMs, 100);
  assert.equal(envFor("daily_user_totals", { LAKE_COMMIT_MAX_AGE_MS: "100", LAKE_DERIVED_COMMIT_MAX_AGE_MS: "700" }).maxAgeMs, 700);
  assert.throws(() => envFor("daily_user_totals", { LAKE_DERIVED_COMMIT_MAX_AGE_MS: "0" }), /LAKE_DERIVED_COMMIT_MAX_AGE_MS/);
});

test("source events gather 20 ms between pulls unless LAKE_PULL_LINGER_MS says otherwise (0: a pull kept open)", () => {
  assert.equal(envFor("domain_events").pullLingerMs, 20);
  assert.equal(envFor("domain_events", { LAKE_PULL_LINGER_MS: "0" }).pullLingerMs, 0);
  assert.throws(() => envFor("domain_events", { LAKE_PULL_LINGER_MS: "5000" }), /LAKE_PULL_LINGER_MS/);
});
