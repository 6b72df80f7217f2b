import type { AddressInfo } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, ensureStreams, streamSettingsFromEnv } from "@lake/messaging";
import { createLogger, createRegistry, startTelemetry } from "@lake/telemetry";
import { onShutdown } from "@lake/runtime";
import { readEnv } from "./env.ts";
import { Publisher } from "./nats/publisher.ts";
import { startHttp } from "./http/server.ts";
import { startNatsEndpoint } from "./nats/endpoint.ts";
import { Quarantine } from "./nats/quarantine.ts";
import { SchemaRegistry } from "@lake/registry";

const env = readEnv();
const telemetry = startTelemetry("ingest");
const log = createLogger("ingest");
const nc = await connectNats({ url: env.natsUrl, name: "ingest" });
const jsm = await jetstreamManager(nc);
// Creates missing streams (LAKE_STREAM_REPLICAS replicas) and keeps the events stream's dedupe window.
await ensureStreams(jsm, { ...streamSettingsFromEnv(process.env), dedupeWindowMs: env.dedupeWindowMs }, { dedupeOwner: true });
// Contracts come from the schema registry, followed live: a new version applies without a restart.
const registry = await SchemaRegistry.open(nc, { log });
const metrics = createRegistry("ingest");
const publisher = new Publisher({ nc, metrics, contracts: registry, maxBatch: env.maxBatch, maxQuarantineBytes: env.maxQuarantineBytes });
const quarantine = new Quarantine({ nc, jsm, publisher, log });
const sub = startNatsEndpoint({ nc, publisher, maxBodyBytes: env.maxBodyBytes, log });
const server = await startHttp({ publisher, quarantine, metrics, host: env.httpHost, port: env.httpPort, maxBodyBytes: env.maxBodyBytes, log });
const port = (server.address() as AddressInfo).port;
log.info("ready", { http_port: port, url: `http://${env.httpHost}:${port}` });

onShutdown(log, async () => {
  server.close();
  sub.unsubscribe();
  registry.close();
  await nc.drain();
  await telemetry.shutdown();
});
