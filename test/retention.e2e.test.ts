// Retention and garbage collection on a whole lake: versions expire by policy (latest, current and
// tagged versions never), an expired version is no longer served (410), and `lake gc` deletes exactly
// what no live version references (files of expired versions, orphans past the grace period) while
// every file of every live version stays, checked by listing the store and by querying with DuckDB.
// Each operation is in the commit log; a dry run changes nothing; GC racing live commits loses nothing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { utimesSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { avroMetadata, avroRead } from "icebird";

import { CatalogRequestError, type CatalogVersion, queryVersion, sampleEvents, sendHttp } from "@lake/client";
import type { LogRecord } from "@lake/contracts";
import { foldCommitLog, readCommitHead } from "@lake/messaging";
import { type ObjectStore, openStore } from "@lake/storage";
import { startS3Server } from "@lake/testing";

import { settled, withLake } from "./helpers.ts";

const DS = "customers";
const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
const env: NodeJS.ProcessEnv = { ...process.env, LAKE_ACTOR: "retention-test" };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_STORE", "LAKE_TOKEN"]) delete env[k];

let lake: Awaited<ReturnType<typeof withLake>>;
let store: ObjectStore;
let lsn = 5000;
const T = Date.UTC(2026, 5, 1, 12);

function lakeCli(args: string[]) {
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 120_000, env });
}

const upsert = (id: string, name: string) => {
  const at = ++lsn;
  return { op: "u", before: null, after: { customer_id: id, name, email: null, country: "DE", updated_at: T + at }, source: { lsn: at }, ts_ms: T + at };
};

/** One CDC batch (the same customers rewritten each time, so each version replaces the last one's files). */
async function commitCustomers(round: number): Promise<CatalogVersion> {
  const r = await sendHttp(
    lake.producer,
    DS,
    ["k1", "k2", "k3", "k4", "k5", `n${round}`].map((id) => upsert(id, `${id} round ${round}`)),
  );
  assert.equal(r.status, 200);
  return lake.catalog.covering(DS, r.max_offset!, 20_000);
}

async function listKeys(dataset = DS): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const prefix of [`datasets/${dataset}/data/`, `datasets/${dataset}/manifests/`]) for await (const o of store.list(prefix)) keys.add(o.key);
  return keys;
}

async function allVersions(dataset = DS) {
  const out: Omit<CatalogVersion, "files">[] = [];
  for (let after = 0, pages = 0; ; pages++) {
    assert.ok(pages < 10_000, "at most 10,000 pages of versions");
    const p = await lake.catalog.versions(dataset, after, 1000);
    out.push(...p.versions);
    if (p.next_after === null) return out;
    assert.ok(p.next_after > after, `versions cursor moved from ${after} to ${p.next_after}`);
    after = p.next_after;
  }
}

/** An Avro file of the store, read with an Iceberg reader we did not write. */
async function avroRecords(key: string): Promise<Record<string, unknown>[]> {
  const bytes = await store.get(key);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const { metadata, syncMarker } = await avroMetadata(reader);
  return avroRead({ reader, metadata, syncMarker });
}

/** Each version's Iceberg snapshot files, as its commit record names them. */
async function icebergRefs(dataset: string): Promise<Map<number, { manifest_list: string; metadata: string }>> {
  const out = new Map<number, { manifest_list: string; metadata: string }>();
  for (const { record } of await logRecords(dataset))
    if (record.kind === "VersionCommitted" && record.body.iceberg) out.set(record.body.version, record.body.iceberg);
  return out;
}

/** The data files a version's Iceberg snapshot lists (live entries of every manifest of its manifest list), and the manifests. */
async function snapshotFiles(manifestList: string): Promise<{ files: string[]; manifests: string[] }> {
  const files: string[] = [];
  const manifests: string[] = [];
  for (const m of (await avroRecords(manifestList)) as { manifest_path: string }[]) {
    const key = store.keyOfUri(m.manifest_path);
    manifests.push(key);
    for (const e of (await avroRecords(key)) as { status: number; data_file: { file_path: string } }[])
      if (e.status !== 2) files.push(store.keyOfUri(e.data_file.file_path));
  }
  return { files: files.sort(), manifests };
}

