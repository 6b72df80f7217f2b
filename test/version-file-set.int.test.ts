// Version reads by reference: a catalog process follows a commit log written here, whose versions carry
// real Iceberg snapshots (written by @lake/iceberg's writeVersion, as every writer of versions does).
// A files=reference read is small and the same size at 8 files or 2,000; the file list a FileSetResolver
// reads from the manifests equals the catalog's full list for appends, CDC upserts and compaction; and
// queryVersion gives the same rows from the reference as from the listed files. Versions without a
// snapshot still list their files.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";

import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { serviceEntry } from "@lake/app";
import { CatalogClient, FileSetResolver, isFileSetError, queryVersion } from "@lake/client";
import type { LakeLog, VersionCommitted } from "@lake/contracts";
import { IcebergHistory } from "@lake/iceberg/history";
import { appendLogRecord, connectNats, ensureStreams, readCommitHead } from "@lake/messaging";
import { type LocalDiskStore, openLocalStore } from "@lake/storage";
import { type NatsServerHandle, type ServiceHandle, spawnService, startNatsServer, waitFor } from "@lake/testing";

const T = { timeout: 180_000 };

let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
let store: LocalDiskStore;
let catalogProc: ServiceHandle;
let catalog: CatalogClient;
let url: string;
/** Each dataset's commit records, as appended. */
const records = new Map<string, VersionCommitted[]>();

async function append(r: VersionCommitted): Promise<void> {
  const js = jetstream(nc);
  const head = await readCommitHead(await jetstreamManager(nc), r.dataset);
  const seq = await appendLogRecord(js, r.dataset, { kind: "VersionCommitted", body: r }, { expectedLastSeq: head.seq });
  records.set(r.dataset, [...(records.get(r.dataset) ?? []), r]);
  await waitFor(`the catalog at ${seq}`, async () => ((await catalog.healthz()).projected_through_seq >= seq ? true : undefined), { timeoutMs: 20_000 });
}

