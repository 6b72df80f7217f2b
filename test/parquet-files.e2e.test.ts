// The Parquet files a running lake leaves in its store, read with a Parquet reader we did not write
// (hyparquet, with its own decompressors): every file of every dataset compressed as its contract says,
// with the lake's created_by, statistics and a page index on every column, rows in the dataset's
// natural order. A dataset's codec is a setting: registering a new schema version that changes
// `lake.parquet` changes the codec of the files written after it, `lake fsck` lists the earlier files
// as drift (exit 0), and `lake compact` rewrites them with the new setting. A file whose columns
// differ from its schema version is a problem `lake fsck` names, with the column (exit 1).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type FileMetaData, parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";

import { sampleEvents, sendHttp } from "@lake/client";
import { toParquet } from "@lake/committer";
import { domainContract, type LakeLog, loadDomainContract, parseDomainSchema } from "@lake/contracts";
import { appendLogRecord, readCommitHead } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { type ObjectStore, openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { DATASET, settled, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
const env: NodeJS.ProcessEnv = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_STORE", "LAKE_TOKEN"]) delete env[k];

let lake: Awaited<ReturnType<typeof withLake>>;
let store: ObjectStore;
let admin: NatsConnection;

type Outcome = { code: number; stdout: string; stderr: string };
async function lakeCli(...args: string[]): Promise<Outcome> {
  try {
    const r = await run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 180_000, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof x.code !== "number") throw e;
    return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

const buffer = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const codecsOf = (m: FileMetaData) => [...new Set(m.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)))].sort();

/** Every data file the store holds for a dataset (live or not), with its footer. */
async function dataFiles(dataset: string): Promise<{ key: string; bytes: Uint8Array; meta: FileMetaData }[]> {
  const out: { key: string; bytes: Uint8Array; meta: FileMetaData }[] = [];
  for await (const info of store.list(`datasets/${dataset}/data/`)) {
    if (!info.key.endsWith(".parquet")) continue;
    const bytes = await store.get(info.key);
    out.push({ key: info.key, bytes, meta: parquetMetadata(buffer(bytes)) });
  }
  return out;
}

/** The keys the latest version of a dataset is made of. */
async function liveKeys(dataset: string): Promise<Set<string>> {
  return new Set((await lake.catalog.version(dataset, "latest")).files.map((f) => f.key));
}

const T = Date.UTC(2026, 5, 1, 12);
const customer = (id: string, lsn: number) => ({
  op: "u",
  before: null,
  after: { customer_id: id, name: `name ${id}`, email: `${id}@example.com`, country: "DE", updated_at: T + lsn },
  source: { lsn },
  ts_ms: T + lsn,
});

before(async () => {
  lake = await withLake();
  store = await openStore(lake.storeConfig);
  admin = await lake.connect("admin");
  // Several commits per dataset: events over three days (so daily windows close and daily_user_totals
  // is written), payments, CDC changes of customers in shuffled key order.
  for (let i = 0; i < 3; i++) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(300, { prefix: `pq${i}`, seed: i + 1, users: 20 }));
    assert.equal(r.status, 200);
    await lake.catalog.covering(DATASET, r.max_offset!, 30_000);
    const p = await sendHttp(
      lake.producer,
      "payments",
      Array.from({ length: 50 }, (_, j) => ({
        payment_id: `pq${i}-${j}`,
        user_id: `u${j % 7}`,
        timestamp: T + ((j * 7919) % 86_400_000),
        amount: j,
        currency: "EUR",
        card_country: j % 2 ? "DE" : null,
      })),
    );
    assert.equal(p.status, 200);
    await lake.catalog.covering("payments", p.max_offset!, 30_000);
    const c = await sendHttp(
      lake.producer,
      "customers",
      Array.from({ length: 40 }, (_, j) => customer(`c${(j * 13 + i) % 40}`, 1000 * (i + 1) + j)),
    );
    assert.equal(c.status, 200);
    await lake.catalog.covering("customers", c.max_offset!, 30_000);
  }
  await waitFor("daily_user_totals to have a version", () => lake.catalog.version("daily_user_totals", "latest").catch(() => undefined), { timeoutMs: 60_000 });
  await settled(lake);
});
after(async () => {
  await admin?.close();
  await lake?.cleanup();
});

