// The catalog's commit-log tail against a real nats-server: the live tail applies versions as they land
// and keeps applying them after its consumer is deleted under it; a replay with an end stops there and
// applies nothing after it.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats, ensureStreams, readCommitHead, STREAMS } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";
import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { Projection } from "../src/db/projection.ts";
import { tailCommitLog } from "../src/nats/tail.ts";
import { versionRecord } from "./fixtures.ts";

const T = { timeout: 120_000 };
const quiet: Logger = { info() {}, warn() {}, error() {}, child: () => quiet };

let nats: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
const opened: Projection[] = [];

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "catalog-tail-test", auth: {} });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  dir = await mkdtemp(join(tmpdir(), "lake-catalog-tail-"));
});
after(async () => {
  for (const p of opened) if (p.db.open) p.close();
  await nc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

function projection(name: string): Projection {
  const p = new Projection(join(dir, `${name}.db`));
  opened.push(p);
  return p;
}

function version(dataset: string, v: number): VersionCommitted {
  return versionRecord(dataset, v, {
    committer_id: "test",
    committed_at: Date.UTC(2026, 5, 1, 12) + v,
    schema_name: "domain_events",
    manifest: { key: `datasets/${dataset}/manifests/v${v}-w${v}.json`, sha256: "0".repeat(64), bytes: 1 },
    added_files: [{ key: `datasets/${dataset}/data/dt=2026-06-01/w${v}.parquet`, partition: "dt=2026-06-01", rows: 10, bytes: 100, sha256: "1".repeat(64) }],
  });
}

/** Commits versions `from`..`to` of `dataset` the way a committer does (CAS on the head); the last sequence. */
async function commit(dataset: string, from: number, to: number): Promise<number> {
  let seq = (await readCommitHead(jsm, dataset)).seq;
  for (let v = from; v <= to; v++)
    seq = await appendLogRecord(jetstream(nc), dataset, { kind: "VersionCommitted", body: version(dataset, v) }, { expectedLastSeq: seq });
  return seq;
}

const versionsOf = (p: Projection, dataset: string) => p.versions(dataset, 0, 100).map((v) => v.version);

test("the live tail applies versions as they land, and keeps applying them after its consumer is deleted under it", T, async () => {
  const p = projection("live");
  let applied = 0;
  const tail = await tailCommitLog({ nc, projection: p, log: quiet, onApplied: () => applied++ });
  try {
    await commit("tail_live", 1, 3);
    await waitFor("v1..v3 in the projection", () => (versionsOf(p, "tail_live").length === 3 ? true : undefined), { timeoutMs: 20_000 });
    assert.ok(applied >= 1);
    for await (const ci of jsm.consumers.list(STREAMS.commits)) await jsm.consumers.delete(STREAMS.commits, ci.name);
    const last = await commit("tail_live", 4, 5);
    await waitFor("v4, v5 after the delete", () => (p.lastSeq >= last ? true : undefined), { timeoutMs: 60_000 });
    assert.deepEqual(versionsOf(p, "tail_live"), [1, 2, 3, 4, 5], "each version once, in order");
  } finally {
    await tail.stop();
  }
  await tail.done;
});

test("a replay with an end applies the log through it and nothing after; one already there returns at once", T, async () => {
  const through = await commit("tail_replay", 1, 2);
  await commit("tail_replay", 3, 3);
  const p = projection("replay");
  const replay = await tailCommitLog({ nc, projection: p, log: quiet, onApplied: () => {}, untilSeq: through });
  await replay.done;
  assert.equal(p.lastSeq, through);
  assert.deepEqual(versionsOf(p, "tail_replay"), [1, 2]);
  const again = await tailCommitLog({ nc, projection: p, log: quiet, onApplied: () => {}, untilSeq: through });
  await again.done;
  assert.equal(p.lastSeq, through);
});
