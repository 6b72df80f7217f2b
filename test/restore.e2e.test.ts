// The store describes itself: after every stream is lost, `lake restore --from-store` rebuilds the
// commit log from the store alone (version manifests, Iceberg snapshots, the catalog's table states),
// the catalog rebuilt from it equals the one before for every retained version (files, verdicts, tags,
// current, expiries), and committing continues after the restored versions.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstreamManager } from "@nats-io/jetstream";

import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { streamSettingsFromEnv } from "@lake/messaging";
import { SchemaRegistry, setupNats } from "@lake/registry";
import { openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { covering, settled, withLake } from "./helpers.ts";

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const T = { timeout: 600_000 };

let lake: Awaited<ReturnType<typeof withLake>>;
before(async () => {
  lake = await withLake({ without: ["aggregator"] });
});
after(async () => {
  await lake?.cleanup();
});

const lakeCli = (args: string[]) =>
  run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 300_000, env: { ...process.env, LAKE_ACTOR: "restore-test" } });

/** The value without commit-log positions (`*_seq` keys): a restored log numbers its records afresh. */
function withoutPositions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPositions);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !k.endsWith("_seq") && k !== "seq")
      .map(([k, x]) => [k, withoutPositions(x)]),
  );
}

/** What a catalog says about every dataset, without the commit-log positions (a restored log has its own). */
async function catalogView(catalog: CatalogClient, catalogUrl: string) {
  const out: Record<string, unknown> = {};
  for (const ds of (await catalog.datasets()).datasets) {
    const versions: unknown[] = [];
    const expired: number[] = [];
    for (let after = 0, pages = 0; ; pages++) {
      assert.ok(pages < 10_000, "at most 10,000 pages of versions");
      const p = await catalog.versions(ds.name, after, 1000);
      for (const v of p.versions) {
        if (v.expired) {
          expired.push(v.version);
          continue;
        }
        const full = await catalog.version(ds.name, v.version);
        // freshness is measured at read time (and against streams a restore starts anew): not the version's own.
        const { consistency: _k, freshness: _f, ...rest } = full;
        const res = await fetch(new URL(`/v1/datasets/${ds.name}/versions/${v.version}/quality`, catalogUrl));
        const quality = res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
        versions.push(withoutPositions({ ...rest, verdict: quality ?? null }));
      }
      if (p.next_after === null) break;
      assert.ok(p.next_after > after);
      after = p.next_after;
    }
    const tags = (await catalog.tags(ds.name)).tags.map((t) => [t.tag, t.version]).sort();
    const d = (await catalog.dataset(ds.name)).dataset;
    out[ds.name] = { latest: d.latest_version, current: d.current_version, policy: d.policy, tags, expired, versions };
  }
  return out;
}

