// Invariants 1-3 and 10 under committer faults: kill -9 at each step of a commit (Parquet files, the
// Iceberg snapshot, the lake manifest, the commit record), and racing committers. After each crash every
// version's Iceberg snapshot, read with an Avro reader we did not write, lists exactly its files.
import assert from "node:assert/strict";
import { basename } from "node:path";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { IcebergRestCatalog } from "iceberg-js";
import { avroMetadata, avroRead } from "icebird";

import { sampleEvents, sendHttp } from "@lake/client";
import type { LakeLog } from "@lake/contracts";
import { foldCommitLog, readCommitHead } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { assertExactlyOnce, covering, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
const accepted = new Set<string>();
let maxOffset = 0;
let batchNo = 0;

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

/** Sends a fresh batch of events and records what ingest accepted. */
async function send(n: number): Promise<number> {
  const events = sampleEvents(n, { prefix: `b${batchNo++}`, seed: batchNo });
  const r = await sendHttp(lake.producer, DATASET, events);
  assert.equal(r.status, 200);
  assert.equal(r.accepted, n);
  for (const res of r.results) accepted.add(res.event_id!);
  maxOffset = Math.max(maxOffset, r.max_offset!);
  return r.max_offset!;
}

/** Keys of every data file any committed version references. */
async function referencedKeys(): Promise<Set<string>> {
  const latest = await lake.catalog.version(DATASET, "latest");
  const keys = new Set<string>();
  for (let v = 1; v <= latest.version; v++) for (const f of (await lake.catalog.version(DATASET, v)).files) keys.add(f.key);
  return keys;
}

async function storedKeys(dir: "data" | "metadata" | "manifests"): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of openLocalStore(lake.storeRoot).list(`datasets/${DATASET}/${dir}/`)) keys.push(o.key);
  return keys;
}
const storedDataKeys = () => storedKeys("data");

/** The write id in a data file's name (`<write id>-<index>.parquet`). */
const writeIdOfData = (key: string) => /^(.+)-\d{3}\.parquet$/.exec(basename(key))![1]!;

/** Each version's Iceberg reference, as its commit record in the log names it. */
async function icebergRefs(): Promise<Map<number, { write_id: string; ref: LakeLog.IcebergSnapshotRef | null }>> {
  const nc = await lake.connect();
  try {
    const head = await readCommitHead(await jetstreamManager(nc), DATASET);
    const out = new Map<number, { write_id: string; ref: LakeLog.IcebergSnapshotRef | null }>();
    await foldCommitLog(jetstream(nc), DATASET, head.seq, (r) => {
      if (r.kind === "VersionCommitted") out.set(r.body.version, { write_id: r.body.write_id, ref: r.body.iceberg && { ...r.body.iceberg } });
    });
    return out;
  } finally {
    await nc.close();
  }
}

/** An Avro file of the store, read with an Iceberg reader we did not write (throws if the file is missing). */
async function avroRecords(key: string): Promise<Record<string, unknown>[]> {
  const bytes = await openLocalStore(lake.storeRoot).get(key);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const { metadata, syncMarker } = await avroMetadata(reader);
  return avroRead({ reader, metadata, syncMarker });
}

type Entry = { status: number; data_file: { file_path: string; record_count: bigint | number; file_size_in_bytes: bigint | number } };

/**
 * Every version of the dataset, as our readers and Iceberg readers see it: the catalog's files are all in
 * the store; the commit record's table metadata names its manifest list, whose manifests' live entries
 * are exactly the version's files (same rows and bytes), all in the store. Returns every Iceberg key a
 * version references (manifest lists, manifests, metadata).
 */
