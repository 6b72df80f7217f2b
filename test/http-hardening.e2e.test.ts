// The services' HTTP listeners against hostile clients, as they run: a client trickling its body or
// headers is cut off within LAKE_HTTP_*_TIMEOUT_MS (set short here) by ingest, the catalog and the
// catalog's metrics listener; malformed catalog commands are a clear 400 that changes nothing; version
// numbers are canonical decimals only; the catalog's metrics are on their own loopback listener.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { sampleEvents, sendHttp } from "@lake/client";
import { slowClient as slowClientOf } from "@lake/testing";

import { covering, DATASET, withLake } from "./helpers.ts";

const BODY_MS = 1500;
const REQUEST_MS = 3000;
/** How long past a timeout a connection may stay open (Node checks every quarter of the headers timeout; a busy machine). */
const SLACK_MS = 2500;

let lake: Awaited<ReturnType<typeof withLake>>;
let latest: number;

before(async () => {
  lake = await withLake({
    without: ["aggregator", "quality"],
    env: { LAKE_HTTP_HEADERS_TIMEOUT_MS: "1000", LAKE_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS), LAKE_HTTP_BODY_TIMEOUT_MS: String(BODY_MS) },
  });
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(10, { prefix: "hh" }));
  latest = (await covering(lake, r.max_offset!)).version;
});
after(async () => {
  await lake?.cleanup();
});

const catalogMetricsUrl = () => String(lake.services.get("catalog")!.ready.metrics_url);

/** Sends `head`, then a byte every 100 ms (at most 300); resolves when the server closes, or gives up after 20 s. */
function slowClient(url: string, head: string): Promise<{ closedAfterMs: number; answer: string }> {
  const { hostname, port } = new URL(url);
  return slowClientOf({ host: hostname, port: Number(port) }, head, { drip: "x".repeat(300), everyMs: 100, giveUpMs: 20_000 });
}

const post = (path: string, token?: string) =>
  `POST ${path} HTTP/1.1\r\nhost: lake\r\ncontent-type: application/json\r\n${token ? `authorization: Bearer ${token}\r\n` : ""}content-length: 10000\r\n\r\n`; // under both limits

test("a body trickled to ingest or a catalog command is answered 408 and closed within the body timeout", async () => {
  const [ingest, command] = await Promise.all([
    slowClient(lake.ingestUrl, post(`/v1/domains/${DATASET}/events`, lake.producer.token)),
    slowClient(lake.catalogUrl, post(`/v1/datasets/${DATASET}/promote`)),
  ]);
  for (const [who, r] of [
    ["ingest", ingest],
    ["catalog", command],
  ] as const) {
    assert.ok(r.closedAfterMs <= BODY_MS + SLACK_MS, `${who} held the connection ${r.closedAfterMs} ms`);
    assert.match(r.answer, /^HTTP\/1\.1 408 /, who);
    assert.match(r.answer, /"error":"body_timeout"/, who);
  }
});

test("a body trickled where none is read (a catalog read, the metrics listener) is closed within the request timeout", async () => {
  const head = (path: string) => `GET ${path} HTTP/1.1\r\nhost: lake\r\ncontent-length: 100000\r\n\r\n`;
  const results = await Promise.all([slowClient(lake.catalogUrl, head(`/v1/datasets/${DATASET}`)), slowClient(catalogMetricsUrl(), head("/metrics"))]);
  for (const r of results) assert.ok(r.closedAfterMs <= REQUEST_MS + SLACK_MS, `held ${r.closedAfterMs} ms`);
  // …and the services still serve everyone else.
  const ok = await sendHttp(lake.producer, DATASET, sampleEvents(1, { prefix: "after-loris" }));
  assert.equal(ok.status, 200);
  await covering(lake, ok.max_offset!);
  assert.equal((await lake.catalog.dataset(DATASET)).dataset.latest_version >= latest, true);
});

