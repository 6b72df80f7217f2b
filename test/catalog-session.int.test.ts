// @lake/client's CatalogClient as a session, against a real catalog process on a real nats-server: an
// answer older than one the session was given (a replica behind: here a proxy that answers, for a while,
// what the catalog answered earlier) is asked again and then refused with ReadWentBackError; a catalog
// restarted on a lost database is waited for (503 catching up) and never seen behind; and a read with a
// freshness bound refuses a version staler than it with StaleVersionError.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { serviceEntry } from "@lake/app";
import { CatalogClient, isReadWentBack, isStaleVersion, queryVersion, ReadWentBackError, StaleVersionError, WENT_BACK } from "@lake/client";
import { LOG_POSITION_HEADER, type VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats } from "@lake/messaging";
import { openStore } from "@lake/storage";
import { type NatsServerHandle, type ServiceHandle, spawnService, startNatsServer, waitFor } from "@lake/testing";

let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
let catalog: ServiceHandle;
let catalogUrl: string;
let proxy: StaleProxy;
let head = 0;
const enc = new TextEncoder();

function versionCommitted(version: number, lastSeq: number, firstSeq: number): VersionCommitted {
  return {
    dataset: "orders",
    version,
    parent_version: version - 1,
    write_id: `w${version}`,
    committer_id: "test",
    committed_at: Date.now(),
    schema_name: "orders",
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/orders/manifests/v${version}-w${version}.json`, sha256: "0".repeat(64), bytes: 1 },
    added_files: [],
    removed_files: [],
    source: { stream: "EVENTS", subject: "lake.events.orders", first_seq: firstSeq, last_seq: lastSeq },
    row_count: lastSeq - firstSeq + 1,
    total_rows: lastSeq,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
    policy: "default",
  };
}

/** Events on lake.events.orders, then a version holding them; the version's commit-log sequence. */
async function commitVersion(version: number, events: number): Promise<number> {
  const js = jetstream(nc);
  let first = 0;
  let last = 0;
  for (let i = 0; i < events; i++) {
    last = (await js.publish("lake.events.orders", enc.encode("{}"))).seq;
    first ||= last;
  }
  head = await appendLogRecord(js, "orders", { kind: "VersionCommitted", body: versionCommitted(version, last, first) }, { expectedLastSeq: head });
  const seq = head;
  await waitFor(
    "the catalog to apply the version",
    async () => ((await (await fetch(`${catalogUrl}/healthz`)).json()) as { projected_through_seq: number }).projected_through_seq >= seq || undefined,
    {
      timeoutMs: 20_000,
    },
  );
  return seq;
}

/** What the catalog answered to a request, kept to be answered again later. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function answerOf(path: string): Promise<Answer> {
  const res = await fetch(catalogUrl + path);
  const headers: Record<string, string> = { "content-type": "application/json" };
  const position = res.headers.get(LOG_POSITION_HEADER);
  if (position !== null) headers[LOG_POSITION_HEADER] = position;
  return { status: res.status, headers, body: await res.text() };
}

/**
 * A replica behind, in front of the catalog: while `stale` holds an answer for a path, that (older)
 * answer is given `times` more times; everything else is passed to the catalog.
 */
class StaleProxy {
  stale = new Map<string, { answer: Answer; times: number }>();
  served = 0;
  server!: Server;
  url = "";
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void (async () => {
        const s = this.stale.get(req.url ?? "");
        if (s && s.times > 0) {
          s.times--;
          this.served++;
          res.writeHead(s.answer.status, s.answer.headers).end(s.answer.body);
          return;
        }
        const a = await answerOf(req.url ?? "/");
        res.writeHead(a.status, a.headers).end(a.body);
      })().catch((e: unknown) => res.writeHead(502).end(String(e)));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
}

async function startCatalog(port = "0"): Promise<void> {
  catalog = await spawnService({
    name: "catalog",
    entry: serviceEntry("catalog"),
    env: { NATS_URL: nats.url, LAKE_CATALOG_DIR: join(dir, "catalog"), LAKE_CATALOG_PORT: port, LAKE_METRICS_PORT: "0" },
  });
  catalogUrl = String(catalog.ready.url);
}

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "catalog-session-test", auth: {} });
  dir = await mkdtemp(join(tmpdir(), "lake-catalog-session-"));
  await startCatalog();
  proxy = new StaleProxy();
  await proxy.start();
  await commitVersion(1, 5);
});

after(async () => {
  proxy?.server.close();
  await catalog?.stop();
  await nc?.close().catch(() => {});
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("monotonic reads through a session", () => {
  const latest = "/v1/datasets/orders/versions/latest";

  test("an answer older than one the session was given is asked again, and taken once the replica has caught up", { timeout: 60_000 }, async () => {
    const old = await answerOf(latest);
    await commitVersion(2, 5);
    const client = new CatalogClient(proxy.url, undefined, { retryMs: 5000 });
    const v2 = await client.version("orders", "latest");
    assert.equal(v2.version, 2);
    const position = client.logPosition;
    assert.ok(position > 0, "the session holds the position it was answered");
    proxy.stale.set(latest, { answer: old, times: 3 });
    const before = proxy.served;
    const again = await client.version("orders", "latest");
    assert.equal(proxy.served - before, 3, "the behind answers were given, and not taken");
    assert.equal(again.version, 2);
    assert.ok(client.logPosition >= position);
  });

  test("an answer that stays behind is refused with ReadWentBackError naming what went back, from what to what", { timeout: 60_000 }, async () => {
    const old = await answerOf(latest);
    const oldPosition = Number(old.headers[LOG_POSITION_HEADER]);
    await commitVersion(3, 5);
    const client = new CatalogClient(proxy.url, undefined, { retryMs: 500 });
    await client.version("orders", "latest");
    const position = client.logPosition;
    proxy.stale.set(latest, { answer: old, times: Number.MAX_SAFE_INTEGER });
    try {
      const started = Date.now();
      await assert.rejects(client.version("orders", "latest"), (e: unknown) => {
        assert.ok(isReadWentBack(e) && e instanceof ReadWentBackError);
        assert.equal(e.what, WENT_BACK.position);
        assert.equal(e.from, position);
        assert.equal(e.to, oldPosition);
        assert.ok(e.retriedMs >= 500);
        assert.match(e.message, new RegExp(`/v1/datasets/orders/versions/latest went back in time: log position ${position} → ${oldPosition}`));
        return true;
      });
      assert.ok(Date.now() - started >= 500, "retried for the session's retry time first");
      // An answer without a position (a catalog from before it was stated) is still checked by the versions it names.
      const { [LOG_POSITION_HEADER]: _dropped, ...noPosition } = old.headers;
      proxy.stale.set(latest, { answer: { ...old, headers: noPosition }, times: Number.MAX_SAFE_INTEGER });
      await assert.rejects(
        client.version("orders", "latest"),
        (e: unknown) => e instanceof ReadWentBackError && e.what === WENT_BACK.latest && e.from === 3 && e.to === 2,
      );
    } finally {
      proxy.stale.clear();
    }
    // The dataset list is checked the same way.
    const oldList = await answerOf("/v1/datasets");
    await commitVersion(4, 2);
    await client.datasets();
    proxy.stale.set("/v1/datasets", { answer: oldList, times: Number.MAX_SAFE_INTEGER });
    try {
      await assert.rejects(client.datasets(), ReadWentBackError);
    } finally {
      proxy.stale.clear();
    }
  });
});

describe("freshness bounds", () => {
  test("a version staler than the bound is refused with StaleVersionError; within it, it is served", { timeout: 60_000 }, async () => {
    const client = new CatalogClient(catalogUrl);
    const fresh = await client.version("orders", "latest", { maxStalenessMs: 2000 });
    assert.equal(fresh.freshness?.staleness_ms, 0);
    // An event the lake accepted but no version holds (no committer here).
    await jetstream(nc).publish("lake.events.orders", enc.encode("{}"));
    const stale = await waitFor(
      "the latest version to be 300 ms behind its source",
      async () => {
        const v = await client.version("orders", "latest");
        return (v.freshness?.staleness_ms ?? 0) >= 300 ? v : undefined;
      },
      { timeoutMs: 10_000 },
    );
    await assert.rejects(client.version("orders", "latest", { maxStalenessMs: 200 }), (e: unknown) => {
      assert.ok(isStaleVersion(e) && e instanceof StaleVersionError);
      assert.equal(e.dataset, "orders");
      assert.equal(e.version, stale.version);
      assert.equal(e.maxStalenessMs, 200);
      assert.ok(e.stalenessMs! >= 300);
      assert.match(e.message, new RegExp(`version ${stale.version} of orders is \\d+ ms stale, more than the bound of 200 ms`));
      return true;
    });
    await assert.rejects(client.covering("orders", stale.source.last_offset, 1000, { maxStalenessMs: 200 }), StaleVersionError);
    assert.equal((await client.version("orders", "latest", { maxStalenessMs: 60_000 })).version, stale.version);
    // queryVersion refuses before it reads a file.
    const store = await openStore({ kind: "local", root: join(dir, "store") });
    await assert.rejects(queryVersion(store, stale, "SELECT 1", { maxStalenessMs: 200 }), StaleVersionError);
  });
});

test("a catalog killed and restarted on a lost database is waited for (503 catching up), never seen behind", { timeout: 120_000 }, async () => {
  // A long log, so the replay takes a while.
  const js = jetstream(nc);
  for (let i = 0; i < 20_000; i += 500)
    await Promise.all(Array.from({ length: 500 }, (_, j) => js.publish("lake.commits.filler", enc.encode(`junk ${i + j}`))));
  await commitVersion(5, 1);
  const client = new CatalogClient(catalogUrl, undefined, { retryMs: 60_000 });
  const before = await client.version("orders", "latest");
  const position = client.logPosition;
  const port = new URL(catalogUrl).port;
  await catalog.kill9();
  await rm(join(dir, "catalog"), { recursive: true, force: true });
  await startCatalog(port);
  const raw = await fetch(`${catalogUrl}/v1/datasets/orders/versions/latest`);
  const after = await client.version("orders", "latest");
  assert.ok(client.logPosition >= position, `the session's position ${client.logPosition} ≥ ${position}`);
  assert.equal(after.version, before.version);
  assert.equal(after.total_rows, before.total_rows);
  // The first raw answer after the restart: held, or already at or past what was served before.
  if (raw.status === 503) assert.equal(((await raw.json()) as { reason: string }).reason, "catching_up");
  else assert.ok(Number(raw.headers.get(LOG_POSITION_HEADER)) >= position);
});
