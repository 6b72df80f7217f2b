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

import { connectNats, streamSettingsFromEnv } from "@lake/messaging";
import { setupNats } from "@lake/registry";

// What the job does is setupNats (shared/registry/src/setup.ts), which `lake up` runs too.
export { setupNats, streamSettingsFromEnv };
export type { SetupResult } from "@lake/registry";

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
