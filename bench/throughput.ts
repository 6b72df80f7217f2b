// Throughput: the JetStream ceiling (raw async publish and pull-consume of the same Avro payloads on the
// lake's own server), then ingest → committed version, batched and one event per request, over HTTP and
// NATS request/reply, each with its ratio to the raw publish rate.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

import { type LakeHandle, produce, produceDefaults } from "@lake/app";
import { CatalogClient, type IngestReply, sampleEvents, sendHttp, sendNats } from "@lake/client";
import { domainContract } from "@lake/contracts";
import { AckedPublisher, STREAMS } from "@lake/messaging";

import { cpuRows, cpuWindow, lakeProcesses, procCpuSeconds, usPerEvent } from "./cpu.ts";
import { httpFloor } from "./http-floor.ts";
import { singleSender } from "./http-load.ts";
import { natsLogin, nextEventTime, openLoop, pct, round, type Row, sleep } from "./lib.ts";
import { haveWrk, wrkSingles } from "./wrk.ts";

const DATASET = "domain_events";
const SECTION = "1-2 throughput";

export interface ThroughputOptions {
  /** Events per raw / batched run. */
  events: number;
  /** Events per one-event-per-request run. */
  singles: number;
  /** Requests in flight for the one-event-per-request runs. */
  singleConcurrency: number;
  /** Which measured runs (default all): http-batches, nats-batches, http-singles, nats-singles, nats-steady. */
  runs?: readonly string[];
  /**
   * Seconds of a steady stream (2,000 events/s over NATS) before the warm-up batches: long enough for
   * every committer to write a few hundred files, so the Parquet writer (WebAssembly, tiered up by V8
   * only once its functions are hot) and the JIT are in their steady state. 0: none.
   */
  warmupSeconds?: number;
}

export const THROUGHPUT_RUNS = ["http-batches", "nats-batches", "http-singles", "http-singles-wrk", "nats-singles", "nats-steady"] as const;

/** The steady run: one event per NATS request at this rate, open loop, for this long. */
const STEADY_EPS = 3000;
const STEADY_SECONDS = 15;

