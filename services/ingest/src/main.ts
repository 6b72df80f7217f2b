import type { AddressInfo } from "node:net";

import { jetstreamManager } from "@nats-io/jetstream";

import { connectNats, ensureStreams, STREAMS, streamSettingsFromEnv } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { onShutdown } from "@lake/runtime";
import { createLogger, createRegistry, startTelemetry } from "@lake/telemetry";

import { readEnv } from "./env.ts";
import { startHttp } from "./http/server.ts";
import { startNatsEndpoint } from "./nats/endpoint.ts";
import { Publisher } from "./nats/publisher.ts";
import { Quarantine } from "./nats/quarantine.ts";

const env = readEnv();
// Contexts are handed on by hand (the request's to its publishes): no promise hook when not exporting.
const telemetry = startTelemetry("ingest");
const log = createLogger("ingest");
const nc = await connectNats({ url: env.natsUrl, name: "ingest" });
const jsm = await jetstreamManager(nc);
// Creates missing streams (a lake without NATS users, where services may); an existing stream's settings
// are the setup job's (deploy/nats-setup.ts, `lake up`), which applies LAKE_DEDUPE_WINDOW_MS: ingest may
// not change them, so it only says when the events stream's dedupe window is not the one it was given.
await ensureStreams(jsm, { ...streamSettingsFromEnv(process.env), dedupeWindowMs: env.dedupeWindowMs });
const eventsWindowMs = (await jsm.streams.info(STREAMS.events)).config.duplicate_window / 1e6;
if (eventsWindowMs !== env.dedupeWindowMs) {
  log.warn(
    "the events stream's duplicate window is not LAKE_DEDUPE_WINDOW_MS: producer retries are recognised for the stream's window; set it with the setup job",
    {
      stream_window_ms: eventsWindowMs,
      configured_ms: env.dedupeWindowMs,
    },
  );
}
// Contracts come from the schema registry, followed live: a new version applies without a restart.
const registry = await SchemaRegistry.open(nc, { log });
const metrics = createRegistry("ingest");
const publisher = new Publisher({ nc, metrics, contracts: registry, maxBatch: env.maxBatch, maxQuarantineBytes: env.maxQuarantineBytes });
const quarantine = new Quarantine({ nc, jsm, publisher, log });
const sub = startNatsEndpoint({ nc, publisher, maxBodyBytes: env.maxBodyBytes, log, metrics });
if (env.tokens === undefined) {
  log.warn(
    "authentication is off: LAKE_INGEST_TOKENS_FILE is unset, so anyone who can reach ingest's HTTP port may send events to every domain and read or replay the quarantine; set it anywhere but local development",
    {
      host: env.httpHost,
    },
  );
}
const server = await startHttp({
  publisher,
  quarantine,
  metrics,
  host: env.httpHost,
  port: env.httpPort,
  maxBodyBytes: env.maxBodyBytes,
  log,
  timeouts: env.http,
  tokens: env.tokens,
});
const port = (server.address() as AddressInfo).port;
// Stops are handled before anyone learns we are ready: a SIGTERM right after the ready line must
// find the handler, not Node's default (killed by the signal).
onShutdown(log, async () => {
  server.close();
  sub.unsubscribe();
  registry.close();
  await nc.drain();
  await telemetry.shutdown();
});

log.info("ready", { http_port: port, url: `http://${env.httpHost}:${port}` });
