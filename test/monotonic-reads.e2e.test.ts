// Monotonic reads, always (issue 13): readers polling `latest`, `current` and the dataset list back to back
// while commits flow never see a log position, a version or a row count go backwards, through repeated
// rebuilds, a catalog kill -9 + restart (once on its database, once with it deleted) and a nats-server
// kill -9 + restart. Checked twice: on the raw HTTP answers (a catalog that started behind holds reads
// with 503 until it has caught up) and through a @lake/client session (which would refuse going back).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";

import { CatalogClient, type CatalogDataset, isReadWentBack, isServiceUnreachable, sampleEvents, sendHttp } from "@lake/client";
import { LOG_POSITION_HEADER } from "@lake/contracts";
import { waitFor } from "@lake/testing";

import { covering, DATASET, padCommitLog, settled, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
  // A longer log (void records on a subject of their own; every replay reads them), so a catalog
  // replaying into an empty database is behind for a while: long enough for a reader to notice.
  const nc = await lake.connect();
  try {
    const js = jetstream(nc);
    const enc = new TextEncoder();
    for (let i = 0; i < 10_000; i += 500)
      await Promise.all(Array.from({ length: 500 }, (_, j) => js.publish("lake.commits.filler", enc.encode(`junk ${i + j}`))));
  } finally {
    await nc.close();
  }
  const first = await sendHttp(lake.producer, DATASET, sampleEvents(50, { prefix: "m-first", seed: 1 }));
  await covering(lake, first.max_offset!);
});
after(async () => {
  await lake?.cleanup();
});

/** One reading: where the answers stood. */
interface Reading {
  source: string;
  position: number;
  latest: number;
  latestRows: number;
  current: number;
  currentRows: number | undefined;
  /** Every dataset's latest version in the list. */
  listed: Map<string, number>;
}

/** The first place where a reading is behind the one before it, or undefined. */
function wentBack(a: Reading, b: Reading): string | undefined {
  if (b.position < a.position) return `log position ${a.position} → ${b.position}`;
  if (b.latest < a.latest) return `latest version ${a.latest} → ${b.latest}`;
  if (b.latestRows < a.latestRows) return `latest rows ${a.latestRows} → ${b.latestRows}`;
  if (b.current < a.current) return `current version ${a.current} → ${b.current}`;
  if (a.currentRows !== undefined && b.currentRows !== undefined && b.currentRows < a.currentRows) return `current rows ${a.currentRows} → ${b.currentRows}`;
  for (const [name, v] of a.listed) if ((b.listed.get(name) ?? 0) < v) return `listed latest version of ${name} ${v} → ${b.listed.get(name)}`;
  return undefined;
}

const listed = (ds: readonly CatalogDataset[]) => new Map(ds.map((d) => [d.name, d.latest_version]));

/**
 * Reads the list, latest and current back to back over raw HTTP; undefined if any answer is not a 200.
 * Anything but a 200 or a 503 (held) is a problem: a catalog that lost what it had served answers 404.
 */
async function rawReading(base: string, counts: { held: number; unreachable: number }, problems: string[]): Promise<Reading | undefined> {
  const get = async (path: string) => {
    let res: Response;
    try {
      res = await fetch(new URL(path, base));
    } catch {
      counts.unreachable++;
      return undefined;
    }
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === 503) {
      counts.held++;
      return undefined;
    }
    const position = Number(res.headers.get(LOG_POSITION_HEADER));
    if (res.status !== 200 || !Number.isSafeInteger(position)) {
      problems.push(`raw: ${path} answered ${res.status} at position ${position}: ${JSON.stringify(body).slice(0, 200)}`);
      return undefined;
    }
    return { body, position };
  };
  const list = await get("/v1/datasets");
  if (!list) return undefined;
  const latest = await get(`/v1/datasets/${DATASET}/versions/latest?files=reference`);
  if (!latest) return undefined;
  const current = await get(`/v1/datasets/${DATASET}/versions/current?files=reference`);
  if (!current) return undefined;
  const datasets = list.body.datasets as CatalogDataset[];
  // A catalog that lost what it served lists no such dataset: its latest is then compared as 0.
  const d = datasets.find((x) => x.name === DATASET);
  // Each answer is a reading of its own, in the order they were given.
  return {
    source: "raw",
    position: current.position,
    latest: Math.max(d?.latest_version ?? 0, latest.body.version as number),
    latestRows: latest.body.total_rows as number,
    current: current.body.version as number,
    currentRows: current.body.total_rows as number,
    listed: listed(datasets),
  };
}

