// Invariants 7 and 9: write-audit-publish on a critical dataset (payments). A version is staged when
// committed, audited by quality, and published (made current) only if it passed. A failed version's
// batch never reaches a published version, not even through later ones: the committer takes it back
// out (a revert restoring the version before it), its rows go to quarantine with the rule they broke,
// and a replay after fixing them lands them once. Readers of the default (published) read watch the
// whole time, through the catalog and through DuckDB over the version's files.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CatalogRequestError, listQuarantine, type QuarantinedEntry, queryVersion, replayQuarantine, sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { settled, withLake } from "./helpers.ts";

const DS = "payments";
let lake: Awaited<ReturnType<typeof withLake>>;
let batch = 0;

interface Payment {
  payment_id: string;
  user_id: string;
  timestamp: number;
  amount: number;
  currency: string;
  card_country: string | null;
}

function payments(prefix: string, n: number, nullCountries: number): Payment[] {
  const b = batch++;
  return Array.from({ length: n }, (_, i) => ({
    payment_id: `${prefix}-${b}-${i}`,
    user_id: `u${i % 7}`,
    timestamp: Date.UTC(2026, 5, 1) + b * 60_000 + i,
    amount: 10 + i,
    currency: ["EUR", "USD", "GBP"][i % 3]!,
    card_country: i < nullCountries ? null : ["DE", "FR", "GB"][i % 3]!,
  }));
}

async function send(rows: Payment[]): Promise<number> {
  const r = await sendHttp(lake.producer, DS, rows);
  assert.equal(r.status, 200);
  assert.equal(r.accepted, rows.length);
  return r.max_offset!;
}

/** The published version covering `offset` (the default read-after-write of a critical dataset). */
const published = (offset: number) => lake.catalog.covering(DS, offset, 30_000);

/** The payment ids in a version, read by DuckDB from exactly its files. */
async function idsIn(version: number | "current" | "latest"): Promise<{ version: number; ids: string[] }> {
  const v = await lake.catalog.version(DS, version, { files: "reference" });
  const r = await queryVersion(await openStore(lake.storeConfig), v, `SELECT payment_id FROM ${DS} ORDER BY payment_id`);
  return { version: v.version, ids: r.rows.map((x) => x.payment_id as string) };
}

async function auditQuarantine(): Promise<QuarantinedEntry[]> {
  const out: QuarantinedEntry[] = [];
  for (let after = 0, pages = 0; pages < 100; pages++) {
    const page = await listQuarantine(lake.operator, DS, { after, limit: 500 });
    for (const r of page.records) if (r.status === "quarantined" && r.source === "audit") out.push(r);
    if (page.next_after === null) break;
    after = page.next_after;
  }
  return out;
}

before(async () => {
  // One HTTP batch must be one version here: a longer batch age keeps a request's events together.
  lake = await withLake({ env: { LAKE_COMMIT_MAX_AGE_MS: "1000" } });
});
after(async () => {
  await lake?.cleanup();
});