/** A real Parquet file of `rows` rows under `key`, as the version lists it. */
async function parquetFile(db: DuckDBInstance, key: string, partition: string, rows: number, seed: number): Promise<LakeLog.DataFile> {
  const path = store.localPath(key);
  await mkdir(dirname(path), { recursive: true });
  const con = await db.connect();
  try {
    await con.run(
      `COPY (SELECT '${key.split("/").at(-1)}-' || i AS event_id, ${seed} * 1000 + i AS n, (i * ${seed}) % 97 / 10.0 AS amount FROM range(${rows}) t(i)) TO '${path}' (FORMAT parquet)`,
    );
  } finally {
    con.closeSync();
  }
  const bytes = await readFile(path);
  return { key, partition, rows, bytes: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** A file that is never read (the big dataset's), with plausible size and hash. */
const fakeFile = (dataset: string, v: number, i: number): LakeLog.DataFile => ({
  key: `datasets/${dataset}/data/dt=2026-06-0${1 + (i % 7)}/w${v}-${String(i).padStart(5, "0")}.parquet`,
  partition: `dt=2026-06-0${1 + (i % 7)}`,
  rows: 100 + i,
  bytes: 4096 + i,
  sha256: createHash("sha256").update(`${v}/${i}`).digest("hex"),
});

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "lake-file-set-"));
  nats = await startNatsServer({ storeDir: join(dir, "nats") });
  nc = await connectNats({ url: nats.url, name: "file-set-test", auth: {} });
  await ensureStreams(await jetstreamManager(nc));
  store = await openLocalStore(join(dir, "store"));
  catalogProc = await spawnService({
    name: "catalog",
    entry: serviceEntry("catalog"),
    env: { NATS_URL: nats.url, LAKE_CATALOG_DIR: join(dir, "catalog"), LAKE_CATALOG_PORT: "0" },
  });
  url = String(catalogProc.ready.url);
  catalog = new CatalogClient(url);

  const db = await DuckDBInstance.create(":memory:");
  try {
    // orders (day partitions): two appends, then a compaction of one day's files into one.
    const orders = new IcebergHistory(store, "orders");
    const o1 = [];
    for (let i = 0; i < 4; i++)
      o1.push(await parquetFile(db, `datasets/orders/data/dt=2026-06-0${1 + (i % 2)}/a-${i}.parquet`, `dt=2026-06-0${1 + (i % 2)}`, 50 + i, i + 1));
    await append(await orders.next({ added: o1 }));
    const o2 = [];
    for (let i = 0; i < 4; i++)
      o2.push(await parquetFile(db, `datasets/orders/data/dt=2026-06-0${1 + (i % 2)}/b-${i}.parquet`, `dt=2026-06-0${1 + (i % 2)}`, 30 + i, i + 11));
    await append(await orders.next({ added: o2 }));
    const day2 = orders.liveFiles().filter((f) => f.partition === "dt=2026-06-02");
    const compacted = await parquetFile(db, "datasets/orders/data/dt=2026-06-02/c-0.parquet", "dt=2026-06-02", 140, 21);
    await append(await orders.next({ added: [compacted], removed: day2.map((f) => f.key), operation: "compaction" }));

    // customers (CDC: unpartitioned buckets): each upsert rewrites some buckets.
    const customers = new IcebergHistory(store, "customers", { kind: "none" });
    const bucket = (b: number, v: number) =>
      parquetFile(
        db,
        `datasets/customers/data/bucket=${String(b).padStart(2, "0")}/v${v}.parquet`,
        `bucket=${String(b).padStart(2, "0")}`,
        20 + b + v,
        b * 7 + v,
      );
    await append(await customers.next({ added: await Promise.all([0, 1, 2, 3].map((b) => bucket(b, 1))), operation: "upsert" }));
    for (const [v, buckets] of [
      [2, [1, 3]],
      [3, [0, 1]],
    ] as const) {
      const removed = customers.liveFiles().filter((f) => buckets.some((b) => f.partition === `bucket=0${b}`));
      await append(
        await customers.next({ added: await Promise.all(buckets.map((b) => bucket(b, v))), removed: removed.map((f) => f.key), operation: "upsert" }),
      );
    }

    // legacy: a version from before the lake wrote Iceberg metadata (no reference in its record).
    const legacy = new IcebergHistory(store, "legacy");
    await append(
      await legacy.next({ added: [await parquetFile(db, "datasets/legacy/data/dt=2026-06-01/l-0.parquet", "dt=2026-06-01", 10, 3)], withoutSnapshot: true }),
    );
  } finally {
    db.closeSync();
  }

  // clicks: 2,000 files in four appends of 500 (files never read), then a compaction of one day.
  const clicks = new IcebergHistory(store, "clicks");
  for (let v = 1; v <= 4; v++) await append(await clicks.next({ added: Array.from({ length: 500 }, (_, i) => fakeFile("clicks", v, i)) }));
  const day = clicks.liveFiles().filter((f) => f.partition === "dt=2026-06-03");
  await append(await clicks.next({ added: [fakeFile("clicks", 5, 2)], removed: day.map((f) => f.key), operation: "compaction" }));
});

after(async () => {
  await catalogProc?.stop();
  await nc?.close();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; text: string; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, url));
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

