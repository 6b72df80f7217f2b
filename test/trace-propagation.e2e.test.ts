// With no tracing exported (the default), a producer's trace context still travels: the traceparent a
// request carries (HTTP header, or NATS header on a lake.ingest request) is in the stored event's NATS
// headers, so a downstream service that does export continues the producer's trace. Ingest runs without
// a context manager then, handing the request's context to its publishes itself.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import type { IngestReply } from "@lake/client";
import { sampleEvents } from "@lake/client";

import { bearer, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let admin: NatsConnection;
let producer: NatsConnection;

before(async () => {
  lake = await withLake({ without: ["quality", "aggregator"] });
  admin = await lake.connect();
  producer = await lake.connect("producer");
});
after(async () => {
  await producer?.close();
  await admin?.close();
  await lake?.cleanup();
});

/** The traceparent header of the stored event at `offset` (undefined when it has none). */
async function storedTraceparent(offset: number): Promise<string | undefined> {
  const m = await (await jetstreamManager(admin)).streams.getMessage("EVENTS", { seq: offset });
  assert.ok(m, `event at ${offset} is stored`);
  return m.header?.get("traceparent") || undefined;
}

const traceparent = () => {
  const traceId = randomBytes(16).toString("hex");
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString("hex")}-01` };
};

test("no exporter: a producer's traceparent over HTTP reaches the stored event; none is made up without one", { timeout: 60_000 }, async () => {
  const tp = traceparent();
  const [traced, plain] = sampleEvents(2, { prefix: "tp-http", seed: 11 });
  const send = async (body: unknown, extra: Record<string, string>) => {
    const res = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
      method: "POST",
      headers: { "content-type": "application/json", ...extra, ...bearer(lake.producer.token) },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as IngestReply).max_offset!;
  };
  const stored = await storedTraceparent(await send(traced, { traceparent: tp.header }));
  assert.equal(stored?.split("-")[1], tp.traceId, `the stored event continues the producer's trace (got ${stored})`);
  assert.equal(await storedTraceparent(await send(plain, {})), undefined, "no trace context is invented");
});

test("no exporter: a producer's traceparent on a NATS ingest request reaches the stored event", { timeout: 60_000 }, async () => {
  const tp = traceparent();
  const h = natsHeaders();
  h.set("traceparent", tp.header);
  const msg = await producer.request(`lake.ingest.${DATASET}`, new TextEncoder().encode(JSON.stringify(sampleEvents(1, { prefix: "tp-nats", seed: 12 })[0])), {
    headers: h,
    timeout: 10_000,
  });
  const reply = JSON.parse(new TextDecoder().decode(msg.data)) as IngestReply;
  assert.equal(reply.accepted, 1, JSON.stringify(reply));
  const stored = await storedTraceparent(reply.max_offset!);
  assert.equal(stored?.split("-")[1], tp.traceId, `the stored event continues the producer's trace (got ${stored})`);
});
