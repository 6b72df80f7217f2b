import { connectNats } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { createLogger, startTelemetry } from "@lake/telemetry";
import { onShutdown } from "@lake/runtime";
import { readEnv } from "./env.ts";
import { failpointHook } from "./failpoints.ts";
import { Committer } from "./nats/committer.ts";
import { datasetSpec } from "./specs.ts";
import { SchemaRegistry } from "@lake/registry";

const env = readEnv();
const telemetry = startTelemetry("committer");
const log = createLogger("committer", { dataset: env.dataset });
const nc = await connectNats({ url: env.natsUrl, name: `committer-${env.dataset}` });
const registry = await SchemaRegistry.open(nc, { log });
const committer = new Committer({
  nc,
  store: openLocalStore(env.storeRoot),
  spec: datasetSpec(registry, env.dataset),
  maxRows: env.maxRows,
  maxAgeMs: env.maxAgeMs,
  committerId: env.committerId,
  log,
  failpoint: failpointHook(env.failpoints),
});
await committer.start();
log.info("ready", { committer_id: env.committerId, version: committer.head.version });

onShutdown(log, async () => {
  await committer.stop();
  await nc.drain();
  await telemetry.shutdown();
});
