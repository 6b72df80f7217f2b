// Lineage through a whole lake and the `lake` CLI: domain_events committed by its committer and
// compacted by `lake compact`; `lake lineage` for an append (its source offsets, files, verdict) and for
// the compaction (no new source data, the files it replaced); daily_user_totals, derived from
// domain_events by the aggregator and committed (write-audit-publish) by its committer, names the
// upstream position and watermark each version records and the domain_events version covering that
// position; the reverse question for an offset finds the append that added it and the first derived
// version reflecting it. Versions are read back from the lake, never assumed: how the committers cut
// their micro-batches depends on timing, what lineage says about the versions they made does not.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { type CatalogLineage, type CatalogSourceLineage, sampleEvents, sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { DATASET, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI finds the lake through --data-dir's run.json only.
const env = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE", "LAKE_STORE_ROOT", "LAKE_TOKEN"]) delete env[k];

/** Derived from domain_events by the aggregator; critical, so a version is read once it passed its audit. */
const DERIVED = "daily_user_totals";
const SUBJECT = `lake.events.${DATASET}`;
/** Bound on each wait for a committer, the aggregator or quality (a loaded machine takes seconds per version). */
const WAIT_MS = 120_000;

let lake: Awaited<ReturnType<typeof withLake>>;
before(
  async () => {
    lake = await withLake();
  },
  { timeout: 300_000 },
);
after(async () => {
  await lake?.cleanup();
});

function lakeCli(args: string[]) {
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 120_000, env });
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * One batch of events, committed: its offsets, once a version of domain_events covers the last of them.
 * A record ingest could not publish in time (failed, retryable: likely on a loaded machine) is sent
 * again, as a producer does; the dedupe id settles whether the first try was stored.
 */
async function batch(no: number, n: number) {
  let pending = sampleEvents(n, { prefix: `lin${no}`, seed: no + 1 });
  const offsets: number[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    assert.ok(attempt <= 5, `batch ${no}: ${pending.length} events not acknowledged after 4 tries`);
    const r = await sendHttp(lake.producer, DATASET, pending);
    assert.equal(r.status, 200, JSON.stringify(r));
    const retry: typeof pending = [];
    for (const x of r.results) {
      if (x.status === "accepted" || x.status === "duplicate") offsets.push(x.offset);
      else if (x.status === "failed" && x.retryable) retry.push(pending[x.index]!);
      else assert.fail(`batch ${no}: ${JSON.stringify(x)}`);
    }
    pending = retry;
  }
  offsets.sort((a, b) => a - b);
  assert.equal(offsets.length, n);
  await lake.catalog.waitCovering(DATASET, offsets.at(-1)!, WAIT_MS);
  return { first: offsets[0]!, last: offsets.at(-1)! };
}

