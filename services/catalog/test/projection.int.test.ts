import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import Database from "better-sqlite3";

import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";

import { type FileRow, Projection } from "../src/db/projection.ts";
import { SCHEMA } from "../src/db/schema.ts";

type LogEntry = { seq: number; record: LogRecord | undefined };

const root = mkdtempSync(join(tmpdir(), "lake-catalog-projection-"));
after(() => rmSync(root, { recursive: true, force: true }));

let dbNo = 0;
const opened: Projection[] = [];
function open(path = join(root, `catalog-${dbNo++}.db`)): Projection {
  const p = new Projection(path);
  opened.push(p);
  return p;
}
after(() => {
  for (const p of opened) if (p.db.open) p.close();
});

const T0 = Date.UTC(2026, 5, 1, 12);

function file(dataset: string, version: number, n: number, partition = "dt=2026-06-01"): LakeLog.DataFile {
  return {
    key: `datasets/${dataset}/data/${partition}/w${version}-${String(n).padStart(3, "0")}.parquet`,
    partition,
    rows: 10 * version + n,
    bytes: 1000 + n,
    sha256: `${version}${n}`.padEnd(64, "0"),
  };
}

function vc(
  dataset: string,
  version: number,
  opts: { first: number; last: number; added?: LakeLog.DataFile[]; removed?: string[]; rows?: number; total?: number; parent?: number },
): LogRecord & { kind: "VersionCommitted" } {
  return { kind: "VersionCommitted", body: vcBody(dataset, version, opts) };
}

