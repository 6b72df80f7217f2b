// A NATS JetStream cluster on loopback for tests and the chaos harness: `size` nats-server processes
// with routes to each other (as deploy/nats/nats.conf runs them in compose, minus auth and TLS), each
// with its own store directory that survives a kill -9, so a node comes back with its data and catches up.
import { randomBytes } from "node:crypto";
import { appendFileSync, rmSync } from "node:fs";
import { join } from "node:path";

import { type NatsServerHandle, startNatsServer } from "./nats-server.ts";
import { freePort } from "./ports.ts";

export interface NatsCluster {
  nodes: NatsServerHandle[];
  /** Every node's client URL, comma-separated: what services get as NATS_URL. */
  url: string;
  /** Which nodes are down (killed and not restarted yet). */
  down: Set<number>;
  kill9(node: number): Promise<void>;
  restart(node: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNatsCluster(dir: string, size = 3): Promise<NatsCluster> {
  // Ports are picked free but bound later, by nats-server: another process (or another node of this
  // cluster, had the ports been picked one at a time) can take one first. Pick them all distinct, and
  // start over on a clash.
  for (let attempt = 1; ; attempt++) {
    const ports = new Set<number>();
    while (ports.size < 2 * size) ports.add(await freePort());
    const [clientPorts, routePorts] = [[...ports].slice(0, size), [...ports].slice(size)];
    const started = await Promise.allSettled(routePorts.map((p, i) => startNode(dir, i, clientPorts[i]!, p, routePorts)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return clusterOf(started.map((r) => (r as PromiseFulfilledResult<NatsServerHandle>).value));
    await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
    for (let i = 0; i < size; i++) for (const p of [`nats-${i + 1}`, `nats-${i + 1}.log`]) rmSync(join(dir, p), { recursive: true, force: true });
    if (attempt >= 3 || !/address already in use/.test(String((failed.reason as Error).message) + String((failed.reason as { output?: string }).output ?? "")))
      throw failed.reason;
  }
}

const clusterTag = `${process.pid}-${randomBytes(3).toString("hex")}`;
let clusters = 0;

function startNode(dir: string, i: number, port: number, routePort: number, routePorts: number[]): Promise<NatsServerHandle> {
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(",");
  const tag = `${clusterTag}-${clusters}`;
  return startNatsServer({
    port,
    storeDir: join(dir, `nats-${i + 1}`),
    keepStore: true,
    // The launcher recognises its server by this name in the INFO greeting; unique per run.
    args: ["--server_name", `chaos-${tag}-n${i + 1}`, "--cluster_name", `lake-chaos-${tag}`, "--cluster", `nats://127.0.0.1:${routePort}`, "--routes", routes],
    startTimeoutMs: 20_000,
    // Each node's whole output across restarts, beside its store (the launcher keeps only the current
    // process's tail): who led which stream when is what a post-mortem of a node loss needs.
    onOutput: (chunk) => {
      try {
        appendFileSync(join(dir, `nats-${i + 1}.log`), chunk);
      } catch {
        // A log that can't be written (a full disk) must not take the cluster down with it.
      }
    },
  });
}

function clusterOf(nodes: NatsServerHandle[]): NatsCluster {
  clusters++;
  const down = new Set<number>();
  return {
    nodes,
    url: nodes.map((n) => n.url).join(","),
    down,
    async kill9(node) {
      down.add(node);
      await nodes[node]!.kill9();
    },
    async restart(node) {
      await nodes[node]!.restart();
      down.delete(node);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
