// Reads a consumer can check (issue 13, freshness and monotonic reads), on a real nats-server and a real
// catalog: every read carries the log position it reflects (Lake-Log-Position), a version read carries
// its freshness measured against its sources, and a catalog that starts behind the commit log holds reads
// (503, retryable) until it has caught up, never answering from an older position.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type CatalogFreshness, LOG_POSITION_HEADER, type VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { version as versionCommitted } from "../../../shared/messaging/test/fixtures.ts";
import { Catalog } from "../src/catalog.ts";
import { startHttp } from "../src/http/routes.ts";
import { logLastSeq } from "../src/nats/tail.ts";

const quiet: Logger = { info() {}, warn() {}, error() {}, child: () => quiet };
let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
const stops: (() => Promise<void> | void)[] = [];

async function serve(dbName: string, afterStart?: () => void): Promise<{ catalog: Catalog; base: string }> {
  const catalog = new Catalog(nc, join(dir, dbName), quiet);
  await catalog.start();
  afterStart?.();
  const http = await startHttp({ catalog, host: "127.0.0.1", port: 0, maxWaitMs: 1000, log: quiet });
  stops.push(
    () => {
      http.server.close();
    },
    () => catalog.stop(),
  );
  return { catalog, base: `http://127.0.0.1:${http.port}` };
}

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "catalog-read-bounds-test", auth: {} });
  dir = await mkdtemp(join(tmpdir(), "lake-catalog-read-bounds-"));
});

