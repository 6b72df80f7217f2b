// Invariant 5: the catalog is a projection of the commit log. Rebuilding it (in place, or from a
// deleted database after kill -9) yields the same canonical dump as the live one.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { waitFor } from "@lake/testing";

import { covering, DATASET, padCommitLog, settled, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let maxOffset = 0;

before(async () => {
  lake = await withLake();
  // Several versions with files in several partitions.
  for (let i = 0; i < 6; i++) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(120, { prefix: `r${i}`, seed: i + 1 }));
    maxOffset = r.max_offset!;
    await covering(lake, maxOffset);
  }
});
after(async () => {
  await lake?.cleanup();
});

test("rebuild from the commit log reproduces the live catalog exactly", async () => {
  await settled(lake);
  const live = await lake.catalog.dump();
  const parsed = JSON.parse(live) as { versions: unknown[]; files: unknown[] };
  assert.ok(parsed.versions.length >= 6, "the dump is not trivially empty");
  assert.ok(parsed.files.length >= 6);
  const r = await lake.catalog.rebuild();
  assert.equal(r.rebuilt, true);
  assert.equal(await lake.catalog.dump(), live);
  // The catalog keeps following the log after the swap.
  const more = await sendHttp(lake.producer, DATASET, sampleEvents(50, { prefix: "after-rebuild", seed: 77 }));
  const v = await covering(lake, more.max_offset!);
  assert.ok(v.version > (await lake.catalog.versions(DATASET)).versions.length - 1);
});

test("rebuilds while commits flow: a reader polling latest and the dataset list never sees the catalog go back", { timeout: 300_000 }, async () => {
  // A longer log (void records on a subject of its own: every replay reads them), so each rebuild takes
  // longer than the gap between two commits and the live catalog moves on while it runs.
  await padCommitLog(lake, 4000);
  let flowing = true;
  let sent = 0;
  const flow = (async () => {
    for (let i = 0; flowing && i < 10_000; i++) {
      const r = await sendHttp(lake.producer, DATASET, sampleEvents(40, { prefix: `mono${i}`, seed: 1000 + i }));
      assert.equal(r.status, 200);
      maxOffset = Math.max(maxOffset, r.max_offset ?? 0);
      sent++;
    }
  })();
  // What a reader saw, in order: the projection position, the latest version and its rows.
  const seen: { seq: number; version: number; rows: number }[] = [];
  let reading = true;
  const reader = (async () => {
    for (let i = 0; reading && i < 100_000; i++) {
      const list = await lake.catalog.datasets();
      const latest = await lake.catalog.version(DATASET, "latest");
      const d = list.datasets.find((x) => x.name === DATASET)!;
      seen.push({ seq: list.projected_through_seq, version: Math.max(d.latest_version, latest.version), rows: latest.total_rows });
      seen.push({ seq: list.projected_through_seq, version: d.latest_version, rows: d.total_rows });
    }
  })();
  try {
    for (let i = 0; i < 4; i++) {
      const before = (await lake.catalog.version(DATASET, "latest")).version;
      await waitFor(
        "a commit landing while no rebuild runs",
        async () => ((await lake.catalog.version(DATASET, "latest")).version > before ? true : undefined),
        {
          timeoutMs: 30_000,
        },
      );
      assert.equal((await lake.catalog.rebuild()).rebuilt, true);
    }
  } finally {
    flowing = false;
    await flow;
    reading = false;
    await reader;
  }
  // Everything sent is committed before the next test compares dumps.
  await covering(lake, maxOffset);
  await settled(lake);
  assert.ok(sent > 0 && seen.length > 20, `commits flowed (${sent}) and the reader read (${seen.length})`);
  for (let i = 1; i < seen.length; i++) {
    const [a, b] = [seen[i - 1]!, seen[i]!];
    assert.ok(b.seq >= a.seq, `projected_through_seq went back: ${a.seq} → ${b.seq} (read ${i})`);
  }
  // Versions and rows only ever grow on an append-only dataset.
  const versions = seen.filter((_, i) => i % 2 === 1).map((x) => x.version);
  for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! >= versions[i - 1]!, `latest_version went back: ${versions[i - 1]} → ${versions[i]}`);
});

test("a catalog killed with -9 and started on an empty directory replays to the same state", async () => {
  await settled(lake);
  const before = await lake.catalog.dump();
  const catalog = lake.services.get("catalog")!;
  await catalog.kill9();
  rmSync(join(lake.dataDir, "catalog"), { recursive: true, force: true });
  const restarted = await lake.startService("catalog");
  const client = new CatalogClient(String(restarted.ready.url));
  const lastSeq = (JSON.parse(before) as { meta: [string, string][] }).meta.find(([k]) => k === "last_seq")![1];
  await waitFor(
    "the restarted catalog to replay the log",
    async () => {
      const h = (await (await fetch(new URL("/healthz", client.baseUrl))).json()) as { projected_through_seq: number };
      return h.projected_through_seq >= Number(lastSeq) ? true : undefined;
    },
    { timeoutMs: 20_000 },
  );
  assert.equal(await client.dump(), before);
});
