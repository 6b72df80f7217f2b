// Promote, rollback and tag: validated by the catalog, appended to the commit log with a CAS, ordered
// with data versions, atomic for readers, and rebuilt identically from the log.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CatalogRequestError, type CatalogVersion, sampleEvents, sendHttp } from "@lake/client";

import { assertExactlyOnce, covering, DATASET, settled, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
const accepted = new Set<string>();
let n = 0;

async function commitBatch(size = 50): Promise<CatalogVersion> {
  const events = sampleEvents(size, { prefix: `pr${n++}`, seed: n });
  const r = await sendHttp(lake.producer, DATASET, events);
  for (const res of r.results) accepted.add(res.event_id!);
  return covering(lake, r.max_offset!);
}

const refused = (status: number, code: string) => (e: unknown) => {
  assert.ok(e instanceof CatalogRequestError, String(e));
  assert.equal(e.status, status, e.message);
  assert.equal(e.code, code, e.message);
  return true;
};

before(async () => {
  lake = await withLake();
  for (let i = 0; i < 3; i++) await commitBatch();
});
after(async () => {
  await lake?.cleanup();
});

test("a non-critical dataset is current on commit; rollback moves current back, promote forward", async () => {
  const latest = await lake.catalog.version(DATASET, "latest");
  const current = await lake.catalog.version(DATASET, "current");
  assert.equal(current.version, latest.version);
  assert.equal(current.policy, "non-critical");

  const rb = await lake.catalog.rollback(DATASET, "alice", "bad batch upstream");
  assert.equal(rb.changed, true);
  assert.equal(rb.current_version, latest.version - 1, "rollback goes to the version before");
  const after = await lake.catalog.version(DATASET, "current");
  assert.equal(after.version, latest.version - 1);
  assert.equal(after.total_rows, (await lake.catalog.version(DATASET, latest.version - 1)).total_rows);

  const pr = await lake.catalog.promote(DATASET, latest.version, "bob", "upstream fixed");
  assert.equal(pr.current_version, latest.version);
  const again = await lake.catalog.promote(DATASET, latest.version, "bob", "twice");
  assert.equal(again.changed, false, "promoting the current version is a no-op");
});

test("commands are validated: unknown versions, wrong direction, missing actor or reason", async () => {
  const latest = await lake.catalog.version(DATASET, "latest");
  await assert.rejects(lake.catalog.promote(DATASET, latest.version + 100, "a", "r"), refused(404, "unknown_version"));
  await assert.rejects(lake.catalog.promote(DATASET, 1, "a", "r"), refused(409, "use_rollback"));
  await assert.rejects(lake.catalog.rollback(DATASET, "a", "r", latest.version), refused(409, "not_older"));
  await assert.rejects(lake.catalog.promote(DATASET, latest.version, "", "r"), refused(400, "invalid_actor"));
  await assert.rejects(lake.catalog.promote(DATASET, latest.version, "a", " "), refused(400, "invalid_reason"));
  await assert.rejects(lake.catalog.tag(DATASET, "../x", 1, "a", "r"), refused(400, "invalid_tag"));
  await assert.rejects(lake.catalog.promote("no_such_dataset", 1, "a", "r"), refused(404, "unknown_dataset"));
});

test("tags name one version, read back by tag, and never move", async () => {
  const r = await lake.catalog.tag(DATASET, "v20260601", 2, "carol", "month-end snapshot");
  assert.equal(r.changed, true);
  const tagged = await lake.catalog.byTag(DATASET, "v20260601");
  assert.equal(tagged.version, 2);
  assert.deepEqual(tagged.files, (await lake.catalog.version(DATASET, 2)).files);
  assert.equal((await lake.catalog.tag(DATASET, "v20260601", 2, "carol", "again")).changed, false);
  await assert.rejects(lake.catalog.tag(DATASET, "v20260601", 3, "mallory", "move it"), refused(409, "tag_exists"));
  assert.deepEqual(
    (await lake.catalog.tags(DATASET)).tags.map((t) => [t.tag, t.version]),
    [["v20260601", 2]],
  );
});

test("the audit trail lists every promotion, rollback and tag with actor and reason, in log order", async () => {
  const { entries: all } = await lake.catalog.audit(DATASET);
  // Quality verdicts interleave in the same log; this test is about the operators' commands.
  const entries = all.filter((e) => !e.kind.startsWith("quality_"));
  const mine = entries.map((e) => [e.kind, e.actor, e.reason]);
  assert.deepEqual(mine, [
    ["rollback", "alice", "bad batch upstream"],
    ["promote", "bob", "upstream fixed"],
    ["tag", "carol", "month-end snapshot"],
  ]);
  assert.ok(entries.every((e, i) => i === 0 || e.seq > entries[i - 1]!.seq));
});

test("rollback is atomic for readers: every read of current is one whole version", async () => {
  const latest = await lake.catalog.version(DATASET, "latest");
  const filesOf = new Map<number, string>();
  for (const v of [latest.version, latest.version - 1]) filesOf.set(v, JSON.stringify((await lake.catalog.version(DATASET, v)).files));
  let reading = true;
  const seen = new Set<number>();
  const reader = (async () => {
    while (reading) {
      const c = await lake.catalog.version(DATASET, "current");
      seen.add(c.version);
      assert.equal(JSON.stringify(c.files), filesOf.get(c.version), `current ${c.version} came with exactly its own files`);
    }
  })();
  for (let i = 0; i < 5; i++) {
    await lake.catalog.rollback(DATASET, "ops", `drill ${i}`);
    await lake.catalog.promote(DATASET, latest.version, "ops", `drill ${i} over`);
  }
  reading = false;
  await reader;
  assert.ok(seen.size >= 1);
});

test("commands racing a stream of commits: every command lands, no batch is dropped, history stays linear", async () => {
  const sending = (async () => {
    for (let i = 0; i < 8; i++) await commitBatch(40);
  })();
  const results = [];
  for (let i = 0; i < 8; i++) {
    const latest = await lake.catalog.version(DATASET, "latest");
    results.push(await lake.catalog.tag(DATASET, `race-${i}`, latest.version, "ops", "tag while committing"));
  }
  await sending;
  assert.ok(results.every((r) => r.changed));
  const committer = lake.services.get(`committer:${DATASET}`)!;
  // Tags between commits make the committer's CAS fail; it rebases instead of dropping its batch.
  assert.doesNotMatch(committer.logs(), /lost commit race/);
  const metrics = await (await fetch(new URL("/metrics", String(committer.ready.url)))).text();
  const rebases = Number(/lake_committer_cas_rebases\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(rebases > 0, `the rebase path ran (${rebases} rebases)`);
  await assertExactlyOnce(lake, accepted);
});

test("the rebuilt catalog has the same current version, tags and audit trail", async () => {
  await settled(lake);
  const before = await lake.catalog.dump();
  await lake.catalog.rebuild();
  assert.equal(await lake.catalog.dump(), before);
  const parsed = JSON.parse(before) as { audit: unknown[]; tags: unknown[] };
  assert.ok(parsed.audit.length >= 13 && parsed.tags.length === 9);
});
