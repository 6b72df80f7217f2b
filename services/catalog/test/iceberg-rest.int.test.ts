// The Iceberg REST catalog under /iceberg, against a real nats-server and a real (local) store: the
// catalog follows a commit log written here, the newest version's metadata JSON is read from the store.
// Routes and their answers, refs (main = current, latest, tags), snapshots=all vs refs, expired versions
// and versions without a reference left out, a forged reference never served, the error model of every
// refused write, and access (a reader of another dataset neither lists nor loads the table).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { CatalogVersionSummary, LogRecord, VersionCommitted } from "@lake/contracts";
import { lakeSnapshot, snapshotJson } from "@lake/iceberg";
import { appendLogRecord, connectNats, readCommitHead } from "@lake/messaging";
import { type ObjectStore, openLocalStore } from "@lake/storage";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { Catalog } from "../src/catalog.ts";
import { parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { icebergFileConfig, icebergStore } from "../src/http/iceberg.ts";
import { startHttp } from "../src/http/routes.ts";

const T = { timeout: 120_000 };
const quiet: Logger = { info() {}, warn() {}, error() {}, child: () => quiet };
const T0 = Date.UTC(2026, 5, 1, 12);

const TOKENS = { orders: "tok-orders-reader", clicks: "tok-clicks-reader", admin: "tok-admin" };
const tokens = parseTokensFile(
  JSON.stringify([
    { name: "orders-reader", sha256: tokenSha256(TOKENS.orders), role: "reader", datasets: ["orders"] },
    { name: "clicks-reader", sha256: tokenSha256(TOKENS.clicks), role: "reader", datasets: ["clicks"] },
    { name: "root", sha256: tokenSha256(TOKENS.admin), role: "admin" },
  ]),
);

let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
let store: ObjectStore;
let catalog: Catalog;
let server: { close(): void };
let base: string;
const records: VersionCommitted[] = [];

const metadataKey = (v: number) => `datasets/orders/metadata/v${v}-w${v}.metadata.json`;
const manifestListKey = (v: number) => `datasets/orders/metadata/snap-${v}-w${v}.avro`;

function committed(dataset: string, v: number, iceberg: VersionCommitted["iceberg"]): VersionCommitted {
  return {
    dataset,
    version: v,
    parent_version: v - 1,
    write_id: `w${v}`,
    committer_id: "committer-1",
    committed_at: T0 + v * 60_000,
    schema_name: dataset,
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${dataset}/manifests/v${v}-w${v}.json`, sha256: "0".repeat(64), bytes: 1 },
    added_files: [
      { key: `datasets/${dataset}/data/dt=2026-06-01/w${v}-0.parquet`, partition: "dt=2026-06-01", rows: 10, bytes: 100 + v, sha256: "1".repeat(64) },
      { key: `datasets/${dataset}/data/dt=2026-06-02/w${v}-1.parquet`, partition: "dt=2026-06-02", rows: 5, bytes: 50 + v, sha256: "2".repeat(64) },
    ],
    removed_files: v === 4 ? [`datasets/${dataset}/data/dt=2026-06-01/w1-0.parquet`] : [],
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: v * 15 - 14, last_seq: v * 15 },
    row_count: 15,
    total_rows: v * 15 - (v >= 4 ? 10 : 0),
    min_event_time: T0 - v,
    max_event_time: T0 + v,
    policy: dataset === "orders" ? "critical" : "non-critical",
    max_source_position: null,
    operation: v === 4 ? "compaction" : null,
    iceberg,
    lineage: null,
  };
}

/** A version's table metadata JSON as its writer leaves it in the store (what the catalog takes from the newest). */
function versionMetadata(v: number) {
  const schema = (id: number) => ({
    type: "struct",
    "schema-id": id,
    fields: [
      { id: 1, name: "_offset", required: true, type: "long" },
      { id: 2, name: "event_id", required: true, type: "string" },
      ...(id >= 2 ? [{ id: 3, name: "amount", required: false, type: "double" }] : []),
    ],
  });
  const schemaId = v >= 5 ? 2 : 1;
  return {
    "format-version": 2,
    schemas: Array.from({ length: schemaId }, (_, i) => schema(i + 1)),
    "current-schema-id": schemaId,
    "default-spec-id": 0,
    "partition-specs": [{ "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "day", transform: "identity" }] }],
    properties: { "lake.written-by": `v${v}` },
  };
}

async function append(dataset: string, record: LogRecord): Promise<number> {
  const head = await readCommitHead(await jetstream(nc).jetstreamManager(false), dataset);
  const seq = await appendLogRecord(jetstream(nc), dataset, record, { expectedLastSeq: head.seq });
  await waitFor(`the catalog at ${seq}`, () => (catalog.projection.lastSeq >= seq ? true : undefined), { timeoutMs: 20_000 });
  return seq;
}

const verdict = (dataset: string, version: number): LogRecord => ({
  kind: "QualityVerdict",
  body: { dataset, version, outcome: "passed", rules: [], checked_at: T0 + version * 60_000 + 5000, checker_id: "quality-1" },
});

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "catalog-iceberg-test", auth: {} });
  dir = await mkdtemp(join(tmpdir(), "lake-catalog-iceberg-"));
  store = await openLocalStore(join(dir, "store"));
  catalog = new Catalog(nc, join(dir, "catalog.db"), quiet);
  await catalog.start();
  const http = await startHttp({
    catalog,
    host: "127.0.0.1",
    port: 0,
    maxWaitMs: 1000,
    log: quiet,
    tokens,
    iceberg: icebergStore(store, { kind: "local", root: dir }),
  });
  server = http.server;
  base = `http://127.0.0.1:${http.port}/iceberg`;

  // orders (critical): v1..v6; v3 has no Iceberg reference; v1..v5 pass (current = 5), v6 waits for its
  // verdict (latest = 6); v1 expires; tag t1 names v2.
  for (let v = 1; v <= 6; v++) {
    const ref = v === 3 ? null : { manifest_list: manifestListKey(v), metadata: metadataKey(v), schema_id: v >= 5 ? 2 : 1, total_files: 2 * v };
    if (ref) await store.put(ref.metadata, new TextEncoder().encode(JSON.stringify(versionMetadata(v))));
    const r = committed("orders", v, ref);
    records.push(r);
    await append("orders", { kind: "VersionCommitted", body: r });
  }
  for (let v = 1; v <= 5; v++) await append("orders", verdict("orders", v));
  const who = { actor: "ops", reason: "test", at: T0 + 3_600_000 };
  await append("orders", { kind: "VersionsExpired", body: { dataset: "orders", versions: [1], policy: "keep_last=5", ...who } });
  await append("orders", { kind: "VersionTagged", body: { dataset: "orders", version: 2, tag: "t1", ...who } });
  // clicks: one version whose reference points at orders' metadata (a forged record): never served.
  await append("clicks", {
    kind: "VersionCommitted",
    body: committed("clicks", 1, { manifest_list: manifestListKey(2), metadata: metadataKey(2), schema_id: 1, total_files: 4 }),
  });
});

after(async () => {
  server?.close();
  await catalog?.stop();
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, token: string | undefined = TOKENS.admin, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

/** The Iceberg error model with this status and type. */
function assertError(r: Awaited<ReturnType<typeof call>>, status: number, type: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  const e = (r.json as { error: { message: string; type: string; code: number } }).error;
  assert.deepEqual({ type: e.type, code: e.code }, { type, code: status }, r.text);
  assert.equal(typeof e.message, "string");
  if (message) assert.match(e.message, message);
}

interface Metadata {
  "current-snapshot-id": number;
  "current-schema-id": number;
  schemas: { "schema-id": number }[];
  properties: Record<string, string>;
  refs: Record<string, { "snapshot-id": number; type: string }>;
  snapshots: { "snapshot-id": number; "manifest-list": string; summary: Record<string, string> }[];
  "snapshot-log": { "snapshot-id": number }[];
  location: string;
}

describe("Iceberg REST catalog", T, () => {
  test("config, namespaces and the table list", async () => {
    const config = await call("GET", "/v1/config");
    assert.equal(config.status, 200);
    assert.deepEqual([config.json!.defaults, config.json!.overrides], [{}, {}]);
    assert.ok((config.json!.endpoints as string[]).includes("GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"));
    assert.deepEqual((await call("GET", "/v1/namespaces")).json, { namespaces: [["lake"]] });
    assert.deepEqual((await call("GET", "/v1/namespaces?parent=lake")).json, { namespaces: [] });
    assertError(await call("GET", "/v1/namespaces?parent=other"), 404, "NoSuchNamespaceException");
    assert.deepEqual((await call("GET", "/v1/namespaces/lake")).json, { namespace: ["lake"], properties: {} });
    const head = await call("HEAD", "/v1/namespaces/lake");
    assert.deepEqual([head.status, head.text], [204, ""]);
    // clicks has no version served as a snapshot (its only reference was forged): not a table.
    assert.deepEqual((await call("GET", "/v1/namespaces/lake/tables")).json, { identifiers: [{ namespace: ["lake"], name: "orders" }] });
  });

  test("a table: main = the current version, latest = the newest, tags; expired versions and versions without a reference left out", async () => {
    const r = await call("GET", "/v1/namespaces/lake/tables/orders");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json!["metadata-location"], store.uri(metadataKey(6)));
    assert.deepEqual(r.json!.config, {});
    const m = r.json!.metadata as Metadata;
    assert.deepEqual(m.refs, {
      main: { "snapshot-id": 5, type: "branch" },
      latest: { "snapshot-id": 6, type: "branch" },
      t1: { "snapshot-id": 2, type: "tag" },
    });
    assert.equal(m["current-snapshot-id"], 5);
    assert.deepEqual(
      m.snapshots.map((s) => s["snapshot-id"]),
      [2, 4, 5, 6],
      "v1 expired, v3 has no reference",
    );
    assert.deepEqual(
      m["snapshot-log"].map((s) => s["snapshot-id"]),
      [2, 4, 5],
    );
    // Schemas, spec and properties from the newest version's metadata JSON.
    assert.deepEqual([m["current-schema-id"], m.schemas.length, m.properties], [2, 2, { "lake.written-by": "v6" }]);
    assert.equal(m.location, store.uri("datasets/orders"));
    // Each snapshot is what the writer of the version put in its own metadata (lakeSnapshot of its record).
    for (const s of m.snapshots) {
      const rec = records[s["snapshot-id"] - 1]!;
      const parentTotal = rec.parent_version ? records[rec.parent_version - 1]!.total_rows : 0;
      const expected = snapshotJson(lakeSnapshot(rec, parentTotal, rec.iceberg!.total_files, store.uri(rec.iceberg!.manifest_list), rec.iceberg!.schema_id));
      assert.deepEqual(s, expected, `snapshot ${s["snapshot-id"]}`);
    }
    const v4 = m.snapshots.find((s) => s["snapshot-id"] === 4)!;
    assert.deepEqual([v4.summary.operation, v4.summary["deleted-data-files"], v4.summary["deleted-records"]], ["replace", "1", "10"]);
  });

  test("snapshots=refs: only the snapshots a ref names; snapshots=all is the default; anything else is 400", async () => {
    const refs = (await call("GET", "/v1/namespaces/lake/tables/orders?snapshots=refs")).json!.metadata as Metadata;
    assert.deepEqual(
      refs.snapshots.map((s) => s["snapshot-id"]),
      [2, 5, 6],
    );
    assert.deepEqual(Object.keys(refs.refs), ["main", "latest", "t1"]);
    const all = await call("GET", "/v1/namespaces/lake/tables/orders?snapshots=all");
    assert.equal(all.text, (await call("GET", "/v1/namespaces/lake/tables/orders")).text);
    assertError(await call("GET", "/v1/namespaces/lake/tables/orders?snapshots=some"), 400, "BadRequestException");
  });

  test("the same log gives the same bytes: again, and after a rebuild from the log", T, async () => {
    const first = (await call("GET", "/v1/namespaces/lake/tables/orders")).text;
    assert.equal((await call("GET", "/v1/namespaces/lake/tables/orders")).text, first);
    await catalog.rebuild();
    assert.equal((await call("GET", "/v1/namespaces/lake/tables/orders")).text, first);
  });

  test("the versions API names each version's reference; a forged one is null", async () => {
    const res = await fetch(base.replace(/\/iceberg$/, "") + "/v1/datasets/orders/versions", { headers: { authorization: `Bearer ${TOKENS.admin}` } });
    const versions = ((await res.json()) as { versions: CatalogVersionSummary[] }).versions;
    assert.deepEqual(versions[1]!.iceberg, { manifest_list: manifestListKey(2), metadata: metadataKey(2), schema_id: 1, total_files: 4 });
    assert.equal(versions[2]!.iceberg, null);
    const clicks = await fetch(base.replace(/\/iceberg$/, "") + "/v1/datasets/clicks/versions", { headers: { authorization: `Bearer ${TOKENS.admin}` } });
    assert.equal(((await clicks.json()) as { versions: CatalogVersionSummary[] }).versions[0]!.iceberg, null);
  });

  test("unknown namespace, unknown table, forged table: 404 in the Iceberg error model", async () => {
    assertError(await call("GET", "/v1/namespaces/other"), 404, "NoSuchNamespaceException");
    assert.equal((await call("HEAD", "/v1/namespaces/other")).status, 404);
    assertError(await call("GET", "/v1/namespaces/other/tables"), 404, "NoSuchNamespaceException");
    assertError(await call("GET", "/v1/namespaces/other/tables/orders"), 404, "NoSuchNamespaceException");
    assertError(await call("GET", "/v1/namespaces/lake/tables/nope"), 404, "NoSuchTableException");
    assertError(await call("GET", "/v1/namespaces/lake/tables/clicks"), 404, "NoSuchTableException");
    assert.equal((await call("HEAD", "/v1/namespaces/lake/tables/orders")).status, 204);
    assert.equal((await call("HEAD", "/v1/namespaces/lake/tables/nope")).status, 404);
    assertError(await call("GET", "/v1/namespaces/lake/views"), 404, "NotFoundException");
    assertError(await call("GET", "/v1/namespaces/lake/tables/Not-A-Name"), 400, "BadRequestException");
  });

  test("every write is refused: 403 ForbiddenException, the commit log being the only writer; metrics reports are accepted", async () => {
    const writes: [string, string][] = [
      ["POST", "/v1/namespaces"],
      ["DELETE", "/v1/namespaces/lake"],
      ["POST", "/v1/namespaces/lake/properties"],
      ["POST", "/v1/namespaces/lake/tables"],
      ["POST", "/v1/namespaces/lake/register"],
      ["POST", "/v1/namespaces/lake/tables/orders"],
      ["DELETE", "/v1/namespaces/lake/tables/orders"],
      ["POST", "/v1/tables/rename"],
      ["POST", "/v1/transactions/commit"],
      ["PUT", "/v1/namespaces/lake/tables/orders"],
      ["POST", "/v1/namespaces/lake/views"],
    ];
    for (const [method, path] of writes)
      for (const token of [TOKENS.admin, TOKENS.orders])
        assertError(await call(method, path, token, { any: "body" }), 403, "ForbiddenException", /commit log is the only writer/);
    const metrics = await call("POST", "/v1/namespaces/lake/tables/orders/metrics", TOKENS.orders, { "report-type": "scan-report" });
    assert.deepEqual([metrics.status, metrics.text], [204, ""]);
    assert.equal(catalog.projection.dataset("orders")!.latest_version, 6);
  });

  test("access: a reader of another dataset neither lists nor loads the table; no token is 401; errors in the Iceberg model", async () => {
    assert.deepEqual((await call("GET", "/v1/namespaces/lake/tables", TOKENS.clicks)).json, { identifiers: [] });
    assert.deepEqual((await call("GET", "/v1/namespaces/lake/tables", TOKENS.orders)).json, { identifiers: [{ namespace: ["lake"], name: "orders" }] });
    assertError(await call("GET", "/v1/namespaces/lake/tables/orders", TOKENS.clicks), 403, "ForbiddenException", /lacks read access to dataset "orders"/);
    assert.equal((await call("HEAD", "/v1/namespaces/lake/tables/orders", TOKENS.clicks)).status, 403);
    assert.equal((await call("GET", "/v1/namespaces/lake/tables/orders", TOKENS.orders)).status, 200);
    assertError(await call("GET", "/v1/namespaces/lake/tables/orders", ""), 401, "NotAuthorizedException");
    assertError(await call("GET", "/v1/config", "not-a-token"), 401, "NotAuthorizedException");
  });

  test("an S3 store's table config names endpoint, path style and region, and no secret", () => {
    assert.deepEqual(icebergFileConfig({ kind: "s3", bucket: "lake", endpoint: "http://minio:9000", region: "eu-west-1", forcePathStyle: true }), {
      "s3.endpoint": "http://minio:9000",
      "s3.path-style-access": "true",
      "client.region": "eu-west-1",
    });
    assert.deepEqual(icebergFileConfig({ kind: "local", root: "/x" }), {});
  });
});