test("readers never see the lake go back through rebuilds, catalog kill -9 + restarts and a nats-server restart", { timeout: 240_000 }, async () => {
  const started = Date.now();
  let flowing = true;
  let sent = 0;
  let maxOffset = 0;
  const flow = (async () => {
    for (let i = 0; flowing && i < 100_000; i++) {
      try {
        const r = await sendHttp(lake.producer, DATASET, sampleEvents(40, { prefix: `m${i}`, seed: 1000 + i }));
        if (r.status === 200) {
          maxOffset = Math.max(maxOffset, r.max_offset ?? 0);
          sent++;
        }
      } catch {
        // NATS restarting: ingest can't take events for a moment; the next send tries again.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();

  // Raw HTTP: every answer is checked against the one before (position, versions, rows).
  const counts = { held: 0, unreachable: 0 };
  const raw: Reading[] = [];
  const problems: string[] = [];
  let reading = true;
  const rawReader = (async () => {
    for (let i = 0; reading && i < 1_000_000; i++) {
      const r = await rawReading(lake.catalogUrl, counts, problems);
      if (!r) {
        await new Promise((res) => setTimeout(res, 10));
        continue;
      }
      const prev = raw.at(-1);
      const back = prev && wentBack(prev, r);
      if (back) problems.push(`raw read ${raw.length}: ${back}`);
      raw.push(r);
    }
  })();

  // A client session: it refuses (ReadWentBackError) any answer older than one it was given.
  const client = new CatalogClient(lake.catalogUrl, undefined, { retryMs: 30_000 });
  let sessionReads = 0;
  const sessionReader = (async () => {
    for (let i = 0; reading && i < 1_000_000; i++) {
      try {
        const list = await client.datasets();
        const latest = await client.version(DATASET, "latest", { files: "reference" });
        const current = await client.version(DATASET, "current", { files: "reference" });
        // Read in this order, each answer is at least as new as the one before.
        assert.ok(latest.version >= (list.datasets.find((d) => d.name === DATASET)?.latest_version ?? 0));
        assert.ok(current.version >= 1);
        sessionReads++;
      } catch (e) {
        if (isReadWentBack(e)) problems.push(`session: ${e.message}`);
        else if (!isServiceUnreachable(e)) throw e;
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  })();

  /** Waits until a version newer than the latest now lands and the readers have read it. */
  const progress = async (what: string) => {
    const seen = raw.length;
    const before = (await client.version(DATASET, "latest", { files: "reference" })).version;
    await waitFor(
      `a new version after ${what}, read by the readers`,
      async () => ((await client.version(DATASET, "latest", { files: "reference" })).version > before && raw.length > seen + 2 ? true : undefined),
      { timeoutMs: 60_000 },
    );
  };

  const faults: string[] = [];
  try {
    await progress("the start");
    for (let i = 0; i < 2; i++) {
      assert.equal((await client.rebuild()).rebuilt, true);
      faults.push("rebuild");
      await progress(`rebuild ${i + 1}`);
    }
    const catalog = () => lake.services.get("catalog")!;
    await catalog().kill9();
    await lake.startService("catalog");
    faults.push("catalog kill -9 + restart");
    await progress("the catalog's restart");
    // A longer log to replay (void records on a subject of their own, which every replay reads), so the
    // catch-up into an empty database lasts long enough for the readers to meet it however fast the
    // machine is.
    await padCommitLog(lake, 30_000);
    const heldBefore = counts.held;
    await catalog().kill9();
    rmSync(join(lake.dataDir, "catalog"), { recursive: true, force: true });
    await lake.startService("catalog");
    faults.push("catalog kill -9 + restart on a deleted database");
    await progress("the catalog's restart on an empty database");
    assert.ok(counts.held > heldBefore, "the catalog replaying into an empty database held reads (503) while it caught up");
    await lake.nats!.kill9();
    await lake.nats!.restart();
    faults.push("nats-server kill -9 + restart");
    await progress("the nats-server restart");
  } finally {
    flowing = false;
    await flow;
    reading = false;
    await Promise.all([rawReader, sessionReader]);
  }
  await covering(lake, maxOffset);
  await settled(lake);
  assert.deepEqual(problems.slice(0, 5), [], `nothing went back (${problems.length} problems)`);
  assert.ok(sent > 10 && raw.length > 50 && sessionReads > 20, `commits flowed (${sent} sends) and readers read (${raw.length} raw, ${sessionReads} session)`);
  assert.equal(faults.length, 5);
  // The last raw reading reflects the faults' aftermath: positions grew through all of them.
  assert.ok(raw.at(-1)!.position > raw[0]!.position);
  console.log(
    `monotonic reads: ${raw.length} raw readings (${counts.held} held 503s, ${counts.unreachable} unreachable), ${sessionReads} session readings, ${sent} sends, ${faults.length} faults, ${Math.round((Date.now() - started) / 1000)} s`,
  );
});
