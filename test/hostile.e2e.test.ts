// Hostile input: deeply nested JSON, hostile Avro written straight onto the lake's streams (past
// ingest, as a misbehaving publisher would), giant bodies. Each gets a clear error or is quarantined;
// no service crashes and accepted data is untouched.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { sampleEvents, sendHttp } from "@lake/client";
import { quarantinedRecordCodec } from "@lake/contracts";

import { bearer, covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
const accepted: string[] = [];

async function sendGood(prefix: string) {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(10, { prefix }));
  assert.equal(r.accepted, 10);
  accepted.push(...r.results.map((x) => x.event_id!));
  return r.max_offset!;
}

/** Every service the lake started is still running. */
function allAlive() {
  for (const [name, s] of lake.services) assert.doesNotMatch(s.logs(), /Maximum call stack|FATAL ERROR|heap out of memory/, `${name} did not crash`);
}

before(async () => {
  lake = await withLake();
  nc = await lake.connect();
  await covering(lake, await sendGood("before"));
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

test("deeply nested JSON is refused with a clear error, in a field or as the whole body", async () => {
  const depth = 100_000;
  const nested = "[".repeat(depth) + "]".repeat(depth);
  const inField = `{"event_id":"deep-1","user_id":${nested},"event_type":"view","timestamp":1780272000000,"amount":1}`;
  const r1 = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
    method: "POST",
    body: inField,
    headers: { "content-type": "application/json", ...bearer(lake.producer.token) },
  });
  assert.ok(r1.status === 422 || r1.status === 400, `status ${r1.status}`);
  const b1 = (await r1.json()) as { results?: { path: string; reason: string }[]; error?: string };
  if (r1.status === 422) assert.equal(b1.results![0]!.path, "$.user_id");
  const r2 = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
    method: "POST",
    body: nested,
    headers: { "content-type": "application/json", ...bearer(lake.producer.token) },
  });
  assert.ok(r2.status === 200 || r2.status === 400, `status ${r2.status}`);
  if (r2.status === 200) assert.equal(((await r2.json()) as { results: { status: string }[] }).results[0]!.status, "rejected");
  allAlive();
  await covering(lake, await sendGood("after-deep"));
});

test("hostile Avro on the events stream is quarantined by the committer, which keeps committing", async () => {
  const js = jetstream(nc);
  // A record whose first string claims a length of 2^31 bytes, and random garbage.
  const claimHuge = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10, 0x41]);
  for (const [i, bytes] of [claimHuge, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])].entries()) {
    await js.publish(`lake.events.${DATASET}`, bytes, { msgID: `hostile-${i}` });
  }
  const offset = await sendGood("after-avro");
  await covering(lake, offset);
  const jsm = await jetstreamManager(nc);
  const q = await jsm.streams.getMessage("QUARANTINE", { last_by_subj: `lake.quarantine.${DATASET}` });
  const rec = quarantinedRecordCodec.decode(q!.data);
  assert.equal(rec.source, "stream");
  assert.match(rec.reason, /undecodable message on lake\.events\.domain_events/);
  allAlive();
});

test("a hostile record on the commit log doesn't stop the catalog or quality", async () => {
  const h = natsHeaders();
  h.set("Lake-Record", "VersionCommitted");
  // 12 empty fields, then an array block claiming 2^31 added_files.
  const bytes = new Uint8Array([...new Array(12).fill(0), 0x80, 0x80, 0x80, 0x80, 0x10]);
  await jetstream(nc).publish("lake.commits.rogue_dataset", bytes, { headers: h });
  // The lake goes on: new events are committed and visible through the catalog.
  await covering(lake, await sendGood("after-rogue-log"));
  allAlive();
  // Not a lake record (a Lake-Record header, but no compare-and-set token, and a body that does not decode): void.
  assert.match(lake.services.get("catalog")!.logs(), /void commit-log record refused.*no compare-and-set token/);
});

test("a body over the size limit is refused before it is read, and the data is what was accepted", async () => {
  // Declares 5 MiB but sends only the first KiB: the server must answer from the declared length alone,
  // without waiting for (or buffering) the rest.
  const url = new URL(lake.ingestUrl);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: `/v1/domains/${DATASET}/events`,
        headers: { "content-type": "application/json", "content-length": 5 * 1024 * 1024, ...bearer(lake.producer.token) },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
        req.destroy();
      },
    );
    req.on("error", (e) => (req.destroyed ? undefined : reject(e)));
    req.write("x".repeat(1024));
  });
  assert.equal(status, 413);
  allAlive();
  assert.deepEqual(await eventIdsIn(lake, "latest"), [...accepted].sort());
});
