// Invariants 1-3 under committer faults: kill -9 at each step of a commit, and racing committers.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { sampleEvents, sendHttp } from "@lake/client";
import { openLocalStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { assertExactlyOnce, covering, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
const accepted = new Set<string>();
let maxOffset = 0;
let batchNo = 0;

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

/** Sends a fresh batch of events and records what ingest accepted. */
async function send(n: number): Promise<number> {
  const events = sampleEvents(n, { prefix: `b${batchNo++}`, seed: batchNo });
  const r = await sendHttp(lake.producer, DATASET, events);
  assert.equal(r.status, 200);
  assert.equal(r.accepted, n);
  for (const res of r.results) accepted.add(res.event_id!);
  maxOffset = Math.max(maxOffset, r.max_offset!);
  return r.max_offset!;
}

/** Keys of every data file any committed version references. */
async function referencedKeys(): Promise<Set<string>> {
  const latest = await lake.catalog.version(DATASET, "latest");
  const keys = new Set<string>();
  for (let v = 1; v <= latest.version; v++) for (const f of (await lake.catalog.version(DATASET, v)).files) keys.add(f.key);
  return keys;
}

async function storedDataKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of openLocalStore(lake.storeRoot).list(`datasets/${DATASET}/data/`)) keys.push(o.key);
  return keys;
}

for (const point of ["after_parquet", "after_manifest", "after_commit"] as const) {
  test(`kill -9 of the committer ${point.replace("_", " ")} loses nothing and duplicates nothing`, async () => {
    await lake.services.get(`committer:${DATASET}`)?.stop();
    const atStart = new Set(await storedDataKeys());
    // The committer dies the 2nd time it reaches the point: one clean commit first, then the crash.
    const doomed = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: `${point}@2` });
    await covering(lake, await send(150));
    await send(150);
    const code = await doomed.exited;
    assert.equal(code, null, "the committer was killed by its failpoint");
    assert.match(doomed.logs(), new RegExp(`"failpoint":"${point}"`));
    const filesBefore = await storedDataKeys();
    await send(100); // accepted while no committer runs
    await lake.startCommitter(DATASET);
    await covering(lake, maxOffset);
    await assertExactlyOnce(lake, accepted);

    const referenced = await referencedKeys();
    const stored = await storedDataKeys();
    for (const key of referenced) assert.ok(stored.includes(key), `referenced file ${key} exists`);
    const orphans = filesBefore.filter((k) => !referenced.has(k) && !atStart.has(k));
    if (point === "after_commit") assert.deepEqual(orphans, [], "a crash after the commit point leaves no orphan");
    else assert.ok(orphans.length > 0, "the crashed write left files behind, and no version references them");
  });
}

test("a zombie committer that stalls before its commit loses the CAS and history stays linear", async () => {
  await lake.services.get(`committer:${DATASET}`)?.stop();
  // The zombie holds at its commit point until the test releases it (SIGUSR2): no timing involved.
  const zombie = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: "before_commit@1=wait", LAKE_COMMITTER_ID: "zombie" }, "zombie");
  const offset = await send(200);
  await waitFor("the zombie to stall at its commit point", () => (zombie.logs().includes('"failpoint":"before_commit"') ? true : undefined), {
    timeoutMs: 20_000,
  });
  const live = await lake.startCommitter(DATASET, { LAKE_COMMITTER_ID: "live" }, "live");
  const v = await covering(lake, offset);
  assert.equal(v.committer_id, "live", "the live committer committed the batch");
  // The zombie wakes up, loses the compare-and-set, re-reads the head and carries on from there.
  process.kill(zombie.pid, "SIGUSR2");
  await waitFor("the zombie to lose its commit race", () => (zombie.logs().includes("lost commit race") ? true : undefined), { timeoutMs: 20_000 });
  // Both keep running and racing on every later batch; history must stay one chain.
  for (let i = 0; i < 5; i++) await send(100);
  await covering(lake, maxOffset);
  await assertExactlyOnce(lake, accepted);
  await zombie.stop();
  await live.stop();
  lake.services.delete("zombie");
  lake.services.delete("live");
});
