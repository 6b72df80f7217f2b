// Lineage on a real projection and HTTP server: given a commit log with a domain dataset (appends, a
// compaction, a failed verdict, a tag, an expired version, a revert), a second domain on the same stream
// and a derived dataset whose versions record upstream positions and a watermark, when a version's
// lineage or a source offset is asked for, then the right versions, files, verdicts and upstream versions;
// readers see only what they may read; bad parameters are 400 with the parameter named.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { CatalogLineage, CatalogSourceLineage, LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import type { Logger } from "@lake/telemetry";

import type { Catalog } from "../src/catalog.ts";
import { firstVersionThrough, upstreamRecordedIn, versionAddingOffset } from "../src/db/lineage.ts";
import { Projection } from "../src/db/projection.ts";
import { parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { startHttp } from "../src/http/routes.ts";
import { T0, versionRecord } from "./fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-lineage-"));
after(() => rmSync(root, { recursive: true, force: true }));

const DE = "domain_events";
const DUT = "daily_user_totals";
const DE_SUBJECT = "lake.events.domain_events";

const file = (dataset: string, version: number, partition = "dt=2026-06-01"): LakeLog.DataFile => ({
  key: `datasets/${dataset}/data/${partition}/w${version}-000.parquet`,
  partition,
  rows: 10 * version,
  bytes: 1000 + version,
  sha256: "b".repeat(64),
});

function vc(
  dataset: string,
  version: number,
  o: {
    first: number;
    last: number;
    stream?: string;
    subject?: string;
    added?: LakeLog.DataFile[];
    removed?: string[];
    operation?: string | null;
    lineage?: VersionCommitted["lineage"];
  },
): LogRecord {
  const added = o.added ?? [file(dataset, version)];
  return {
    kind: "VersionCommitted",
    body: versionRecord(dataset, version, {
      added_files: added,
      removed_files: o.removed ?? [],
      source: { stream: o.stream ?? "EVENTS", subject: o.subject ?? `lake.events.${dataset}`, first_seq: o.first, last_seq: o.last },
      row_count: added.reduce((n, f) => n + f.rows, 0),
      total_rows: 100,
      lineage: o.lineage ?? null,
      operation: o.operation === undefined ? null : o.operation,
    }),
  };
}

const upstream = (through_seq: number, watermark: number): VersionCommitted["lineage"] => ({
  base_version: null,
  reverted_version: null,
  upstream: [{ dataset: DE, stream: "EVENTS", subject: DE_SUBJECT, through_seq }],
  watermark,
});
const derived = (version: number, first: number, last: number, o: Parameters<typeof vc>[2] extends infer P ? Partial<P> : never = {}) =>
  vc(DUT, version, { first, last, stream: "WINDOWS", subject: `lake.windows.${DUT}`, ...o });
const verdict = (dataset: string, version: number, passed: boolean): LogRecord => ({
  kind: "QualityVerdict",
  body: {
    dataset,
    version,
    outcome: passed ? "passed" : "failed",
    rules: [
      { rule: "row_count_drift", passed: true, measured: "10", expected: "> 0", message: "ok" },
      { rule: "not_null(user_id)", passed, measured: passed ? "0" : "3", expected: "0", message: passed ? "ok" : "3 rows without user_id" },
    ],
    checked_at: T0 + version * 60_000 + 5_000,
    checker_id: "quality-1",
  },
});
const WHO = { actor: "alice", reason: "test" };
const W = (h: number) => T0 + h * 3_600_000;

