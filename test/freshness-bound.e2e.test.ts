// Freshness a consumer can verify (issue 13): a read states its bound (max staleness), the answer carries
// the version's freshness, and the client refuses a version that does not meet the bound. With the
// committer stopped and events still accepted, a read with maxStalenessMs 2000 (and `lake query
// --max-staleness 2s`) is accepted while the oldest uncommitted event is younger than 2 s, refused with a
// clear error once it is older, and accepted again after the committer has caught up.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { isStaleVersion, sampleEvents, sendHttp, StaleVersionError } from "@lake/client";
import { waitFor } from "@lake/testing";

import { covering, DATASET, withLake } from "./helpers.ts";

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");

let lake: Awaited<ReturnType<typeof withLake>>;

function lakeCli(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["LAKE_TOKEN", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "NATS_URL", "LAKE_STORE_ROOT"]) delete env[k];
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 60_000, env });
}

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

test("a read with max staleness 2 s refuses a version once the lake has stopped committing for longer", { timeout: 180_000 }, async () => {
  const first = await sendHttp(lake.producer, DATASET, sampleEvents(50, { prefix: "fresh", seed: 1 }));
  await covering(lake, first.max_offset!);
  // Everything accepted is committed: the latest version holds its whole source.
  const fresh = await lake.catalog.version(DATASET, "latest", { maxStalenessMs: 2000 });
  assert.equal(fresh.freshness!.staleness_ms, 0);
  assert.equal(fresh.freshness!.source_position, fresh.source.last_offset);
  const ok = await lakeCli(["query", "SELECT count(*) AS n FROM domain_events", "--max-staleness", "2s"]);
  assert.match(ok.stdout, /version \d+/);

  // The lake stops committing; ingest still accepts events.
  await lake.services.get(`committer:${DATASET}`)!.stop();
  const pending = await sendHttp(lake.producer, DATASET, sampleEvents(20, { prefix: "pending", seed: 2 }));
  assert.equal(pending.status, 200);
  const acceptedAt = Date.now();
  // Younger than the bound: still served (the catalog sees the event the version lacks).
  const young = await lake.catalog.version(DATASET, "latest", { maxStalenessMs: 2000 });
  if (Date.now() - acceptedAt < 2000) assert.equal(young.version, fresh.version);
  const stale = await waitFor(
    "the oldest uncommitted event to be older than 2 s",
    async () => {
      const v = await lake.catalog.version(DATASET, "latest");
      return (v.freshness?.staleness_ms ?? 0) > 2000 ? v : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  assert.equal(stale.version, fresh.version, "no version was committed meanwhile");
  assert.equal(stale.freshness!.sources[0]!.oldest_unreflected!.seq, stale.source.last_offset + 1, "the first event after the version is the oldest it lacks");
  await assert.rejects(lake.catalog.version(DATASET, "latest", { maxStalenessMs: 2000 }), (e: unknown) => {
    assert.ok(isStaleVersion(e) && e instanceof StaleVersionError);
    assert.match(e.message, new RegExp(`^version ${stale.version} of ${DATASET} is \\d+ ms stale, more than the bound of 2000 ms`));
    assert.ok(e.stalenessMs! > 2000);
    return true;
  });
  const refused = (await lakeCli(["query", "SELECT count(*) AS n FROM domain_events", "--max-staleness", "2s"]).then(
    () => assert.fail("lake query --max-staleness 2s should refuse the stale version"),
    (err: unknown) => err,
  )) as { code: number; stderr: string };
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`lake: version ${stale.version} of ${DATASET} is \\d+ ms stale, more than the bound of 2000 ms`));
  // A bound that is no duration is a usage error.
  const bad = (await lakeCli(["query", "--max-staleness", "2"]).then(
    () => assert.fail("--max-staleness 2 has no unit"),
    (err: unknown) => err,
  )) as { code: number; stderr: string };
  assert.match(bad.stderr, /--max-staleness takes a duration such as 5s, 500ms or 2m, got "2"/);

  // The committer runs again and catches up: the bound is met again.
  await lake.startCommitter(DATASET);
  await covering(lake, pending.max_offset!);
  const again = await lake.catalog.version(DATASET, "latest", { maxStalenessMs: 2000 });
  assert.ok(again.version > stale.version);
  assert.equal(again.freshness!.staleness_ms, 0);
});
