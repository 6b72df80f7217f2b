// Throughput: the JetStream ceiling (raw async publish and pull-consume of the same Avro payloads on the
// lake's own server), then ingest → committed version, batched and one event per request, over HTTP and
// NATS request/reply, each with its ratio to the raw publish rate.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

import { type LakeHandle, produce, produceDefaults } from "@lake/app";
import { CatalogClient, type IngestReply, sampleEvents, sendHttp, sendNats } from "@lake/client";
import { domainContract } from "@lake/contracts";

import { natsLogin, round, type Row } from "./lib.ts";

const DATASET = "domain_events";
const SECTION = "1-2 throughput";

export interface ThroughputOptions {
  /** Events per raw / batched run. */
  events: number;
  /** Events per one-event-per-request run. */
  singles: number;
  /** Requests in flight for the one-event-per-request runs. */
  singleConcurrency: number;
}

export async function throughput(lake: LakeHandle, nc: NatsConnection, o: ThroughputOptions): Promise<{ rows: Row[]; rawPublishEps: number }> {
  const rows: Row[] = [];
  const N = o.events;
  const catalog = new CatalogClient(lake.catalogUrl);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  // 1. The ceiling: async publish with msg ids (dedupe on, like ingest) to a stream of its own, 2000 in
  //    flight; then an ordered pull consumer (the kind the committer uses) reads them all back.
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw"] });
  const contract = domainContract(DATASET);
  const payloads = sampleEvents(N, { prefix: "raw" }).map((e) => contract.encode(e as unknown as Record<string, unknown>));
  let t = performance.now();
  const window = 2000;
  for (let i = 0; i < N; i += window) {
    const acks = [];
    for (let k = i; k < Math.min(N, i + window); k++) acks.push(js.publish("bench.raw", payloads[k]!, { msgID: `raw-${k}` }));
    await Promise.all(acks);
  }
  const rawPublishEps = N / ((performance.now() - t) / 1000);
  rows.push({
    key: "raw_jetstream_publish_eps",
    section: SECTION,
    figure: "raw JetStream async publish (ceiling)",
    value: rawPublishEps,
    unit: "ev/s",
    note: `${N} Avro events, msg ids, 2000 in flight`,
  });

  // The same through a connection with noAsyncTraces (nats.js then skips building an Error with a
  // stack trace per request/publish; the services connect with it too, see connectNats).
  {
    const fast = await connect({ servers: lake.natsUrl.split(","), noAsyncTraces: true, ...natsLogin(lake) });
    const fjs = jetstream(fast);
    t = performance.now();
    for (let i = 0; i < N; i += window) {
      const acks = [];
      for (let k = i; k < Math.min(N, i + window); k++) acks.push(fjs.publish("bench.raw", payloads[k]!, { msgID: `raw-fast-${k}` }));
      await Promise.all(acks);
    }
    rows.push({
      key: "raw_jetstream_publish_no_async_traces_eps",
      section: SECTION,
      figure: "  the same with noAsyncTraces: true",
      value: N / ((performance.now() - t) / 1000),
      unit: "ev/s",
      note: "the services connect this way too (connectNats); the ratios below use the plain publish above",
    });
    await fast.close();
  }

  const consumer = await js.consumers.get("BENCH_RAW");
  t = performance.now();
  const messages = await consumer.consume({ max_messages: 5000 });
  let got = 0;
  for await (const _m of messages) {
    got++;
    if (got >= N) break;
  }
  messages.stop();
  const rawConsumeEps = got / ((performance.now() - t) / 1000);
  rows.push({ key: "raw_jetstream_consume_eps", section: SECTION, figure: "raw JetStream pull consume (ordered)", value: rawConsumeEps, unit: "ev/s" });
  await jsm.streams.delete("BENCH_RAW");

  const ratio = (eps: number) => round(eps / rawPublishEps, 2);
  const target = "≥ 0.8× raw publish";

  // 2a. Batches of 500, 4 in flight, then until the catalog has a version covering the last offset.
  for (const via of ["http", "nats"] as const) {
    t = performance.now();
    const r = await produce({
      ...produceDefaults,
      count: N,
      rate: 0,
      batch: 500,
      duplicates: 0,
      invalid: 0,
      concurrency: 4,
      via,
      prefix: `tp-${via}`,
      ingestUrl: lake.ingestUrl,
      ingestToken: lake.producer.token,
      nc,
    });
    const ingestS = (performance.now() - t) / 1000;
    await catalog.waitCovering(DATASET, r.maxOffset, 300_000);
    const e2eS = (performance.now() - t) / 1000;
    const e2e = r.accepted / e2eS;
    rows.push({
      key: `ingest_${via}_accepted_eps`,
      section: SECTION,
      figure: `ingest ${via.toUpperCase()} batches of 500, accepted`,
      value: r.accepted / ingestS,
      unit: "ev/s",
    });
    rows.push({
      key: `e2e_${via}_committed_eps`,
      section: SECTION,
      figure: `ingest ${via.toUpperCase()} batches → committed version`,
      value: e2e,
      unit: "ev/s",
    });
    rows.push({
      key: `e2e_${via}_ratio_to_raw`,
      section: SECTION,
      figure: `  ratio to raw publish`,
      value: ratio(e2e),
      unit: "×",
      target,
      meets: ratio(e2e) >= 0.8,
    });
  }

  // 2b. One event per request (a JSON object, not an array), `singleConcurrency` requests in flight.
  for (const via of ["http", "nats"] as const) {
    const events = sampleEvents(o.singles, { prefix: `single-${via}`, seed: 5 });
    let next = 0;
    let accepted = 0;
    let maxOffset = 0;
    t = performance.now();
    const worker = async () => {
      while (next < events.length) {
        const e = events[next++]!;
        for (let attempt = 1; ; attempt++) {
          const reply: IngestReply = via === "http" ? await sendHttp(lake.producer, DATASET, e) : await sendNats(nc, DATASET, e);
          if (reply.status === 200) {
            accepted += reply.accepted ?? 0;
            maxOffset = Math.max(maxOffset, reply.max_offset ?? 0);
            break;
          }
          if (attempt >= 5) throw new Error(`single event refused: ${reply.status} ${reply.message ?? ""}`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.singleConcurrency }, worker));
    const ingestS = (performance.now() - t) / 1000;
    await catalog.waitCovering(DATASET, maxOffset, 300_000);
    const e2eS = (performance.now() - t) / 1000;
    const e2e = accepted / e2eS;
    rows.push({
      key: `ingest_${via}_single_accepted_eps`,
      section: SECTION,
      figure: `ingest ${via.toUpperCase()} one event per request, accepted`,
      value: accepted / ingestS,
      unit: "ev/s",
      note: `${o.singles} events, ${o.singleConcurrency} requests in flight`,
    });
    rows.push({
      key: `e2e_${via}_single_committed_eps`,
      section: SECTION,
      figure: `ingest ${via.toUpperCase()} single → committed version`,
      value: e2e,
      unit: "ev/s",
    });
    rows.push({
      key: `e2e_${via}_single_ratio_to_raw`,
      section: SECTION,
      figure: `  ratio to raw publish`,
      value: ratio(e2e),
      unit: "×",
      target,
      meets: ratio(e2e) >= 0.8,
    });
  }
  return { rows, rawPublishEps };
}
