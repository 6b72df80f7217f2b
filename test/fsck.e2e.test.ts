// `lake fsck` cross-checks the commit log, the object store and the catalog, through the real CLI: a
// clean lake exits 0 with a clean report; a deleted file, corrupted bytes, a tampered manifest, an
// orphan, a catalog row that no longer matches the log, a deleted Iceberg manifest and a manifest list
// replaced by another version's are each reported with their key, and exit 1.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { avroMetadata, avroRead } from "icebird";

import { Projection } from "@lake/catalog";
import { sampleEvents, sendHttp } from "@lake/client";
import { type ObjectStore, openStore } from "@lake/storage";

import { DATASET, settled, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
const env: NodeJS.ProcessEnv = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_STORE", "LAKE_TOKEN"]) delete env[k];

let lake: Awaited<ReturnType<typeof withLake>>;
let store: ObjectStore;

type Outcome = { code: number; stdout: string; stderr: string; ms: number };
async function fsckCli(...args: string[]): Promise<Outcome> {
  const started = performance.now();
  try {
    const r = await run(process.execPath, ["--import", tsx, cli, "fsck", ...args, "--data-dir", lake.dataDir], { timeout: 120_000, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof x.code !== "number") throw e;
    return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "", ms: performance.now() - started };
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

before(async () => {
  lake = await withLake();
  store = await openStore(lake.storeConfig);
  for (let i = 0; i < 4; i++) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(80, { prefix: `fsck${i}`, seed: i + 1 }));
    await lake.catalog.covering(DATASET, r.max_offset!, 20_000);
  }
  await settled(lake);
});
after(async () => {
  await lake?.cleanup();
});

test("a clean lake: exit 0, every dataset summarised, the catalog equals a replay of the log", async () => {
  const r = await fsckCli();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^fsck: commit log through sequence \d+ \(replayed through \d+\); \d+ dataset\(s\), \d+ version\(s\) \(0 expired\)$/m);
  assert.match(r.stdout, /^ {2}domain_events: \d+ version\(s\), 0 expired; \d+ live file\(s\)/m);
  assert.match(r.stdout, /^catalog: equals a replay of the commit log through sequence \d+ \(canonical dump\)$/m);
  assert.doesNotMatch(r.stdout, /PROBLEM|orphan /);
  const versions = Number(/(\d+) version\(s\) \(0 expired\)$/m.exec(r.stdout)![1]);
  assert.match(
    r.stdout,
    new RegExp(
      `^iceberg: ${versions} snapshot\\(s\\) of live versions checked against the log \\(table metadata, manifest list, [1-9]\\d* manifest\\(s\\)\\)$`,
      "m",
    ),
    "every version's Iceberg snapshot is checked",
  );
  assert.match(r.stdout, /fsck: clean, no problems/);
  console.log(`# fsck of a clean lake (${/(\d+) version\(s\) \(/.exec(r.stdout)![1]} versions) took ${Math.round(r.ms)} ms through the CLI`);
});

let missing: string;
let corrupted: string;
let manifest: string;
let orphan: string;
let latest: number;

