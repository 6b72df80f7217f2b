// Maintenance that runs itself: a lake with the maintenance worker on (its own process, as `lake up`
// starts it) and a small policy in domain_events' contract takes a steady stream of small commits for
// 40 s. Sampled every half second, no partition of the latest version ever has more live files than
// the policy's bound plus what the committer can append before the next round has compacted them; at
// the end, with the stream stopped, every partition is within the bound; versions expired and their
// files were collected while the stream ran; every accepted event is in the dataset exactly once and
// fsck is clean.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";

import { fsck } from "@lake/app";
import { sampleEvents, sendHttp } from "@lake/client";
import { SchemaRegistry } from "@lake/registry";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { assertExactlyOnce, covering, DATASET, settled, withLake } from "./helpers.ts";

/** The policy under test: compact a partition past 6 small files, keep the 20 newest versions, GC every 3 s. */
const MAX_FILES = 6;
const KEEP_LAST = 20;
const POLICY = {
  compaction: { max_files_per_partition: MAX_FILES },
  expiry: { keep_last: KEEP_LAST, keep_ms: null },
  // The grace period is far above the committer's write-to-commit time (a batch waits 200 ms).
  gc: { grace_ms: 15_000, interval_ms: 3_000 },
};
const INTERVAL_MS = 1_000;
/**
 * The bound, stated: a partition is compacted in the first round that sees it past MAX_FILES, and rounds
 * start INTERVAL_MS after the previous one ended. So at any moment a partition holds at most MAX_FILES
 * plus one file per append version committed since the round before last started: within
 * INTERVAL_MS + the time a round takes. A round here takes well under ROUND_MS (a compaction of a few
 * dozen small files, one expire command, a GC pass over a few hundred objects) on an idle machine; under
 * the full suite on 2 loaded cores one took longer than 6 s (31 files against a 6 s bound of 30), so the
 * allowance is 15 s: still far below the one file per append an unmaintained partition reaches.
 */
const ROUND_MS = 15_000;
const STREAM_MS = 40_000;

let lake: Awaited<ReturnType<typeof withLake>>;
const accepted = new Set<string>();
let maxOffset = 0;

before(async () => {
  // Small commits: a micro-batch waits at most 200 ms, so a steady stream makes many small files.
  lake = await withLake({ without: ["aggregator"], env: { LAKE_COMMIT_MAX_AGE_MS: "200" } });
});
after(async () => {
  await lake?.cleanup();
});

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`dataset="${DATASET}"`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