test("every stream lost: restore from the store gives back the same catalog for every retained version, and committing continues", T, async () => {
  const catalog = lake.catalog;
  // A contract version registered at run time: the registry is lost with the streams, its copy in the store isn't.
  const v1 = JSON.parse(readFileSync(join(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as { fields: unknown[] };
  const v2 = { ...v1, fields: [...v1.fields, { name: "coupon", type: ["null", "string"], default: null }] };
  const adminNc = await lake.connect();
  let v2Fingerprint: string;
  try {
    const reg = await SchemaRegistry.open(adminNc, { seed: false });
    v2Fingerprint = (await reg.register(v2, "restore-test", "coupon codes")).fingerprint;
    reg.close();
  } finally {
    await adminNc.close();
  }
  let offset = 0;
  for (let i = 0; i < 6; i++) {
    const r = await sendHttp(lake.producer, "domain_events", sampleEvents(60, { prefix: `rs${i}`, seed: i + 1 }));
    assert.equal(r.status, 200);
    offset = Math.max(offset, r.max_offset ?? 0);
    await covering(lake, offset);
  }
  const tagged = (await catalog.version("domain_events", "latest")).version - 2;
  await catalog.tag("domain_events", "before-loss", tagged, "restore-test", "a tag the restore must keep");
  await catalog.expire("domain_events", { keepLast: 2 }, "restore-test", "some versions expire before the loss");
  await settled(lake);

  // The catalog has written each dataset's table state at its last record.
  const store = await openStore(lake.storeConfig);
  const datasets = (await catalog.datasets()).datasets;
  await waitFor(
    "the catalog's table states",
    async () => {
      for (const ds of datasets) {
        const d = (await catalog.dataset(ds.name)).dataset;
        const key = `datasets/${ds.name}/metadata/c${String(d.last_record_seq).padStart(12, "0")}.metadata.json`;
        if (!(await store.head(key))) return undefined;
      }
      return true;
    },
    { timeoutMs: 30_000 },
  );
  const before = await catalogView(catalog, lake.catalogUrl);
  assert.ok(((before.domain_events as { expired: number[] }).expired.length ?? 0) > 0, "some versions expired before the loss");

  // The loss: every service stops, every stream is deleted and made again empty, the catalog's database goes.
  for (const s of lake.services.values()) await s.stop();
  const nc = await lake.connect();
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    assert.ok(names.length > 0);
    for (const n of names) await jsm.streams.delete(n);
    // What `lake up` does on an empty NATS: the streams, and the repo's contracts in the registry.
    await setupNats(nc, streamSettingsFromEnv(process.env), 60_000, () => {});
  } finally {
    await nc.close();
  }
  // The catalog's and quality's databases are projections of the lost log: they go too (docs/iceberg.md).
  for (const dir of ["catalog", "quality"].map((d) => join(lake.dataDir, d)))
    for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });

  const dry = await lakeCli(["restore", "--from-store", "--dry-run"]);
  assert.match(dry.stdout, /restore: dry run, nothing appended/);
  const out = await lakeCli(["restore", "--from-store"]);
  assert.match(out.stdout, /restore domain_events: appended \d+ record\(s\)/);
  assert.match(out.stdout, /restore contracts domain_events: registered version\(s\) 2 again from the store/);
  const check = await lake.connect();
  try {
    const reg = await SchemaRegistry.open(check, { seed: false });
    assert.deepEqual(
      reg.versions("domain_events").map((v) => v.version),
      [1, 2],
    );
    assert.equal(reg.versions("domain_events")[1]!.fingerprint, v2Fingerprint, "the same contract, byte for byte in canonical form");
    reg.close();
  } finally {
    await check.close();
  }
  assert.doesNotMatch(out.stdout, /warning/, out.stdout);
  // A second restore is refused: the log is no longer empty.
  await assert.rejects(lakeCli(["restore", "--from-store"]), (e: { stderr: string }) => /its commit log is not empty/.test(e.stderr));

  await lake.startService("catalog");
  const restarted = new CatalogClient(lake.catalogUrl);
  await waitFor("the catalog projects the restored log", async () => ((await restarted.datasets()).datasets.length === datasets.length ? true : undefined), {
    timeoutMs: 60_000,
  });
  assert.deepEqual(await catalogView(restarted, lake.catalogUrl), before);

  // Committing continues: new events land in the version after the restored ones, each once.
  await lake.startService("ingest");
  await lake.startService("quality");
  for (const ds of datasets) if (ds.name !== "daily_user_totals") await lake.startCommitter(ds.name);
  const latestBefore = (before.domain_events as { latest: number }).latest;
  const r = await sendHttp(lake.producer, "domain_events", sampleEvents(25, { prefix: "after-restore", seed: 99 }));
  assert.equal(r.status, 200);
  const newOffsets = r.results.map((x) => (x as { offset?: number }).offset ?? 0);
  assert.ok(Math.min(...newOffsets) > offset, `new events get offsets after the restored ones (${Math.min(...newOffsets)} > ${offset})`);
  const v = await covering(lake, Math.max(...newOffsets));
  assert.equal(v.version, latestBefore + 1);
  assert.equal(v.total_rows, (await restarted.version("domain_events", latestBefore)).total_rows + 25);
});