test("malformed catalog commands are a clear 400 and change nothing", async () => {
  // (The previous test waits for its event's version: a version landing meanwhile adds an audit entry.)
  const before = await lake.catalog.dataset(DATASET);
  const auditBefore = (await lake.catalog.audit(DATASET)).entries.length;
  const cases: [string, string, string][] = [
    ["promote", "{", "malformed_json"],
    ["promote", "[]", "invalid_command"],
    ["promote", '"x"', "invalid_command"],
    ["promote", `{"version": ${latest}, "reason": "r", "actor": "a", "verison": 1}`, "unknown_field"],
    ["promote", '{"version": "1", "reason": "r", "actor": "a"}', "invalid_version"],
    ["promote", '{"version": 1.5, "reason": "r", "actor": "a"}', "invalid_version"],
    ["promote", '{"version": 1, "actor": "a"}', "invalid_reason"],
    // A misspelt target was ignored, and the rollback went to the default version instead.
    ["rollback", '{"to": 1, "reason": "r", "actor": "a"}', "unknown_field"],
    ["rollback", '{"to_version": null, "reason": "r", "actor": "a"}', "invalid_version"],
    ["tags", '{"tag": 7, "version": 1, "reason": "r", "actor": "a"}', "invalid_tag"],
    ["tags", '{"tag": "t", "version": 1, "reason": "r", "actor": "a", "force": true}', "unknown_field"],
    ["expire", '{"keep_last": "2", "reason": "r", "actor": "a"}', "invalid_policy"],
    ["expire", '{"keep": 2, "reason": "r", "actor": "a"}', "unknown_field"],
    ["collected", '{"keys": "x", "bytes": 1, "orphans": 0, "actor": "a"}', "invalid_keys"],
    ["collected", `{"keys": ["datasets/${DATASET}/data/x.parquet"], "bytes": 1, "orphans": 0, "actor": "a", "reason": "r"}`, "unknown_field"],
  ];
  for (const [command, body, code] of cases) {
    const res = await fetch(new URL(`/v1/datasets/${DATASET}/${command}`, lake.catalogUrl), {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    const answer = (await res.json()) as { error?: string; message?: string };
    assert.deepEqual([res.status, answer.error], [400, code], `${command} ${body}: ${JSON.stringify(answer)}`);
    assert.ok(answer.message && answer.message.length > 10, `${command} ${body}: a message saying what is wrong`);
  }
  const after = await lake.catalog.dataset(DATASET);
  assert.equal(after.dataset.current_version, before.dataset.current_version);
  assert.equal((await lake.catalog.audit(DATASET)).entries.length, auditBefore);
  assert.deepEqual((await lake.catalog.tags(DATASET)).tags, []);
});

test("version numbers and numeric parameters are canonical decimals: 0x1, 1e0, +1, 01, ' 1' are 400", async () => {
  const get = async (path: string) => {
    const res = await fetch(new URL(path, lake.catalogUrl));
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
  };
  for (const v of ["0x1", "1e0", "%2B1", "01", "%201", "1.0", "0"]) {
    for (const path of [`/v1/datasets/${DATASET}/versions/${v}`, `/v1/datasets/${DATASET}/versions/${v}/quality`]) {
      const r = await get(path);
      assert.deepEqual([r.status, r.body.error], [400, "invalid_version"], `${path}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message!, /decimal integer/);
    }
  }
  for (const q of [
    "versions?after=0x1",
    "versions?limit=1e1",
    "versions?limit=%2B5",
    "audit?after=01",
    "covering?offset=0x1",
    "covering?commit_seq=1e0",
    "covering?offset=1&timeout_ms=0x10",
  ]) {
    const r = await get(`/v1/datasets/${DATASET}/${q}`);
    assert.deepEqual([r.status, r.body.error], [400, "invalid_parameter"], `${q}: ${JSON.stringify(r.body)}`);
  }
  // The canonical spellings still work.
  assert.equal((await get(`/v1/datasets/${DATASET}/versions/1`)).status, 200);
  assert.equal((await get(`/v1/datasets/${DATASET}/versions?after=0&limit=5`)).status, 200);
  assert.equal((await get(`/v1/datasets/${DATASET}/covering?offset=1&timeout_ms=0`)).status, 200);
});

test("the catalog's metrics are on their own listener, on loopback by default, not on the API port", async () => {
  const api = await fetch(new URL("/metrics", lake.catalogUrl));
  assert.equal(api.status, 404);
  assert.doesNotMatch(await api.text(), /lake_catalog_total_rows/);
  const url = new URL(catalogMetricsUrl());
  assert.equal(url.hostname, "127.0.0.1");
  assert.notEqual(url.port, new URL(lake.catalogUrl).port);
  const metrics = await fetch(new URL("/metrics", url));
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), new RegExp(`lake_catalog_total_rows\\{dataset="${DATASET}",service="catalog"\\} \\d+`));
  assert.equal((await fetch(new URL("/healthz", url))).status, 200);
});