// domain_events reads EVENTS offsets 1-10, 12-20 and 21-30 of its subject; payments has offset 11.
const LOG: LogRecord[] = [
  vc(DE, 1, { first: 1, last: 10 }),
  vc("payments", 1, { first: 11, last: 11 }),
  vc(DE, 2, { first: 12, last: 20, operation: "append", added: [file(DE, 2), file(DE, 2, "dt=2026-06-02")] }),
  verdict(DE, 1, true),
  verdict(DE, 2, false),
  { kind: "VersionTagged", body: { dataset: DE, version: 2, tag: "v20260601", ...WHO, at: T0 } },
  // A compaction: no new source data (empty range after its parent's), v1's and v2's files in one.
  vc(DE, 3, { first: 21, last: 20, operation: "compaction", added: [file(DE, 3)], removed: [file(DE, 1).key, file(DE, 2).key] }),
  verdict(DE, 3, true),
  { kind: "VersionsExpired", body: { dataset: DE, versions: [1], policy: "keep_last=2", ...WHO, at: T0 } },
  vc(DE, 4, { first: 21, last: 30 }),
  // Write-audit-publish took v4's batch out again: back to v3's rows.
  vc(DE, 5, {
    first: 31,
    last: 30,
    operation: "revert",
    added: [],
    removed: [file(DE, 4).key],
    lineage: { base_version: 3, reverted_version: 4, upstream: [], watermark: null },
  }),
  derived(1, 1, 5, { lineage: upstream(10, W(1)) }),
  derived(2, 6, 8, { lineage: upstream(20, W(2)) }),
  derived(3, 9, 8, { operation: "compaction", added: [file(DUT, 3)], removed: [file(DUT, 1).key, file(DUT, 2).key] }),
  // Reaches past what domain_events has committed (its windows ran ahead of its committer).
  derived(4, 9, 9, { lineage: upstream(35, W(4)) }),
];

function given(name: string): Projection {
  const p = new Projection(join(root, `${name}.db`));
  p.applyBatch(LOG.map((record, i) => ({ seq: i + 1, record })));
  return p;
}

describe("lineage lookups on the projection", { timeout: 30_000 }, () => {
  let p: Projection;
  before(() => {
    p = given("lookups");
  });
  after(() => p.close());

  test("every record stood (no anomaly): the log above is a valid history", () => {
    assert.deepEqual(p.db.prepare("SELECT commit_seq, problem FROM anomalies").all(), []);
  });

  test("the version adding an offset is the one whose range holds it; compactions and reverts (empty ranges) never are; another subject's offset is in none", () => {
    const added = (x: number) => versionAddingOffset(p, DE, x)?.version;
    assert.deepEqual([1, 10, 12, 20, 21, 30].map(added), [1, 1, 2, 2, 4, 4]);
    assert.equal(added(11), undefined, "offset 11 is payments', between domain_events' ranges");
    assert.equal(added(31), undefined, "not committed yet");
    assert.equal(versionAddingOffset(p, "payments", 11)?.version, 1);
  });

  test("the first derived version reaching an offset on its upstream stream and subject, through the through_seq index", () => {
    const first = (x: number, stream = "EVENTS", subject: string | null = DE_SUBJECT) => firstVersionThrough(p, DUT, stream, subject, x)?.version;
    assert.deepEqual(
      [1, 10, 11, 20, 21, 35].map((x) => first(x)),
      [1, 1, 2, 2, 4, 4],
    );
    assert.equal(first(36), undefined);
    assert.equal(first(5, "EVENTS", null), 1, "any subject of the stream");
    assert.equal(first(5, "WINDOWS"), undefined, "its upstream is on EVENTS");
    assert.equal(first(5, "EVENTS", "lake.events.payments"), undefined);
    const plan = p.db
      .prepare("EXPLAIN QUERY PLAN SELECT * FROM versions WHERE dataset = ? AND through_seq >= ? ORDER BY through_seq, version LIMIT 1")
      .all(DUT, 5) as { detail: string }[];
    assert.match(plan.map((r) => r.detail).join("\n"), /USING INDEX versions_by_through_seq/);
    assert.doesNotMatch(plan.map((r) => r.detail).join("\n"), /TEMP B-TREE/);
  });

  test("a compaction's upstream positions are its parent's; an append without any records none", () => {
    assert.equal(upstreamRecordedIn(p, p.version(DUT, 3)!, true)?.version, 2);
    assert.equal(upstreamRecordedIn(p, p.version(DUT, 3)!, false), undefined);
    assert.equal(upstreamRecordedIn(p, p.version(DE, 3)!, true), undefined, "domain_events has no upstream");
  });

  test("replaying the log into a fresh database gives the same dump (the indexes change nothing of it)", () => {
    const again = given("replayed");
    try {
      assert.equal(again.canonicalDump(), p.canonicalDump());
    } finally {
      again.close();
    }
  });
});

