// Replicated streams on a cluster: create every lake stream with N replicas once the cluster's meta
// leader answers (what the deployment's setup job does), and read each stream's replica state.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { ensureStreams, STREAMS, streamSettingsFromEnv } from "./streams.ts";

/**
 * Creates every lake stream with `replicas` replicas before any service starts, as the deployment's
 * setup job does (services create missing streams with LAKE_STREAM_REPLICAS too; this checks the
 * cluster accepts them before the clock of a run starts).
 */
export async function createReplicatedStreams(url: string, replicas: number, timeoutMs = 60_000): Promise<void> {
  const nc = await connect({ servers: url.split(","), maxReconnectAttempts: -1 });
  try {
    // The meta leader is elected a moment after the nodes meet (until then JetStream doesn't answer):
    // retry until stream creation goes through, for at most timeoutMs.
    const deadline = Date.now() + timeoutMs;
    let jsm: Awaited<ReturnType<typeof jetstreamManager>> | undefined;
    while (!jsm) {
      try {
        const m = await jetstreamManager(nc, { timeout: 5_000 });
        await ensureStreams(m, streamSettingsFromEnv({ LAKE_STREAM_REPLICAS: String(replicas) }));
        jsm = m;
      } catch (e) {
        if (Date.now() >= deadline) throw new Error(`the cluster did not accept stream creation within ${timeoutMs} ms`, { cause: e });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    for (const name of Object.values(STREAMS)) {
      const info = await jsm.streams.info(name);
      if (info.config.num_replicas !== replicas) throw new Error(`stream ${name} has ${info.config.num_replicas} replicas, wanted ${replicas}`);
    }
  } finally {
    await nc.close();
  }
}

/** Every lake stream's replicas (leader + followers) and whether each follower has caught up. */
export async function streamReplicaState(
  url: string,
): Promise<{ stream: string; replicas: number; peers: number; current: number; leader: string | undefined }[]> {
  const nc = await connect({ servers: url.split(","), maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const out = [];
    for (const name of Object.values(STREAMS)) {
      const info = await jsm.streams.info(name);
      const followers = info.cluster?.replicas ?? [];
      out.push({
        stream: name,
        replicas: info.config.num_replicas,
        peers: 1 + followers.length,
        current: (info.cluster?.leader ? 1 : 0) + followers.filter((r) => r.current && !r.offline).length,
        leader: info.cluster?.leader,
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}
