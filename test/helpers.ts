// Shared set-up for the cross-service tests: a whole lake in a temp dir, and the checks every fault
// test ends with.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type LakeHandle, startLake, type StartLakeOptions } from "@lake/app";
import { CatalogClient, queryVersion } from "@lake/client";
import { type AlertChanged, alertChangedCodec, derivedContract, derivedNames } from "@lake/contracts";
import { openStore } from "@lake/storage";

export const DATASET = "domain_events";

/**
 * The Authorization header for a token of the lake (lake.producer.token, lake.operator.token), for
 * requests made by hand; none when the lake runs without authentication.
 */
export function bearer(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * A whole lake in a temp dir, with authentication as `lake up` runs it (NATS users, ingest tokens)
 * unless `auth: false`: tests reach it as a client would (lake.producer / lake.operator for ingest,
 * lake.connect(user) for NATS, admin by default).
 */
export async function withLake(opts: Partial<StartLakeOptions> = {}): Promise<LakeHandle & { catalog: CatalogClient; cleanup(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "lake-test-"));
  const lake = await startLake({ ...opts, dataDir, env: { LAKE_COMMIT_MAX_AGE_MS: "100", LAKE_DERIVED_COMMIT_MAX_AGE_MS: "100", ...opts.env } });
  return Object.assign(lake, {
    catalog: new CatalogClient(lake.catalogUrl),
    async cleanup() {
      await lake.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** All event_ids in a catalog version, read by DuckDB from exactly that version's files. */
export async function eventIdsIn(lake: LakeHandle, version: number | "latest"): Promise<string[]> {
  const catalog = new CatalogClient(lake.catalogUrl);
  const v = await catalog.version(DATASET, version);
  const r = await queryVersion(await openStore(lake.storeConfig), v, `SELECT event_id FROM ${DATASET} ORDER BY event_id`);
  return r.rows.map((row) => row.event_id as string);
}

/** Waits until the catalog has a version covering `offset`, and returns it. */
export async function covering(lake: LakeHandle, offset: number, timeoutMs = 20_000) {
  return new CatalogClient(lake.catalogUrl).covering(DATASET, offset, timeoutMs);
}

/**
 * The invariant checks after any fault: versions 1..N form one chain, every file a version references
 * exists with its recorded size and hash, and the latest version holds each expected id exactly once.
 */
export async function assertExactlyOnce(lake: LakeHandle, expectedIds: ReadonlySet<string>): Promise<void> {
  const catalog = new CatalogClient(lake.catalogUrl);
  const all: { version: number; parent_version: number }[] = [];
  for (let after = 0, pages = 0; ; pages++) {
    assert.ok(pages < 10_000, "at most 10,000 pages of versions");
    const page = await catalog.versions(DATASET, after, 1000);
    all.push(...page.versions);
    if (page.next_after === null) break;
    // Bounded: the cursor must move forward (a catalog that repeats a page fails here, not forever).
    assert.ok(page.next_after > after, `versions cursor moved from ${after} to ${page.next_after}`);
    after = page.next_after;
  }
  all.forEach((v, i) => {
    assert.equal(v.version, i + 1, "versions are 1..N with no gap");
    assert.equal(v.parent_version, i, "each version's parent is the one before it");
  });
  const latest = await catalog.version(DATASET, "latest");
  const store = await openStore(lake.storeConfig);
  for (const f of latest.files) {
    const bytes = await store.get(f.key);
    assert.equal(bytes.byteLength, f.bytes, `file ${f.key} has its recorded size`);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), f.sha256, `file ${f.key} has its recorded hash`);
  }
  const ids = await eventIdsIn(lake, "latest");
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const dupes = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dupes.slice(0, 5), [], "no event appears twice");
  const missing = [...expectedIds].filter((id) => !counts.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `every accepted event is in the dataset (${missing.length} missing)`);
  const extra = [...counts.keys()].filter((id) => !expectedIds.has(id));
  assert.deepEqual(extra.slice(0, 5), [], "nothing that was not accepted is in the dataset");
  assert.equal(latest.total_rows, ids.length, "total_rows matches the rows read");
}

/**
 * Waits until the lake is quiet: every committed version of every dataset has its quality verdict, so
 * nothing more is appended to the commit log unless the test sends something (dumps are then stable).
 */
async function pendingVerdicts(catalog: CatalogClient): Promise<number> {
  let pending = 0;
  for (const ds of (await catalog.datasets()).datasets) {
    for (let after = 0, pages = 0; pages < 10_000; pages++) {
      const page = await catalog.versions(ds.name, after, 1000);
      pending += page.versions.filter((v) => (v as { quality?: string }).quality === "pending").length;
      if (page.next_after === null || page.next_after <= after) break;
      after = page.next_after;
    }
  }
  return pending;
}

/**
 * Whether every derived dataset whose aggregator runs reflects its source domain's committed events
 * (a version covering the source's latest committed offset): window results keep arriving after the
 * source's own versions (provisional totals, position markers), so a dump taken before would change.
 */
async function derivedCaughtUp(lake: LakeHandle, catalog: CatalogClient, leftMs: number): Promise<boolean> {
  const names = new Set((await catalog.datasets()).datasets.map((d) => d.name));
  for (const name of derivedNames()) {
    if (!lake.services.has(`aggregator:${name}`)) continue;
    const source = derivedContract(name).job.source;
    if (!names.has(source)) continue;
    const last = (await catalog.version(source, "latest")).source.last_offset;
    try {
      await catalog.coveringSource(name, last, Math.max(0, Math.min(leftMs, 5000)), { passed: false });
    } catch {
      return false;
    }
  }
  return true;
}

export async function settled(lake: LakeHandle, timeoutMs = 90_000): Promise<void> {
  const catalog = new CatalogClient(lake.catalogUrl);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pending = 0;
    for (const ds of (await catalog.datasets()).datasets) {
      for (let after = 0, pages = 0; ; pages++) {
        if (pages >= 10_000) throw new Error(`more than 10,000 pages of versions of ${ds.name}`);
        const page = await catalog.versions(ds.name, after, 1000);
        pending += page.versions.filter((v) => (v as { quality?: string }).quality === "pending").length;
        if (page.next_after === null) break;
        if (page.next_after <= after) throw new Error(`versions cursor of ${ds.name} did not move forward from ${after}`);
        after = page.next_after;
      }
    }
    if (pending === 0 && (await derivedCaughtUp(lake, catalog, deadline - Date.now()))) {
      // A derived version that just landed waits for its verdict too: look once more.
      if ((await pendingVerdicts(catalog)) === 0) return;
    }
    if (Date.now() > deadline) throw new Error(`lake not settled after ${timeoutMs} ms: ${pending} versions still wait for a verdict`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Collects every AlertChanged record published on `filter` (from the start of the ALERTS stream) into
 * the returned array, as they arrive, until `nc` closes.
 */
export async function collectAlerts(nc: NatsConnection, filter = "lake.alerts.>"): Promise<AlertChanged[]> {
  const seen: AlertChanged[] = [];
  const messages = await (await jetstream(nc).consumers.get("ALERTS", { filter_subjects: filter, deliver_policy: DeliverPolicy.All })).consume();
  void (async () => {
    for await (const m of messages) seen.push(alertChangedCodec.decode(m.data));
  })();
  return seen;
}

/**
 * Runs `fn` with the global fetch also serving file:// URLs (a local store's objects) from disk, with
 * Range requests as an HTTP server would answer them; the real fetch is back afterwards.
 */
export async function withFileFetch<T>(fn: () => Promise<T>): Promise<T> {
  const real = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith("file:")) return real(input, init);
    const bytes = await readFile(fileURLToPath(url));
    if ((init?.method ?? "GET") === "HEAD") return new Response(null, { status: 200, headers: { "content-length": String(bytes.byteLength) } });
    const range = /^bytes=(\d+)-(\d*)$/.exec(new Headers(init?.headers).get("range") ?? "");
    if (!range) return new Response(bytes, { status: 200 });
    const start = Number(range[1]);
    const end = range[2] ? Number(range[2]) + 1 : bytes.byteLength;
    return new Response(bytes.subarray(start, end), { status: 206 });
  };
  try {
    return await fn();
  } finally {
    globalThis.fetch = real;
  }
}

/**
 * Makes the commit log longer with `count` void records on a subject of their own (every replay reads
 * them, none means anything), so a catalog's replay or rebuild takes long enough to overlap what a test
 * does meanwhile.
 */
export async function padCommitLog(lake: LakeHandle, count: number): Promise<void> {
  const nc = await lake.connect();
  try {
    const js = jetstream(nc);
    const enc = new TextEncoder();
    for (let i = 0; i < count; i += 500)
      await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => js.publish("lake.commits.filler", enc.encode(`junk ${i + j}`))));
  } finally {
    await nc.close();
  }
}