const TOKENS = { both: "tok-both", derivedOnly: "tok-derived", payments: "tok-payments", admin: "tok-admin" };
const tokens = parseTokensFile(
  JSON.stringify([
    { name: "bi", sha256: tokenSha256(TOKENS.both), role: "reader", datasets: [DE, DUT] },
    { name: "dash", sha256: tokenSha256(TOKENS.derivedOnly), role: "reader", datasets: [DUT] },
    { name: "pay", sha256: tokenSha256(TOKENS.payments), role: "reader", datasets: ["payments"] },
    { name: "root", sha256: tokenSha256(TOKENS.admin), role: "admin" },
  ]),
);

const silent: Logger = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent } as unknown as Logger;

describe("lineage over HTTP", { timeout: 30_000 }, () => {
  let p: Projection;
  let server: Awaited<ReturnType<typeof startHttp>>["server"];
  let base: string;
  before(async () => {
    p = given("http");
    // The catalog around the projection: caught up from the start (every route but the probes asks it first).
    const catalog = {
      projection: p,
      waitFor: <T>(ready: () => T | undefined) => Promise.resolve(ready()),
      onApplied: () => () => {},
      assertServing() {},
    } as unknown as Catalog;
    const s = await startHttp({ catalog, host: "127.0.0.1", port: 0, maxWaitMs: 1000, log: silent, tokens });
    server = s.server;
    base = `http://127.0.0.1:${s.port}`;
  });
  after(() => {
    server.close();
    p.close();
  });

  async function get<T = Record<string, unknown>>(path: string, token = TOKENS.admin): Promise<{ status: number; body: T }> {
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as T };
  }
  const lineage = async (dataset: string, version: string, token?: string, query = "") => {
    const r = await get<CatalogLineage>(`/v1/datasets/${dataset}/versions/${version}/lineage${query}`, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  test("a derived version names its upstream positions, the upstream version that first covered each, and its watermark", async () => {
    const l = await lineage(DUT, "2");
    assert.deepEqual(l.upstream, [{ dataset: DE, stream: "EVENTS", subject: DE_SUBJECT, through_seq: 20, version: 2, status: "covered" }]);
    assert.equal(l.upstream_recorded_in, 2);
    assert.equal(l.watermark, new Date(W(2)).toISOString());
    assert.deepEqual(l.source, { stream: "WINDOWS", subject: `lake.windows.${DUT}`, first_offset: 6, last_offset: 8, rows_added: 20 });
    assert.equal(l.operation, "append", "a record without an operation was an append");
    // Its compaction has the same rows, so the same positions (recorded in v2); v4 reaches past what
    // domain_events has committed.
    const c = await lineage(DUT, "3");
    assert.deepEqual([c.operation, c.upstream_recorded_in, c.upstream[0]?.through_seq, c.watermark], ["compaction", 2, 20, l.watermark]);
    const ahead = await lineage(DUT, "latest");
    assert.deepEqual(ahead.upstream[0], { dataset: DE, stream: "EVENTS", subject: DE_SUBJECT, through_seq: 35, version: null, status: "not_yet" });
  });

  test("a reader of the derived dataset only sees its upstream positions, not the versions of a dataset it may not read", async () => {
    const l = await lineage(DUT, "2", TOKENS.derivedOnly);
    assert.deepEqual(l.upstream, [{ dataset: DE, stream: "EVENTS", subject: DE_SUBJECT, through_seq: 20, version: null, status: "not_readable" }]);
  });

  test("a domain version: operation, files, source range, failed rules with measured/expected, tags, current and expired", async () => {
    const v2 = await lineage(DE, "v20260601");
    assert.equal(v2.version, 2, "a tag names the version");
    assert.deepEqual(v2.tags, ["v20260601"]);
    assert.deepEqual(v2.source, { stream: "EVENTS", subject: DE_SUBJECT, first_offset: 12, last_offset: 20, rows_added: 40 });
    assert.deepEqual(v2.quality, {
      status: "failed",
      checked_at: new Date(T0 + 2 * 60_000 + 5_000).toISOString(),
      checker_id: "quality-1",
      failed_rules: [{ rule: "not_null(user_id)", measured: "3", expected: "0", message: "3 rows without user_id" }],
    });
    assert.deepEqual(
      { ...v2.files, manifest: v2.files.manifest.key },
      {
        count: 3,
        rows: 50,
        bytes: 3005,
        partitions: ["dt=2026-06-01", "dt=2026-06-02"],
        added: 2,
        removed: 0,
        manifest: `datasets/${DE}/manifests/v2.json`,
        manifest_list: null,
      },
    );
    assert.deepEqual([v2.current, v2.expired, v2.upstream, v2.watermark], [false, false, [], null]);

    const v1 = await lineage(DE, "1");
    assert.deepEqual([v1.operation, v1.expired, typeof v1.expired_seq, v1.quality.status, v1.quality.failed_rules], ["append", true, "number", "passed", []]);

    const c = await lineage(DE, "3", undefined, "?files=list");
    assert.deepEqual([c.operation, c.source.first_offset > c.source.last_offset, c.files.added, c.files.removed], ["compaction", true, 1, 2]);
    assert.deepEqual(c.files.keys, [file(DE, 3).key, file(DE, 2, "dt=2026-06-02").key]);
    assert.equal((await lineage(DE, "4")).quality.status, "pending");

    const current = await lineage(DE, "current");
    assert.deepEqual(
      [current.version, current.operation, current.base_version, current.reverted_version, current.current, current.files.count],
      [5, "revert", 3, 4, true, 2],
    );
  });

  test("the reverse question: the domain version that added an offset and the first derived version reflecting it", async () => {
    const r = await get<CatalogSourceLineage>("/v1/lineage?source_offset=15");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.source, { stream: "EVENTS", subject: null, offset: 15 });
    const byName = Object.fromEntries(r.body.datasets.map((d) => [`${d.dataset}/${d.relation}`, d]));
    assert.deepEqual(Object.keys(byName).sort(), [`${DUT}/upstream`, `${DE}/source`, "payments/source"]);
    assert.deepEqual(byName[`${DE}/source`]!.version, {
      version: 2,
      operation: "append",
      committed_at: new Date(T0 + 2 * 60_000).toISOString(),
      quality: "failed",
      expired: false,
      first_offset: 12,
      last_offset: 20,
      through_seq: null,
      watermark: null,
      reverted_by: null,
    });
    assert.deepEqual(
      [byName[`${DUT}/upstream`]!.version?.version, byName[`${DUT}/upstream`]!.version?.through_seq, byName[`${DUT}/upstream`]!.subject],
      [2, 20, DE_SUBJECT],
    );
    assert.equal(byName["payments/source"]!.version, null, "payments read offset 11 only");

    // With the subject, only what reads it; offset 25's batch was reverted by v5.
    const s = await get<CatalogSourceLineage>(`/v1/lineage?source_offset=25&subject=${DE_SUBJECT}`);
    assert.deepEqual(
      s.body.datasets.map((d) => [d.dataset, d.relation, d.version?.version ?? null, d.version?.reverted_by ?? null]),
      [
        [DUT, "upstream", 4, null],
        [DE, "source", 4, 5],
      ],
    );
    const one = await get<CatalogSourceLineage>(`/v1/lineage?source_offset=3&dataset=${DUT}`);
    assert.deepEqual(
      one.body.datasets.map((d) => [d.dataset, d.version?.version]),
      [[DUT, 1]],
    );
    const none = await get<CatalogSourceLineage>(`/v1/lineage?source_offset=36&dataset=${DUT}`);
    assert.deepEqual(
      none.body.datasets.map((d) => [d.dataset, d.version, d.latest_version]),
      [[DUT, null, 4]],
    );
    const windows = await get<CatalogSourceLineage>("/v1/lineage?source_offset=7&stream=WINDOWS");
    assert.deepEqual(
      windows.body.datasets.map((d) => [d.dataset, d.relation, d.version?.version]),
      [[DUT, "source", 2]],
    );
  });

  test("readers: another dataset's lineage is 403, the reverse question answers only about what they may read", async () => {
    const denied = await get(`/v1/datasets/${DE}/versions/2/lineage`, TOKENS.payments);
    assert.equal(denied.status, 403);
    assert.match(String(denied.body.message), /lacks read access to dataset "domain_events"/);
    const mine = await get<CatalogSourceLineage>("/v1/lineage?source_offset=11", TOKENS.payments);
    assert.deepEqual(
      mine.body.datasets.map((d) => [d.dataset, d.version?.version]),
      [["payments", 1]],
    );
    const asked = await get(`/v1/lineage?source_offset=11&dataset=${DE}`, TOKENS.payments);
    assert.deepEqual([asked.status, asked.body.error], [403, "forbidden"]);
    const both = await get<CatalogSourceLineage>("/v1/lineage?source_offset=15", TOKENS.both);
    assert.deepEqual(both.body.datasets.map((d) => d.dataset).sort(), [DUT, DE]);
    const anonymous = await fetch(`${base}/v1/lineage?source_offset=1`);
    assert.equal(anonymous.status, 401);
  });

  test("unknown versions, tags and datasets are 404; bad parameters 400 naming what is wrong", async () => {
    const cases: [string, number, string, RegExp][] = [
      [`/v1/datasets/${DE}/versions/99/lineage`, 404, "unknown_version", /has no version 99/],
      [`/v1/datasets/${DE}/versions/nope/lineage`, 404, "unknown_version", /no version or tag "nope"/],
      [`/v1/datasets/nothing_here/versions/1/lineage`, 404, "unknown_dataset", /nothing_here/],
      [`/v1/datasets/${DE}/versions/0/lineage`, 400, "invalid_version", /positive decimal integer/],
      [`/v1/datasets/${DE}/versions/-1/lineage`, 400, "invalid_version", /latest", "current", a positive decimal integer or a tag/],
      [`/v1/datasets/${DE}/versions/1/lineage?files=all`, 400, "invalid_parameter", /files="all"/],
      [`/v1/lineage`, 400, "invalid_parameter", /source_offset is required/],
      [`/v1/lineage?source_offset=abc`, 400, "invalid_parameter", /source_offset="abc": expected a decimal integer/],
      [`/v1/lineage?source_offset=0`, 400, "invalid_parameter", /source_offset="0"/],
      [`/v1/lineage?source_offset=1&stream=EV.ENTS`, 400, "invalid_parameter", /stream="EV.ENTS"/],
      [`/v1/lineage?source_offset=1&subject=lake.events.*`, 400, "invalid_parameter", /subject="lake.events.\*": expected a literal subject/],
      [`/v1/lineage?source_offset=1&dataset=Bad`, 400, "invalid_parameter", /dataset="Bad": invalid dataset name/],
      [`/v1/lineage?source_offset=1&dataset=nothing_here`, 404, "unknown_dataset", /nothing_here/],
    ];
    for (const [path, status, code, message] of cases) {
      const r = await get(path);
      assert.deepEqual([r.status, r.body.error], [status, code], path);
      assert.match(String(r.body.message), message, path);
    }
  });
});