async function assertSnapshotsWhole(): Promise<Set<string>> {
  const store = openLocalStore(lake.storeRoot);
  const present = new Set([...(await storedKeys("data")), ...(await storedKeys("metadata"))]);
  const refs = await icebergRefs();
  const latest = await lake.catalog.version(DATASET, "latest");
  assert.equal(refs.size, latest.version, "the log and the catalog have the same versions");
  const referenced = new Set<string>();
  for (let v = 1; v <= latest.version; v++) {
    const full = await lake.catalog.version(DATASET, v);
    const { ref, write_id } = refs.get(v)!;
    assert.equal(full.write_id, write_id);
    assert.ok(ref, `version ${v} is an Iceberg snapshot`);
    assert.deepEqual(full.iceberg, ref, `the catalog serves version ${v}'s Iceberg reference as its commit record names it`);
    for (const f of full.files) assert.ok(present.has(f.key), `file ${f.key} of version ${v} is in the store`);
    referenced.add(ref.manifest_list).add(ref.metadata);
    for (const k of [ref.manifest_list, ref.metadata]) assert.ok(k.includes(`-${write_id}`), `${k} was written by version ${v}'s own write`);

    const meta = JSON.parse(new TextDecoder().decode(await store.get(ref.metadata))) as { snapshots: { "snapshot-id": number; "manifest-list": string }[] };
    const snap = meta.snapshots.find((s) => s["snapshot-id"] === v);
    assert.ok(snap && store.keyOfUri(snap["manifest-list"]) === ref.manifest_list, `the table metadata of version ${v} names its manifest list`);

    const listed = new Map<string, { rows: number; bytes: number }>();
    for (const m of (await avroRecords(ref.manifest_list)) as { manifest_path: string }[]) {
      const key = store.keyOfUri(m.manifest_path);
      referenced.add(key);
      for (const e of (await avroRecords(key)) as Entry[]) {
        if (e.status === 2) continue; // DELETED
        const file = store.keyOfUri(e.data_file.file_path);
        assert.ok(!listed.has(file), `version ${v}'s snapshot lists ${file} once`);
        listed.set(file, { rows: Number(e.data_file.record_count), bytes: Number(e.data_file.file_size_in_bytes) });
      }
    }
    assert.deepEqual([...listed.keys()].sort(), full.files.map((f) => f.key).sort(), `the Iceberg snapshot of version ${v} lists exactly its files`);
    for (const f of full.files) assert.deepEqual(listed.get(f.key), { rows: f.rows, bytes: f.bytes }, `rows and bytes of ${f.key} in version ${v}'s snapshot`);
    assert.equal(ref.total_files, full.files.length, `total_files of version ${v}`);
  }
  for (const k of referenced) if (!k.endsWith(".parquet")) assert.ok(present.has(k), `${k} is in the store`);

  // Through the Iceberg REST catalog: one snapshot per committed version, each on its version's manifest list.
  const table = await new IcebergRestCatalog({ baseUrl: `${lake.catalogUrl}/iceberg` }).loadTable({ namespace: ["lake"], name: DATASET });
  assert.deepEqual(
    (table.snapshots ?? []).map((s) => [s["snapshot-id"], store.keyOfUri(s["manifest-list"])]),
    [...refs].sort((a, b) => a[0] - b[0]).map(([v, r]) => [v, r.ref!.manifest_list]),
    "the REST catalog serves exactly the committed snapshots",
  );
  return referenced;
}

