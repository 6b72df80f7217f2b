// Lineage through a whole lake and the `lake` CLI: domain_events committed by its committer and
// compacted by `lake compact`; `lake lineage` for an append (its source offsets, files, verdict) and for
// the compaction (no new source data, the files it replaced); the reverse question for an offset finds
// the append that added it. A derived dataset's versions are appended to the commit log here with the
// upstream positions and watermark a derived committer records (VersionCommitted.lineage), and `lake
// lineage` names those positions and the domain_events version covering them; the reverse question finds
// the first derived version reflecting the offset.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { type CatalogLineage, type CatalogSourceLineage, sampleEvents, sendHttp } from "@lake/client";
import type { VersionCommitted } from "@lake/contracts";
import { appendLogRecord, readCommitHead } from "@lake/messaging";
import { waitFor } from "@lake/testing";

import { covering, DATASET, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI finds the lake through --data-dir's run.json only.
const env = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE", "LAKE_STORE_ROOT", "LAKE_TOKEN"]) delete env[k];

/** A derived dataset of this test only: no committer of the lake writes it, so its log is ours. */
const DERIVED = "lineage_probe_totals";

let lake: Awaited<ReturnType<typeof withLake>>;
before(async () => {
  lake = await withLake({ without: ["aggregator"] });
});
after(async () => {
  await lake?.cleanup();
});

function lakeCli(args: string[]) {
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 120_000, env });
}

/** One batch of events, committed: its offsets and the version that covers the last of them. */
async function batch(no: number, n: number) {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(n, { prefix: `lin${no}`, seed: no + 1 }));
  assert.equal(r.accepted, n);
  const offsets = r.results.flatMap((x) => (x.status === "accepted" ? [x.offset] : [])).sort((a, b) => a - b);
  assert.equal(offsets.length, n);
  const v = await covering(lake, offsets.at(-1)!);
  return { first: offsets[0]!, last: offsets.at(-1)!, version: v.version };
}

