// Invariant 7: a gated (critical) dataset's current version has always passed its checks. Runs the
// whole lake, quality service included, and watches `current` through the catalog the whole time.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CatalogRequestError, sendHttp } from "@lake/client";
import { waitFor } from "@lake/testing";

import { settled, withLake } from "./helpers.ts";

const DS = "payments";
let lake: Awaited<ReturnType<typeof withLake>>;
let batch = 0;

async function sendPayments(n: number, nullCountries: number): Promise<number> {
  const b = batch++;
  const rows = Array.from({ length: n }, (_, i) => ({
    payment_id: `gate-${b}-${i}`,
    user_id: `u${i % 7}`,
    timestamp: Date.UTC(2026, 5, 1) + b * 60_000 + i,
    amount: 10 + i,
    currency: ["EUR", "USD", "GBP"][i % 3],
    card_country: i < nullCountries ? null : ["DE", "FR", "GB"][i % 3],
  }));
  const r = await sendHttp(lake.producer, DS, rows);
  assert.equal(r.status, 200);
  assert.equal(r.accepted, n);
  return r.max_offset!;
}

/** Waits for the version covering `offset` to get its verdict; returns the version. */
async function judged(offset: number) {
  const v = await lake.catalog.covering(DS, offset, 20_000);
  return waitFor(
    `a verdict for ${DS} v${v.version}`,
    async () => {
      const now = await lake.catalog.version(DS, v.version);
      return now.quality === "pending" ? undefined : now;
    },
    { timeoutMs: 30_000 },
  );
}

before(async () => {
  // One HTTP batch must be one version for the audit trail below: a longer batch age keeps a request's
  // events (published within milliseconds) together.
  lake = await withLake({ env: { LAKE_COMMIT_MAX_AGE_MS: "1000" } });
});
after(async () => {
  await lake?.cleanup();
});

test("current only ever moves to versions that passed; a failed version stays latest-only and can't be promoted", async () => {
  // A reader polls `current` for the whole test: every version it is served must have passed.
  const served = new Set<number>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const c = await lake.catalog.version(DS, "current");
        assert.equal(c.quality, "passed", `current ${c.version} has passed its checks`);
        served.add(c.version);
        await new Promise((r) => setTimeout(r, 10));
      } catch (e) {
        if (!(e instanceof CatalogRequestError && e.status === 404)) throw e;
      }
    }
  })();

  const good = await judged(await sendPayments(20, 2));
  assert.equal(good.quality, "passed");
  await waitFor("the passed version to become current", async () =>
    (await lake.catalog.dataset(DS)).dataset.current_version === good.version ? true : undefined,
  );

  // The null-ratio rule is over the whole version: (2 + 38) / 60 is above the 0.5 limit.
  const bad = await judged(await sendPayments(40, 38));
  assert.equal(bad.quality, "failed");
  const verdict = (await (await fetch(new URL(`/v1/datasets/${DS}/versions/${bad.version}/quality`, lake.catalogUrl))).json()) as {
    rules: { rule: string; passed: boolean; measured: string }[];
  };
  const nullRule = verdict.rules.find((r) => r.rule === "max_null_ratio(card_country)")!;
  assert.equal(nullRule.passed, false);

  const ds = (await lake.catalog.dataset(DS)).dataset;
  assert.equal(ds.latest_version, bad.version, "the failed version is the latest committed one");
  // Read after write on a critical dataset: the first covering version that passed. For the failed
  // batch there is none yet, so the bounded wait ends without handing out the failed version.
  await assert.rejects(
    lake.catalog.covering(DS, bad.source.last_offset, 300, { passed: true }),
    (e: unknown) => e instanceof CatalogRequestError && e.status === 504,
  );
  assert.equal(ds.current_version, good.version, "but current stays on the last passed version");
  await assert.rejects(
    lake.catalog.promote(DS, bad.version, "ops", "ship it anyway"),
    (e: unknown) => e instanceof CatalogRequestError && e.status === 409 && e.code === "quality_failed",
  );

  // The next good batch passes and becomes current: the failed one is skipped, never served.
  // (40 + 1) / 120 is below it again.
  const next = await judged(await sendPayments(60, 1));
  assert.equal(next.quality, "passed");
  // Now the failed batch's offset is covered by a passed version: the next one.
  assert.equal((await lake.catalog.covering(DS, bad.source.last_offset, 5000, { passed: true })).version, next.version);
  await waitFor("the newer passed version to become current", async () =>
    (await lake.catalog.dataset(DS)).dataset.current_version === next.version ? true : undefined,
  );
  watching = false;
  await watcher;
  assert.ok(!served.has(bad.version));
  assert.ok(served.has(good.version) || served.has(next.version));

  const kinds = (await lake.catalog.audit(DS)).entries.map((e) => `${e.kind}:${e.version}`);
  assert.deepEqual(kinds, [
    `quality_passed:${good.version}`,
    `auto_promote:${good.version}`,
    `quality_failed:${bad.version}`,
    `quality_passed:${next.version}`,
    `auto_promote:${next.version}`,
  ]);
});

test("the rebuilt catalog has the same verdicts and current version", async () => {
  await settled(lake);
  const before = await lake.catalog.dump();
  await lake.catalog.rebuild();
  assert.equal(await lake.catalog.dump(), before);
});