async function icebergKeys(dataset = DS): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of store.list(`datasets/${dataset}/metadata/`)) keys.add(o.key);
  return keys;
}

/**
 * Every live version: each of its files and its manifest is in the store, DuckDB reads all its rows,
 * and its Iceberg snapshot (manifest list, manifests, table metadata) is there and lists exactly its files.
 */
async function assertLiveVersionsWhole(dataset: string): Promise<number> {
  const present = await listKeys(dataset);
  const iceberg = await icebergKeys(dataset);
  const refs = await icebergRefs(dataset);
  let checked = 0;
  for (const v of await allVersions(dataset)) {
    if (v.expired) continue;
    const full = await lake.catalog.version(dataset, v.version);
    assert.ok(present.has(full.manifest.key), `manifest of live version ${v.version} is there`);
    for (const f of full.files) assert.ok(present.has(f.key), `file ${f.key} of live version ${v.version} is there`);
    const ref = refs.get(v.version);
    assert.ok(ref, `version ${v.version} of ${dataset} is an Iceberg snapshot`);
    assert.ok(iceberg.has(ref.manifest_list) && iceberg.has(ref.metadata), `the manifest list and metadata of live version ${v.version} are there`);
    const snap = await snapshotFiles(ref.manifest_list);
    assert.deepEqual(snap.files, full.files.map((f) => f.key).sort(), `the Iceberg snapshot of version ${v.version} lists exactly its files`);
    const r = await queryVersion(store, full, `SELECT count(*) AS n FROM ${dataset}`);
    assert.equal(Number(r.rows[0]!.n), full.total_rows, `DuckDB reads every row of live version ${v.version}`);
    checked++;
  }
  return checked;
}

async function logRecords(dataset: string): Promise<{ seq: number; record: LogRecord }[]> {
  const nc = await lake.connect();
  try {
    const head = await readCommitHead(await jetstreamManager(nc), dataset);
    const out: { seq: number; record: LogRecord }[] = [];
    await foldCommitLog(jetstream(nc), dataset, head.seq, (record, seq) => out.push({ seq, record }));
    return out;
  } finally {
    await nc.close();
  }
}

before(async () => {
  lake = await withLake();
  store = await openStore(lake.storeConfig);
  for (let round = 1; round <= 6; round++) await commitCustomers(round);
  await settled(lake);
});
after(async () => {
  await lake?.cleanup();
});

let latest: number;
let expired: number[];

test("expire keep_last=2: versions outside it expire; latest, current and the tagged version are kept", async () => {
  latest = (await lake.catalog.version(DS, "latest")).version;
  assert.ok(latest >= 6, `six rounds made ${latest} versions`);
  await lake.catalog.tag(DS, "keep-me", 2, "ops", "a snapshot someone needs");
  // Move current back so that it is neither the latest nor among the newest two.
  await lake.catalog.rollback(DS, "ops", "drill", latest - 3);
  assert.equal((await lake.catalog.version(DS, "current")).version, latest - 3);

  const out = await lakeCli(["expire", DS, "--keep-last", "2", "--reason", "retention test"]);
  assert.match(out.stdout, /expire customers: \d+ version\(s\) expired/);
  expired = (await allVersions()).filter((v) => v.expired).map((v) => v.version);
  const kept = new Set([2, latest - 3, latest - 1, latest]);
  assert.deepEqual(
    expired,
    Array.from({ length: latest }, (_, i) => i + 1).filter((v) => !kept.has(v)),
    "everything but the tagged, current, latest and second-newest versions",
  );

  const again = await lake.catalog.expire(DS, { keepLast: 2 }, "ops", "again");
  assert.equal(again.changed, false, "expiring again is a no-op");
  assert.match(again.message ?? "", /nothing to expire/);

  const audit = (await lake.catalog.audit(DS, 0, 1000)).entries.filter((e) => e.kind === "expire");
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.actor, "retention-test");
  assert.equal(audit[0]!.reason, "retention test");
  assert.deepEqual((audit[0]!.detail as { policy: string }).policy, "keep_last=2");
});