test("a deleted file, corrupted bytes, a tampered manifest: exit 1, each reported with its key; an orphan is listed", async () => {
  const v = await lake.catalog.version(DATASET, "latest");
  latest = v.version;
  const first = await lake.catalog.version(DATASET, 1);
  assert.ok(v.files.length >= 2, "the latest version has several files");
  missing = v.files.find((f) => f.added_version === latest)!.key; // the latest version's own file
  corrupted = first.files[0]!.key; // added by version 1, still referenced by every later one
  manifest = (await lake.catalog.version(DATASET, latest - 1)).manifest.key;
  orphan = `datasets/${DATASET}/data/${first.files[0]!.partition}/crashed-write-000.parquet`;

  await store.delete(missing);
  const bytes = await store.get(corrupted);
  const flipped = new Uint8Array(bytes);
  const mid = Math.floor(flipped.length / 2);
  flipped[mid] = flipped[mid]! ^ 0xff;
  await store.put(corrupted, flipped);
  await store.put(manifest, new TextEncoder().encode(`${new TextDecoder().decode(await store.get(manifest))} `));
  await store.put(orphan, new TextEncoder().encode("left behind by a crashed write"));

  const r = await fsckCli();
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const missingBy = latest;
  assert.match(
    r.stdout,
    new RegExp(`^PROBLEM missing_file domain_events v${missingBy} ${escape(missing)}: a file of version ${missingBy}.* is missing from the store$`, "m"),
  );
  assert.match(
    r.stdout,
    new RegExp(
      `^PROBLEM hash_mismatch domain_events v1 ${escape(corrupted)}: a file of version 1 \\(and later ones\\) has sha256 \\w+…, the log records \\w+…$`,
      "m",
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(
      `^PROBLEM manifest_mismatch domain_events v${latest - 1} ${escape(manifest)}: the manifest of version ${latest - 1} has \\d+ bytes, the log records \\d+$`,
      "m",
    ),
  );
  assert.match(r.stdout, new RegExp(`^orphan domain_events ${escape(orphan)} \\(\\d+ B, .* old\\): referenced by no version`, "m"));
  assert.equal((r.stdout.match(/^PROBLEM /gm) ?? []).length, 3, "exactly these three problems");
  assert.match(r.stdout, /^fsck: 3 problem\(s\)$/m);
  assert.match(r.stderr, /lake: fsck found 3 problem\(s\)/);
  assert.match(r.stdout, /catalog: equals a replay/, "the catalog itself is still right");
});

test("--no-hash checks sizes only: the same-size corruption goes unseen, the rest does not; --dataset scopes the check", async () => {
  const quick = await fsckCli("--no-hash");
  assert.equal(quick.code, 1);
  assert.match(quick.stdout, /\(sizes only\)/);
  assert.match(quick.stdout, new RegExp(`PROBLEM missing_file domain_events v\\d+ ${escape(missing)}`));
  assert.doesNotMatch(quick.stdout, /hash_mismatch/);
  assert.match(quick.stdout, /PROBLEM manifest_mismatch/, "the manifest changed size");

  const other = await fsckCli("--dataset", "daily_user_totals");
  assert.equal(other.code, 0, other.stdout + other.stderr);
  assert.doesNotMatch(other.stdout, /domain_events/);
});

test("a catalog that no longer equals the log: its rows differ from a replay, reported with the key; rebuild repairs it", async () => {
  const kept = (await lake.catalog.version(DATASET, latest)).files[0]!.key;
  // Tamper with the live catalog's database behind its back (another connection, as a bug would).
  const db = new Projection(join(lake.dataDir, "catalog", "catalog.db"));
  try {
    db.db.prepare("UPDATE files SET bytes = bytes + 1 WHERE dataset = ? AND key = ?").run(DATASET, kept);
  } finally {
    db.close();
  }
  const r = await fsckCli();
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^catalog: DIFFERS from a replay of the commit log through sequence \d+/m);
  assert.match(
    r.stdout,
    new RegExp(
      `^PROBLEM replay_mismatch \\*: table files differs from a replay of the log through seq \\d+: 1 row\\(s\\) only in the live catalog \\(.*${escape(kept)}`,
      "m",
    ),
  );
  assert.match(r.stdout, new RegExp(`^PROBLEM catalog_mismatch domain_events v\\d+ ${escape(kept)}: file differs from the log`, "m"));

  await lake.catalog.rebuild();
  const after = await fsckCli();
  assert.match(after.stdout, /catalog: equals a replay/);
  assert.doesNotMatch(after.stdout, /replay_mismatch|catalog_mismatch/);
  assert.equal((after.stdout.match(/^PROBLEM /gm) ?? []).length, 3, "the store's problems remain");
});

/** The manifests a manifest list names, read with an Avro reader we did not write. */
async function manifestsOf(list: string): Promise<string[]> {
  const bytes = await store.get(list);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const { metadata, syncMarker } = await avroMetadata(reader);
  return ((await avroRead({ reader, metadata, syncMarker })) as { manifest_path: string }[]).map((m) => store.keyOfUri(m.manifest_path));
}

test(
  "a deleted Iceberg manifest and a manifest list replaced by another version's: each reported with its kind, version and key",
  { timeout: 300_000 },
  async () => {
    assert.ok(latest >= 3, `versions committed: ${latest}`);
    const newest = (await lake.catalog.version(DATASET, latest)).iceberg!;
    const parent = (await lake.catalog.version(DATASET, latest - 1)).iceberg!;
    // The manifest only the latest version's snapshot names (the files it added).
    const inParent = new Set(await manifestsOf(parent.manifest_list));
    const own = (await manifestsOf(newest.manifest_list)).filter((m) => !inParent.has(m));
    assert.equal(own.length, 1, `the latest version adds one manifest: ${own.join(", ")}`);
    await store.delete(own[0]!);
    // Version 2's manifest list replaced by version 1's: a snapshot one version behind.
    const second = (await lake.catalog.version(DATASET, 2)).iceberg!;
    const first = (await lake.catalog.version(DATASET, 1)).iceberg!;
    await store.put(second.manifest_list, await store.get(first.manifest_list));

    const r = await fsckCli();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^PROBLEM missing_iceberg domain_events v${latest} ${escape(own[0]!)}: an Iceberg manifest of version ${latest}'s snapshot is missing from the store$`,
        "m",
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(
        `^PROBLEM iceberg_mismatch domain_events v2 ${escape(second.manifest_list)}: the Iceberg manifest list of version 2 is the list of snapshot 1$`,
        "m",
      ),
    );
    assert.equal((r.stdout.match(/^PROBLEM (missing_iceberg|iceberg_mismatch) /gm) ?? []).length, 2, "exactly these two Iceberg problems");
    assert.equal((r.stdout.match(/^PROBLEM /gm) ?? []).length, 5, `and the store's three earlier problems:\n${r.stdout}`);
  },
);
