// The commit point through a commit log that doesn't answer (the node leading its stream lost, the
// connection down): the committer keeps the batch it has written and appends it once the log answers
// again, instead of dropping it and writing its events a second time (its first files left as garbage).
import assert from "node:assert/strict";
import { basename } from "node:path";
import { after, before, test } from "node:test";

import { sampleEvents, sendHttp } from "@lake/client";
import { openLocalStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { assertExactlyOnce, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

/** The write ids of the dataset's Parquet files in the store (`<write id>-<index>.parquet`). */
async function storedWriteIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const o of openLocalStore(lake.storeRoot).list(`datasets/${DATASET}/data/`)) ids.add(/^(.+)-\d{3}\.parquet$/.exec(basename(o.key))![1]!);
  return ids;
}

test("a batch written before the commit log stopped answering is committed as written once it answers again", { timeout: 180_000 }, async () => {
  const nats = lake.nats;
  assert.ok(nats, "the lake runs its own nats-server");
  const accepted = new Set<string>();
  const send = async (n: number, prefix: string) => {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(n, { prefix, seed: accepted.size + 1 }));
    assert.equal(r.accepted, n);
    for (const res of r.results) accepted.add(res.event_id!);
    return r.max_offset!;
  };
  await lake.catalog.waitCovering(DATASET, await send(50, "warm"), 60_000);
  const before = await storedWriteIds();

  // A committer that holds at its commit point, its batch's files written, until SIGUSR2.
  await lake.services.get(`committer:${DATASET}`)!.stop();
  const committer = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: "before_commit@1=wait" });
  const offset = await send(200, "held");
  await waitFor("the committer to hold at its commit point", () => (committer.logs().includes('"failpoint":"before_commit"') ? true : undefined), {
    timeoutMs: 60_000,
  });
  const written = [...(await storedWriteIds())].filter((id) => !before.has(id));
  assert.equal(written.length, 1, `one batch written and not committed: ${written.join(", ")}`);

  // The commit log goes away (kill -9 of the only nats-server) and the committer is let go.
  await nats.kill9();
  process.kill(committer.pid, "SIGUSR2");
  try {
    await waitFor(
      "the committer to find the commit log not answering",
      () => (committer.logs().includes("the commit log does not answer") ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
  } finally {
    await nats.restart();
  }

  const v = await lake.catalog.waitCovering(DATASET, offset, 90_000);
  assert.equal(v.write_id, written[0], "the version covering the batch is the batch written before the outage");
  await waitFor("the committer to say the log answers again", () => (committer.logs().includes("the commit log answers again") ? true : undefined), {
    timeoutMs: 30_000,
  });
  assert.ok(!committer.logs().includes("flush failed"), `no batch was dropped:\n${committer.logs()}`);
  const referenced = new Set<string>();
  const latest = await lake.catalog.version(DATASET, "latest");
  for (let n = 1; n <= latest.version; n++) for (const f of (await lake.catalog.version(DATASET, n)).files) referenced.add(f.key);
  const garbage = [...(await storedWriteIds())].filter((id) => ![...referenced].some((k) => basename(k).startsWith(`${id}-`)));
  assert.deepEqual(garbage, [], "every Parquet file written is in a version (none left from a dropped batch)");

  await lake.catalog.waitCovering(DATASET, await send(50, "after"), 60_000);
  await assertExactlyOnce(lake, accepted);
});