export async function throughput(lake: LakeHandle, nc: NatsConnection, o: ThroughputOptions): Promise<{ rows: Row[]; rawPublishEps: number }> {
  const rows: Row[] = [];
  const N = o.events;
  const runs: readonly string[] = o.runs ?? THROUGHPUT_RUNS;
  /** `count` events in batches of 500, 4 requests in flight, as fast as ingest takes them. */
  const batches = (via: "http" | "nats", count: number, prefix: string) =>
    produce({
      ...produceDefaults,
      count,
      rate: 0,
      batch: 500,
      duplicates: 0,
      invalid: 0,
      concurrency: 4,
      via,
      prefix,
      startMs: nextEventTime(),
      ingestUrl: lake.ingestUrl,
      ingestToken: lake.producer.token,
      nc,
    });
  const catalog = new CatalogClient(lake.catalogUrl);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  // 1. The ceiling: async publish with msg ids (dedupe on, like ingest) to a stream of its own, 2000 in
  //    flight; then an ordered pull consumer (the kind the committer uses) reads them all back.
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw"] });
  const contract = domainContract(DATASET);
  const payloads = sampleEvents(N, { prefix: "raw" }).map((e) => contract.encode(e as unknown as Record<string, unknown>));
  const procs = () => lakeProcesses(lake);
  /** Publishes every payload with `publish`, 2,000 in flight; events per second. */
  const publishAll = async (publish: (payload: Uint8Array, k: number) => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    const window = 2000;
    for (let i = 0; i < N; i += window) {
      const acks = [];
      for (let k = i; k < Math.min(N, i + window); k++) acks.push(publish(payloads[k]!, k));
      await Promise.all(acks);
    }
    return N / ((performance.now() - started) / 1000);
  };
  let cpu = cpuWindow(procs);
  const rawPublishEps = await publishAll((p, k) => js.publish("bench.raw", p, { msgID: `raw-${k}` }));
  const rawCpu = cpu.stop();
  const natsRawUsPerEvent = usPerEvent(rawCpu.get("nats-server") ?? NaN, N);
  rows.push({
    key: "raw_jetstream_publish_eps",
    section: SECTION,
    figure: "raw JetStream async publish (ceiling)",
    value: rawPublishEps,
    unit: "ev/s",
    note: `${N} Avro events, msg ids, 2000 in flight`,
  });
  rows.push({
    key: "raw_jetstream_publish_nats_cpu_us_per_event",
    section: SECTION,
    figure: "  nats-server CPU per event in the raw publish",
    value: round(natsRawUsPerEvent, 1),
    unit: "µs/ev",
    note: `the publisher used ${round(usPerEvent(rawCpu.get("load generator")!, N), 1)} µs/ev; nats-server ${round((cpu.switches.get("nats-server") ?? NaN) / N, 2)} context switches per event`,
  });

  // The same through a connection with noAsyncTraces (nats.js then skips building an Error with a
  // stack trace per request/publish; the services connect with it too, see connectNats).
  {
    const fast = await connect({ servers: lake.natsUrl.split(","), noAsyncTraces: true, ...natsLogin(lake) });
    const fjs = jetstream(fast);
    const fastEps = await publishAll((p, k) => fjs.publish("bench.raw", p, { msgID: `raw-fast-${k}` }));
    rows.push({
      key: "raw_jetstream_publish_no_async_traces_eps",
      section: SECTION,
      figure: "  the same with noAsyncTraces: true",
      value: fastEps,
      unit: "ev/s",
      note: "the services connect this way too (connectNats); the ratios below use the plain publish above",
    });
    // And through AckedPublisher, the publish ingest and the aggregator use: the client's cost per
    // publish is about half of js.publish's, so this raw rate is well above the ceiling the ratios use.
    const lean = new AckedPublisher(fast);
    const leanCpu = cpuWindow(procs);
    const leanEps = await publishAll((p, k) => lean.publish("bench.raw", p, { msgID: `raw-lean-${k}` }));
    const leanUsed = leanCpu.stop();
    rows.push({
      key: "raw_jetstream_publish_acked_publisher_eps",
      section: SECTION,
      figure: "  the same through AckedPublisher (ingest's publish)",
      value: leanEps,
      unit: "ev/s",
      note: `nats-server ${round(usPerEvent(leanUsed.get("nats-server") ?? NaN, N), 1)} µs/ev, the publisher ${round(usPerEvent(leanUsed.get("load generator")!, N), 1)} µs/ev; the ratios below use the plain publish above`,
    });
    lean.close();
    await fast.close();
  }

  const consumer = await js.consumers.get("BENCH_RAW");
  let t = performance.now();
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
  const batchTarget = 0.6;
  const singleTarget = 0.25;
  const cpuTarget = 3;

  // Warm-up, not measured: the first events through a fresh lake pay for JIT compilation, connection
  // set-up and the first Parquet writer instances in every process; the figures are steady state.
  {
    let maxOffset = 0;
    if (o.warmupSeconds) {
      const r = await produce({
        ...produceDefaults,
        count: Math.round(o.warmupSeconds * 2000),
        rate: 2000,
        batch: 100,
        duplicates: 0,
        invalid: 0,
        concurrency: 4,
        via: "nats",
        prefix: "warm-steady",
        startMs: nextEventTime(),
        nc,
      });
      maxOffset = r.maxOffset;
    }
    for (const via of ["http", "nats"] as const) {
      const r = await batches(via, Math.min(5000, N), `warm-${via}`);
      maxOffset = Math.max(maxOffset, r.maxOffset);
      const singles = sampleEvents(200, { prefix: `warm-single-${via}`, seed: 4, startMs: nextEventTime() });
      for (let i = 0; i < singles.length; i += 16) {
        const replies = await Promise.all(
          singles.slice(i, i + 16).map((e) => (via === "http" ? sendHttp(lake.producer, DATASET, e) : sendNats(nc, DATASET, e))),
        );
        for (const reply of replies) maxOffset = Math.max(maxOffset, reply.max_offset ?? 0);
      }
    }
    await catalog.waitCovering(DATASET, maxOffset, 300_000);
  }

  // What the lake costs doing nothing (heartbeats, polls, timers): it is in every figure below too.
  {
    await quiet(procs);
    const idle = cpuWindow(procs);
    const t0 = performance.now();
    await sleep(3000);
    const s = (performance.now() - t0) / 1000;
    const used = idle.stop();
    used.delete("load generator");
    const perS = (x: number) => round((x * 1000) / s, 1);
    rows.push({
      key: "idle_lake_cpu_ms_per_s",
      section: SECTION,
      figure: "idle lake: CPU of all processes",
      value: perS([...used.values()].reduce((a, b) => a + b, 0)),
      unit: "ms/s",
      note: [...used]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([n, x]) => `${n} ${perS(x)}`)
        .join(", "),
    });
  }

  // 2a. Batches of 500, 4 in flight, then until the catalog has a version covering the last offset.
  for (const via of ["http", "nats"] as const) {
    if (!runs.includes(`${via}-batches`)) continue;
    await quiet(procs);
    cpu = cpuWindow(procs);
    t = performance.now();
    const r = await batches(via, N, `tp-${via}`);
    const ingestS = (performance.now() - t) / 1000;
    await catalog.waitCovering(DATASET, r.maxOffset, 300_000);
    const e2eS = (performance.now() - t) / 1000;
    const e2e = r.accepted / e2eS;
    // The work an event causes goes on after it is committed (quality, the aggregator and its committer,
    // the catalog's projections): count it until the lake is idle again.
    await quiet(procs);
    const used = cpu.stop();
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
      target: `≥ ${batchTarget}× raw publish`,
      meets: ratio(e2e) >= batchTarget,
    });
    rows.push(
      ...cpuRows({
        used,
        events: r.accepted,
        keyPrefix: `e2e_${via}`,
        section: SECTION,
        label: `${via.toUpperCase()} batches`,
        natsRawUsPerEvent,
        target: cpuTarget,
        switches: cpu.switches,
      }),
    );
  }

  // 2b. One event per request (a JSON object, not an array), `singleConcurrency` requests in flight;
  //     first, over HTTP, the floor: the same client against a server that only answers.
  if (runs.includes("http-singles")) rows.push(...(await httpFloor({ requests: o.singles, concurrency: o.singleConcurrency, section: SECTION })));
  for (const via of ["http", "nats"] as const) {
    if (!runs.includes(`${via}-singles`)) continue;
    const events = sampleEvents(o.singles, { prefix: `single-${via}`, seed: 5, startMs: nextEventTime() });
    let next = 0;
    let accepted = 0;
    let maxOffset = 0;
    const http = via === "http" ? singleSender(lake.producer, o.singleConcurrency) : undefined;
    await quiet(procs);
    cpu = cpuWindow(procs);
    t = performance.now();
    const worker = async () => {
      while (next < events.length) {
        const e = events[next++]!;
        for (let attempt = 1; ; attempt++) {
          const reply: IngestReply = http ? await http.send(DATASET, e) : await sendNats(nc, DATASET, e);
          if (reply.status === 200) {
            accepted += reply.accepted ?? 0;
            maxOffset = Math.max(maxOffset, reply.max_offset ?? 0);
            break;
          }
          if (attempt >= 5) throw new Error(`single event refused: ${reply.status} ${reply.message ?? ""}`);
        }
      }
    };
    let ingestS: number;
    try {
      await Promise.all(Array.from({ length: o.singleConcurrency }, worker));
      ingestS = (performance.now() - t) / 1000;
    } finally {
      await http?.close();
    }
    await catalog.waitCovering(DATASET, maxOffset, 300_000);
    const e2eS = (performance.now() - t) / 1000;
    const e2e = accepted / e2eS;
    await quiet(procs);
    const used = cpu.stop();
    rows.push({
      key: `ingest_${via}_single_accepted_eps`,
      section: SECTION,
      figure: `ingest ${via.toUpperCase()} one event per request, accepted`,
      value: accepted / ingestS,
      unit: "ev/s",
      note: `${o.singles} events, ${o.singleConcurrency} requests in flight${http ? " (undici, kept-alive connections)" : ""}`,
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
      ...(via === "http" ? { target: `≥ ${singleTarget}× raw publish`, meets: ratio(e2e) >= singleTarget } : {}),
    });
    rows.push(
      ...cpuRows({
        used,
        events: accepted,
        keyPrefix: `e2e_${via}_single`,
        section: SECTION,
        label: `${via.toUpperCase()} single events`,
        natsRawUsPerEvent,
        switches: cpu.switches,
      }),
    );
  }

  // 2c. One event per HTTP request again, sent by wrk (C) rather than from this process: the load
  //     generator's CPU is on the lake's two cores, and undici's is 45-75 µs per request (45 against the floor's server, 58-75 against the lake).
  if (runs.includes("http-singles-wrk")) {
    if (!(await haveWrk())) {
      rows.push({
        key: "e2e_http_single_wrk_committed_eps",
        section: SECTION,
        figure: "ingest HTTP single (wrk) → committed version",
        value: "wrk not on PATH",
      });
    } else {
      const events = sampleEvents(o.singles, { prefix: "single-wrk", seed: 7, startMs: nextEventTime() });
      const bodies = events.map((e) => JSON.stringify(e));
      const before = (await jsm.streams.info(STREAMS.events)).state.last_seq;
      await quiet(procs);
      cpu = cpuWindow(procs);
      t = performance.now();
      const r = await wrkSingles({
        url: lake.ingestUrl,
        path: `/v1/domains/${DATASET}/events`,
        token: lake.producer.token,
        bodies,
        connections: o.singleConcurrency,
      });
      const last = (await jsm.streams.info(STREAMS.events)).state.last_seq;
      if (r.refused > 0 || last - before < r.ok) throw new Error(`wrk: ${r.refused} events refused, ${last - before} stored of ${r.ok} accepted`);
      await catalog.waitCovering(DATASET, last, 300_000);
      const e2e = r.ok / ((performance.now() - t) / 1000);
      await quiet(procs);
      const used = cpu.stop();
      // This process only waited: the load generator is wrk.
      used.set("load generator", r.cpuSeconds);
      rows.push({
        key: "ingest_http_single_wrk_accepted_eps",
        section: SECTION,
        figure: "ingest HTTP one event per request (wrk), accepted",
        value: r.ok / r.seconds,
        unit: "ev/s",
        note: `${r.ok} events, ${o.singleConcurrency} connections with one request in flight each (wrk -t1)`,
      });
      rows.push({
        key: "e2e_http_single_wrk_committed_eps",
        section: SECTION,
        figure: "ingest HTTP single (wrk) → committed version",
        value: e2e,
        unit: "ev/s",
      });
      rows.push({
        key: "e2e_http_single_wrk_ratio_to_raw",
        section: SECTION,
        figure: "  ratio to raw publish",
        value: ratio(e2e),
        unit: "×",
        target: `≥ ${singleTarget}× raw publish`,
        meets: ratio(e2e) >= singleTarget,
      });
      rows.push(
        ...cpuRows({
          used,
          events: r.ok,
          keyPrefix: "e2e_http_single_wrk",
          section: SECTION,
          label: "HTTP single events (wrk)",
          natsRawUsPerEvent,
          switches: cpu.switches,
        }),
      );
    }
  }

  // The same work every time: one event per NATS request at a fixed rate the machine holds, so CPU per
  // event compares across runs and hours (the closed-loop runs above do as much as the machine allows,
  // and their batch sizes and rates move with it).
  if (runs.includes("nats-steady")) {
    const events = sampleEvents(STEADY_EPS * STEADY_SECONDS, { prefix: "steady", seed: 6, startMs: nextEventTime() });
    let maxOffset = 0;
    let accepted = 0;
    await quiet(procs);
    cpu = cpuWindow(procs);
    const r = await openLoop(STEADY_EPS, STEADY_SECONDS * 1000, async (i) => {
      const reply = await sendNats(nc, DATASET, events[i]!);
      if (reply.status !== 200) throw new Error(`steady event refused: ${reply.status} ${reply.message ?? ""}`);
      accepted += reply.accepted ?? 0;
      maxOffset = Math.max(maxOffset, reply.max_offset ?? 0);
    });
    await catalog.waitCovering(DATASET, maxOffset, 300_000);
    await quiet(procs);
    const used = cpu.stop();
    rows.push({
      key: "steady_nats_single_p50_ms",
      section: SECTION,
      figure: `one event per NATS request at a steady ${STEADY_EPS / 1000}k ev/s: answer p50`,
      value: round(pct(r.latencies, 50), 1),
      unit: "ms",
      note: `${accepted} accepted in ${STEADY_SECONDS} s (open loop; ${r.skipped} not sent with 256 in flight, ${r.errors} refused)`,
    });
    rows.push({ key: "steady_nats_single_p99_ms", section: SECTION, figure: "  answer p99", value: round(pct(r.latencies, 99), 1), unit: "ms" });
    rows.push(
      ...cpuRows({
        used,
        events: accepted,
        keyPrefix: "steady_nats_single",
        section: SECTION,
        label: `NATS single events at ${STEADY_EPS / 1000}k ev/s`,
        natsRawUsPerEvent,
        switches: cpu.switches,
      }),
    );
  }
  return { rows, rawPublishEps };
}

/**
 * Waits (at most 15 s) until the lake is idle: every process together under 5% of a core over each of
 * four 300 ms windows in a row. Trailing work (quality checks, window results, projections, a derived
 * version cut up to LAKE_DERIVED_COMMIT_MAX_AGE_MS after its last result) then counts in the run that
 * caused it.
 */
async function quiet(procs: () => { name: string; pid: number }[]): Promise<void> {
  const total = () => procs().reduce((sum, p) => sum + (procCpuSeconds(p.pid) ?? 0), 0);
  const deadline = Date.now() + 15_000;
  let last = total();
  let calm = 0;
  while (Date.now() < deadline) {
    await sleep(300);
    const now = total();
    calm = now - last < 0.015 ? calm + 1 : 0;
    if (calm >= 4) return;
    last = now;
  }
}
