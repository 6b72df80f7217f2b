// CDC: Debezium-style change events for a table keyed by primary key. The committed table reflects
// the latest state per key as of each version; deletes remove the row; a change delivered twice (same
// source position) applies once, even after newer changes to the same key.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { CatalogClient, queryVersion, sendHttp } from "@lake/client";
import { cdcChangeCodec, domainContract, validateChange } from "@lake/contracts";
import { SchemaRegistry } from "@lake/registry";
import { openLocalStore } from "@lake/storage";

import { withLake } from "./helpers.ts";

const DS = "customers";
let lake: Awaited<ReturnType<typeof withLake>>;
let lsn = 1000;
const T = Date.UTC(2026, 5, 1, 12);

const upsert = (id: string, name: string, country: string | null, op: "c" | "u" | "r" = "u", at = lsn) => ({
  op,
  before: null,
  after: { customer_id: id, name, email: `${id}@example.com`, country, updated_at: T + at },
  source: { connector: "postgresql", db: "shop", table: "customers", lsn: at },
  ts_ms: T + at,
});
const del = (id: string, at = lsn) => ({ op: "d", before: { customer_id: id }, after: null, source: { lsn: at }, ts_ms: T + at });

async function send(changes: unknown[]) {
  const r = await sendHttp(lake.producer, DS, changes);
  assert.equal(r.status, 200, JSON.stringify(r).slice(0, 300));
  return r;
}

async function table(version: number | "latest" = "latest") {
  const catalog = new CatalogClient(lake.catalogUrl);
  const v = await catalog.version(DS, version);
  const r = await queryVersion(openLocalStore(lake.storeRoot), v, `SELECT customer_id, name, country, _lsn FROM ${DS} ORDER BY customer_id`);
  return { version: v.version, rows: r.rows.map((x) => [x.customer_id, x.name, x.country, Number(x._lsn)]) };
}

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

test("creates, updates and deletes: each version holds the latest state per key", async () => {
  const r1 = await send([upsert("c1", "Ada", "GB", "c", ++lsn), upsert("c2", "Bob", "US", "c", ++lsn), upsert("c3", "Cy", "DE", "c", ++lsn)]);
  assert.deepEqual(
    r1.results.map((x) => x.status),
    ["accepted", "accepted", "accepted"],
  );
  const v1 = await lake.catalog.covering(DS, r1.max_offset!, 20_000);
  assert.deepEqual((await table(v1.version)).rows, [
    ["c1", "Ada", "GB", 1001],
    ["c2", "Bob", "US", 1002],
    ["c3", "Cy", "DE", 1003],
  ]);
  const r2 = await send([upsert("c1", "Ada L.", "FR", "u", ++lsn), del("c2", ++lsn), upsert("c4", "Di", null, "c", ++lsn)]);
  const v2 = await lake.catalog.covering(DS, r2.max_offset!, 20_000);
  assert.deepEqual((await table(v2.version)).rows, [
    ["c1", "Ada L.", "FR", 1004],
    ["c3", "Cy", "DE", 1003],
    ["c4", "Di", null, 1006],
  ]);
  // The earlier version is untouched: time travel still sees c2.
  assert.deepEqual(
    (await table(v1.version)).rows.map((x) => x[0]),
    ["c1", "c2", "c3"],
  );
  assert.equal(v2.total_rows, 3);
});

test("a change delivered twice applies once, even after a newer change to the same key", async () => {
  const first = upsert("c3", "Cy v2", "AT", "u", ++lsn);
  const r1 = await send([first]);
  const newer = upsert("c3", "Cy v3", "CH", "u", ++lsn);
  await send([newer]);
  const again = await send([first]);
  assert.equal(again.results[0]!.status, "duplicate", "same source position: a duplicate");
  await lake.catalog.covering(DS, r1.max_offset!, 20_000);
  const ping = await send([upsert("c9", "Zed", null, "c", ++lsn)]);
  await lake.catalog.covering(DS, ping.max_offset!, 20_000);
  const rows = (await table()).rows;
  assert.deepEqual(
    rows.find((x) => x[0] === "c3"),
    ["c3", "Cy v3", "CH", lsn - 1],
  );
});

test("bad change events are rejected with the reason and path", async () => {
  const r = await sendHttp(lake.producer, DS, [
    { op: "x", after: {}, source: { lsn: 1 }, ts_ms: 1 },
    { op: "c", after: { customer_id: "k1", name: "N", updated_at: T }, ts_ms: T },
    { op: "c", after: { customer_id: "k1", updated_at: T }, source: { lsn: 5 }, ts_ms: T },
    { op: "d", before: {}, source: { lsn: 6 }, ts_ms: T },
  ]);
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.results.map((x) => [x.status, "path" in x ? x.path : null]),
    [
      ["rejected", "$.op"],
      ["rejected", "$.source.lsn"],
      ["rejected", "$.after.name"],
      ["rejected", "$.before.customer_id"],
    ],
  );
});

