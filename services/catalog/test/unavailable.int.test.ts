// A command that meets NATS down (restarting, unreachable) is answered 503 with Retry-After and
// `retryable: true`: nothing was refused, the caller may send it again shortly. Not 500 `internal`.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { appendLogRecord, connectNats } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { version as versionCommitted } from "../../../shared/messaging/test/fixtures.ts";
import { Catalog } from "../src/catalog.ts";
import { startHttp } from "../src/http/routes.ts";

const quiet: Logger = { info() {}, warn() {}, error() {}, child: () => quiet };
let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
let catalog: Catalog;
let server: { close(): void };
let base: string;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "catalog-unavailable-test", auth: {} });
  dir = await mkdtemp(join(tmpdir(), "lake-catalog-unavailable-"));
  catalog = new Catalog(nc, join(dir, "catalog.db"), quiet);
  await catalog.start();
  await appendLogRecord(jetstream(nc), "orders", { kind: "VersionCommitted", body: versionCommitted("orders", 1) }, { expectedLastSeq: 0 });
  const http = await startHttp({ catalog, host: "127.0.0.1", port: 0, maxWaitMs: 1000, log: quiet });
  server = http.server;
  base = `http://127.0.0.1:${http.port}`;
  await waitFor("the version projected", () => (catalog.projection.dataset("orders") ? true : undefined), { timeoutMs: 10_000 });
});

after(async () => {
  server?.close();
  await catalog?.stop().catch(() => {});
  await nc?.close().catch(() => {});
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("with NATS stopped, a tag command is answered 503 retryable with Retry-After, and reads still answer", { timeout: 60_000 }, async () => {
  await nats.stop();
  const res = await fetch(`${base}/v1/datasets/orders/tags`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tag: "t1", version: 1, actor: "ops", reason: "test" }),
  });
  const body = (await res.json()) as { error: string; message: string; retryable?: boolean };
  assert.equal(res.status, 503, JSON.stringify(body));
  assert.equal(body.error, "unavailable");
  assert.equal(body.retryable, true);
  assert.match(body.message, /NATS/);
  assert.equal(res.headers.get("retry-after"), "1");
  // The projection still serves what it has.
  const read = await fetch(`${base}/v1/datasets/orders/versions/latest`);
  assert.equal(read.status, 200);
});