function vcBody(
  dataset: string,
  version: number,
  opts: { first: number; last: number; added?: LakeLog.DataFile[]; removed?: string[]; rows?: number; total?: number; parent?: number },
): VersionCommitted {
  const added = opts.added ?? [file(dataset, version, 0)];
  const rows = opts.rows ?? added.reduce((n, f) => n + f.rows, 0);
  return {
    dataset,
    version,
    parent_version: opts.parent ?? version - 1,
    write_id: `w${version}`,
    committer_id: "committer-1",
    committed_at: T0 + version * 60_000,
    policy: "non-critical",
    schema_name: "domain_events",
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${dataset}/manifests/v${String(version).padStart(12, "0")}-w${version}.json`, sha256: "a".repeat(64), bytes: 500 + version },
    added_files: added,
    removed_files: opts.removed ?? [],
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: opts.first, last_seq: opts.last },
    row_count: rows,
    total_rows: opts.total ?? rows,
    min_event_time: version === 1 ? null : T0 - version,
    max_event_time: version === 1 ? null : T0 + version,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
  };
}

// The shared commit log used by most tests: two datasets interleaved, plus a record of another kind.
const o1 = vc("orders", 1, { first: 1, last: 10, added: [file("orders", 1, 0), file("orders", 1, 1, "dt=2026-05-31")], total: 21 });
const c1 = vc("clicks", 1, { first: 1, last: 5, total: 10 });
const o2 = vc("orders", 2, { first: 11, last: 20, added: [file("orders", 2, 0)], removed: [file("orders", 1, 1, "dt=2026-05-31").key], total: 41 });
const o3 = vc("orders", 3, {
  first: 21,
  last: 30,
  added: [file("orders", 3, 0), file("orders", 3, 1, "dt=2026-06-02")],
  removed: [file("orders", 1, 0).key],
  total: 94,
});
const LOG: LogEntry[] = [
  { seq: 1, record: o1 },
  { seq: 2, record: c1 },
  { seq: 3, record: o2 },
  { seq: 4, record: undefined },
  { seq: 5, record: o3 },
];

const keysOf = (files: FileRow[]) => files.map((f) => f.key);

/** Given a projection fed the shared log in one batch. */
function givenLog(): Projection {
  const p = open();
  p.applyBatch(LOG);
  return p;
}

describe("Projection: applying VersionCommitted records", () => {
  test("a new database is empty at position 0", () => {
    const p = open();
    assert.equal(p.lastSeq, 0);
    assert.deepEqual(p.datasets(), []);
    assert.equal(p.dataset("orders"), undefined);
    assert.equal(p.version("orders", 1), undefined);
    assert.deepEqual(p.files("orders", 1), []);
    assert.equal(p.coveringOffset("orders", 1), undefined);
  });

  test("datasets: one row per dataset with its first and latest commit and total rows", () => {
    const p = givenLog();
    assert.deepEqual(p.datasets(), [
      // Non-critical datasets: the current version follows each commit.
      {
        name: "clicks",
        first_commit_seq: 2,
        latest_version: 1,
        latest_commit_seq: 2,
        total_rows: 10,
        updated_at: c1.body.committed_at,
        policy: "non-critical",
        current_version: 1,
        last_record_seq: 2,
        rollback_floor: 0,
      },
      {
        name: "orders",
        first_commit_seq: 1,
        latest_version: 3,
        latest_commit_seq: 5,
        total_rows: 94,
        updated_at: o3.body.committed_at,
        policy: "non-critical",
        current_version: 3,
        last_record_seq: 5,
        rollback_floor: 0,
      },
    ]);
    assert.deepEqual(p.dataset("orders"), p.datasets()[1]);
    assert.equal(p.dataset("nope"), undefined);
  });

  test("versions: every field of the record is kept, with its commit sequence", () => {
    const p = givenLog();
    assert.deepEqual(p.version("orders", 2), {
      dataset: "orders",
      version: 2,
      parent_version: 1,
      commit_seq: 3,
      write_id: "w2",
      committer_id: "committer-1",
      committed_at: o2.body.committed_at,
      schema_name: "domain_events",
      schema_version: 1,
      schema_fingerprint: "f".repeat(64),
      manifest_key: o2.body.manifest.key,
      manifest_sha256: o2.body.manifest.sha256,
      manifest_bytes: o2.body.manifest.bytes,
      source_stream: "EVENTS",
      source_subject: "lake.events.orders",
      first_offset: 11,
      last_offset: 20,
      row_count: o2.body.row_count,
      total_rows: 41,
      added_files: 1,
      removed_files: 1,
      min_event_time: T0 - 2,
      max_event_time: T0 + 2,
      policy: "non-critical",
      quality: "pending",
      quality_seq: null,
      operation: null,
      max_source_position: null,
      iceberg_manifest_list: null,
      iceberg_metadata: null,
      iceberg_schema_id: null,
      iceberg_total_files: null,
      base_version: null,
      reverted_version: null,
      upstream: null,
      through_seq: null,
      watermark: null,
    });
    assert.equal(p.version("orders", 1)!.min_event_time, null, "null event times stay null");
    assert.equal(p.version("orders", 4), undefined);
  });

  test("iceberg: a version's reference is kept with its operation and source position; one that is not the dataset's own is null and noted", () => {
    const p = open();
    const ref = (manifestList: string, metadata: string) => ({ manifest_list: manifestList, metadata, schema_id: 1, total_files: 2 });
    const own = ref("datasets/orders/metadata/snap-1-w1.avro", "datasets/orders/metadata/v1-w1.metadata.json");
    const forged = [
      ref("datasets/clicks/metadata/snap-1-w1.avro", "datasets/clicks/metadata/v1-w1.metadata.json"), // another dataset's
      ref("datasets/orders/metadata/snap-2-w2.avro", "datasets/orders/data/v2.metadata.json"), // outside metadata/
      ref("datasets/orders/metadata/../../clicks/metadata/snap.avro", "datasets/orders/metadata/v3.metadata.json"), // escapes
      ref("datasets/orders/metadata//snap.avro", "datasets/orders/metadata/v4.metadata.json"), // not a store key
      { ...own, schema_id: -1 },
    ];
    const records: LogEntry[] = [
      {
        seq: 1,
        record: {
          kind: "VersionCommitted",
          body: { ...vcBody("orders", 1, { first: 1, last: 10 }), iceberg: own, operation: "append", max_source_position: 7 },
        },
      },
    ];
    forged.forEach((iceberg, i) =>
      records.push({ seq: i + 2, record: { kind: "VersionCommitted", body: { ...vcBody("orders", i + 2, { first: 11 + i, last: 11 + i }), iceberg } } }),
    );
    p.applyBatch(records);
    const v1 = p.version("orders", 1)!;
    assert.deepEqual(
      [v1.operation, v1.max_source_position, v1.iceberg_manifest_list, v1.iceberg_metadata, v1.iceberg_schema_id, v1.iceberg_total_files],
      ["append", 7, own.manifest_list, own.metadata, 1, 2],
    );
    for (let v = 2; v <= forged.length + 1; v++) {
      const row = p.version("orders", v)!;
      assert.deepEqual([row.iceberg_manifest_list, row.iceberg_metadata, row.iceberg_schema_id, row.iceberg_total_files], [null, null, null, null], `v${v}`);
    }
    assert.equal(p.dataset("orders")!.latest_version, forged.length + 1, "the versions themselves stand");
    assert.deepEqual(
      p.snapshotVersions("orders").map((v) => v.version),
      [1],
    );
    const noted = p.db.prepare<[], { commit_seq: number; problem: string }>("SELECT commit_seq, problem FROM anomalies ORDER BY commit_seq").all();
    assert.deepEqual(
      noted.map((a) => a.commit_seq),
      [2, 3, 4, 5, 6],
    );
    assert.match(noted[0]!.problem, /iceberg reference is not under datasets\/orders\/metadata\//);
  });

  test("iceberg: a database from before the Iceberg columns gets them, in the order a fresh one has them", () => {
    const path = join(root, `catalog-${dbNo++}.db`);
    const old = new Database(path);
    old.exec(SCHEMA.replace(/ {2}-- What an Iceberg snapshot[\s\S]*?watermark INTEGER,\n/, ""));
    assert.ok(
      !old
        .prepare("SELECT name FROM pragma_table_info('versions')")
        .all()
        .some((c) => (c as { name: string }).name === "operation"),
    );
    old.close();
    const migrated = open(path);
    const fresh = open();
    const columns = (p: Projection) =>
      p.db
        .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('versions')")
        .all()
        .map((c) => c.name);
    assert.deepEqual(columns(migrated), columns(fresh));
    migrated.applyBatch(LOG);
    fresh.applyBatch(LOG);
    assert.equal(migrated.canonicalDump(), fresh.canonicalDump());
  });

  test("versions(after, limit) pages through a dataset's versions in order", () => {
    const p = givenLog();
    assert.deepEqual(
      p.versions("orders", 0, 10).map((v) => v.version),
      [1, 2, 3],
    );
    assert.deepEqual(
      p.versions("orders", 1, 1).map((v) => v.version),
      [2],
    );
    assert.deepEqual(p.versions("orders", 3, 10), []);
    assert.deepEqual(
      p.versions("clicks", 0, 10).map((v) => [v.version, v.commit_seq]),
      [[1, 2]],
    );
  });

  test("lastSeq is the sequence of the last record applied, whatever its kind", () => {
    assert.equal(givenLog().lastSeq, 5);
  });

  test("the file set of version N is the files added at or before N minus those removed by N", () => {
    const p = givenLog();
    assert.deepEqual(keysOf(p.files("orders", 1)), [file("orders", 1, 0).key, file("orders", 1, 1, "dt=2026-05-31").key].sort());
    assert.deepEqual(keysOf(p.files("orders", 2)), [file("orders", 1, 0).key, file("orders", 2, 0).key].sort());
    assert.deepEqual(keysOf(p.files("orders", 3)), [file("orders", 2, 0).key, file("orders", 3, 0).key, file("orders", 3, 1, "dt=2026-06-02").key].sort());
    assert.deepEqual(p.files("orders", 0), []);
    assert.deepEqual(keysOf(p.files("clicks", 1)), [file("clicks", 1, 0).key], "datasets do not share files");
  });

  test("a file row carries its partition, size, hash and the version that added it", () => {
    const p = givenLog();
    const f = file("orders", 3, 1, "dt=2026-06-02");
    assert.deepEqual(
      p.files("orders", 3).find((r) => r.key === f.key),
      { key: f.key, partition: "dt=2026-06-02", rows: f.rows, bytes: f.bytes, sha256: f.sha256, added_version: 3 },
    );
  });

  test("removing a key the dataset never had changes no file", () => {
    const p = givenLog();
    p.applyBatch([{ seq: 6, record: vc("orders", 4, { first: 31, last: 31, added: [], removed: ["datasets/orders/data/nope.parquet"], total: 94 }) }]);
    assert.deepEqual(p.files("orders", 4), p.files("orders", 3));
    assert.equal(p.dataset("orders")!.latest_version, 4);
  });
});

describe("Projection: read-after-write tokens", () => {
  test("coveringOffset returns the FIRST version whose source.last_seq >= offset", () => {
    const p = givenLog();
    const cases: [number, number][] = [
      [1, 1],
      [10, 1],
      [11, 2],
      [15, 2],
      [20, 2],
      [21, 3],
      [30, 3],
    ];
    for (const [offset, version] of cases) assert.equal(p.coveringOffset("orders", offset)?.version, version, `offset ${offset}`);
  });

  test("coveringOffset is undefined beyond the last committed offset, and for unknown datasets", () => {
    const p = givenLog();
    assert.equal(p.coveringOffset("orders", 31), undefined);
    assert.equal(p.coveringOffset("clicks", 6), undefined);
    assert.equal(p.coveringOffset("nope", 1), undefined);
  });

  test("coveringOffset is per dataset", () => {
    const p = givenLog();
    assert.equal(p.coveringOffset("clicks", 5)?.dataset, "clicks");
    assert.equal(p.coveringOffset("clicks", 5)?.version, 1);
  });

  test("coveringSource returns the first version of a derived dataset whose lineage reaches a source offset", () => {
    const p = open();
    const derived = (version: number, seq: number, through: number | null): LogEntry => {
      const body = vcBody("totals", version, { first: version, last: version });
      body.lineage =
        through === null
          ? null
          : {
              base_version: null,
              reverted_version: null,
              upstream: [{ dataset: "domain_events", stream: "EVENTS", subject: "lake.events.domain_events", through_seq: through }],
              watermark: T0,
            };
      return { seq, record: { kind: "VersionCommitted", body } };
    };
    // Version 2 covers nothing new (its batch had no marker): its position is its parent's.
    p.applyBatch([derived(1, 1, null), derived(2, 2, 40), derived(3, 3, 40), derived(4, 4, 95)]);
    const cases: [number, number | undefined][] = [
      [1, 2],
      [40, 2],
      [41, 4],
      [95, 4],
      [96, undefined],
    ];
    for (const [offset, version] of cases) assert.equal(p.coveringSource("totals", offset)?.version, version, `source offset ${offset}`);
    assert.equal(p.coveringSource("totals", 1, true), undefined, "quality=passed: none has passed yet");
    assert.equal(p.coveringSource("orders", 1), undefined, "a dataset without lineage covers no source offset");
  });

  test("coveringCommit returns the first version of the dataset committed at or after a log sequence", () => {
    const p = givenLog();
    assert.equal(p.coveringCommit("orders", 1)?.version, 1);
    assert.equal(p.coveringCommit("orders", 2)?.version, 2, "seq 2 is clicks; the next orders commit is v2 at seq 3");
    assert.equal(p.coveringCommit("orders", 3)?.version, 2);
    assert.equal(p.coveringCommit("orders", 4)?.version, 3);
    assert.equal(p.coveringCommit("orders", 5)?.version, 3);
    assert.equal(p.coveringCommit("orders", 6), undefined);
    assert.equal(p.coveringCommit("clicks", 2)?.version, 1);
    assert.equal(p.coveringCommit("clicks", 3), undefined);
  });
});

describe("Projection: records that do not follow the history", () => {
  // Everything but the position: the log position (meta) and each dataset's last_record_seq.
  const state = (p: Projection) => {
    const { versions, files, quality_results, tags, audit } = JSON.parse(p.canonicalDump()) as Record<string, unknown[]>;
    const datasets = p.datasets().map(({ last_record_seq: _, ...rest }) => rest);
    return { datasets, versions, files, quality_results, tags, audit };
  };
  const positions = (p: Projection) => Object.fromEntries(p.datasets().map((d) => [d.name, d.last_record_seq]));
  const anomalies = (p: Projection) => p.db.prepare("SELECT commit_seq, dataset, problem FROM anomalies ORDER BY commit_seq").all();

  const bad: [string, LogRecord & { kind: "VersionCommitted" }, string][] = [
    [
      "a gap (v5 after v3)",
      vc("orders", 5, { first: 31, last: 40 }),
      "void VersionCommitted (version 5): version 5 (parent 4) does not follow the latest standing version 3",
    ],
    [
      "a repeat (v3 again)",
      vc("orders", 3, { first: 31, last: 40 }),
      "void VersionCommitted (version 3): version 3 (parent 2) does not follow the latest standing version 3",
    ],
    [
      "an older version (v1 again)",
      vc("orders", 1, { first: 1, last: 10 }),
      "void VersionCommitted (version 1): version 1 (parent 0) does not follow the latest standing version 3",
    ],
    [
      "the right version on the wrong parent",
      vc("orders", 4, { first: 31, last: 40, parent: 2 }),
      "void VersionCommitted (version 4): version 4 (parent 2) does not follow the latest standing version 3",
    ],
    [
      "a new dataset not starting at v1",
      vc("views", 2, { first: 1, last: 9 }),
      "void VersionCommitted (version 2): version 2 (parent 1) does not follow the latest standing version 0",
    ],
  ];
  for (const [what, record, problem] of bad) {
    test(`given the log, when ${what} arrives, then it is an anomaly and nothing else changes but the position`, () => {
      const p = givenLog();
      const before = state(p);
      const positionsBefore = positions(p);
      p.applyBatch([{ seq: 9, record }]);
      assert.deepEqual(anomalies(p), [{ commit_seq: 9, dataset: record.body.dataset, problem }]);
      assert.deepEqual(state(p), before);
      assert.equal(p.lastSeq, 9);
      // The dataset's own position moves past the record (if the dataset exists); no other dataset's does.
      const known = Object.hasOwn(positionsBefore, record.body.dataset);
      assert.deepEqual(positions(p), known ? { ...positionsBefore, [record.body.dataset]: 9 } : positionsBefore);
    });
  }

  test("after an anomaly, the record that does follow is applied normally", () => {
    const p = givenLog();
    p.applyBatch([
      { seq: 6, record: vc("orders", 5, { first: 31, last: 40 }) },
      { seq: 7, record: vc("orders", 4, { first: 31, last: 40, total: 100 }) },
    ]);
    assert.equal(p.dataset("orders")!.latest_version, 4);
    assert.equal(p.dataset("orders")!.latest_commit_seq, 7);
    assert.equal(p.dataset("orders")!.last_record_seq, 7);
    assert.equal(p.dataset("orders")!.current_version, 4);
    assert.equal(p.version("orders", 5), undefined);
    assert.deepEqual(
      anomalies(p).map((a) => (a as { commit_seq: number }).commit_seq),
      [6],
    );
  });
});

describe("Projection: log position", () => {
  test("records of other kinds (record: undefined) advance lastSeq and change nothing else", () => {
    const p = givenLog();
    const before = JSON.parse(p.canonicalDump()) as Record<string, unknown>;
    p.applyBatch([
      { seq: 6, record: undefined },
      { seq: 7, record: undefined },
    ]);
    assert.equal(p.lastSeq, 7);
    const afterDump = JSON.parse(p.canonicalDump()) as Record<string, unknown>;
    assert.deepEqual({ ...afterDump, meta: undefined }, { ...before, meta: undefined });
    assert.deepEqual(afterDump.meta, [["last_seq", "7"]]);
  });

  test("an empty batch changes nothing", () => {
    const p = givenLog();
    const before = p.canonicalDump();
    p.applyBatch([]);
    assert.equal(p.canonicalDump(), before);
    assert.equal(p.lastSeq, 5);
  });

  test("a batch that fails part-way is rolled back whole, position included", () => {
    const p = givenLog();
    const before = p.canonicalDump();
    // v4 re-adds a key that already exists: the insert fails after v4's dataset/version rows were written.
    const clash = vc("orders", 4, { first: 31, last: 40, added: [file("orders", 4, 0), file("orders", 3, 0)] });
    assert.throws(
      () =>
        p.applyBatch([
          { seq: 6, record: undefined },
          { seq: 7, record: clash },
        ]),
      /UNIQUE constraint failed/,
    );
    assert.equal(p.canonicalDump(), before);
    assert.equal(p.lastSeq, 5);
  });
});

describe("Projection: canonical dump and durability", () => {
  test("the same records in different batch splits give identical dumps", () => {
    const extra: LogEntry[] = [
      { seq: 6, record: vc("orders", 9, { first: 31, last: 40 }) }, // an anomaly, so that table is compared too
      { seq: 7, record: vc("clicks", 2, { first: 6, last: 12, total: 30 }) },
    ];
    const all = [...LOG, ...extra];
    const splits = [[all.length], [1, 1, 1, 1, 1, 1, 1], [2, 3, 2], [4, 3], [1, 6]];
    const dumps = splits.map((sizes) => {
      const p = open();
      let i = 0;
      for (const n of sizes) {
        p.applyBatch(all.slice(i, i + n));
        i += n;
      }
      assert.equal(i, all.length);
      return p.canonicalDump();
    });
    const first = JSON.parse(dumps[0]!) as Record<string, unknown[]>;
    assert.equal(first.versions!.length, 5);
    assert.equal(first.anomalies!.length, 1);
    for (const d of dumps.slice(1)) assert.equal(d, dumps[0]);
  });

  test("the dump lists every table in primary-key order", () => {
    const p = open();
    // Applied in log order; clicks sorts before orders, and files by key.
    p.applyBatch(LOG);
    const dump = JSON.parse(p.canonicalDump()) as Record<string, unknown[][]>;
    assert.deepEqual(Object.keys(dump), [
      "meta",
      "datasets",
      "versions",
      "files",
      "quality_results",
      "tags",
      "audit",
      "anomalies",
      "expired_versions",
      "collected_files",
      "log_heads",
    ]);
    assert.deepEqual(
      dump.datasets!.map((r) => r[0]),
      ["clicks", "orders"],
    );
    assert.deepEqual(
      dump.versions!.map((r) => [r[0], r[1]]),
      [
        ["clicks", 1],
        ["orders", 1],
        ["orders", 2],
        ["orders", 3],
      ],
    );
    const fileKeys = dump.files!.map((r) => `${r[0]}/${r[1]}`);
    assert.deepEqual(fileKeys, [...fileKeys].sort());
    assert.deepEqual(
      [dump.quality_results, dump.tags, dump.audit, dump.anomalies, dump.expired_versions, dump.collected_files],
      [[], [], [], [], [], []],
      "commits alone fill no other table",
    );
  });

  test("reopening the database file keeps the state, and applying continues from it", () => {
    const path = join(root, "reopen.db");
    const a = open(path);
    a.applyBatch(LOG.slice(0, 3));
    const midDump = a.canonicalDump();
    a.close();

    const b = open(path);
    assert.equal(b.canonicalDump(), midDump);
    assert.equal(b.lastSeq, 3);
    b.applyBatch(LOG.slice(3));
    b.close();

    const c = open(path);
    assert.equal(c.lastSeq, 5);
    assert.equal(c.canonicalDump(), givenLog().canonicalDump(), "equal to a projection fed the whole log at once");
    assert.deepEqual(keysOf(c.files("orders", 2)), keysOf(givenLog().files("orders", 2)));
  });
});

test("freshness: a version's newest event time counts as no later than its commit (a future-dated event can't make a dataset look fresh for ever)", () => {
  const dir = mkdtempSync(join(tmpdir(), "lake-proj-fresh-"));
  const p = new Projection(join(dir, "p.db"));
  try {
    const future = { ...vcBody("fresh", 2, { first: 11, last: 20 }), max_event_time: Date.UTC(2099, 0, 1) };
    p.applyBatch([
      { seq: 1, record: vc("fresh", 1, { first: 1, last: 10 }) },
      { seq: 2, record: { kind: "VersionCommitted", body: future } },
    ]);
    assert.equal(p.maxEventTime("fresh", 2), future.committed_at);
    assert.equal(p.maxEventTime("fresh", 1), null);
    p.applyBatch([{ seq: 3, record: vc("fresh", 3, { first: 21, last: 30 }) }]);
    assert.equal(p.maxEventTime("fresh", 3), future.committed_at, "a past event time counts as it is: v2's commit is still the newest");
  } finally {
    p.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
