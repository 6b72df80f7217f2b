// Invariant 5: the catalog is a projection of the commit log. Rebuilding it (in place, or from a
// deleted database after kill -9) yields the same canonical dump as the live one.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { waitFor } from "@lake/testing";

import { covering, DATASET, settled, withLake } from "./helpers.ts";

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