/** A derived version as its committer would record it: window-stream range, upstream position, watermark. */
function derivedVersion(version: number, throughSeq: number, watermark: number): VersionCommitted {
  return {
    dataset: DERIVED,
    version,
    parent_version: version - 1,
    write_id: `probe-w${version}`,
    committer_id: "lineage-test",
    committed_at: Date.now(),
    policy: "non-critical",
    schema_name: "daily_user_totals",
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${DERIVED}/manifests/v${version}.json`, sha256: "a".repeat(64), bytes: 100 },
    added_files: [
      { key: `datasets/${DERIVED}/data/dt=2026-06-01/probe-w${version}-0.parquet`, partition: "dt=2026-06-01", rows: 5, bytes: 500, sha256: "b".repeat(64) },
    ],
    removed_files: [],
    source: { stream: "WINDOWS", subject: `lake.windows.${DERIVED}`, first_seq: version * 10 - 9, last_seq: version * 10 },
    row_count: 5,
    total_rows: 5 * version,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: null,
    lineage: {
      base_version: null,
      reverted_version: null,
      upstream: [{ dataset: DATASET, stream: "EVENTS", subject: `lake.events.${DATASET}`, through_seq: throughSeq }],
      watermark,
    },
    operation: null,
  };
}

async function appendDerived(body: VersionCommitted): Promise<void> {
  const nc = await lake.connect("admin", "lineage-test");
  try {
    const head = await readCommitHead(await jetstreamManager(nc), DERIVED);
    await appendLogRecord(jetstream(nc), DERIVED, { kind: "VersionCommitted", body }, { expectedLastSeq: head.seq });
  } finally {
    await nc.close();
  }
  await waitFor(
    `the catalog to apply ${DERIVED} v${body.version}`,
    async () => ((await lake.catalog.dataset(DERIVED).catch(() => undefined))?.dataset.latest_version ?? 0) >= body.version || undefined,
    {
      timeoutMs: 20_000,
    },
  );
}

test("lake lineage: an append's source offsets and verdict, a compaction's replaced files, a derived version's upstream positions, and the reverse question", async (t) => {
  const b1 = await batch(1, 60);
  const b2 = await batch(2, 60);
  const b3 = await batch(3, 60);
  assert.ok(b1.version < b2.version && b2.version < b3.version, "each batch is committed in versions of its own");

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
    { timeoutMs: 60_000 },
  );
  assert.equal(judged.quality.status, "passed");

  const { stdout: text } = await lakeCli(["lineage", DATASET, String(appended.version)]);
  assert.match(text, new RegExp(`^${DATASET} version ${appended.version}: append, parent ${appended.version - 1}, committed `));
  assert.match(
    text,
    new RegExp(
      `source: +EVENTS lake\\.events\\.${DATASET} offsets ${appended.source.first_offset}-${appended.source.last_offset} \\(${appended.row_count} rows added\\)`,
    ),
  );
  assert.match(text, new RegExp(`files: +${appended.files.length} files, ${appended.total_rows} rows, `));
  assert.match(text, /quality: +passed \(checked \S+ by \S+\)/);

  // Compaction: `lake compact` rewrites the small files as a new version with the same rows.
  const beforeCompaction = await lake.catalog.version(DATASET, "latest");
  const { stdout: compacted } = await run(process.execPath, ["--import", tsx, cli, "compact", DATASET, "--data-dir", lake.dataDir], { timeout: 120_000, env });
  const cv = Number(/version (\d+) \(parent \d+, commit-log sequence \d+\) rewrote \d+ files/.exec(compacted)?.[1]);
  assert.equal(cv, beforeCompaction.version + 1, compacted);
  const { stdout: cjson } = await lakeCli(["lineage", DATASET, String(cv), "--json", "--files"]);
  const c = JSON.parse(cjson) as CatalogLineage;
  assert.equal(c.operation, "compaction");
  assert.equal(c.parent_version, beforeCompaction.version);
  assert.ok(c.source.first_offset > c.source.last_offset && c.source.last_offset === beforeCompaction.source.last_offset, "no new source data");
  assert.equal(c.source.rows_added, 0);
  assert.ok(c.files.removed >= 2 && c.files.added >= 1 && c.files.count < beforeCompaction.files.length, JSON.stringify(c.files));
  assert.equal(c.files.rows, beforeCompaction.total_rows, "same rows");
  assert.deepEqual(c.files.keys, (await lake.catalog.version(DATASET, cv)).files.map((f) => f.key).sort());
  assert.ok(c.files.manifest_list !== null && c.files.manifest_list.startsWith(`datasets/${DATASET}/metadata/`));
  assert.deepEqual([c.current, c.expired, c.upstream], [true, false, []]);
  const { stdout: ctext } = await lakeCli(["lineage", DATASET, "latest"]);
  assert.match(ctext, new RegExp(`^${DATASET} version ${cv}: compaction, parent ${beforeCompaction.version},`));
  assert.match(ctext, new RegExp(`source: +no new source data \\(EVENTS lake\\.events\\.${DATASET}, after offset ${beforeCompaction.source.last_offset}\\)`));

  // A derived dataset reflecting domain_events through batch 1, then through batch 3.
  const watermark = Date.UTC(2026, 5, 2);
  await appendDerived(derivedVersion(1, b1.last, watermark - 3_600_000));
  await appendDerived(derivedVersion(2, b3.last, watermark));
  const { stdout: dtext } = await lakeCli(["lineage", DERIVED, "2"]);
  assert.match(
    dtext,
    new RegExp(`upstream: +${DATASET}: EVENTS lake\\.events\\.${DATASET} through offset ${b3.last}; first in ${DATASET} version ${b3.version}`),
    dtext,
  );
  assert.match(dtext, new RegExp(`watermark: +${new Date(watermark).toISOString()}`));

  // The reverse question for an offset of batch 2: the append that added it, and the first derived
  // version whose position reaches it (v2: v1 only reached batch 1).
  const { stdout: rjson } = await lakeCli(["lineage", "--source-offset", String(b2.first), "--json"]);
  const r = JSON.parse(rjson) as CatalogSourceLineage;
  const found = Object.fromEntries(r.datasets.filter((d) => d.version !== null).map((d) => [`${d.dataset}/${d.relation}`, d.version!]));
  assert.equal(found[`${DATASET}/source`]?.version, appended.version);
  assert.deepEqual(
    [found[`${DATASET}/source`]?.first_offset, found[`${DATASET}/source`]?.last_offset],
    [appended.source.first_offset, appended.source.last_offset],
  );
  assert.equal(found[`${DERIVED}/upstream`]?.version, 2);
  assert.equal(found[`${DERIVED}/upstream`]?.through_seq, b3.last);
  // Batch 1's offsets are in derived v1 already.
  const early = await lake.catalog.sourceLineage(b1.first, { dataset: DERIVED });
  assert.equal(early.datasets[0]?.version?.version, 1);
  // As text: one row per dataset fed by the stream.
  const { stdout: rtext } = await lakeCli(["lineage", "--source-offset", String(b2.first), "--subject", `lake.events.${DATASET}`]);
  assert.match(rtext, new RegExp(`^source offset ${b2.first} on EVENTS lake\\.events\\.${DATASET}`));
  assert.match(
    rtext,
    new RegExp(`${DATASET} +source +lake\\.events\\.${DATASET} +${appended.version} +append .*added it \\(offsets ${appended.source.first_offset}-`),
  );
  assert.match(rtext, new RegExp(`${DERIVED} +upstream +lake\\.events\\.${DATASET} +2 +append .*first through offset ${b3.last}; every later version too`));
  for (const out of [text, ctext, dtext, rtext]) t.diagnostic(out);
  // An offset past everything committed: no version holds it yet.
  const ahead = await lake.catalog.sourceLineage(b3.last + 1_000, { dataset: DATASET });
  assert.equal(ahead.datasets[0]?.version, null);
});

test("lake lineage refuses what it can't answer, with the reason", async () => {
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
