import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { connectNats } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { createLogger, startTelemetry } from "@lake/telemetry";
import { onShutdown } from "@lake/runtime";
import { readEnv } from "./env.ts";
import { loadAllRules, useRegistry } from "./dataset-rules.ts";
import { SchemaRegistry } from "@lake/registry";
import { QualityChecker } from "./nats/checker.ts";

const env = readEnv();
const telemetry = startTelemetry("quality");
const log = createLogger("quality", { checker_id: env.checkerId });
// A contract with a broken "lake.quality" stops the service here, before it judges anything.
const rules = loadAllRules();
mkdirSync(dirname(env.dbPath), { recursive: true });
const nc = await connectNats({ url: env.natsUrl, name: "quality" });
const registry = await SchemaRegistry.open(nc, { log });
useRegistry(registry);
const checker = new QualityChecker({ nc, store: openLocalStore(env.storeRoot), dbPath: env.dbPath, checkerId: env.checkerId, log, maxBatch: env.maxBatch });
await checker.start();
log.info("ready", { position: checker.state.lastSeq, domains: [...rules.keys()] });

onShutdown(log, async () => {
  await checker.stop();
  registry.close();
  await nc.drain();
  await telemetry.shutdown();
});