test("an expired version is not served: reads answer 410 with a clear message; it can't be promoted, rolled back to or tagged", async () => {
  const gone = (e: unknown) => {
    assert.ok(e instanceof CatalogRequestError, String(e));
    assert.equal(e.status, 410, e.message);
    assert.equal(e.code, "version_expired");
    assert.match(e.message, /version \d+ of customers has expired/);
    return true;
  };
  const v = expired[0]!;
  await assert.rejects(lake.catalog.version(DS, v), gone);
  await assert.rejects(lake.catalog.promote(DS, v, "ops", "bring it back"), gone);
  await assert.rejects(lake.catalog.rollback(DS, "ops", "back", v), (e: unknown) => e instanceof CatalogRequestError && e.status === 410);
  await assert.rejects(lake.catalog.tag(DS, "too-late", v, "ops", "r"), (e: unknown) => e instanceof CatalogRequestError && e.status === 410);
  // Kept versions are served as before.
  for (const k of [2, latest - 3, latest]) assert.equal((await lake.catalog.version(DS, k)).version, k);
  assert.equal((await lake.catalog.byTag(DS, "keep-me")).version, 2);
  // The history still lists it, marked.
  const listed = (await allVersions()).find((x) => x.version === v)!;
  assert.equal(listed.expired, true);
  assert.ok(listed.expired_seq! > 0);
});

let oldOrphan: string;
let freshOrphan: string;
let dead: string[];

test("gc --dry-run reports what it would delete and deletes nothing", async () => {
  const live = await lake.catalog.version(DS, "latest");
  const partition = live.files[0]!.partition;
  oldOrphan = `datasets/${DS}/data/${partition}/crashed-old-000.parquet`;
  freshOrphan = `datasets/${DS}/data/${partition}/crashed-new-000.parquet`;
  await store.put(oldOrphan, new TextEncoder().encode("half a parquet file from a crashed write"));
  await store.put(freshOrphan, new TextEncoder().encode("a write that may be about to commit"));
  const twoHoursAgo = (Date.now() - 2 * 3_600_000) / 1000;
  utimesSync(store.localPath(oldOrphan)!, twoHoursAgo, twoHoursAgo);

  const files: { key: string; live: boolean }[] = [];
  for (let after = "", pages = 0; ; pages++) {
    assert.ok(pages < 10_000, "at most 10,000 pages of files");
    const p = await lake.catalog.files(DS, after, 1000);
    files.push(...p.files);
    if (p.next_after === null) break;
    assert.ok(p.next_after > after, `files cursor moved from ${after} to ${p.next_after}`);
    after = p.next_after;
  }
  const manifests = (await allVersions()).filter((v) => v.expired).map((v) => v.manifest.key);
  dead = [...files.filter((f) => !f.live).map((f) => f.key), ...manifests];
  assert.ok(
    files.some((f) => !f.live),
    "some data files are referenced only by expired versions",
  );

  const before = await listKeys();
  const out = await lakeCli(["gc", "--dry-run", "--grace", "1h"]);
  assert.deepEqual(await listKeys(), before, "a dry run deletes nothing");
  for (const k of [...dead, oldOrphan]) assert.match(out.stdout, new RegExp(`would delete ${k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `));
  assert.doesNotMatch(out.stdout, new RegExp(`would delete ${freshOrphan.replace(/[.]/g, "\\.")}`));
  assert.match(out.stdout, /gc: dry run, nothing deleted/);
  assert.equal((await logRecords(DS)).filter((r) => r.record.kind === "FilesCollected").length, 0, "a dry run records nothing");
});

