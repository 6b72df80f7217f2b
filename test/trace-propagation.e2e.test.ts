// With no tracing exported (the default), a producer's trace context still travels: the traceparent a
// request carries (HTTP header, or NATS header on a lake.ingest request) is in the stored event's NATS
// headers, so a downstream service that does export continues the producer's trace. Past ingest too: the
// commit record of the version holding the event, quality's verdict on it and the aggregator's window
// results carry the same trace. No service runs a context manager then: each hands its span's context to
// what it publishes itself.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import type { IngestReply } from "@lake/client";
import { sampleEvents } from "@lake/client";
import { HEADERS, STREAMS, subjects } from "@lake/messaging";

import { bearer, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let admin: NatsConnection;
let producer: NatsConnection;

before(async () => {
  lake = await withLake();
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

const lastSeq = async (jsm: JetStreamManager, stream: string) => (await jsm.streams.info(stream)).state.last_seq;

/** Waits until every service has taken what was sent so far: the events committed, and COMMITS and WINDOWS still for 1.5 s. */
async function settled(jsm: JetStreamManager): Promise<void> {
  const events = await lastSeq(jsm, STREAMS.events);
  if (events > 0) await lake.catalog.covering(DATASET, events, 30_000);
  const deadline = Date.now() + 30_000;
  let seen = "";
  let since = Date.now();
  while (Date.now() - since < 1500) {
    assert.ok(Date.now() < deadline, "COMMITS and WINDOWS kept growing for 30 s with nothing sent");
    const now = `${await lastSeq(jsm, STREAMS.commits)}/${await lastSeq(jsm, STREAMS.windows)}`;
    if (now !== seen) [seen, since] = [now, Date.now()];
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The trace id of each message of `stream` after `afterSeq` on `subject`, with its Lake-Record header. */
async function tracesAfter(jsm: JetStreamManager, stream: string, subject: string, afterSeq: number) {
  const out: { record: string | undefined; traceId: string | undefined; data: Uint8Array }[] = [];
  const last = await lastSeq(jsm, stream);
  for (let seq = afterSeq + 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m || m.subject !== subject) continue;
    out.push({ record: m.header?.get(HEADERS.record) || undefined, traceId: m.header?.get("traceparent")?.split("-")[1], data: m.data });
  }
  return out;
}

test(
  "no exporter: the trace goes on past ingest: the commit record, quality's verdict and the aggregator's window results continue it",
  { timeout: 120_000 },
  async () => {
    const jsm = await jetstreamManager(admin);
    // What earlier tests sent is taken first, so the next commit and the aggregator's next batch begin with this event.
    await settled(jsm);
    const commitsBefore = await lastSeq(jsm, STREAMS.commits);
    const windowsBefore = await lastSeq(jsm, STREAMS.windows);
    const tp = traceparent();
    const res = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: tp.header, ...bearer(lake.producer.token) },
      body: JSON.stringify(sampleEvents(1, { prefix: "tp-on", seed: 13 })[0]),
    });
    assert.equal(res.status, 200);
    const offset = ((await res.json()) as IngestReply).max_offset!;
    const v = await lake.catalog.covering(DATASET, offset, 30_000);

    // The version holding the event, and quality's verdict on it (judged after the commit: wait for it).
    const deadline = Date.now() + 30_000;
    let commits: Awaited<ReturnType<typeof tracesAfter>>;
    for (;;) {
      commits = await tracesAfter(jsm, STREAMS.commits, subjects.commits(DATASET), commitsBefore);
      if (commits.some((c) => c.record === "QualityVerdict")) break;
      assert.ok(Date.now() < deadline, `no verdict on version ${v.version} within 30 s: ${JSON.stringify(commits.map((c) => c.record))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const version = commits.find((c) => c.record === "VersionCommitted");
    assert.equal(version?.traceId, tp.traceId, "the commit record continues the producer's trace");
    const verdict = commits.find((c) => c.record === "QualityVerdict");
    assert.equal(verdict?.traceId, tp.traceId, "quality's verdict continues the trace of the version it judged");

    // The aggregator's results for the event's window.
    let windows: Awaited<ReturnType<typeof tracesAfter>>;
    const windowsDeadline = Date.now() + 30_000;
    while ((windows = await tracesAfter(jsm, STREAMS.windows, subjects.windows("daily_user_totals"), windowsBefore)).length === 0) {
      assert.ok(Date.now() < windowsDeadline, "no window result within 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      windows.some((w) => w.traceId === tp.traceId),
      `a window result continues the producer's trace (got ${JSON.stringify(windows.map((w) => w.traceId))})`,
    );
  },
);