describe("version reads by reference", T, () => {
  test("a files=reference read names the file set and is small, whatever the number of files; the default read still lists every file", async () => {
    const small = await get("/v1/datasets/orders/versions/latest?files=reference");
    const big = await get("/v1/datasets/clicks/versions/latest?files=reference");
    assert.equal(small.status, 200, small.text);
    assert.equal(big.status, 200, big.text);
    for (const r of [small, big]) {
      assert.equal(r.body.files, undefined);
      const fs = r.body.file_set as { manifest_list: string; total_files: number };
      assert.equal(fs.manifest_list, (r.body.iceberg as { manifest_list: string }).manifest_list);
    }
    const bigSet = big.body.file_set as { total_files: number };
    assert.equal((small.body.file_set as { total_files: number }).total_files, 5);
    assert.ok(bigSet.total_files > 1700, String(bigSet.total_files));
    // Independent of the file count: the same fields, only names and numbers differ.
    assert.ok(small.text.length < 2048 && big.text.length < 2048, `${small.text.length} / ${big.text.length} bytes`);
    assert.ok(Math.abs(big.text.length - small.text.length) < 200, `${small.text.length} / ${big.text.length} bytes`);
    // Old clients: the default read lists the files (and names the file set too).
    const full = await get("/v1/datasets/clicks/versions/latest");
    assert.equal((full.body.files as unknown[]).length, bigSet.total_files);
    assert.deepEqual(full.body.file_set, big.body.file_set);
    assert.ok(full.text.length > 100 * big.text.length, `${full.text.length} bytes listed`);
    // The same for current, a number, covering and a tag-less read with files=list.
    for (const path of ["versions/current", "versions/3", "covering?offset=1&timeout_ms=0"]) {
      const r = await get(`/v1/datasets/orders/${path}${path.includes("?") ? "&" : "?"}files=reference`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.files, undefined, path);
      assert.ok(r.body.file_set, path);
    }
    assert.ok(Array.isArray((await get("/v1/datasets/orders/versions/latest?files=list")).body.files));
  });

  test("files= takes list or reference; a version without an Iceberg snapshot lists its files either way", async () => {
    const bad = await get("/v1/datasets/orders/versions/latest?files=all");
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.error, "invalid_parameter");
    const badCovering = await get("/v1/datasets/orders/covering?offset=1&timeout_ms=0&files=none");
    assert.equal(badCovering.status, 400, badCovering.text);
    const legacy = await catalog.version("legacy", "latest", { files: "reference" });
    assert.equal(legacy.file_set, null);
    assert.deepEqual(
      legacy.files?.map((f) => f.key),
      ["datasets/legacy/data/dt=2026-06-01/l-0.parquet"],
    );
  });

  test("the resolver's file list equals the catalog's full list: appends, CDC upserts, compaction, every version", async () => {
    const resolver = new FileSetResolver(store);
    for (const dataset of ["orders", "customers", "clicks"]) {
      for (const r of records.get(dataset)!) {
        const full = await catalog.version(dataset, r.version);
        const ref = await catalog.version(dataset, r.version, { files: "reference" });
        assert.ok(ref.file_set, `${dataset} v${r.version}`);
        const resolved = await resolver.files(ref.file_set);
        assert.deepEqual(
          resolved,
          full.files.map((f) => ({ key: f.key, rows: f.rows, bytes: f.bytes })),
          `${dataset} v${r.version} (${r.operation ?? "append"})`,
        );
      }
    }
  });

  test("a reference whose manifests don't add up to its file count is refused", async () => {
    const v = await catalog.version("orders", "latest", { files: "reference" });
    await assert.rejects(new FileSetResolver(store).files({ ...v.file_set!, total_files: v.file_set!.total_files + 1 }), (e) => isFileSetError(e));
  });

  test("queryVersion gives the same rows from the reference as from the listed files", async () => {
    const sql = (d: string) => `SELECT count(*) AS n, sum(n) AS s, round(sum(amount), 1) AS a, min(event_id) AS lo, max(event_id) AS hi FROM ${d}`;
    const resolver = new FileSetResolver(store);
    for (const dataset of ["orders", "customers", "legacy"]) {
      for (const r of records.get(dataset)!) {
        const full = await catalog.version(dataset, r.version);
        const ref = await catalog.version(dataset, r.version, { files: "reference" });
        const listed = await queryVersion(store, { dataset, files: full.files }, sql(dataset));
        const byRef = await queryVersion(store, ref, sql(dataset), { resolver });
        assert.deepEqual(byRef, listed, `${dataset} v${r.version}`);
        assert.equal(Number(listed.rows[0]!.n), full.total_rows, `${dataset} v${r.version}`);
      }
    }
  });
});
