// One-shot job (docker compose service `nats-setup`), run as the NATS `admin` user before any service
// starts: creates the lake's JetStream streams, or updates their settings, with the deployment's replica
// count, and registers the repo's contracts (contracts/avro/domains) in the schema registry. Services
// may do neither (deploy/nats/permissions.ts), so no stream ends up with the 1-replica default and no
// service can change a contract.
//   NATS_URL=... NATS_USER=admin NATS_PASSWORD=... LAKE_STREAM_REPLICAS=3 node --import tsx deploy/nats-setup.ts
//
//   LAKE_STREAM_REPLICAS   replicas of every stream (1..5; default 1). 3 on a 3-node cluster: a stream
//                          then survives the loss of any one node.
//   LAKE_DEDUPE_WINDOW_MS  JetStream duplicate window (default 15 min); keep it equal to ingest's.
//   LAKE_SETUP_WAIT_MS     how long to wait for JetStream to be ready (cluster leader elected; default 60 s).
import { pathToFileURL } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { STREAMS, connectNats, ensureStreams, streamSettingsFromEnv, type StreamSettings } from "@lake/messaging";

export { streamSettingsFromEnv };
import { SchemaRegistry } from "@lake/registry";

export class SetupConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SetupConfigError";
  }
}

function int(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new SetupConfigError(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

export interface SetupResult {
  streams: { name: string; replicas: number }[];
  /** Latest registered version of each domain. */
  schemas: Record<string, number>;
}

/**
 * Creates missing streams and applies `settings` to existing ones (as their owner), then registers the
 * repo's contracts the registry lacks. Retries while JetStream isn't ready yet (a cluster still electing
 * its leader answers 503 or times out), up to `waitMs`.
 */
export async function setupNats(nc: NatsConnection, settings: StreamSettings, waitMs = 60_000): Promise<SetupResult> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, settings, { applySettings: true });
      const streams: SetupResult["streams"] = [];
      for (const name of Object.values(STREAMS)) streams.push({ name, replicas: (await jsm.streams.info(name)).config.num_replicas });
      const registry = await SchemaRegistry.open(nc, { seed: true, actor: "repo" });
      try {
        return { streams, schemas: Object.fromEntries(registry.domains().map((d) => [d, registry.versions(d).length])) };
      } finally {
        registry.close();
      }
    } catch (e) {
      // A permissions violation or a refused contract won't heal by waiting: stop at once with it.
      if (Date.now() > deadline || !isTransient(e)) throw e;
      process.stderr.write(`nats-setup: JetStream not ready (attempt ${attempt}: ${(e as Error).message}); retrying\n`);
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
    }
  }
}

// Waiting helps while a cluster forms (timeouts, "temporarily unavailable", no responders, not enabled
// yet); it doesn't help a refused login or permission, or a contract the registry refuses.
function isTransient(e: unknown): boolean {
  const text = `${(e as Error)?.name ?? ""} ${(e as Error)?.message ?? ""}`;
  return !/permissions? violation|authorization|authentication|InvalidContract|IncompatibleSchema/i.test(text);
}

async function main(): Promise<void> {
  const url = process.env.NATS_URL;
  if (!url) throw new SetupConfigError("NATS_URL is required: the NATS server(s) to set up");
  const settings = streamSettingsFromEnv();
  const waitMs = int("LAKE_SETUP_WAIT_MS", process.env.LAKE_SETUP_WAIT_MS, 60_000, 0, 3_600_000);
  const nc = await connectNats({ url, name: "nats-setup" });
  try {
    const result = await setupNats(nc, settings, waitMs);
    process.stdout.write(`${JSON.stringify({ msg: "nats ready", replicas: settings.replicas, dedupe_window_ms: settings.dedupeWindowMs, ...result })}\n`);
  } finally {
    await nc.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`nats-setup: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
