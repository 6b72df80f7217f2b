// The whole lake on a 3-node NATS cluster (loopback, R3 streams), as the deployment runs it:
// - LAKE_STREAM_REPLICAS reaches whichever service creates the streams first (startLake starts the
//   catalog before ingest), so every stream has 3 replicas;
// - with any one node killed -9 the lake keeps committing: a consumer that lived on the dead node
//   (ordered consumers have one replica) is replaced from the service's own position instead of
//   waiting for the node to come back;
// - afterwards every accepted event is in the dataset exactly once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { type LakeHandle, produce, produceDefaults, startLake } from "@lake/app";
import { CatalogClient } from "@lake/client";
import { streamReplicaState } from "@lake/messaging";
import { waitFor } from "@lake/testing";
import { type NatsCluster, startNatsCluster } from "@lake/testing";

import { assertExactlyOnce, DATASET } from "./helpers.ts";

/** The warnings and errors every service logged, for a failure's message. */
function serviceLogs(lake: LakeHandle): string {
  return [...lake.services]
    .map(
      ([name, h]) =>
        `--- ${name} ---\n${h
          .logs()
          .split("\n")
          .filter((l) => /"level":"(warn|error)"/.test(l))
          .slice(-15)
          .join("\n")}`,
    )
    .join("\n");
}

test("on a 3-node cluster the lake creates R3 streams and keeps committing with any one node down", { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lake-cluster-"));
  let cluster: NatsCluster | undefined;
  let lake: LakeHandle | undefined;
  try {
    cluster = await startNatsCluster(join(dir, "cluster"));
    lake = await startLake({ dataDir: join(dir, "lake"), natsUrl: cluster.url, env: { LAKE_STREAM_REPLICAS: "3", LAKE_COMMIT_MAX_AGE_MS: "100" } });
    const catalog = new CatalogClient(lake.catalogUrl);

    const streams = await streamReplicaState(cluster.url);
    assert.deepEqual(
      streams.filter((s) => s.replicas !== 3).map((s) => `${s.stream}: ${s.replicas}`),
      [],
      "every stream was created with LAKE_STREAM_REPLICAS=3 replicas",
    );

    const accepted = new Set<string>();
    const send = async (round: string) => {
      const r = await produce({
        ...produceDefaults,
        ingestUrl: lake!.ingestUrl,
        ingestToken: lake!.producer.token,
        count: 300,
        rate: 1000,
        duplicates: 0,
        invalid: 0,
        seed: accepted.size + 1,
        prefix: `c${round}`,
      });
      assert.equal(r.failed, 0, `round ${round}: every batch answered`);
      for (const id of r.acceptedIds) accepted.add(id);
      return r.maxOffset;
    };
    await catalog.waitCovering(DATASET, await send("start"), 60_000);

    // Each node in turn: the one holding a service's consumer is among them.
    for (let node = 0; node < cluster.nodes.length; node++) {
      await t.test(`node ${node + 1} down`, async () => {
        await cluster!.kill9(node);
        try {
          const started = performance.now();
          const offset = await send(`n${node}`);
          // Generous: the node stays down until this passes, so a consumer stuck on it never would.
          const v = await catalog.waitCovering(DATASET, offset, 90_000);
          assert.ok(v.version > 0);
          console.log(`node ${node + 1} down: 300 events committed in ${Math.round(performance.now() - started)} ms (version ${v.version})`);
        } catch (e) {
          throw new Error(`with node ${node + 1} down: ${(e as Error).message}\n${serviceLogs(lake!)}`, { cause: e });
        } finally {
          // Back up whatever happened, or the next node's loss would leave the cluster without a quorum.
          await cluster!.restart(node);
        }
        // Every stream whole again before the next node goes, or two would be down at once.
        await waitFor(
          "every stream's three replicas to be current",
          async () => ((await streamReplicaState(cluster!.url).catch(() => [])).every((s) => s.current === 3) ? true : undefined),
          { timeoutMs: 90_000, intervalMs: 500 },
        );
      });
    }

    await catalog.waitCovering(DATASET, await send("end"), 60_000);
    await assertExactlyOnce(lake, accepted);
  } finally {
    await lake?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
