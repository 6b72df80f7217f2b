import {
  type ConsumerMessages,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { onReconnect } from "./connect.ts";

/** One stream per role (architecture.md); one subject per domain or dataset inside it. */
export const STREAMS = {
  events: "EVENTS",
  quarantine: "QUARANTINE",
  commits: "COMMITS",
  windows: "WINDOWS",
  late: "LATE",
  schemas: "SCHEMAS",
  alerts: "ALERTS",
} as const;

export const subjects = {
  events: (domain: string) => `lake.events.${domain}`,
  quarantine: (domain: string) => `lake.quarantine.${domain}`,
  commits: (dataset: string) => `lake.commits.${dataset}`,
  ingest: (domain: string) => `lake.ingest.${domain}`,
  /** Window results (revisions) of a derived dataset, written by the aggregator. */
  windows: (dataset: string) => `lake.windows.${dataset}`,
  /** Events that arrived after their window's allowed lateness: the side output, never dropped. */
  late: (dataset: string) => `lake.late.${dataset}`,
  allEvents: "lake.events.>",
  allQuarantine: "lake.quarantine.>",
  allCommits: "lake.commits.>",
  allIngest: "lake.ingest.*",
  allWindows: "lake.windows.>",
  allLate: "lake.late.>",
  /** The schema registry: versions of a domain's contract. */
  schemas: (domain: string) => `lake.schemas.${domain}`,
  allSchemas: "lake.schemas.>",
  /** Alerts firing and resolving (AlertChanged records). */
  alerts: (alert: string) => `lake.alerts.${alert}`,
  allAlerts: "lake.alerts.>",
} as const;

export interface StreamSettings {
  /** How long JetStream remembers an event_id (Nats-Msg-Id): the window in which producer retries are deduplicated. */
  dedupeWindowMs: number;
  replicas: number;
  maxMsgBytes: number;
}

export const defaultStreamSettings: StreamSettings = {
  dedupeWindowMs: 15 * 60_000,
  replicas: 1,
  maxMsgBytes: 1024 * 1024,
};

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

function configs(s: StreamSettings): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: s.replicas,
    max_msg_size: s.maxMsgBytes,
  };
  return [
    { ...common, name: STREAMS.events, subjects: [subjects.allEvents], duplicate_window: ms(s.dedupeWindowMs) },
    { ...common, name: STREAMS.quarantine, subjects: [subjects.allQuarantine], duplicate_window: ms(2 * 60_000) },
    { ...common, name: STREAMS.windows, subjects: [subjects.allWindows], duplicate_window: ms(s.dedupeWindowMs) },
    { ...common, name: STREAMS.late, subjects: [subjects.allLate], duplicate_window: ms(s.dedupeWindowMs) },
    { ...common, name: STREAMS.alerts, subjects: [subjects.allAlerts], max_age: ms(7 * 24 * 3600_000), duplicate_window: ms(2 * 60_000) },
    { ...common, name: STREAMS.schemas, subjects: [subjects.allSchemas], discard: DiscardPolicy.New, max_msgs: -1, max_age: 0 },
    // The commit log is the source of truth: never discard, never expire.
    {
      ...common,
      name: STREAMS.commits,
      subjects: [subjects.allCommits],
      duplicate_window: ms(s.dedupeWindowMs),
      discard: DiscardPolicy.New,
      max_msgs: -1,
      max_age: 0,
    },
  ];
}

/**
 * Creates the lake's streams that don't exist yet (with `settings`, by default the environment's:
 * LAKE_STREAM_REPLICAS and LAKE_DEDUPE_WINDOW_MS, so whichever service starts first creates them as
 * configured); safe to call from every service at start. An existing stream's settings are left alone:
 * they belong to the setup job (deploy/nats-setup.ts, `lake up`: `applySettings`), the only NATS user
 * that may create, update or delete streams when the lake runs with users. There, services only look
 * the streams up (STREAM.INFO), and a missing one stops them with a permissions error.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  settings: StreamSettings = streamSettingsFromEnv(process.env),
  opts: { /** The setup job: apply `settings` (replicas, limits, dedupe window) to every existing stream too. */ applySettings?: boolean } = {},
): Promise<void> {
  for (const cfg of configs(settings)) {
    let existing: StreamInfo | undefined;
    try {
      existing = await jsm.streams.info(cfg.name);
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.status === 404)) throw e;
    }
    if (!existing) {
      try {
        await jsm.streams.add(cfg);
        continue;
      } catch (e2) {
        // Another service created it between our info and add: its settings stand.
        if (!(e2 instanceof JetStreamApiError && e2.code === 10058)) throw e2;
        existing = await jsm.streams.info(cfg.name);
      }
    }
    if (opts.applySettings) await jsm.streams.update(cfg.name, { ...existing.config, ...cfg });
  }
}