const ORDER: Record<string, (a: Record<string, unknown>, b: Record<string, unknown>) => boolean> = {
  // true when a may come before b in the file
  domain_events: (a, b) => (a.timestamp as Date).getTime() <= (b.timestamp as Date).getTime(),
  payments: (a, b) => (a.timestamp as Date).getTime() <= (b.timestamp as Date).getTime(),
  customers: (a, b) => String(a.customer_id) < String(b.customer_id),
  daily_user_totals: (a, b) => {
    const [x, y] = [(a.window_start as Date).getTime(), (b.window_start as Date).getTime()];
    return x < y || (x === y && String(a.user_id) < String(b.user_id));
  },
};

test("every file of every dataset: zstd on every column chunk, the lake's created_by, statistics and a page index, rows in the dataset's order", async () => {
  const counts: string[] = [];
  for (const dataset of Object.keys(ORDER)) {
    const files = await dataFiles(dataset);
    assert.ok(files.length >= (dataset === "daily_user_totals" ? 1 : 3), `${dataset}: ${files.length} files`);
    counts.push(`${dataset} ${files.length}`);
    for (const f of files) {
      assert.deepEqual(codecsOf(f.meta), ["ZSTD"], `${f.key}: codecs`);
      assert.equal(f.meta.created_by, "lake committer", `${f.key}: created_by`);
      for (const rg of f.meta.row_groups) {
        for (const c of rg.columns) {
          assert.ok(c.meta_data!.statistics?.null_count !== undefined, `${f.key} ${c.meta_data!.path_in_schema.join(".")}: statistics`);
          assert.ok(
            c.column_index_offset !== undefined && c.offset_index_offset !== undefined,
            `${f.key} ${c.meta_data!.path_in_schema.join(".")}: page index`,
          );
        }
      }
      const rows = (await parquetReadObjects({ file: buffer(f.bytes), compressors, utf8: true })) as Record<string, unknown>[];
      assert.equal(rows.length, Number(f.meta.num_rows));
      for (let i = 1; i < rows.length; i++) assert.ok(ORDER[dataset]!(rows[i - 1]!, rows[i]!), `${f.key}: row ${i} is out of the dataset's order`);
    }
  }
  console.log(`# data files checked: ${counts.join(", ")}`);
});

let zstdBefore: Set<string>;