for (const point of ["after_parquet", "after_iceberg", "after_manifest", "after_commit"] as const) {
  test(`kill -9 of the committer ${point.replace("_", " ")} loses nothing and duplicates nothing`, { timeout: 180_000 }, async () => {
    await lake.services.get(`committer:${DATASET}`)?.stop();
    const atStart = new Set(await storedDataKeys());
    const metaAtStart = new Set([...(await storedKeys("metadata")), ...(await storedKeys("manifests"))]);
    // The committer dies the 2nd time it reaches the point: one clean commit first, then the crash.
    const doomed = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: `${point}@2` });
    await covering(lake, await send(150));
    await send(150);
    const code = await doomed.exited;
    assert.equal(code, null, "the committer was killed by its failpoint");
    assert.match(doomed.logs(), new RegExp(`"failpoint":"${point}"`));
    const filesBefore = await storedDataKeys();
    const metaBefore = [...(await storedKeys("metadata")), ...(await storedKeys("manifests"))];
    await send(100); // accepted while no committer runs
    await lake.startCommitter(DATASET);
    await covering(lake, maxOffset);
    await assertExactlyOnce(lake, accepted);

    const referenced = await referencedKeys();
    const stored = await storedDataKeys();
    for (const key of referenced) assert.ok(stored.includes(key), `referenced file ${key} exists`);
    const orphans = filesBefore.filter((k) => !referenced.has(k) && !atStart.has(k));
    if (point === "after_commit") assert.deepEqual(orphans, [], "a crash after the commit point leaves no orphan");
    else assert.ok(orphans.length > 0, "the crashed write left files behind, and no version references them");

    // Every version, read as our readers and as Iceberg readers read it, is whole; the crashed write's
    // Iceberg files and lake manifest (those it got to write) are orphans no version names.
    const icebergReferenced = await assertSnapshotsWhole();
    const killed = new Set(orphans.map(writeIdOfData));
    assert.equal(killed.size, point === "after_commit" ? 0 : 1, `one crashed write: ${[...killed].join(", ")}`);
    const newMeta = metaBefore.filter((k) => !metaAtStart.has(k));
    const killedMeta = newMeta.filter((k) => [...killed].some((w) => basename(k).includes(`-${w}`)));
    // (The catalog's table states, c<seq>.metadata.json, describe the table, not a version: not orphans.)
    const unreferenced = newMeta.filter((k) => !icebergReferenced.has(k) && !k.includes("/manifests/") && !/\/c\d{12}\.metadata\.json$/.test(k));
    const lakeManifests = killedMeta.filter((k) => k.includes("/manifests/"));
    const icebergFiles = killedMeta.filter((k) => k.includes("/metadata/"));
    for (const k of icebergFiles) assert.ok(!icebergReferenced.has(k), `${k} of the crashed write is referenced by no version`);
    assert.deepEqual(unreferenced.sort(), icebergFiles.sort(), "the only Iceberg files no version names are the crashed write's");
    const versions = await icebergRefs();
    for (const w of killed) assert.ok(![...versions.values()].some((v) => v.write_id === w), "no version is the crashed write");
    if (point === "after_parquet") assert.deepEqual(killedMeta, [], "killed before its Iceberg snapshot: the write left data files only");
    if (point === "after_iceberg" || point === "after_manifest") {
      const kind = (k: string) => (basename(k).startsWith("snap-") ? "manifest_list" : k.endsWith(".metadata.json") ? "metadata" : "manifest");
      const kinds = new Set(icebergFiles.map(kind));
      assert.deepEqual(
        [...kinds].sort(),
        ["manifest", "manifest_list", "metadata"],
        `the crashed write's snapshot was all written: ${icebergFiles.join(", ")}`,
      );
      assert.equal(lakeManifests.length, 1, "the lake manifest is written with the Iceberg snapshot, before the commit point");
    }
  });
}

test("a zombie committer that stalls before its commit loses the CAS and history stays linear", async () => {
  await lake.services.get(`committer:${DATASET}`)?.stop();
  // The zombie holds at its commit point until the test releases it (SIGUSR2): no timing involved.
  const zombie = await lake.startCommitter(DATASET, { LAKE_FAILPOINTS: "before_commit@1=wait", LAKE_COMMITTER_ID: "zombie" }, "zombie");
  const offset = await send(200);
  await waitFor("the zombie to stall at its commit point", () => (zombie.logs().includes('"failpoint":"before_commit"') ? true : undefined), {
    timeoutMs: 20_000,
  });
  const live = await lake.startCommitter(DATASET, { LAKE_COMMITTER_ID: "live" }, "live");
  const v = await covering(lake, offset);
  assert.equal(v.committer_id, "live", "the live committer committed the batch");
  // The zombie wakes up, loses the compare-and-set, re-reads the head and carries on from there.
  process.kill(zombie.pid, "SIGUSR2");
  await waitFor("the zombie to lose its commit race", () => (zombie.logs().includes("lost commit race") ? true : undefined), { timeoutMs: 20_000 });
  // Both keep running and racing on every later batch; history must stay one chain.
  for (let i = 0; i < 5; i++) await send(100);
  await covering(lake, maxOffset);
  await assertExactlyOnce(lake, accepted);
  await zombie.stop();
  await live.stop();
  lake.services.delete("zombie");
  lake.services.delete("live");
});