/** Stream settings from the environment: LAKE_STREAM_REPLICAS (1..5) and LAKE_DEDUPE_WINDOW_MS. */
export function streamSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): StreamSettings {
  const num = (name: string, def: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
    return n;
  };
  return {
    ...defaultStreamSettings,
    replicas: num("LAKE_STREAM_REPLICAS", defaultStreamSettings.replicas, 1, 5),
    dedupeWindowMs: num("LAKE_DEDUPE_WINDOW_MS", defaultStreamSettings.dedupeWindowMs, 1000, 7 * 24 * 3600_000),
  };
}

/**
 * Pull settings for consumers that follow a stream for the life of a service. Each pull expires after
 * 5 s and the server heartbeats every second while it waits, so after a nats-server restart (or the
 * loss of the node holding an ordered consumer) the client notices the lost pull within seconds and
 * re-creates the consumer, instead of after nats.js's default 30 s expiry. An idle pull costs one
 * request per 5 s and one heartbeat a second.
 */
export const LIVE_PULL_EXPIRES_MS = 5_000;

/** How often the server says a waiting pull is alive (nats.js's default would be half the expiry). */
export const LIVE_PULL_HEARTBEAT_MS = 1_000;

/** Heartbeat intervals of silence (LIVE_PULL_HEARTBEAT_MS each: 4 s) after which a live consumer is restarted. */
export const STALL_MISSED_HEARTBEATS = 4;

/**
 * How long after the connection comes back a live consumer may go without pulling before it is
 * restarted. A consumer that is still there pulls again within milliseconds of the reconnect.
 */
export const STALL_AFTER_RECONNECT_MS = 3_000;

/**
 * Ends `messages` with a ConsumerStalledError when it has silently stopped working, so the caller's
 * loop ends and starts a new consumer from its own position, on a live node. nats.js re-creates an
 * ordered consumer only when the server answers that it is gone; when the node holding it (ordered
 * consumers have one replica) is down, its info requests time out and nats.js retries them until that
 * node comes back, however long. Two ways that shows:
 * - the server sends nothing, not even a heartbeat, for STALL_MISSED_HEARTBEATS intervals (4 s);
 * - after `nc` reconnects (to another node, when the one it was on died) the consumer does not pull
 *   again within STALL_AFTER_RECONNECT_MS: nats.js stops watching heartbeats while it checks the
 *   consumer, so the first signal never comes.
 * A false alarm costs a restart from the caller's committed position, never data.
 */
export function endWhenStalled(
  messages: ConsumerMessages,
  nc: NatsConnection,
  onStall?: (err: ConsumerStalledError) => void,
  opts: { missedHeartbeats?: number; afterReconnectMs?: number } = {},
): void {
  const missed = opts.missedHeartbeats ?? STALL_MISSED_HEARTBEATS;
  let done = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  // Stopped with the consumer.
  const stopWatching = onReconnect(nc, (server) => {
    if (done || reconnectTimer !== undefined) return;
    const ms = opts.afterReconnectMs ?? STALL_AFTER_RECONNECT_MS;
    reconnectTimer = setTimeout(() => stall(new ConsumerStalledError(`no pull within ${ms} ms of reconnecting to ${server ?? "the server"}`)), ms);
  });
  const finish = () => {
    done = true;
    clearTimeout(reconnectTimer);
    stopWatching();
  };
  const stall = (err: ConsumerStalledError) => {
    if (done) return;
    finish();
    onStall?.(err);
    messages.stop(err);
  };
  void (async () => {
    for await (const s of messages.status()) {
      if (s.type === "heartbeats_missed" && s.count >= missed)
        return stall(new ConsumerStalledError(`no message or heartbeat from the server for ${s.count} heartbeat intervals`));
      // A pull went out: the consumer answers again.
      if (s.type === "next") {
        clearTimeout(reconnectTimer);
        reconnectTimer = undefined;
      }
    }
  })().catch(() => {});
  void messages.closed().then(finish, finish);
}

export class ConsumerStalledError extends Error {
  constructor(readonly why: string) {
    super(`consumer stalled (${why}); starting a new one`);
    this.name = "ConsumerStalledError";
  }
}
