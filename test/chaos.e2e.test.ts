// The chaos suite's short form, for CI (`npm run chaos` runs the long one, on a single server and on a
// 3-node cluster): one seeded run of the whole lake with producers retrying and re-sending, a reader
// checking every version it is served, and a kill -9 + restart of every service and of nats-server at
// random moments.
// After healing: every acknowledged event exactly once, daily totals equal a recomputation, versions
// linear with no fork, no partial version read, rebuilt catalog = live catalog, fsck clean.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FAULTS } from "../chaos/faults.ts";
import { runChaos } from "../chaos/harness.ts";

const SEED = 20261125;

test("chaos: a kill -9 of each service and of nats-server at a random moment keeps every invariant", { timeout: 240_000 }, async () => {
  const lines: string[] = [];
  const r = await runChaos({
    seed: SEED,
    durationS: 20,
    topology: "single",
    faults: [FAULTS.ingest, FAULTS.catalog, FAULTS.committer, FAULTS.aggregator, FAULTS.quality, FAULTS.nats],
    extraFaults: 0,
    rate: 800,
    producers: 3,
    log: (l) => lines.push(l),
  });
  const report = `\n${lines.join("\n")}\n${r.checks.map((c) => `${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`).join("\n")}${r.dataDir ? `\ndata kept in ${r.dataDir}` : ""}`;
  assert.deepEqual(
    r.faults.map((f) => f.kind).sort(),
    [FAULTS.aggregator, FAULTS.catalog, FAULTS.committer, FAULTS.ingest, FAULTS.quality, FAULTS.nats].sort(),
    `one fault of each kind${report}`,
  );
  assert.ok(r.acknowledged > 2000, `events flowed: ${r.acknowledged} acknowledged${report}`);
  assert.ok(r.producer.duplicateSends > 0 && r.rejected > 0, `duplicates and invalid records were sent${report}`);
  assert.equal(r.lost, 0, `no acknowledged event lost${report}`);
  assert.equal(r.duplicated, 0, `no event twice${report}`);
  for (const c of r.checks) assert.ok(c.ok, `${c.name}: ${c.detail}${report}`);
  // Every invariant was checked: a check that quietly stops running (a moved CLI path once dropped
  // `lake fsck`) must fail here, not shrink the list.
  const names = r.checks.map((c) => c.name);
  for (const expected of [
    "every acknowledged event exactly once",
    "daily_user_totals = independent recomputation",
    "versions linear, no fork",
    "no reader saw a partial version",
    "rebuilt catalog = live catalog",
    "fsck: manifests and files match the log",
    "lake fsck clean",
    "services survived and reconnected by themselves",
  ]) {
    assert.ok(names.includes(expected), `the check "${expected}" ran${report}`);
  }
});
