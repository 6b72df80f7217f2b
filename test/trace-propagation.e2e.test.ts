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
import type { LogRecord } from "@lake/contracts";
import { decodeLogRecord, STREAMS, subjects } from "@lake/messaging";

import { bearer, DATASET, withLake } from "./helpers.ts";

const DERIVED = "daily_user_totals";

let lake: Awaited<ReturnType<typeof withLake>>;
let admin: NatsConnection;
let producer: NatsConnection;

before(async () => {
  // No exporter, whatever this shell says: then no context manager runs, and only what each service
  // hands on carries a trace.
  lake = await withLake({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: "" } });
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

/**
 * Waits until every service has taken what was sent so far: the events are in a version, and the
 * derived dataset's aggregator has taken them too (a derived version reflects them).
 */
async function caughtUp(jsm: JetStreamManager): Promise<void> {
  const events = await lastSeq(jsm, STREAMS.events);
  if (events === 0) return;
  await lake.catalog.covering(DATASET, events, 30_000);
  await lake.catalog.coveringSource(DERIVED, events, 30_000, { passed: false });
}

/** The messages of `stream` after `afterSeq` on `subject`: each one's commit-log record (if it is one) and trace id. */
async function messagesAfter(jsm: JetStreamManager, stream: string, subject: string, afterSeq: number) {
  const out: { record: LogRecord | undefined; traceId: string | undefined }[] = [];
  const last = await lastSeq(jsm, stream);
  for (let seq = afterSeq + 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m || m.subject !== subject) continue;
    out.push({ record: decodeLogRecord({ data: m.data, headers: m.header }), traceId: m.header?.get("traceparent")?.split("-")[1] });
  }
  return out;
}

test(
  "no exporter: the trace goes on past ingest: the commit record, quality's verdict and the aggregator's window results continue it",
  { timeout: 120_000 },
  async () => {
    const jsm = await jetstreamManager(admin);
    // What earlier tests sent is taken first, so the next commit and the aggregator's next batch begin with this event.
    await caughtUp(jsm);
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
    // Quality's verdict on it: the version is the first covering one to pass.
    const passed = await lake.catalog.covering(DATASET, offset, 30_000, { passed: true });
    assert.equal(passed.version, v.version, "the version holding the event passed its checks");

    const commits = await messagesAfter(jsm, STREAMS.commits, subjects.commits(DATASET), commitsBefore);
    const version = commits.find((c) => c.record?.kind === "VersionCommitted" && c.record.body.version === v.version);
    assert.ok(version, `the commit record of version ${v.version} is after ${commitsBefore}`);
    assert.equal(version.traceId, tp.traceId, "the commit record continues the producer's trace");
    const verdict = commits.find((c) => c.record?.kind === "QualityVerdict" && c.record.body.version === v.version);
    assert.ok(verdict, `the verdict on version ${v.version} is after ${commitsBefore}`);
    assert.equal(verdict.traceId, tp.traceId, "quality's verdict continues the trace of the version it judged");

    // The aggregator's results for the event's window: on the stream once a derived version reflects the event.
    await lake.catalog.coveringSource(DERIVED, offset, 30_000, { passed: false });
    const windows = await messagesAfter(jsm, STREAMS.windows, subjects.windows(DERIVED), windowsBefore);
    assert.ok(windows.length > 0, "the aggregator published results for the event");
    assert.ok(
      windows.some((w) => w.traceId === tp.traceId),
      `a window result continues the producer's trace (got ${JSON.stringify(windows.map((w) => w.traceId))})`,
    );
  },
);