test("gc deletes files only expired versions reference and old orphans; every file of every live version stays", async () => {
  const before = await listKeys();
  const icebergBefore = await icebergKeys(DS);
  const started = performance.now();
  const out = await lakeCli(["gc", "--grace", "1h"]);
  const ms = performance.now() - started;
  const afterKeys = await listKeys();
  for (const k of dead) assert.ok(!afterKeys.has(k), `${k} (only expired versions reference it) is deleted`);
  assert.ok(!afterKeys.has(oldOrphan), "an orphan older than the grace period is deleted");
  assert.ok(afterKeys.has(freshOrphan), "an orphan younger than the grace period is kept");
  assert.deepEqual([...before].filter((k) => !afterKeys.has(k)).sort(), [...dead, oldOrphan].sort(), "nothing else is deleted");
  // Iceberg: what an expired version alone used is gone, what a live version uses stays.
  const refs = await icebergRefs(DS);
  const icebergLeft = await icebergKeys(DS);
  const versions = await allVersions(DS);
  const usedByLive = new Set<string>();
  for (const v of versions.filter((x) => !x.expired)) {
    const ref = refs.get(v.version)!;
    usedByLive.add(ref.manifest_list).add(ref.metadata);
    for (const m of (await snapshotFiles(ref.manifest_list)).manifests) usedByLive.add(m);
  }
  for (const v of versions.filter((x) => x.expired)) {
    const ref = refs.get(v.version)!;
    assert.ok(!icebergLeft.has(ref.manifest_list) && !icebergLeft.has(ref.metadata), `expired version ${v.version}'s manifest list and metadata are deleted`);
  }
  const isState = (k: string) => /\/metadata\/c\d{12}\.metadata\.json$/.test(k);
  assert.deepEqual(
    [...icebergLeft].filter((k) => !usedByLive.has(k) && !isState(k)),
    [],
    "no Iceberg file is left that no live version uses",
  );
  // The catalog's table states: the newest few stay (a restore starts from the newest), older ones go.
  const statesBefore = [...icebergBefore].filter(isState).sort();
  const statesLeft = [...icebergLeft].filter(isState).sort();
  assert.ok(statesBefore.length >= 1, "the catalog wrote table states");
  assert.deepEqual(statesLeft, statesBefore.slice(-3), "the 3 newest table states are kept");
  const live = await assertLiveVersionsWhole(DS);
  assert.equal(live, latest - expired.length);
  // Other datasets' live versions are untouched too.
  for (const ds of (await lake.catalog.datasets()).datasets) if (ds.name !== DS) await assertLiveVersionsWhole(ds.name);

  const collected = (await logRecords(DS)).filter((r) => r.record.kind === "FilesCollected");
  assert.equal(collected.length, 1, "one FilesCollected record in the commit log");
  const body = collected[0]!.record.body as { keys: string[]; orphans: number; bytes: number; actor: string };
  assert.deepEqual(body.keys.filter((k) => !k.includes("/metadata/")).sort(), [...dead, oldOrphan].sort());
  const icebergGone = [...icebergBefore].filter((k) => !icebergLeft.has(k)).sort();
  assert.ok(icebergGone.length > 0, "expired versions' Iceberg files are collected");
  assert.deepEqual(body.keys.filter((k) => k.includes("/metadata/")).sort(), icebergGone, "the record names the Iceberg files deleted");
  assert.equal(body.orphans, 1);
  assert.equal(body.actor, "retention-test");
  assert.ok(body.bytes > 0);
  assert.match(out.stdout, new RegExp(`recorded as FilesCollected at commit-log sequence ${collected[0]!.seq}`));
  const gcAudit = (await lake.catalog.audit(DS, 0, 1000)).entries.filter((e) => e.kind === "gc");
  assert.equal(gcAudit.length, 1);
  console.log(`# gc of ${latest} versions (${expired.length} expired, ${before.size} objects) took ${Math.round(ms)} ms through the CLI`);

  const second = await lakeCli(["gc", "--grace", "1h"]);
  assert.match(second.stdout, /gc: deleted 0 object\(s\)/, "a second run finds nothing more");
});

test("expiry and gc racing a stream of commits never delete a live file; fsck stays clean", async () => {
  let sending = true;
  const producer = (async () => {
    for (let round = 100; sending; round++) {
      await commitCustomers(round);
      const r = await sendHttp(lake.producer, "domain_events", sampleEvents(30, { prefix: `gc-race-${round}`, seed: round }));
      assert.equal(r.status, 200);
    }
  })();
  // A short grace (in-flight writes commit within a few hundred ms here) makes GC as aggressive as it
  // can safely be, so its view of the live set is what protects the files.
  let deleted = 0;
  for (let i = 0; i < 4; i++) {
    await lake.catalog.expire(DS, { keepLast: 3 }, "ops", `rolling retention ${i}`);
    const out = await lakeCli(["gc", "--grace", "10s"]);
    deleted += Number(/^gc: deleted (\d+) object/m.exec(out.stdout)![1]);
  }
  assert.ok(deleted > 0, "GC deleted files while commits were landing");
  sending = false;
  await producer;
  await settled(lake);
  for (const ds of [DS, "domain_events"]) await assertLiveVersionsWhole(ds);
  const check = await lakeCli(["fsck"]);
  assert.match(check.stdout, /fsck: clean, no problems/);
});