test("with maintenance on, files per partition stay bounded under a steady stream; every event exactly once; fsck clean", { timeout: 240_000 }, async () => {
  // The policy goes in through the contract, as an operator sets it: a new schema version, same Avro schema.
  const admin = await lake.connect("admin", "maintenance-test");
  try {
    const doc = JSON.parse(readFileSync(resolve(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as Record<string, unknown>;
    const registry = await SchemaRegistry.open(admin, { seed: false });
    try {
      const r = await registry.register({ ...doc, "lake.maintenance": POLICY }, "tester", "maintenance policy for domain_events");
      assert.equal(r.changed, true);
    } finally {
      registry.close();
    }
  } finally {
    await admin.close();
  }
  const worker = await lake.startMaintenance({ LAKE_MAINTAIN_INTERVAL_MS: String(INTERVAL_MS) });
  const metricsUrl = String(worker.ready.metrics_url);

  // The stream: 20 events (over three days of event time: three partitions) every 100 ms.
  let streaming = true;
  let batch = 0;
  const stream = (async () => {
    const end = Date.now() + STREAM_MS;
    while (streaming && Date.now() < end) {
      const no = batch++;
      const r = await sendHttp(lake.producer, DATASET, sampleEvents(20, { prefix: `m${no}`, seed: no + 1 }));
      assert.equal(r.status, 200);
      for (const res of r.results) if (res.status === "accepted") accepted.add(res.event_id!);
      maxOffset = Math.max(maxOffset, r.max_offset ?? 0);
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  // Samples of the latest version: its most files in one partition, and when.
  const samples: { at: number; version: number; maxFiles: number }[] = [];
  try {
    for (let i = 0; i < STREAM_MS / 500 + 10 && !(await Promise.race([stream.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))])); i++) {
      const v = await lake.catalog.version(DATASET, "latest").catch(() => undefined);
      if (!v) continue;
      const per = new Map<string, number>();
      for (const f of v.files) per.set(f.partition, (per.get(f.partition) ?? 0) + 1);
      samples.push({ at: Date.now(), version: v.version, maxFiles: Math.max(0, ...per.values()) });
    }
  } finally {
    streaming = false;
    await stream;
  }
  await covering(lake, maxOffset, 30_000);

  // Appends (versions with new source rows) by commit time, to state the bound of each sample.
  const appends: number[] = [];
  let compactions = 0;
  let expired = 0;
  for (let after = 0, pages = 0; ; pages++) {
    assert.ok(pages < 1000, "at most 1000 pages of versions");
    const p = await lake.catalog.versions(DATASET, after, 1000);
    for (const v of p.versions) {
      if (v.row_count > 0) appends.push(Date.parse(v.committed_at));
      else if (v.source.first_offset > v.source.last_offset) compactions++;
      if (v.expired) expired++;
    }
    if (p.next_after === null) break;
    after = p.next_after;
  }
  const worst = samples
    .map((s) => ({ ...s, bound: MAX_FILES + appends.filter((t) => t > s.at - INTERVAL_MS - ROUND_MS && t <= s.at).length }))
    .sort((a, b) => b.maxFiles - b.bound - (a.maxFiles - a.bound))[0]!;
  const peak = Math.max(...samples.map((s) => s.maxFiles));
  console.log(
    `# ${appends.length} appends, ${compactions} compactions, ${expired} versions expired; ${samples.length} samples, most files in a partition ${peak}; ` +
      `tightest sample: ${worst.maxFiles} files, bound ${worst.bound}`,
  );
  assert.ok(samples.length >= 40, `sampled throughout the stream (${samples.length})`);
  // Without maintenance a partition would end with one file per append: the bound must be far below that.
  assert.ok(appends.length >= 5 * (MAX_FILES + 1), `enough appends that an unmaintained partition would break the bound (${appends.length})`);
  for (const s of samples) {
    const bound = MAX_FILES + appends.filter((t) => t > s.at - INTERVAL_MS - ROUND_MS && t <= s.at).length;
    assert.ok(s.maxFiles <= bound, `version ${s.version}: ${s.maxFiles} files in one partition, bound ${bound}`);
  }
  assert.ok(compactions >= 3, `the worker compacted while the stream ran (${compactions} compaction versions)`);

  // Stream stopped: the next round brings every partition within the policy's bound.
  await waitFor(
    `every partition within ${MAX_FILES} files`,
    async () => {
      const v = await lake.catalog.version(DATASET, "latest");
      const per = new Map<string, number>();
      for (const f of v.files) per.set(f.partition, (per.get(f.partition) ?? 0) + 1);
      return Math.max(...per.values()) <= MAX_FILES || undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  // Expiry and GC ran too: old versions stopped being served and their files were deleted.
  await waitFor(
    "versions expired and objects collected",
    async () => ((await metric(metricsUrl, "lake_maintenance_objects_collected_total")) > 0 ? true : undefined),
    {
      timeoutMs: 30_000,
      intervalMs: 500,
    },
  );
  assert.ok((await metric(metricsUrl, "lake_maintenance_files_compacted_total")) > 0, "files compacted counted on /metrics");
  assert.ok((await metric(metricsUrl, "lake_maintenance_versions_expired_total")) > 0, "versions expired counted on /metrics");
  const served = (await lake.catalog.versions(DATASET, 0, 1000)).versions.filter((v) => !v.expired).length;
  assert.ok(expired > 0 && served <= KEEP_LAST + 10, `expiry keeps about the ${KEEP_LAST} newest versions (${served} served)`);

  // Stop the worker before the final checks, so nothing changes under fsck.
  await worker.stop();
  await assertExactlyOnce(lake, accepted);
  await settled(lake);
  const nc = await lake.connect("admin", "maintenance-fsck");
  try {
    const report = await fsck({ catalog: lake.catalog, store: await openStore(lake.storeConfig), nc, dataset: DATASET });
    assert.deepEqual(report.problems, [], "fsck is clean");
  } finally {
    await nc.close();
  }
});
