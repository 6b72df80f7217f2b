import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { connectNats } from "@lake/messaging";
import { createLogger } from "@lake/telemetry";
import { onShutdown } from "@lake/runtime";
import { readEnv } from "./env.ts";
import { Catalog } from "./catalog.ts";
import { startHttp } from "./http/routes.ts";

const env = readEnv();
const log = createLogger("catalog");
mkdirSync(dirname(env.dbPath), { recursive: true });
const nc = await connectNats({ url: env.natsUrl, name: "catalog" });
const catalog = new Catalog(nc, env.dbPath, log);
await catalog.start();
const { server, port } = await startHttp({ catalog, host: env.httpHost, port: env.httpPort, maxWaitMs: env.maxWaitMs, log });
log.info("ready", { http_port: port, url: `http://${env.httpHost}:${port}`, projected_through_seq: catalog.projection.lastSeq });

onShutdown(log, async () => {
  server.close();
  await catalog.stop();
  await nc.drain();
});
