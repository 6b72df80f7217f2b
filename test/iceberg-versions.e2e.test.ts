// Every retained version of every dataset is an Iceberg v2 snapshot, served by the catalog's Iceberg REST
// catalog: one lake is driven through appends, a schema evolution, CDC inserts/updates/deletes, a
// compaction, an expiry and the aggregator's derived dataset; then, for each dataset, iceberg-js loads
// the table (every snapshot), icebird reads each snapshot, and its rows are the rows DuckDB reads from
// that version's files. Refs (main, latest, tags), schema ids and field ids, and the refusal of every
// write are checked through the same API.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstreamManager } from "@nats-io/jetstream";
import { IcebergError, IcebergRestCatalog, type TableMetadata } from "iceberg-js";
import { icebergRead } from "icebird";

import { type CatalogVersion, queryVersion, sampleEvents, sendHttp } from "@lake/client";
import { SchemaRegistry } from "@lake/registry";
import { type ObjectStore, openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { DATASET, settled, withFileFetch, withLake } from "./helpers.ts";

const CDC = "customers";
const DERIVED = "daily_user_totals";
const NS = ["lake"];
const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI finds the lake through --data-dir's run.json only.
const cliEnv = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE", "LAKE_STORE_ROOT", "LAKE_TOKEN"]) delete cliEnv[k];

const v1 = JSON.parse(readFileSync(join(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as { fields: unknown[] };
const v2 = { ...v1, fields: [...v1.fields, { name: "coupon", type: ["null", "string"], default: null }] };

let lake: Awaited<ReturnType<typeof withLake>>;
let store: ObjectStore;
let catalog: IcebergRestCatalog;
/** The versions of domain_events by what made them. */
const made = { beforeCoupon: [] as number[], afterCoupon: [] as number[], compaction: 0 };
const T = Date.UTC(2026, 5, 1, 12);
let lsn = 100;

const cdcUpsert = (id: string, name: string, op: "c" | "u") => {
  const at = ++lsn;
  return {
    op,
    before: null,
    after: { customer_id: id, name, email: `${id}@example.com`, country: "DE", updated_at: T + at },
    source: { lsn: at },
    ts_ms: T + at,
  };
};
const cdcDelete = (id: string) => {
  const at = ++lsn;
  return { op: "d", before: { customer_id: id }, after: null, source: { lsn: at }, ts_ms: T + at };
};

async function send(dataset: string, body: unknown): Promise<CatalogVersion> {
  const r = await sendHttp(lake.producer, dataset, body);
  assert.equal(r.status, 200, JSON.stringify(r).slice(0, 300));
  assert.ok(
    r.results.every((x) => x.status === "accepted"),
    JSON.stringify(r.results.filter((x) => x.status !== "accepted")).slice(0, 300),
  );
  return lake.catalog.covering(dataset, r.max_offset!, 30_000);
}

before(
  async () => {
    lake = await withLake();
    store = await openStore(lake.storeConfig);
    catalog = new IcebergRestCatalog({ baseUrl: `${lake.catalogUrl}/iceberg` });

    // Appends under the first contract version.
    for (let b = 0; b < 2; b++) made.beforeCoupon.push((await send(DATASET, sampleEvents(60, { prefix: `old${b}`, seed: b + 1, users: 8 }))).version);

    // Schema evolution: an optional field, then events that carry it (ingest follows the registry).
    const nc = await lake.connect();
    const reg = await SchemaRegistry.open(nc, { seed: false });
    assert.equal((await reg.register(v2, "alice", "coupon codes")).version, 2);
    reg.close();
    await nc.close();
    let first: Awaited<ReturnType<typeof sendHttp>> | undefined;
    for (let i = 0; i < 100; i++) {
      first = await sendHttp(lake.producer, DATASET, { ...sampleEvents(1, { prefix: "coupon-first", seed: 99, users: 8 })[0]!, coupon: "FIRST" });
      if (first.status === 200 && first.results[0]!.status === "accepted") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(first!.results[0]!.status, "accepted", JSON.stringify(first));
    made.afterCoupon.push((await lake.catalog.covering(DATASET, first!.max_offset!, 30_000)).version);
    const withCoupons = sampleEvents(60, { prefix: "new", seed: 7, users: 8 }).map((e, i) => (i % 2 ? { ...e, coupon: `C${i}` } : e));
    made.afterCoupon.push((await send(DATASET, withCoupons)).version);

    // CDC: inserts, then updates and deletes.
    await send(CDC, [cdcUpsert("c1", "Ada", "c"), cdcUpsert("c2", "Bob", "c"), cdcUpsert("c3", "Cy", "c"), cdcUpsert("c4", "Di", "c")]);
    await send(CDC, [cdcUpsert("c1", "Ada L.", "u"), cdcDelete("c2"), cdcUpsert("c5", "Eve", "c")]);
    await send(CDC, [cdcDelete("c3"), cdcUpsert("c4", "Di M.", "u")]);
    await send(CDC, [cdcUpsert("c5", "Eve K.", "u"), cdcUpsert("c6", "Fay", "c")]);

    // One event far past the rest moves the aggregator's watermark past every window: all fire.
    const flush = await sendHttp(lake.producer, DATASET, {
      event_id: "flush",
      user_id: "flush",
      event_type: "view",
      timestamp: Date.UTC(2026, 5, 6),
      amount: 0,
    });
    assert.equal(flush.results[0]!.status, "accepted");
    made.afterCoupon.push((await lake.catalog.covering(DATASET, flush.max_offset!, 30_000)).version);
    const aggregatorUrl = String(lake.services.get(`aggregator:${DERIVED}`)!.ready.url);
    await waitFor(
      "the aggregator to consume everything and publish its outbox",
      async () => {
        const h = (await (await fetch(new URL("/healthz", aggregatorUrl))).json()) as { input_seq: number; outbox_pending?: number };
        return h.input_seq >= flush.max_offset! && !h.outbox_pending ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const adminNc = await lake.connect();
    const lastWindow = await (await jetstreamManager(adminNc)).streams.getMessage("WINDOWS", { last_by_subj: `lake.windows.${DERIVED}` });
    await adminNc.close();
    assert.ok(lastWindow, "window results were published");
    await lake.catalog.covering(DERIVED, lastWindow.seq, 30_000);
    await settled(lake);

    // Compaction, as an operator runs it: files of both schema versions rewritten together.
    const { stdout } = await run(process.execPath, ["--import", tsx, cli, "compact", DATASET, "--data-dir", lake.dataDir], { timeout: 120_000, env: cliEnv });
    const m = /version (\d+) \(parent \d+, commit-log sequence \d+\) rewrote \d+ files/.exec(stdout);
    assert.ok(m, stdout);
    made.compaction = Number(m[1]);
    await waitFor(
      "the compaction version in the catalog",
      async () => ((await lake.catalog.dataset(DATASET)).dataset.latest_version >= made.compaction ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    await settled(lake);

    // Tags, then expiry: the tagged, current and newest versions stay.
    await lake.catalog.tag(DATASET, "before-coupon", made.beforeCoupon[0]!, "ops", "the table before coupons");
    await lake.catalog.tag(CDC, "first-load", 1, "ops", "the initial load");
    assert.ok((await lake.catalog.expire(DATASET, { keepLast: 3 }, "ops", "retention")).expired_count > 0);
    assert.ok((await lake.catalog.expire(CDC, { keepLast: 2 }, "ops", "retention")).expired_count > 0);
  },
  { timeout: 240_000 },
);
after(async () => {
  await lake?.cleanup();
});

/** Every version of a dataset, expired ones included (listings mark them). */
async function allVersions(dataset: string) {
  const out: Awaited<ReturnType<typeof lake.catalog.versions>>["versions"] = [];
  for (let after = 0, pages = 0; ; pages++) {
    assert.ok(pages < 1000, "at most 1000 pages of versions");
    const p = await lake.catalog.versions(dataset, after, 1000);
    out.push(...p.versions);
    if (p.next_after === null) return out;
    assert.ok(p.next_after > after, `versions cursor moved from ${after} to ${p.next_after}`);
    after = p.next_after;
  }
}

/** The table's base location, which icebird resolves the metadata's file URIs against. */
function locationOf(m: TableMetadata): string {
  assert.ok(m.location, "the table's location");
  return m.location;
}

type IcebirdMetadata = Parameters<typeof icebergRead>[0]["metadata"];
type Row = Record<string, unknown>;

/** The table metadata as a reader pinned to one snapshot sees it: current snapshot and `main` on it. */
function atSnapshot(m: TableMetadata, version: number): IcebirdMetadata {
  return { ...m, "current-snapshot-id": version, refs: { ...m.refs, main: { "snapshot-id": version, type: "branch" } } } as unknown as IcebirdMetadata;
}

/**
 * One value in a form both readers agree on, by the column's Iceberg type: integers as decimal
 * strings (icebird gives bigint, DuckDB's JSON a string), timestamps as epoch millis (icebird gives a
 * Date or bigint micros; DuckDB's side is read with epoch_ms), null for absent.
 */
function norm(type: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "long":
    case "int":
      return String(v);
    case "double":
    case "float":
      return Number(v);
    case "timestamptz":
    case "timestamp":
      if (v instanceof Date) return v.getTime();
      if (typeof v === "bigint") return Number(v / 1000n);
      return Number(v);
    case "boolean":
      return Boolean(v);
    default:
      return String(v);
  }
}

/** Rows as sorted JSON strings (a multiset), each with exactly `columns`, normalised by type. */
function multiset(rows: readonly Row[], columns: readonly string[], types: ReadonlyMap<string, string>): string[] {
  return rows.map((r) => JSON.stringify(columns.map((c) => [c, norm(types.get(c)!, r[c])]))).sort();
}

/** DuckDB's read of exactly one version's files (the catalog's file list), timestamps as epoch millis. */
async function duckRows(v: CatalogVersion): Promise<{ columns: string[]; rows: Row[] }> {
  const described = await queryVersion(store, v, `SELECT column_name, column_type FROM (DESCRIBE "${v.dataset}")`);
  const stamps = described.rows.filter((r) => String(r.column_type).startsWith("TIMESTAMP")).map((r) => String(r.column_name));
  const replace = stamps.length ? ` REPLACE (${stamps.map((c) => `epoch_ms("${c}") AS "${c}"`).join(", ")})` : "";
  const r = await queryVersion(store, v, `SELECT *${replace} FROM "${v.dataset}"`);
  return { columns: r.columns, rows: r.rows };
}

test(
  "every retained version of every dataset is a snapshot icebird reads as DuckDB reads the version; expired ones are gone",
  { timeout: 180_000 },
  async (t) => {
    const { identifiers } = await catalog.listTables({ namespace: NS });
    const datasets = (await lake.catalog.datasets()).datasets.filter((d) => d.latest_version > 0);
    assert.deepEqual(identifiers.map((i) => i.name).sort(), datasets.map((d) => d.name).sort(), "one table per dataset with versions");
    for (const want of [DATASET, CDC, DERIVED])
      assert.ok(
        datasets.some((d) => d.name === want),
        `${want} has versions`,
      );

    const read: string[] = [];
    for (const ds of datasets) {
      const versions = await allVersions(ds.name);
      const retained = versions.filter((v) => !v.expired).map((v) => v.version);
      const metadata = (await catalog.loadTable({ namespace: NS, name: ds.name }, { snapshots: "all" }))!;
      assert.deepEqual(
        (metadata.snapshots ?? []).map((s) => s["snapshot-id"]),
        retained,
        `${ds.name}: a snapshot for each retained version, none for the ${versions.length - retained.length} expired`,
      );
      if (ds.name === DATASET || ds.name === CDC) assert.ok(retained.length < versions.length, `${ds.name} had versions expired`);
      const current = metadata.schemas.find((s) => s["schema-id"] === metadata["current-schema-id"])!;
      const types = new Map(current.fields.map((f) => [f.name, typeof f.type === "string" ? f.type : f.type.type]));
      for (const version of retained) {
        const v = await lake.catalog.version(ds.name, version);
        const snap = metadata.snapshots!.find((s) => s["snapshot-id"] === version)!;
        assert.equal(snap["schema-id"], v.iceberg!.schema_id, `${ds.name}@${version}: the snapshot's schema is the version's`);
        assert.equal(snap.summary["total-records"], String(v.total_rows), `${ds.name}@${version}: total-records`);
        const duck = await duckRows(v);
        if (duck.rows.length === 0) continue; // icebird refuses a snapshot without data files
        const rows = (await withFileFetch(() => icebergRead({ tableUrl: locationOf(metadata), metadata: atSnapshot(metadata, version) }))) as Row[];
        assert.equal(rows.length, v.total_rows, `${ds.name}@${version}: icebird reads every row`);
        const unknown = duck.columns.filter((c) => !types.has(c));
        assert.deepEqual(unknown, [], `${ds.name}@${version}: every column DuckDB reads is in the table's schema`);
        // Columns of the table the version's files don't have (added later) read as null or absent.
        for (const c of [...types.keys()].filter((c) => !duck.columns.includes(c)))
          assert.ok(
            rows.every((r) => r[c] === null || r[c] === undefined),
            `${ds.name}@${version}: ${c} (not in its files) reads as null`,
          );
        assert.deepEqual(multiset(rows, duck.columns, types), multiset(duck.rows, duck.columns, types), `${ds.name}@${version}: icebird's rows are DuckDB's`);
        read.push(`${ds.name}@${version}`);
      }
    }
    assert.equal(globalThis.fetch.name, "fetch", "the real fetch is back");
    t.diagnostic(`read by icebird and DuckDB: ${read.join(", ")}`);
  },
);

test("main is the current version, latest the newest, and tags are Iceberg tags", { timeout: 60_000 }, async () => {
  for (const name of [DATASET, CDC, DERIVED]) {
    const ds = (await lake.catalog.dataset(name)).dataset;
    const metadata = (await catalog.loadTable({ namespace: NS, name }, { snapshots: "all" }))!;
    const refs = metadata.refs ?? {};
    assert.equal(metadata["current-snapshot-id"], ds.current_version, `${name}: the current snapshot is the current version`);
    assert.deepEqual(refs.main, { "snapshot-id": ds.current_version, type: "branch" }, `${name}: main`);
    assert.deepEqual(refs.latest, { "snapshot-id": ds.latest_version, type: "branch" }, `${name}: latest`);
    const tags = (await lake.catalog.tags(name)).tags;
    const want = Object.fromEntries(tags.map((t) => [t.tag, { "snapshot-id": t.version, type: "tag" }]));
    const got = Object.fromEntries(Object.entries(refs).filter(([k]) => k !== "main" && k !== "latest"));
    assert.deepEqual(got, want, `${name}: the catalog's tags`);
    // snapshots=refs: exactly the snapshots a ref names.
    const byRefs = (await catalog.loadTable({ namespace: NS, name }, { snapshots: "refs" }))!;
    assert.deepEqual(
      (byRefs.snapshots ?? []).map((s) => s["snapshot-id"]),
      [...new Set(Object.values(refs).map((r) => r["snapshot-id"]))].sort((a, b) => a - b),
      `${name}: snapshots=refs`,
    );
  }
  const events = (await catalog.loadTable({ namespace: NS, name: DATASET }))!;
  const kept = (events.snapshots ?? []).map((s) => s["snapshot-id"]);
  assert.deepEqual(
    kept,
    [made.beforeCoupon[0], ...made.afterCoupon.slice(-2), made.compaction],
    "the tagged version and the newest three: one before the evolution, two after, the compaction",
  );
  assert.deepEqual(events.refs?.["before-coupon"], { "snapshot-id": made.beforeCoupon[0], type: "tag" });
  assert.equal(events.refs?.latest?.["snapshot-id"], made.compaction, "the compaction is the newest version");
  assert.equal(events.snapshots?.find((s) => s["snapshot-id"] === made.compaction)?.summary.operation, "replace", "a compaction is a replace snapshot");
  const customers = (await catalog.loadTable({ namespace: NS, name: CDC }))!;
  assert.deepEqual(customers.refs?.["first-load"], { "snapshot-id": 1, type: "tag" });
});

test(
  "the evolved table has two schemas: old columns keep their field ids, the new one has a new id; older snapshots read it as null",
  { timeout: 60_000 },
  async () => {
    const metadata = (await catalog.loadTable({ namespace: NS, name: DATASET }))!;
    assert.deepEqual(
      metadata.schemas.map((s) => s["schema-id"]),
      [1, 2],
    );
    assert.equal(metadata["current-schema-id"], 2);
    const [s1, s2] = metadata.schemas as [TableMetadata["schemas"][number], TableMetadata["schemas"][number]];
    const ids1 = new Map(s1.fields.map((f) => [f.name, f.id]));
    const ids2 = new Map(s2.fields.map((f) => [f.name, f.id]));
    for (const [name, id] of ids1) assert.equal(ids2.get(name), id, `${name} keeps field id ${id}`);
    assert.deepEqual(
      [...ids2.keys()].filter((n) => !ids1.has(n)),
      ["coupon"],
    );
    const coupon = ids2.get("coupon")!;
    assert.ok(![...ids1.values()].includes(coupon) && coupon === Math.max(...ids2.values()), `coupon has a new field id (${coupon})`);
    assert.equal(metadata["last-column-id"], coupon);

    const snapshots = new Map((metadata.snapshots ?? []).map((s) => [s["snapshot-id"], s]));
    const old = made.beforeCoupon[0]!;
    assert.equal(snapshots.get(old)?.["schema-id"], 1, "the tagged version before the evolution was written with schema 1");
    assert.equal(snapshots.get(made.compaction)?.["schema-id"], 2);
    const before = (await withFileFetch(() => icebergRead({ tableUrl: locationOf(metadata), metadata: atSnapshot(metadata, old) }))) as Row[];
    assert.equal(before.length, (await lake.catalog.version(DATASET, old)).total_rows);
    assert.ok(
      before.every((r) => r.coupon === null || r.coupon === undefined),
      "rows written before the evolution have no coupon",
    );
    const newest = (await withFileFetch(() => icebergRead({ tableUrl: locationOf(metadata), metadata: atSnapshot(metadata, made.compaction) }))) as Row[];
    assert.equal(newest.filter((r) => r.coupon === "FIRST").length, 1, "the compacted table still has the first coupon");
    assert.equal(newest.filter((r) => typeof r.coupon === "string").length, 31);
  },
);

test("writes are refused 403 ForbiddenException in the Iceberg error model; an unknown table is 404 NoSuchTableException", { timeout: 60_000 }, async () => {
  const metadata = (await catalog.loadTable({ namespace: NS, name: DATASET }))!;
  const forbidden = (e: unknown) => {
    assert.ok(e instanceof IcebergError, String(e));
    assert.equal(e.status, 403, e.message);
    assert.equal(e.icebergType, "ForbiddenException");
    assert.equal(e.icebergCode, 403);
    return true;
  };
  const snapshot = metadata.snapshots!.at(-1)!;
  // A stale commit: asserts main is at an expired snapshot and moves it.
  await assert.rejects(
    catalog.updateTable(
      { namespace: NS, name: DATASET },
      {
        requirements: [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": made.beforeCoupon[1]! }],
        updates: [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshot["snapshot-id"] }],
      },
    ),
    forbidden,
  );
  // A foreign commit: a snapshot nobody in the lake wrote, with the table's own uuid and current main.
  await assert.rejects(
    catalog.commitTable(
      { namespace: NS, name: DATASET },
      {
        requirements: [
          { type: "assert-table-uuid", uuid: metadata["table-uuid"] },
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": metadata["current-snapshot-id"]! },
        ],
        updates: [
          {
            action: "add-snapshot",
            snapshot: { ...snapshot, "snapshot-id": 999_999, "parent-snapshot-id": snapshot["snapshot-id"], "sequence-number": 999_999 },
          },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 999_999 },
        ],
      },
    ),
    forbidden,
  );
  await assert.rejects(catalog.dropTable({ namespace: NS, name: CDC }), forbidden);
  const raw = await fetch(`${lake.catalogUrl}/iceberg/v1/namespaces/lake/tables/${CDC}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ requirements: [], updates: [{ action: "set-properties", updates: { owner: "mallory" } }] }),
  });
  assert.equal(raw.status, 403);
  const body = (await raw.json()) as { error: { message: string; type: string; code: number } };
  assert.equal(body.error.type, "ForbiddenException");
  assert.equal(body.error.code, 403);
  assert.match(body.error.message, /commit log is the only writer/);
  // Nothing changed.
  const again = (await catalog.loadTable({ namespace: NS, name: DATASET }))!;
  assert.deepEqual(again, metadata);

  await assert.rejects(catalog.loadTable({ namespace: NS, name: "no_such_table" }), (e: unknown) => {
    assert.ok(e instanceof IcebergError, String(e));
    assert.equal(e.status, 404, e.message);
    assert.equal(e.icebergType, "NoSuchTableException");
    return true;
  });
  assert.equal(await catalog.tableExists({ namespace: NS, name: "no_such_table" }), false);
});