test(
  "a failed batch never reaches a published version; its rows wait in quarantine with the rule, and a replay with the fix lands them once",
  { timeout: 240_000 },
  async () => {
    const bad = payments("bad", 40, 38);
    const badIds = new Set(bad.map((p) => p.payment_id));
    // Readers of the default read (current) for the whole test: every version they are served passed
    // its audit, never goes back, and holds none of the failed batch's rows until they are replayed.
    const served: number[] = [];
    const seenLatest: number[] = [];
    let replayed = false;
    let watching = true;
    const problems: string[] = [];
    const watcher = (async () => {
      for (let i = 0; watching && i < 100_000; i++) {
        try {
          const c = await lake.catalog.version(DS, "current");
          if (c.quality !== "passed") problems.push(`current ${c.version} is ${c.quality}`);
          if (served.length > 0 && c.version < served.at(-1)!) problems.push(`current went back from ${served.at(-1)} to ${c.version}`);
          if (served.at(-1) !== c.version) served.push(c.version);
          if (!replayed && i % 5 === 0) {
            const { version, ids } = await idsIn(c.version);
            const leaked = ids.filter((id) => badIds.has(id));
            if (leaked.length > 0) problems.push(`published version ${version} holds ${leaked.length} row(s) of the failed batch`);
          }
          const l = await lake.catalog.version(DS, "latest", { files: "reference" });
          if (seenLatest.length > 0 && l.version < seenLatest.at(-1)!) problems.push(`latest went back from ${seenLatest.at(-1)} to ${l.version}`);
          if (seenLatest.at(-1) !== l.version) seenLatest.push(l.version);
        } catch (e) {
          if (!(e instanceof CatalogRequestError && e.status === 404)) throw e;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const goodRows = payments("good", 20, 2);
    const good = await published(await send(goodRows));
    assert.equal(good.quality, "passed");

    // The null-ratio rule is over the whole version: (2 + 38) / 60 is above the 0.5 limit.
    const badOffset = await send(bad);
    // Staged: committed, readable by those who ask for it (quality=any), failing its audit.
    const staged = await lake.catalog.covering(DS, badOffset, 30_000, { staged: true });
    assert.equal(staged.version, good.version + 1);
    const failed = await waitFor(
      `a verdict for ${DS} v${staged.version}`,
      async () => {
        const v = await lake.catalog.version(DS, staged.version);
        return v.quality === "pending" ? undefined : v;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(failed.quality, "failed");
    assert.equal(failed.total_rows, 60, "the staged version held the failed batch on top of the published rows");

    // The committer takes the batch back out: a revert restoring the published version, which passes.
    const revert = await waitFor(
      "the revert of the failed version to be published",
      async () => {
        const ds = (await lake.catalog.dataset(DS)).dataset;
        return ds.current_version > failed.version ? lake.catalog.version(DS, ds.current_version) : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(revert.version, failed.version + 1);
    assert.equal(revert.quality, "passed");
    assert.equal(revert.total_rows, good.total_rows);
    assert.deepEqual((await idsIn(revert.version)).ids, goodRows.map((p) => p.payment_id).sort());
    // Its verdict names the rule that failed, and the failed version can't be promoted by hand.
    const verdict = (await (await fetch(new URL(`/v1/datasets/${DS}/versions/${failed.version}/quality`, lake.catalogUrl))).json()) as {
      rules: { rule: string; passed: boolean }[];
    };
    assert.ok(verdict.rules.some((r) => r.rule === "max_null_ratio(card_country)" && !r.passed));
    await assert.rejects(
      lake.catalog.promote(DS, failed.version, "ops", "ship it anyway"),
      (e: unknown) => e instanceof CatalogRequestError && e.status === 409 && e.code === "quality_failed",
    );

    // Read after write for an offset of the failed batch: never a published version; a clear answer.
    await assert.rejects(published(badOffset), (e: unknown) => {
      assert.ok(e instanceof CatalogRequestError && e.status === 409 && e.code === "quarantined", String(e));
      assert.match(e.message, new RegExp(`version ${failed.version}, which failed its audit \\(max_null_ratio\\(card_country\\)\\)`));
      return true;
    });

    // The batch's rows are in quarantine, each once, with the rule.
    const quarantined = await waitFor(
      "the failed batch in quarantine",
      async () => {
        const q = await auditQuarantine();
        return q.length >= bad.length ? q : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(quarantined.map((r) => r.event_id).sort(), [...badIds].sort(), "every row of the failed batch, once");
    for (const r of quarantined) assert.match(r.reason, /max_null_ratio\(card_country\)/);

    // The next batch builds on the published version, not on the failed one.
    const nextRows = payments("next", 60, 1);
    const next = await published(await send(nextRows));
    assert.equal(next.quality, "passed");
    assert.equal(next.total_rows, 80);
    const nextIds = (await idsIn(next.version)).ids;
    assert.deepEqual(nextIds, [...goodRows, ...nextRows].map((p) => p.payment_id).sort());

    // Replay with the data fixed: every row lands once, in a published version.
    const fixed = new Map(bad.map((p) => [p.payment_id, { ...p, card_country: "DE" }]));
    replayed = true;
    const reply = await replayQuarantine(
      lake.operator,
      DS,
      quarantined.map((r) => ({ seq: r.seq, record: fixed.get(r.event_id!)! })),
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(
      reply.results.map((r) => r.status),
      quarantined.map(() => "accepted"),
    );
    const landed = await published(reply.max_offset!);
    const after = (await idsIn(landed.version)).ids;
    assert.deepEqual(after, [...goodRows, ...nextRows, ...bad].map((p) => p.payment_id).sort(), "each replayed row once, beside the rest");
    // Replaying again is still once.
    const again = await replayQuarantine(
      lake.operator,
      DS,
      quarantined.slice(0, 5).map((r) => ({ seq: r.seq, record: fixed.get(r.event_id!)! })),
    );
    assert.deepEqual(
      again.results.map((r) => r.status),
      ["duplicate", "duplicate", "duplicate", "duplicate", "duplicate"],
    );

    watching = false;
    await watcher;
    assert.deepEqual(problems, []);
    assert.ok(!served.includes(failed.version), "the failed version was never served as current");
    // The published chain: every version that passed, in order, and nothing else (none skipped for
    // long enough to matter: each passed version was current until the next one passed).
    const all = (await lake.catalog.versions(DS, 0, 100)).versions;
    const passedVersions = all.filter((v) => v.quality === "passed").map((v) => v.version);
    assert.ok(served.every((v) => passedVersions.includes(v)));
    const kinds = (await lake.catalog.audit(DS)).entries.filter((e) => e.kind === "auto_promote").map((e) => e.version);
    assert.deepEqual(kinds, passedVersions, "every passed version was published, in order");
    assert.ok(seenLatest.length >= 1);
  },
);

test("the rebuilt catalog has the same verdicts, reverts and current version", async () => {
  await settled(lake);
  const before = await lake.catalog.dump();
  await lake.catalog.rebuild();
  assert.equal(await lake.catalog.dump(), before);
});

for (const point of ["during_quarantine", "after_quarantine"] as const) {
  test(`kill -9 of the committer ${point.replace("_", " ")}: the failed batch is quarantined once and reverted once`, { timeout: 180_000 }, async () => {
    await lake.services.get(`committer:${DS}`)?.stop();
    const doomed = await lake.startCommitter(DS, { LAKE_FAILPOINTS: `${point}@1` });
    const base = await published(await send(payments(`base-${point}`, 20, 0)));
    // Enough nulls to break the whole-version ratio on top of the rows published so far (at most ~400).
    const badRows = payments(`bad-${point}`, 500, 500);
    const offset = await send(badRows);
    assert.equal(await doomed.exited, null, "the committer was killed by its failpoint");
    assert.match(doomed.logs(), new RegExp(`"failpoint":"${point}"`));
    await lake.startCommitter(DS);
    await assert.rejects(published(offset), (e: unknown) => e instanceof CatalogRequestError && e.code === "quarantined");
    // The revert is committed (the answer above names it); once it passes it is published.
    const ds = await waitFor(
      "the revert to be published",
      async () => {
        const d = (await lake.catalog.dataset(DS)).dataset;
        return d.current_version > base.version ? d : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const current = await lake.catalog.version(DS, ds.current_version);
    assert.equal(current.total_rows, base.total_rows, "the revert restored the published rows");
    const since = (await lake.catalog.versions(DS, base.version, 100)).versions;
    assert.deepEqual(
      since.map((v) => v.quality),
      ["failed", "passed"],
      "the failed version, then one revert",
    );
    const ids = (await auditQuarantine()).map((r) => r.event_id!).filter((id) => id.startsWith(`bad-${point}-`));
    assert.deepEqual(ids.sort(), badRows.map((p) => p.payment_id).sort(), "each row of the failed batch in quarantine once");
  });
}
