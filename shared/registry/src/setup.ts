// What has to happen on a lake's NATS before any service starts, as the one user allowed to do it
// (`admin`): the streams exist with the deployment's settings, and the repo's contracts are registered.
// Services may do neither when NATS has users (shared/messaging/src/permissions.ts), so no stream ends up
// with one service's defaults and no service can change a stream or a contract. Run by the compose
// `nats-setup` job (deploy/nats-setup.ts) and by `lake up` (startLake) before it starts the services.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { ensureStreams, STREAMS, type StreamSettings } from "@lake/messaging";

import { SchemaRegistry } from "./registry.ts";

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
export async function setupNats(
  nc: NatsConnection,
  settings: StreamSettings,
  waitMs = 60_000,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<SetupResult> {
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
      log(`nats-setup: JetStream not ready (attempt ${attempt}: ${(e as Error).message}); retrying`);
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
