import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

import { connectNats } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { onShutdown } from "@lake/runtime";
import { createLogger, startTelemetry } from "@lake/telemetry";

import { derivedContract, lateEventCodec } from "./contract.ts";
import { StateStore } from "./db/state.ts";
import { readEnv } from "./env.ts";
import { failpointHook } from "./failpoints.ts";
import { startHttp } from "./http/metrics.ts";
import { Aggregator } from "./nats/aggregator.ts";

const env = readEnv();
const telemetry = startTelemetry("aggregator");
const log = createLogger("aggregator", { dataset: env.dataset });
const contract = derivedContract(env.dataset);
const job = contract.job;
mkdirSync(dirname(env.dbPath), { recursive: true });
// The stored state is only meaningful for the job that built it: a changed window, key or lateness
// refuses to start instead of mixing two definitions (the spec's JSON, in a fixed key order).
const store = new StateStore(env.dbPath, JSON.stringify({ contract_version: contract.version, ...job }));
const nc = await connectNats({ url: env.natsUrl, name: `aggregator-${env.dataset}` });
// Source events may be written with any registered version of their contract.
const registry = await SchemaRegistry.open(nc, { log });
const aggregator = new Aggregator({
  decodeSource: (bytes, writer) => registry.decode(job.source, bytes, writer),
  sourceMaxFutureSkewMs: () => registry.latest(job.source).maxFutureSkewMs,
  nc,
  contract,
  lateCodec: lateEventCodec(),
  store,
  maxBatch: env.maxBatch,
  maxAgeMs: env.maxAgeMs,
  pullLingerMs: env.pullLingerMs,
  publishBatch: env.publishBatch,
  log,
  failpoint: failpointHook(env.failpoints),
  poison: env.poison,
  refreshSource: () => registry.refresh(),
});
await aggregator.start();
// The lag is measured on a timer (a NATS request) and served from the last measurement.
let lag = Number.NaN;
const lagTimer = setInterval(() => {
  aggregator.lag().then(
    (n) => (lag = n),
    (err: unknown) => log.warn("measuring consumer lag failed", { err }),
  );
}, 1000);
const { server, port } = await startHttp({
  src: {
    dataset: env.dataset,
    outOfOrdernessMs: job.outOfOrdernessMs,
    snapshot: () => store.snapshot(),
    failing: () => aggregator.failing,
    lag: () => lag,
    batches: () => aggregator.batches,
  },
  host: env.httpHost,
  port: env.httpPort,
  log,
});
// Stops are handled before anyone learns we are ready: a SIGTERM right after the ready line must
// find the handler, not Node's default (killed by the signal).
onShutdown(log, async () => {
  clearInterval(lagTimer);
  server.close();
  await aggregator.stop();
  registry.close();
  await nc.drain();
  store.close();
  await telemetry.shutdown();
});

log.info("ready", {
  http_port: port,
  url: `http://${env.httpHost}:${port}`,
  source: job.source,
  window: job.window,
  input_seq: aggregator.inputSeq,
  watermark_ms: aggregator.watermark,
});
