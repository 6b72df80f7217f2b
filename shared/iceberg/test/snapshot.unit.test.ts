// Snapshots written into a local store and read back by an Iceberg reader we did not write (icebird's
// Avro decoder): manifests shared between versions, a removal rewrites the one manifest holding the
// file, small manifests merge, and the same inputs give the same bytes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { avroMetadata, avroRead } from "icebird";

import { LocalDiskStore } from "@lake/storage";

import {
  assignFieldIds,
  type DataFileInfo,
  ENTRY_STATUS,
  fileStats,
  icebergSchema,
  type LakeTable,
  ManifestCache,
  type ManifestFile,
  partitionSpec,
  partitionValue,
  type SnapshotIO,
  storeIO,
  type VersionLike,
  writeVersion,
} from "../src/index.ts";

const T = { timeout: 30_000 };
const dir = mkdtempSync(join(tmpdir(), "iceberg-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const columns = [
  { name: "id", avroType: "string", timestampMillis: false, nullable: false },
  { name: "ts", avroType: "long", timestampMillis: true, nullable: false },
  { name: "amount", avroType: "double", timestampMillis: false, nullable: true },
];

function tableIn(root: string): { io: SnapshotIO; store: LocalDiskStore; table: LakeTable } {
  const store = new LocalDiskStore(root);
  const io: SnapshotIO = storeIO(store);
  const [ids] = assignFieldIds([columns]);
  const layout = { kind: "day", source: "ts" } as const;
  const table: LakeTable = {
    dataset: "events",
    schemas: [icebergSchema(1, columns, ids!)],
    currentSchemaId: 1,
    spec: partitionSpec(layout, ids!),
    layout,
    properties: { "lake.dataset": "events" },
  };
  return { io, store, table };
}

function file(store: LocalDiskStore, name: string, day: string, rows: Record<string, unknown>[]): DataFileInfo {
  const [ids] = assignFieldIds([columns]);
  return {
    path: store.uri(`datasets/events/data/dt=${day}/${name}.parquet`),
    partition: partitionValue({ kind: "day", source: "ts" }, `dt=${day}`),
    recordCount: rows.length,
    sizeBytes: 100 * rows.length,
    stats: fileStats(
      columns,
      ids!,
      rows,
      rows.map((_, i) => i + 1),
    ),
  };
}

async function readAvro(store: LocalDiskStore, key: string) {
  const bytes = await store.get(key);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const { metadata, syncMarker } = await avroMetadata(reader);
  return { metadata, records: avroRead({ reader, metadata, syncMarker }) };
}

/** The commit record of version v adding `added` (only what a snapshot summary reads). */
const rec = (v: number, added: readonly DataFileInfo[], totalRows: number, removed: readonly string[] = []): VersionLike => ({
  version: v,
  parent_version: v - 1,
  write_id: `w${v}`,
  committer_id: "test",
  committed_at: 1_750_000_000_000 + v,
  operation: "append",
  policy: "non-critical",
  schema_name: "events",
  schema_version: 1,
  schema_fingerprint: "f",
  source: { stream: "EVENTS", subject: "lake.events.events", first_seq: v, last_seq: v },
  row_count: added.reduce((t, f) => t + f.recordCount, 0),
  total_rows: totalRows,
  min_event_time: null,
  max_event_time: null,
  max_source_position: null,
  added_files: added.map((f) => ({ rows: f.recordCount, bytes: f.sizeBytes })),
  removed_files: removed,
});

test("versions as snapshots: an append shares the parent's manifests, a removal rewrites only the manifest that held the file", T, async () => {
  const { io, store, table } = tableIn(join(dir, "a"));
  const cache = new ManifestCache(io);
  const day1 = [
    { id: "a", ts: Date.parse("2026-06-01T10:00:00Z"), amount: 2.5 },
    { id: "b", ts: Date.parse("2026-06-01T11:00:00Z"), amount: null },
  ];
  const day2 = [{ id: "c", ts: Date.parse("2026-06-02T09:00:00Z"), amount: -1 }];
  const f1 = file(store, "w1-000", "2026-06-01", day1);
  const v1 = await writeVersion(io, cache, table, [], { version: 1, writeId: "w1", added: [f1], removed: [] }, rec(1, [f1], 2), 0);
  const f2 = file(store, "w2-000", "2026-06-02", day2);
  const v2 = await writeVersion(io, cache, table, v1.manifests, { version: 2, writeId: "w2", added: [f2], removed: [] }, rec(2, [f2], 3), 2);
  assert.equal(v2.manifests.length, 2);
  assert.equal(v2.manifests[1]!.path, v1.manifests[0]!.path, "the parent's manifest is shared, not rewritten");
  assert.deepEqual([v2.totalFiles, v2.totalRecords], [2, 3]);

  // Version 3 replaces f1 (an upsert rewriting day 1).
  const f3 = file(store, "w3-000", "2026-06-01", day1.slice(0, 1));
  const v3 = await writeVersion(
    io,
    cache,
    table,
    v2.manifests,
    { version: 3, writeId: "w3", added: [f3], removed: [{ path: f1.path, partition: f1.partition }] },
    rec(3, [f3], 2, [f1.path]),
    3,
  );
  assert.deepEqual(v3.missing, []);
  assert.deepEqual([v3.totalFiles, v3.totalRecords], [2, 2]);
  assert.equal(v3.metadata.snapshots[0]!.summary.operation, "overwrite");
  assert.ok(
    v3.manifests.some((m) => m.path === v2.manifests[0]!.path),
    "day 2's manifest is untouched",
  );

  // icebird reads the manifest list and every manifest.
  const list = await readAvro(store, v3.manifestListKey);
  assert.equal(list.metadata["format-version"], "2");
  assert.equal(list.metadata["snapshot-id"], "3");
  assert.equal(list.metadata["parent-snapshot-id"], "2");
  const live: string[] = [];
  const deleted: string[] = [];
  for (const m of list.records as { manifest_path: string; sequence_number: bigint }[]) {
    const man = await readAvro(store, store.keyOfUri(m.manifest_path));
    assert.equal(man.metadata["content"], "data");
    const schema = man.metadata["schema"] as { "schema-id": number } | string;
    assert.equal((typeof schema === "string" ? (JSON.parse(schema) as { "schema-id": number }) : schema)["schema-id"], 1);
    for (const e of man.records as { status: number; data_file: { file_path: string; record_count: bigint; partition: Record<string, unknown> } }[]) {
      (e.status === ENTRY_STATUS.deleted ? deleted : live).push(e.data_file.file_path);
    }
  }
  assert.deepEqual(live.toSorted(), [f2.path, f3.path].toSorted());
  assert.deepEqual(deleted, [f1.path]);
});

test("column metrics: counts and bounds in single-value serialization, timestamps in microseconds", T, async () => {
  const { io, store, table } = tableIn(join(dir, "b"));
  const rows = [
    { id: "zeta", ts: 1_000, amount: Number.NaN },
    { id: "alpha", ts: 3_000, amount: null },
    { id: "mid", ts: 2_000, amount: 4.25 },
  ];
  const f = file(store, "w1-000", "1970-01-01", rows);
  const v = await writeVersion(io, new ManifestCache(io), table, [], { version: 1, writeId: "w1", added: [f], removed: [] }, rec(1, [f], 3), 0);
  const man = await readAvro(store, store.keyOfUri(v.manifests[0]!.path));
  const df = (man.records[0] as { data_file: Record<string, unknown> }).data_file;
  const byId = (kv: unknown) => new Map((kv as { key: number; value: unknown }[]).map((x) => [x.key, x.value]));
  const lower = byId(df.lower_bounds);
  const upper = byId(df.upper_bounds);
  const text = (b: unknown) => new TextDecoder().decode(b as Uint8Array);
  const i64 = (b: unknown) => new DataView((b as Uint8Array).buffer, (b as Uint8Array).byteOffset).getBigInt64(0, true);
  const f64 = (b: unknown) => new DataView((b as Uint8Array).buffer, (b as Uint8Array).byteOffset).getFloat64(0, true);
  // ids: _offset 1, id 2, ts 3, amount 4
  assert.deepEqual([text(lower.get(2)), text(upper.get(2))], ["alpha", "zeta"]);
  assert.deepEqual([i64(lower.get(3)), i64(upper.get(3))], [1_000_000n, 3_000_000n]);
  assert.deepEqual([f64(lower.get(4)), f64(upper.get(4))], [4.25, 4.25], "NaN and null are not bounds");
  assert.equal(byId(df.null_value_counts).get(4), 1n);
  assert.equal(byId(df.nan_value_counts).get(4), 1n);
  assert.equal(byId(df.value_counts).get(4), 3n);
  assert.deepEqual([i64(lower.get(1)), i64(upper.get(1))], [1n, 3n], "_offset");
});

test("many small appends: the manifest list stays short because small manifests merge, and no file is lost", T, async () => {
  const { io, store, table } = tableIn(join(dir, "c"));
  const cache = new ManifestCache(io);
  let parent: ManifestFile[] = [];
  const paths: string[] = [];
  let last;
  for (let v = 1; v <= 30; v++) {
    const f = file(store, `w${v}-000`, "2026-06-01", [{ id: `k${v}`, ts: Date.parse("2026-06-01T00:00:00Z") + v, amount: v }]);
    paths.push(f.path);
    last = await writeVersion(io, cache, table, parent, { version: v, writeId: `w${v}`, added: [f], removed: [] }, rec(v, [f], v), v - 1, { maxManifests: 8 });
    parent = last.manifests;
    assert.ok(parent.length <= 9, `version ${v}: ${parent.length} manifests`);
  }
  const seen: string[] = [];
  for (const m of parent) for (const e of await cache.read(m.path)) if (e.status !== ENTRY_STATUS.deleted) seen.push(e.file.path);
  assert.deepEqual(seen.toSorted(), paths.toSorted());
  assert.equal(last!.totalFiles, 30);
});

test("the same versions written twice give byte-identical manifests, lists and metadata", T, async () => {
  const out: string[][] = [];
  for (const name of ["d1", "d2"]) {
    const { io, store, table } = tableIn(join(dir, name));
    const rows = [{ id: "a", ts: 5, amount: 1 }];
    // Paths differ by store root; compare what is independent of it.
    const f = { ...file(store, "w1-000", "1970-01-01", rows), path: "s3://bucket/datasets/events/data/x.parquet" };
    const v = await writeVersion(io, new ManifestCache(io), table, [], { version: 1, writeId: "w1", added: [f], removed: [] }, rec(1, [f], 3), 0);
    const man = Buffer.from(await store.get(store.keyOfUri(v.manifests[0]!.path))).toString("hex");
    out.push([man, JSON.stringify({ ...v.metadata, location: "", snapshots: v.metadata.snapshots.map((s) => ({ ...s, "manifest-list": "" })) })]);
  }
  assert.deepEqual(out[0], out[1]);
});
