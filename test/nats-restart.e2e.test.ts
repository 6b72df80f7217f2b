// A nats-server restart (kill -9, same port and store) with producers' requests in flight. Every publish
// and request sent while the connection is down is lost with it; without help each would wait out its
// whole timeout. Ingest sends its lost publishes again at the reconnect (with their Nats-Msg-Id: stored
// once), and the client library sends a lost NATS request again: both kinds of request are answered
// once the server is back, long before their timeouts, and every event is in the lake exactly once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { sampleEvents, sendHttp, sendNats } from "@lake/client";

import { assertExactlyOnce, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

test("requests in flight across a nats-server restart are answered once it is back, not after their timeouts", { timeout: 120_000 }, async () => {
  const nats = lake.nats;
  assert.ok(nats, "the lake runs its own nats-server");
  const nc = await lake.connect();
  const accepted = new Set<string>();
  const take = (r: { results: { status: string; event_id?: string | null }[] }, n: number, what: string) => {
    assert.equal(r.results.filter((x) => x.status === "accepted" || x.status === "duplicate").length, n, `${what}: every event stored`);
    for (const x of r.results) accepted.add(x.event_id!);
  };
  try {
    take(await sendNats(nc, DATASET, sampleEvents(20, { prefix: "before", seed: 1 })), 20, "before");

    await nats.kill9();
    // Sent while the server is down: the NATS request from this client, and over HTTP ingest's publishes.
    // The NATS request's timeout is longer than the test may take to pass: only a send again answers it.
    const overNats = sendNats(nc, DATASET, sampleEvents(30, { prefix: "nats", seed: 2 }), 60_000);
    const overHttp = sendHttp(lake.producer, DATASET, sampleEvents(30, { prefix: "http", seed: 3 }));
    // The outage lasts a moment (nothing to wait on: both requests are out and lost); ingest's publishes
    // wait 5 s for their acks, so the server must be back well within that.
    await new Promise((r) => setTimeout(r, 200));
    await nats.restart();

    const [n, h] = await Promise.all([overNats, overHttp]);
    // Had ingest waited out its ack timeout for the lost publishes, it would have answered 503.
    assert.equal(h.status, 200, `ingest answered the HTTP batch: ${JSON.stringify(h).slice(0, 300)}`);
    take(n, 30, "over NATS");
    take(h, 30, "over HTTP");

    const last = await sendNats(nc, DATASET, sampleEvents(10, { prefix: "after", seed: 4 }));
    take(last, 10, "after");
    await lake.catalog.waitCovering(DATASET, last.max_offset!, 60_000);
    await assertExactlyOnce(lake, accepted);
  } finally {
    await nc.close();
  }
});
