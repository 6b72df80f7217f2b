import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";

export interface NatsOptions {
  url: string;
  name: string;
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: opts.url,
    name: opts.name,
    // Services outlive NATS restarts: keep trying instead of dying, so a broker bounce heals by itself.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
  });
}