after(async () => {
  for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => {});
  await nc?.close().catch(() => {});
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const enc = new TextEncoder();
/** Stores an event on `subject` of EVENTS; its sequence. */
async function event(subject: string): Promise<number> {
  return (await jetstream(nc).publish(subject, enc.encode("{}"))).seq;
}

async function commit(v: VersionCommitted, expectedLastSeq: number): Promise<number> {
  return appendLogRecord(jetstream(nc), v.dataset, { kind: "VersionCommitted", body: v }, { expectedLastSeq });
}

async function getJson<T>(url: string): Promise<{ status: number; position: number | undefined; body: T; headers: Headers }> {
  const res = await fetch(url);
  const raw = res.headers.get(LOG_POSITION_HEADER);
  return { status: res.status, position: raw === null ? undefined : Number(raw), body: (await res.json()) as T, headers: res.headers };
}

type VersionBody = { version: number; projected_through_seq?: number; freshness: CatalogFreshness };

describe("log position and freshness", () => {
  let base: string;
  let catalog: Catalog;
  const seqs: number[] = [];
  let ordersHead = 0;

  before(async () => {
    ({ catalog, base } = await serve("catalog-a.db"));
    for (let i = 0; i < 3; i++) seqs.push(await event("lake.events.orders"));
    ordersHead = await commit(
      { ...versionCommitted("orders", 1), source: { stream: "EVENTS", subject: "lake.events.orders", first_seq: seqs[0]!, last_seq: seqs[2]! } },
      0,
    );
    await waitFor("version 1 projected", () => (catalog.projection.lastSeq >= ordersHead ? true : undefined), { timeoutMs: 10_000 });
  });

  test("every read says the log position it reflects, the body's where it has one", async () => {
    const position = catalog.projection.lastSeq;
    for (const path of [
      "/v1/datasets",
      "/v1/datasets/orders",
      "/v1/datasets/orders/versions",
      "/v1/datasets/orders/versions/latest",
      "/v1/datasets/orders/tags",
      "/v1/datasets/orders/audit",
    ]) {
      const r = await getJson<{ projected_through_seq?: number }>(base + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.position, position, `${path}: ${LOG_POSITION_HEADER}`);
      if (r.body.projected_through_seq !== undefined) assert.equal(r.body.projected_through_seq, r.position, `${path}: body and header agree`);
    }
    // Answers that are refusals reflect a position too (the version is unknown as of it).
    const missing = await getJson(`${base}/v1/datasets/orders/versions/99`);
    assert.equal(missing.status, 404);
    assert.equal(missing.position, position);
    const covering = await getJson<VersionBody & { consistency: string }>(`${base}/v1/datasets/orders/covering?offset=${seqs[2]}`);
    assert.equal(covering.body.consistency, "covering");
    assert.equal(covering.position, position);
  });

  test("a version holding all of its source is 0 ms stale; a record after it makes it stale by that record's age", async () => {
    const fresh = await getJson<VersionBody>(`${base}/v1/datasets/orders/versions/latest`);
    assert.equal(fresh.body.freshness.staleness_ms, 0, JSON.stringify(fresh.body.freshness));
    assert.equal(fresh.body.freshness.version, 1);
    assert.equal(fresh.body.freshness.source_position, seqs[2]);
    assert.deepEqual(fresh.body.freshness.sources, [{ stream: "EVENTS", subject: "lake.events.orders", through: seqs[2], oldest_unreflected: null }]);
    // Another domain's event is not this dataset's source.
    await event("lake.events.other");
    const sentAt = Date.now();
    const late = await event("lake.events.orders");
    const stale = await waitFor(
      "the version's freshness to see the record after it",
      async () => {
        const r = await getJson<VersionBody>(`${base}/v1/datasets/orders/versions/latest`);
        return (r.body.freshness.staleness_ms ?? 0) >= 300 ? r.body.freshness : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(stale.sources[0]!.oldest_unreflected!.seq, late, "the oldest record the version lacks is named");
    const storedAt = Date.parse(stale.sources[0]!.oldest_unreflected!.at);
    assert.ok(Math.abs(storedAt - sentAt) < 2000, "its time is when the stream stored it");
    assert.ok(stale.staleness_ms! <= Date.parse(stale.measured_at) - storedAt + 1, "staleness is measured from that record");
    // A version that covers it is fresh again; the old one stays stale.
    ordersHead = await commit(
      { ...versionCommitted("orders", 2), source: { stream: "EVENTS", subject: "lake.events.orders", first_seq: seqs[2]! + 1, last_seq: late } },
      ordersHead,
    );
    await waitFor("version 2 projected", () => (catalog.projection.lastSeq >= ordersHead ? true : undefined), { timeoutMs: 10_000 });
    assert.equal((await getJson<VersionBody>(`${base}/v1/datasets/orders/versions/latest`)).body.freshness.staleness_ms, 0);
    assert.ok((await getJson<VersionBody>(`${base}/v1/datasets/orders/versions/1`)).body.freshness.staleness_ms! >= 300);
  });

  test("a derived version is as stale as its stalest source: its window stream and each upstream position of its lineage", async () => {
    const head = await commit(
      {
        ...versionCommitted("totals", 1),
        source: { stream: "WINDOWS", subject: "lake.windows.totals", first_seq: 0, last_seq: 0 },
        lineage: {
          base_version: null,
          reverted_version: null,
          upstream: [{ dataset: "orders", stream: "EVENTS", subject: "lake.events.orders", through_seq: seqs[1]! }],
          watermark: Date.UTC(2026, 5, 1),
        },
      },
      0,
    );
    await waitFor("the derived version projected", () => (catalog.projection.lastSeq >= head ? true : undefined), { timeoutMs: 10_000 });
    const f = (await getJson<VersionBody>(`${base}/v1/datasets/totals/versions/latest`)).body.freshness;
    assert.equal(f.through_seq, seqs[1]);
    assert.equal(f.watermark, new Date(Date.UTC(2026, 5, 1)).toISOString());
    assert.equal(f.sources.length, 2);
    assert.equal(f.sources[0]!.oldest_unreflected, null, "nothing on its window subject");
    assert.equal(f.sources[1]!.oldest_unreflected!.seq, seqs[2], "the first source event after its upstream position");
    assert.ok(f.staleness_ms! > 0);
  });

  test("a version naming a stream the catalog does not measure has an unknown staleness, and says why", async () => {
    const head = await commit({ ...versionCommitted("forged", 1), source: { stream: "SECRETS", subject: "secrets.all", first_seq: 1, last_seq: 1 } }, 0);
    await waitFor("projected", () => (catalog.projection.lastSeq >= head ? true : undefined), { timeoutMs: 10_000 });
    const f = (await getJson<VersionBody>(`${base}/v1/datasets/forged/versions/latest`)).body.freshness;
    assert.equal(f.staleness_ms, null);
    assert.match(f.unmeasured!, /SECRETS/);
  });
});

test(
  "a catalog started behind the commit log holds reads (503, retryable) until it has caught up, and never answers from before",
  { timeout: 120_000 },
  async () => {
    // A long log (void records on a subject of their own advance the position like any other), so the
    // replay into an empty database takes a while (longer than the HTTP server takes to start listening,
    // even on an idle machine: with 20,000 records the catalog had sometimes caught up before the first read).
    const js = jetstream(nc);
    for (let i = 0; i < 60_000; i += 500)
      await Promise.all(Array.from({ length: 500 }, (_, j) => js.publish("lake.commits.filler", enc.encode(`junk ${i + j}`))));
    const target = await logLastSeq(await jetstreamManager(nc));
    // The catalog's server is paused (SIGSTOP) as soon as the catalog has started, so its replay cannot
    // reach the log's end before the first round of reads: on a fast machine it once caught up while the
    // first round was in flight, and the health probe of that round was already answered as ready.
    let paused = false;
    const { catalog, base } = await serve("catalog-b.db", () => {
      process.kill(nats.pid, "SIGSTOP");
      paused = true;
    });
    let held = 0;
    let served = 0;
    let notReady = 0;
    let rounds = 0;
    try {
      await waitFor(
        "the catalog to catch up and serve",
        async () => {
          const [read, list, health] = await Promise.all([
            getJson<{ error?: string; reason?: string; retryable?: boolean; catching_up?: { target_seq: number } }>(
              `${base}/v1/datasets/orders/versions/latest`,
            ),
            getJson<{ projected_through_seq?: number }>(`${base}/v1/datasets`),
            getJson<{ ready: boolean; projected_through_seq: number; catching_up: unknown }>(`${base}/healthz?ready`),
          ]);
          if (++rounds === 1) {
            assert.deepEqual([read.status, list.status, health.status], [503, 503, 503], "with the server paused, the catalog is still replaying");
            process.kill(nats.pid, "SIGCONT");
            paused = false;
          }
          for (const r of [read, list]) {
            if (r.status === 503) {
              held++;
              assert.equal((r.body as { error: string }).error, "unavailable");
              assert.equal((r.body as { reason: string }).reason, "catching_up");
              assert.equal((r.body as { retryable: boolean }).retryable, true);
              assert.equal(r.headers.get("retry-after"), "1");
              assert.equal((r.body as { catching_up: { target_seq: number } }).catching_up.target_seq, target);
            } else {
              served++;
              assert.equal(r.status, 200, JSON.stringify(r.body));
              assert.ok(r.position! >= target, `an answer at position ${r.position}, before the log's end ${target} at start`);
            }
          }
          if (health.status === 503) {
            notReady++;
            assert.equal(health.body.ready, false);
            assert.ok(health.body.catching_up);
          }
          return health.status === 200 && read.status === 200 && list.status === 200 ? health.body : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 5 },
      );
    } finally {
      if (paused) process.kill(nats.pid, "SIGCONT");
    }
    assert.ok(held > 0 && notReady > 0, `the catalog was seen holding reads (${held} held, ${notReady} not ready, ${served} served)`);
    assert.equal(catalog.catchingUp(), undefined);
    // Without ?ready, /healthz is a liveness probe: 200 throughout (here: caught up).
    assert.equal((await getJson<{ ready: boolean }>(`${base}/healthz`)).body.ready, true);
  },
);