test(
  "lake lineage: an append's source offsets and verdict, a compaction's replaced files, a derived version's upstream position and watermark, and the reverse question",
  { timeout: 480_000 },
  async (t) => {
    // Batch 1, and the first derived version reflecting it: it was committed before batch 2 was sent, so
    // its upstream position is below every offset of batch 2 (a version that does not reach them).
    const b1 = await batch(1, 60);
    const early = await lake.catalog.waitCovering(DERIVED, b1.last, WAIT_MS, { by: "source_offset" });
    const b2 = await batch(2, 60);
    const b3 = await batch(3, 60);
    assert.ok(early.source_through_seq !== undefined && early.source_through_seq >= b1.last && early.source_through_seq < b2.first);

    // The version that added batch 2's first offset, as the commit log names it.
    const appended = await lake.catalog.covering(DATASET, b2.first, 10_000);
    assert.ok(appended.source.first_offset <= b2.first && b2.first <= appended.source.last_offset);
    // Quality judges it; lineage shows the verdict once it is there.
    const judged = await waitFor(
      "a verdict on the append",
      async () => {
        const l = await lake.catalog.lineage(DATASET, appended.version);
        return l.quality.status === "pending" ? undefined : l;
      },
      { timeoutMs: WAIT_MS },
    );
    assert.equal(judged.quality.status, "passed");

    const { stdout: text } = await lakeCli(["lineage", DATASET, String(appended.version)]);
    assert.match(text, new RegExp(`^${DATASET} version ${appended.version}: append, parent ${appended.parent_version}, committed `));
    assert.match(
      text,
      new RegExp(
        `source: +EVENTS ${escape(SUBJECT)} offsets ${appended.source.first_offset}-${appended.source.last_offset} \\(${appended.row_count} rows added\\)`,
      ),
    );
    assert.match(text, new RegExp(`files: +${appended.files.length} files, ${appended.total_rows} rows, `));
    assert.match(text, /quality: +passed \(checked \S+ by \S+\)/);

    // Compaction: `lake compact` rewrites the small files of each partition holding two or more as one
    // file, a new version with the same rows. Which partitions those are depends on how the committer
    // cut its versions: the expectation is computed from the version read back.
    const beforeCompaction = await lake.catalog.version(DATASET, "latest");
    const perPartition = new Map<string, number>();
    for (const f of beforeCompaction.files) perPartition.set(f.partition, (perPartition.get(f.partition) ?? 0) + 1);
    const merged = [...perPartition.values()].filter((n) => n >= 2);
    assert.ok(merged.length > 0, `three batches committed one after another leave a partition with two files or more: ${JSON.stringify([...perPartition])}`);
    const { stdout: compacted } = await run(process.execPath, ["--import", tsx, cli, "compact", DATASET, "--data-dir", lake.dataDir], {
      timeout: 120_000,
      env,
    });
    const cv = Number(/version (\d+) \(parent \d+, commit-log sequence \d+\) rewrote \d+ files/.exec(compacted)?.[1]);
    assert.ok(Number.isSafeInteger(cv), compacted);
    const { stdout: cjson } = await lakeCli(["lineage", DATASET, String(cv), "--json", "--files"]);
    const c = JSON.parse(cjson) as CatalogLineage;
    assert.equal(c.operation, "compaction");
    // Nothing but this compaction writes domain_events now (every event sent is committed): it is on top of the latest version.
    assert.equal(c.parent_version, beforeCompaction.version);
    assert.ok(c.source.first_offset > c.source.last_offset && c.source.last_offset === beforeCompaction.source.last_offset, "no new source data");
    assert.equal(c.source.rows_added, 0);
    const removed = merged.reduce((a, n) => a + n, 0);
    assert.deepEqual(
      [c.files.removed, c.files.added, c.files.count],
      [removed, merged.length, beforeCompaction.files.length - removed + merged.length],
      `files of partitions ${JSON.stringify([...perPartition])}`,
    );
    assert.equal(c.files.rows, beforeCompaction.total_rows, "same rows");
    assert.deepEqual(c.files.keys, (await lake.catalog.version(DATASET, cv)).files.map((f) => f.key).sort());
    assert.ok(c.files.manifest_list !== null && c.files.manifest_list.startsWith(`datasets/${DATASET}/metadata/`));
    assert.deepEqual([c.current, c.expired, c.upstream], [true, false, []]);
    const { stdout: ctext } = await lakeCli(["lineage", DATASET, String(cv)]);
    assert.match(ctext, new RegExp(`^${DATASET} version ${cv}: compaction, parent ${beforeCompaction.version},`));
    assert.match(ctext, new RegExp(`source: +no new source data \\(EVENTS ${escape(SUBJECT)}, after offset ${beforeCompaction.source.last_offset}\\)`));

    // daily_user_totals: the first published version reflecting batch 2's first offset X, as its
    // committer recorded it (the manifest, immutable, says the same as the commit record).
    const X = b2.first;
    const derived = await lake.catalog.waitCovering(DERIVED, X, WAIT_MS, { by: "source_offset" });
    const through = derived.source_through_seq!;
    assert.ok(through >= X && through <= b3.last, `version ${derived.version} covers ${X} (through ${through})`);
    assert.ok(derived.version > early.version, "the version reflecting batch 1 does not reach batch 2");
    const manifest = JSON.parse(new TextDecoder().decode(await (await openStore(lake.storeConfig)).get(derived.manifest.key))) as {
      lineage: { upstream: { dataset: string; stream: string; subject: string; through_seq: number }[]; watermark: number | null } | null;
    };
    assert.deepEqual(manifest.lineage?.upstream, [{ dataset: DATASET, stream: "EVENTS", subject: SUBJECT, through_seq: through }]);
    const watermarkMs = manifest.lineage.watermark;
    assert.ok(watermarkMs !== null, "events went through the aggregator: it has a watermark");
    const watermark = new Date(watermarkMs).toISOString();
    // It is the first: the version before it had not reached X (and, on a critical dataset, every
    // version is audited before the next is committed, so none in between was skipped as unpublished).
    const parent = await lake.catalog.lineage(DERIVED, derived.parent_version);
    assert.ok(
      parent.upstream.length === 1 && parent.upstream[0]!.through_seq < X,
      `version ${parent.version} does not reach ${X}: ${JSON.stringify(parent.upstream)}`,
    );
    // The domain_events version that first covered the position (the aggregator may read ahead of the
    // domain committer: wait for it, so lineage names it rather than "not yet").
    const upstreamVersion = await lake.catalog.waitCovering(DATASET, through, WAIT_MS);

    const { stdout: djson } = await lakeCli(["lineage", DERIVED, String(derived.version), "--json"]);
    const d = JSON.parse(djson) as CatalogLineage;
    assert.deepEqual([d.version, d.parent_version, d.operation, d.quality.status], [derived.version, derived.parent_version, "append", "passed"]);
    assert.deepEqual(d.upstream, [
      { dataset: DATASET, stream: "EVENTS", subject: SUBJECT, through_seq: through, version: upstreamVersion.version, status: "covered" },
    ]);
    assert.deepEqual([d.upstream_recorded_in, d.watermark], [derived.version, watermark]);
    assert.deepEqual(d.source, { ...derived.source, rows_added: derived.row_count });
    const { stdout: dtext } = await lakeCli(["lineage", DERIVED, String(derived.version)]);
    assert.match(dtext, new RegExp(`^${DERIVED} version ${derived.version}: append, parent ${derived.parent_version}, committed `));
    assert.match(
      dtext,
      new RegExp(`upstream: +${DATASET}: EVENTS ${escape(SUBJECT)} through offset ${through}; first in ${DATASET} version ${upstreamVersion.version}\n`),
      dtext,
    );
    assert.match(dtext, new RegExp(`watermark: +${escape(watermark)}\n`));
    assert.match(dtext, /quality: +passed \(checked \S+ by \S+\)/);

    // The reverse question for X: the append that added it, and the first derived version reflecting it.
    const { stdout: rjson } = await lakeCli(["lineage", "--source-offset", String(X), "--json"]);
    const r = JSON.parse(rjson) as CatalogSourceLineage;
    const found = Object.fromEntries(r.datasets.map((m) => [`${m.dataset}/${m.relation}`, m]));
    assert.deepEqual(
      [found[`${DATASET}/source`]?.version?.version, found[`${DATASET}/source`]?.version?.first_offset, found[`${DATASET}/source`]?.version?.last_offset],
      [appended.version, appended.source.first_offset, appended.source.last_offset],
      rjson,
    );
    const upstreamMatch = found[`${DERIVED}/upstream`];
    assert.equal(upstreamMatch?.subject, SUBJECT, rjson);
    assert.deepEqual(
      [upstreamMatch.version?.version, upstreamMatch.version?.through_seq, upstreamMatch.version?.watermark, upstreamMatch.version?.quality],
      [derived.version, through, watermark, "passed"],
      rjson,
    );
    // Batch 1's offsets: the earlier version reflects them already.
    const earlier = await lake.catalog.sourceLineage(b1.first, { dataset: DERIVED });
    assert.deepEqual(
      earlier.datasets.map((m) => [m.relation, m.version?.version]),
      [["upstream", (await lake.catalog.coveringSource(DERIVED, b1.first, 0)).version]],
    );
    assert.ok(earlier.datasets[0]!.version!.version <= early.version);
    // As text: one row per dataset fed by the subject.
    const { stdout: rtext } = await lakeCli(["lineage", "--source-offset", String(X), "--subject", SUBJECT]);
    assert.match(rtext, new RegExp(`^source offset ${X} on EVENTS ${escape(SUBJECT)}`));
    assert.match(
      rtext,
      new RegExp(`${DATASET} +source +${escape(SUBJECT)} +${appended.version} +append .*added it \\(offsets ${appended.source.first_offset}-`),
    );
    assert.match(
      rtext,
      new RegExp(`${DERIVED} +upstream +${escape(SUBJECT)} +${derived.version} +append .*first through offset ${through}; every later version too`),
    );
    for (const out of [text, ctext, dtext, rtext]) t.diagnostic(out);

    // An offset past everything sent: no version holds it, nor reflects it, yet.
    const ahead = await lake.catalog.sourceLineage(b3.last + 1_000, { subject: SUBJECT });
    assert.deepEqual(Object.fromEntries(ahead.datasets.map((m) => [`${m.dataset}/${m.relation}`, m.version])), {
      [`${DATASET}/source`]: null,
      [`${DERIVED}/upstream`]: null,
    });
  },
);

test("lake lineage refuses what it can't answer, with the reason", { timeout: 300_000 }, async () => {
  const fails = async (args: string[]) => {
    const e = (await lakeCli(args).then(
      () => assert.fail(`lake ${args.join(" ")} succeeded`),
      (err: unknown) => err,
    )) as { code: number; stderr: string };
    assert.equal(e.code, 2, "a usage error: an unknown version, a malformed option, a missing argument");
    return e.stderr;
  };
  assert.match(await fails(["lineage", DATASET, "999999"]), /lake: catalog: dataset domain_events has no version 999999/);
  assert.match(await fails(["lineage", "--source-offset", "abc"]), /lake: --source-offset must be a positive integer/);
  assert.match(await fails(["lineage", "--source-offset", "5", "--stream", "EV.ENTS"]), /lake: catalog: stream="EV.ENTS"/);
  assert.match(await fails(["lineage"]), /lake: usage:\n {2}lake lineage D/);
});