test("a delete holds against a re-delivered older change, even past the dedupe window", async () => {
  const r1 = await send([upsert("c7", "Gone", "NL", "c", ++lsn)]);
  await lake.catalog.covering(DS, r1.max_offset!, 20_000);
  const insertLsn = lsn;
  const r2 = await send([del("c7", ++lsn)]);
  await lake.catalog.covering(DS, r2.max_offset!, 20_000);
  assert.ok(!(await table()).rows.some((x) => x[0] === "c7"));
  // The source re-sends the old insert after a restart, later than JetStream's dedupe window (played
  // here by publishing it under a new message id, past ingest).
  const nc = await lake.connect();
  const contract = domainContract(DS);
  const change = validateChange(contract, upsert("c7", "Gone", "NL", "c", insertLsn), Date.now());
  assert.ok(change.ok);
  const h = natsHeaders();
  h.set("Lake-Schema", contract.fingerprint);
  const ack = await jetstream(nc).publish(`lake.events.${DS}`, cdcChangeCodec(contract).encode(change.change), {
    headers: h,
    msgID: "redelivered-after-window",
  });
  await nc.close();
  const ping = await send([upsert("c8", "Next", null, "c", ++lsn)]);
  await lake.catalog.covering(DS, Math.max(ack.seq, ping.max_offset!), 20_000);
  const rows = (await table()).rows;
  assert.ok(!rows.some((x) => x[0] === "c7"), "the deleted row does not come back");
  assert.ok(rows.some((x) => x[0] === "c8"));
});

test("a CDC table keeps committing after its contract gains an optional column", async () => {
  const nc = await lake.connect();
  const reg = await SchemaRegistry.open(nc, { seed: false });
  const v1 = JSON.parse(readFileSync(join(import.meta.dirname, "../contracts/avro/domains/customers.avsc"), "utf8")) as { fields: unknown[] };
  await reg.register({ ...v1, fields: [...v1.fields, { name: "tier", type: ["null", "string"], default: null }] }, "alice", "loyalty tiers");
  reg.close();
  await nc.close();
  // Ingest follows the registry: retry until a change with the new field is accepted.
  let r: Awaited<ReturnType<typeof sendHttp>> | undefined;
  for (let i = 0; i < 100; i++) {
    const c = upsert("c1", "Ada T.", "FR", "u", lsn + 1);
    r = await sendHttp(lake.producer, DS, [{ ...c, after: { ...c.after, tier: "gold" } }]);
    if (r.status === 200 && r.results[0]!.status === "accepted") break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(r!.results[0]!.status, "accepted");
  lsn++;
  // The partition holding c1 was written before "tier" existed: the merge must read it anyway.
  const v = await lake.catalog.covering(DS, r!.max_offset!, 20_000);
  const q = await queryVersion(openLocalStore(lake.storeRoot), v, `SELECT customer_id, tier FROM ${DS} ORDER BY customer_id`);
  assert.deepEqual(
    q.rows.find((x) => x.customer_id === "c1"),
    { customer_id: "c1", tier: "gold" },
  );
  assert.ok(q.rows.filter((x) => x.customer_id !== "c1").every((x) => x.tier === null));
});

test("one change with an extreme source position hides only older changes of its own key: every accepted change is in its covering version, or a newer change of its key is", async () => {
  // A dataset-wide high-water mark let this one change make every later change of the domain look
  // stale: ingest answered accepted, covering reads returned versions without them.
  const hotChange = upsert("hot1", "Hot", "US", "c", ++lsn);
  const hot = await send([{ ...hotChange, source: { ...hotChange.source, lsn: 2 ** 53 - 2 } }]);
  assert.equal(hot.results[0]!.status, "accepted");
  await lake.catalog.covering(DS, hot.max_offset!, 20_000);
  const later = [upsert("k10", "Kay", "SE", "c", ++lsn), upsert("c1", "Ada M.", "IE", "u", ++lsn), del("c4", ++lsn), upsert("hot1", "Older", "US", "u", ++lsn)];
  const r = await send(later);
  assert.deepEqual(
    r.results.map((x) => x.status),
    ["accepted", "accepted", "accepted", "accepted"],
  );
  const v = await lake.catalog.covering(DS, r.max_offset!, 20_000);
  const rows = new Map((await table(v.version)).rows.map((x) => [x[0], x]));
  assert.deepEqual(rows.get("k10"), ["k10", "Kay", "SE", lsn - 3], "a new key lands");
  assert.deepEqual(rows.get("c1"), ["c1", "Ada M.", "IE", lsn - 2], "an update of another key lands");
  assert.ok(!rows.has("c4"), "a delete of another key lands");
  assert.deepEqual(rows.get("hot1"), ["hot1", "Hot", "US", 2 ** 53 - 2], "the older change of the hot key lost to its newer change");
});