test("the rebuilt catalog has the same expiries and collections", async () => {
  await settled(lake);
  const dump = await lake.catalog.dump();
  await lake.catalog.rebuild();
  assert.equal(await lake.catalog.dump(), dump);
  const parsed = JSON.parse(dump) as { expired_versions: unknown[]; collected_files: unknown[] };
  assert.ok(parsed.expired_versions.length >= expired.length);
  assert.ok(parsed.collected_files.length >= dead.length + 1);
});

test("on S3: gc deletes expired versions' objects from the bucket, and orphans by the age the bucket reports; fsck is clean", async () => {
  const s3 = await startS3Server({ buckets: ["lake"], silent: true });
  const aws = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: s3.region };
  // This process reads the bucket back too; the SDK takes credentials from the environment.
  const saved = Object.fromEntries(Object.keys(aws).map((k) => [k, process.env[k]]));
  Object.assign(process.env, aws);
  const bucketLake = await withLake({ s3: { endpoint: s3.endpoint, bucket: "lake", prefix: "gc", region: s3.region }, env: aws, without: ["aggregator"] });
  const cliS3 = (args: string[]) =>
    run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", bucketLake.dataDir], { timeout: 120_000, env: { ...env, ...aws } });
  try {
    for (let i = 0; i < 4; i++) {
      const r = await sendHttp(bucketLake.producer, "domain_events", sampleEvents(40, { prefix: `s3gc${i}`, seed: i + 7 }));
      await bucketLake.catalog.covering("domain_events", r.max_offset!, 20_000);
    }
    await settled(bucketLake);
    const bucket = await openStore(bucketLake.storeConfig);
    assert.equal(bucket.kind, "s3");
    const orphanKey = "datasets/domain_events/data/dt=2026-06-01/crashed-s3-000.parquet";
    await bucket.put(orphanKey, new TextEncoder().encode("orphan"));
    await bucketLake.catalog.expire("domain_events", { keepLast: 1 }, "ops", "s3 retention");
    const versions = (await bucketLake.catalog.versions("domain_events", 0, 1000)).versions;
    const expiredManifests = versions.filter((v) => v.expired).map((v) => v.manifest.key);
    assert.ok(expiredManifests.length > 0);

    // A grace period longer than the orphan's age keeps it; a zero grace collects it.
    const keep = await cliS3(["gc", "--grace", "1h"]);
    assert.match(keep.stdout, /kept datasets\/domain_events\/data\/dt=2026-06-01\/crashed-s3-000\.parquet \(orphan, [\d.]+ s old: within the grace period/);
    const out = await cliS3(["gc", "--grace", "0"]);
    assert.match(out.stdout, /1 orphan\(s\) older than 0 ms/);
    const keys = new Set<string>();
    for await (const o of bucket.list("datasets/domain_events/")) keys.add(o.key);
    for (const k of expiredManifests) assert.ok(!keys.has(k), `${k} is deleted from the bucket`);
    assert.ok(!keys.has(orphanKey), "the orphan, older than the (zero) grace, is deleted");
    for (const v of versions.filter((x) => !x.expired)) {
      const full = await bucketLake.catalog.version("domain_events", v.version);
      for (const f of [...full.files.map((x) => x.key), full.manifest.key]) assert.ok(keys.has(f), `${f} of live version ${v.version} is in the bucket`);
      const rows = await queryVersion(bucket, full, "SELECT count(*) AS n FROM domain_events");
      assert.equal(Number(rows.rows[0]!.n), full.total_rows);
    }
    const check = await cliS3(["fsck"]);
    assert.match(check.stdout, /fsck: clean, no problems/);
  } finally {
    await bucketLake.cleanup();
    await s3.stop();
    for (const [k, val] of Object.entries(saved)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  }
});