test("a new schema version with lake.parquet.compression = snappy: files written after it are snappy, fsck lists the earlier ones as drift and exits 0", async () => {
  zstdBefore = await liveKeys(DATASET);
  const doc = JSON.parse(readFileSync(resolve(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as Record<string, unknown>;
  const registry = await SchemaRegistry.open(admin, { seed: false });
  try {
    const r = await registry.register({ ...doc, "lake.parquet": { compression: "snappy" } }, "tester", "snappy for domain_events");
    assert.equal(r.changed, true);
    assert.equal(r.fingerprint, domainContract(DATASET).fingerprint, "the Avro schema is the same; only how files are written changed");
  } finally {
    registry.close();
  }
  // The committer follows the registry; events sent after the registration land in snappy files.
  let newKeys: string[] = [];
  await waitFor(
    "a version written with snappy",
    async () => {
      const r = await sendHttp(lake.producer, DATASET, sampleEvents(50, { prefix: `snap${Date.now()}`, seed: 9, users: 20 }));
      const v = await lake.catalog.covering(DATASET, r.max_offset!, 30_000);
      const added = v.files.filter((f) => !zstdBefore.has(f.key));
      const metas = await Promise.all(added.map(async (f) => codecsOf(parquetMetadata(buffer(await store.get(f.key))))));
      if (metas.length > 0 && metas.every((c) => c.join() === "SNAPPY")) return (newKeys = added.map((f) => f.key));
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.ok(newKeys.length > 0);

  const r = await lakeCli("fsck", "--dataset", DATASET);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const drift = [...r.stdout.matchAll(/^drift domain_events v\d+ (\S+): codec ZSTD, the dataset's setting is SNAPPY \(lake\.parquet\.compression\)$/gm)].map(
    (m) => m[1]!,
  );
  assert.deepEqual(new Set(drift), zstdBefore, "every live file written before the change, and only those, is listed");
  assert.match(r.stdout, new RegExp(`^parquet: ${zstdBefore.size} file\\(s\\) of latest versions not written as their dataset's settings say`, "m"));
  assert.match(r.stdout, /Parquet footer\(s\) read \(codec, writer, columns\)/);
  assert.match(r.stdout, /fsck: clean, no problems/);
});

test("lake compact rewrites the drifted files with the dataset's current codec; fsck then finds no drift", async () => {
  const c = await lakeCli("compact", DATASET, "--target-bytes", String(64 * 1024 * 1024));
  assert.equal(c.code, 0, c.stdout + c.stderr);
  const live = await liveKeys(DATASET);
  for (const key of live) {
    const m = parquetMetadata(buffer(await store.get(key)));
    assert.deepEqual(codecsOf(m), ["SNAPPY"], key);
  }
  // Every partition held several small files (three zstd, one snappy): each was packed into one snappy file.
  assert.deepEqual(
    [...live].filter((k) => zstdBefore.has(k)),
    [],
    "no file of the latest version is from before the change",
  );
  const r = await lakeCli("fsck", "--dataset", DATASET);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /^drift |^parquet: /m);
  assert.match(r.stdout, /fsck: clean, no problems/);
});

test("a version whose file's columns differ from its schema: fsck names the file and the column, exit 1", async () => {
  const ds = "payments";
  const contract = domainContract(ds);
  // A writer with the wrong contract (amount as a string), committed as a well-formed version by a
  // holder of the commit log's credentials: fsck's footer check is what catches it.
  const doc = structuredClone(contract.schema) as unknown as { fields: { name: string; type: unknown }[] };
  doc.fields = doc.fields.map((f) => (f.name === "amount" ? { ...f, type: "string", "lake.constraints": undefined } : f));
  const wrong = loadDomainContract(parseDomainSchema(doc));
  const bytes = toParquet(
    { columns: wrong.fields },
    [{ payment_id: "forged-1", user_id: "u", timestamp: T, amount: "12.50", currency: "EUR", card_country: null }],
    [1],
  );
  const jsm = await jetstreamManager(admin);
  const head = await readCommitHead(jsm, ds);
  const parent = head.version!.record;
  const writeId = `wforged-${randomBytes(4).toString("hex")}`;
  const key = `datasets/${ds}/data/dt=2026-06-01/${writeId}-000.parquet`;
  await store.put(key, bytes);
  const manifest = new TextEncoder().encode(JSON.stringify({ forged: true }));
  const manifestKey = `datasets/${ds}/manifests/v${String(parent.version + 1).padStart(12, "0")}-${writeId}.json`;
  await store.put(manifestKey, manifest);
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const file: LakeLog.DataFile = { key, partition: "dt=2026-06-01", rows: 1, bytes: bytes.byteLength, sha256: sha(bytes) };
  await appendLogRecord(
    jetstream(admin),
    ds,
    {
      kind: "VersionCommitted",
      body: {
        ...parent,
        version: parent.version + 1,
        parent_version: parent.version,
        write_id: writeId,
        committer_id: "forger",
        committed_at: Date.now(),
        manifest: { key: manifestKey, sha256: sha(manifest), bytes: manifest.byteLength },
        added_files: [file],
        removed_files: [],
        source: { ...parent.source, first_seq: parent.source.last_seq + 1 },
        row_count: 1,
        total_rows: parent.total_rows + 1,
        // No Iceberg snapshot of its own (the parent's would be an iceberg_mismatch of its own).
        iceberg: null,
      },
    },
    { expectedLastSeq: head.seq },
  );
  await waitFor(
    "the catalog to apply the forged version",
    async () => ((await lake.catalog.version(ds, "latest")).version === parent.version + 1 ? true : undefined),
    { timeoutMs: 30_000 },
  );

  const r = await lakeCli("fsck", "--dataset", ds);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const line = r.stdout.split("\n").find((l) => l.startsWith("PROBLEM schema_mismatch"));
  assert.ok(line, r.stdout);
  assert.match(line, new RegExp(`^PROBLEM schema_mismatch payments v${parent.version + 1} ${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
  assert.match(line, /column amount is BYTE_ARRAY\/STRING, the schema says DOUBLE/);
  assert.equal(r.stdout.split("\n").filter((l) => l.startsWith("PROBLEM")).length, 1, "only the forged file");
});
