// Invariant 8: bad input gets a clear error (or goes to quarantine, when it is a record) and never
// changes what was already accepted.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { sampleEvents, sendHttp, sendNats } from "@lake/client";
import { quarantinedRecordCodec } from "@lake/contracts";

import { bearer, covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
let goodIds: string[];
let dumpBefore: string;

const valid = { event_id: "ok-1", user_id: "u1", event_type: "view", timestamp: "2026-06-01T10:00:00Z", amount: 1.5 };

before(async () => {
  // Quality verdicts would change the catalog rows this test compares; ingest is what's under test.
  lake = await withLake({ env: { LAKE_INGEST_MAX_BODY_BYTES: "65536", LAKE_INGEST_MAX_BATCH: "50" }, without: ["quality"] });
  nc = await lake.connect();
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(40, { prefix: "good" }));
  await covering(lake, r.max_offset!);
  goodIds = await eventIdsIn(lake, "latest");
  dumpBefore = await lake.catalog.dump();
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(path, lake.ingestUrl), {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...bearer(lake.producer.token), ...headers },
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: string; message?: string; results?: { status: string; reason?: string; path?: string }[] },
  };
}
const events = `/v1/domains/${DATASET}/events`;

function rawPost(path: string, body: string): Promise<{ status: number; body: { error?: string } }> {
  const url = new URL(lake.ingestUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: "POST", path, headers: { "content-type": "application/json", ...bearer(lake.producer.token) } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as { error?: string } }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("malformed JSON is a 400 naming the problem", async () => {
  const r = await post(events, '{"event_id": "x", ');
  assert.equal(r.status, 400);
  assert.equal(r.body.error, "malformed_json");
  assert.match(r.body.message!, /not valid JSON/);
});

test("invalid UTF-8 is a 400", async () => {
  const r = await post(events, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
  assert.equal(r.status, 400);
  assert.equal(r.body.error, "invalid_utf8");
});

test("wrong types, missing fields, unknown fields, bad enums and out-of-range values are 422 with the field path", async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...valid, event_id: "t1", amount: "12" }, "$.amount", /must be a finite number/],
    [{ ...valid, event_id: "t2", user_id: undefined }, "$.user_id", /required field user_id is missing/],
    [{ ...valid, event_id: "t3", event_type: "teleport" }, "$.event_type", /must be one of/],
    [{ ...valid, event_id: "t4", amount: 1e12 }, "$.amount", /above the maximum/],
    [{ ...valid, event_id: "t5", timestamp: "last tuesday" }, "$.timestamp", /ISO-8601/],
    [{ ...valid, event_id: "t6", extra: 1 }, "$.extra", /unknown field/],
    [{ ...valid, event_id: "t7", user_id: "x".repeat(500) }, "$.user_id", /longer than 128/],
    [{ ...valid, event_id: "../../etc/passwd" }, "$.event_id", /does not match/],
  ];
  for (const [record, path, reason] of cases) {
    const r = await post(events, JSON.stringify(record));
    assert.equal(r.status, 422, JSON.stringify(record).slice(0, 80));
    assert.equal(r.body.results![0]!.status, "rejected");
    assert.equal(r.body.results![0]!.path, path);
    assert.match(r.body.results![0]!.reason!, reason);
  }
  // Not an object at all.
  const arr = await post(events, JSON.stringify([1, "x", null]));
  assert.equal(arr.status, 200);
  assert.deepEqual(
    arr.body.results!.map((x) => x.status),
    ["rejected", "rejected", "rejected"],
  );
});

test("rejected records land in quarantine with their reason", async () => {
  const r = await post(events, JSON.stringify({ ...valid, event_id: "q-1", amount: "NaN" }));
  assert.equal(r.status, 422);
  const jsm = await jetstreamManager(nc);
  const msg = await jsm.streams.getMessage("QUARANTINE", { last_by_subj: `lake.quarantine.${DATASET}` });
  assert.ok(msg);
  const q = quarantinedRecordCodec.decode(msg.data);
  assert.equal(q.event_id, "q-1");
  assert.equal(q.path, "$.amount");
  assert.equal(JSON.parse(q.raw).amount, "NaN");
  assert.equal(q.source, "http");
});

test("a batch with good and bad records accepts the good ones and rejects the bad ones individually", async () => {
  const r = await sendHttp(lake.producer, DATASET, [
    { ...valid, event_id: "mix-1" },
    { ...valid, event_id: "mix-2", amount: null },
  ]);
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.results.map((x) => x.status),
    ["accepted", "rejected"],
  );
  goodIds.push("mix-1");
  await covering(lake, r.max_offset!);
});

test("oversized bodies are 413 and oversized batches are 413, naming the limit", async () => {
  const big = JSON.stringify({ ...valid, user_id: "x".repeat(100_000) });
  const r = await post(events, big);
  assert.equal(r.status, 413);
  assert.match(r.body.message!, /65536-byte limit/);
  const many = await post(events, JSON.stringify(sampleEvents(51, { prefix: "many" })));
  assert.equal(many.status, 413);
  assert.equal(many.body.error, "batch_too_large");
  const viaNats = await sendNats(nc, DATASET, { ...valid, user_id: "x".repeat(100_000) });
  assert.equal(viaNats.status, 413);
});

test("path-like and unknown domain names are refused before anything is read", async () => {
  for (const name of ["..%2Fx", "a%2Fb", "UPPER", "x.y", "%2e%2e", "..", "a%00b"]) {
    // node:http sends the path as written (fetch would normalise the dot segments away first).
    const r = await rawPost(`/v1/domains/${name}/events`, JSON.stringify(valid));
    assert.equal(r.status, 400, name);
    assert.equal(r.body.error, "invalid_name", name);
  }
  const unknown = await post("/v1/domains/no_such_domain/events", JSON.stringify(valid));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error, "unknown_domain");
  const viaNats = await sendNats(nc, "no_such_domain", valid);
  assert.equal(viaNats.status, 404);
  const badCatalog = await fetch(new URL("/v1/datasets/..%2Fx/versions/latest", lake.catalogUrl));
  assert.equal(badCatalog.status, 400);
  const badVersion = await fetch(new URL(`/v1/datasets/${DATASET}/versions/1e3`, lake.catalogUrl));
  assert.equal(badVersion.status, 400);
});

test("after all of that, the accepted data is exactly what it was plus the one good record", async () => {
  const ids = await eventIdsIn(lake, "latest");
  assert.deepEqual(ids, [...goodIds].sort());
  // Earlier versions are untouched: the catalog's rows for them are identical.
  const now = JSON.parse(await lake.catalog.dump()) as { versions: unknown[][] };
  const then = JSON.parse(dumpBefore) as { versions: unknown[][] };
  // (Keyed by dataset and version: a derived dataset may have committed its first version since.)
  const byKey = new Map(now.versions.map((row) => [`${String(row[0])}@${String(row[1])}`, row]));
  assert.ok(then.versions.length > 0);
  for (const row of then.versions) assert.deepEqual(byKey.get(`${String(row[0])}@${String(row[1])}`), row);
});
