// A manifest that doesn't match the hash its commit record names (tampered with, or half-written by
// something other than the committer) fails the version's quality check; a critical dataset then never
// serves it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake({ without: ["quality"] });
});
after(async () => {
  await lake?.cleanup();
});

test("a tampered manifest fails its version's check, naming the manifest", async () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({
    payment_id: `m-${i}`,
    user_id: "u",
    timestamp: Date.UTC(2026, 5, 1),
    amount: 1 + i,
    currency: "EUR",
    card_country: "DE",
  }));
  const r = await sendHttp(lake.producer, "payments", rows);
  // No quality service runs yet: the version is staged (payments is critical), not published.
  const v = await lake.catalog.covering("payments", r.max_offset!, 20_000, { staged: true });
  const store = await openStore(lake.storeConfig);
  const original = await store.get(v.manifest.key);
  await store.put(v.manifest.key, new TextEncoder().encode(new TextDecoder().decode(original).replace('"row_count"', '"row_count_tampered"')));
  await lake.startService("quality");
  const judged = await waitFor(
    "the verdict",
    async () => {
      const now = await lake.catalog.version("payments", v.version);
      return now.quality === "pending" ? undefined : now;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(judged.quality, "failed");
  const verdict = (await (await fetch(new URL(`/v1/datasets/payments/versions/${v.version}/quality`, lake.catalogUrl))).json()) as {
    rules: { rule: string; passed: boolean; message: string }[];
  };
  const m = verdict.rules.find((x) => x.rule === "manifest")!;
  assert.equal(m.passed, false);
  assert.match(m.message, /sha256 differs|bytes, recorded/);
  assert.equal((await lake.catalog.dataset("payments")).dataset.current_version, 0, "the critical dataset serves nothing rather than the tampered version");
});
