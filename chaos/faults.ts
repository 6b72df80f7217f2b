// The faults the chaos harness injects, and the supervisor that restarts what it kills. Every fault is a
// kill -9 (never a graceful stop), followed after a random downtime by a restart; then a probe event is
// sent through ingest and the time until the catalog serves a version containing it is the fault's
// recovery time (for the aggregator and quality, until they have processed it too).
import type { LakeHandle } from "@lake/app";
import type { ServiceHandle } from "@lake/testing";

export const FAULTS = {
  ingest: "kill-ingest",
  catalog: "kill-catalog",
  committer: "kill-committer",
  aggregator: "kill-aggregator",
  quality: "kill-quality",
  /** kill -9 of the (single) nats-server, restarted on the same port and store dir. */
  nats: "nats-restart",
  /** kill -9 of one node of the 3-node cluster; the lake keeps running on two, then the node comes back. */
  node: "node-loss",
  /**
   * kill -9 of the cluster node that leads the commit log's stream (COMMITS), where every version is
   * appended: the worst node to lose for commits (a new leader must be elected before any lands).
   */
  leader: "leader-loss",
} as const;
export type FaultKind = (typeof FAULTS)[keyof typeof FAULTS];

export const SINGLE_NODE_FAULTS: readonly FaultKind[] = [FAULTS.ingest, FAULTS.catalog, FAULTS.committer, FAULTS.aggregator, FAULTS.quality, FAULTS.nats];
export const CLUSTER_FAULTS: readonly FaultKind[] = [
  FAULTS.ingest,
  FAULTS.catalog,
  FAULTS.committer,
  FAULTS.aggregator,
  FAULTS.quality,
  FAULTS.node,
  FAULTS.leader,
];
/** The faults that take a node of the cluster down for a while (the lake must keep committing on two). */
export const NODE_FAULTS: readonly FaultKind[] = [FAULTS.node, FAULTS.leader];

export function isFaultKind(s: string): s is FaultKind {
  return (Object.values(FAULTS) as string[]).includes(s);
}

export interface FaultRecord {
  kind: FaultKind;
  /** Seconds into the run when the kill happened. */
  atS: number;
  target: string;
  downtimeMs: number;
  /** From the restart until the probe event was served in a catalog version (and processed, see above). */
  recoveryMs: number | null;
  /** Of the recovery: until ingest acknowledged the probe. */
  ackMs?: number;
  /** Warnings and errors the services logged from the fault until recovery, when it took over 10 s. */
  slowRecoveryLog?: string[];
  /** Node loss: the probe sent while the node was down (the lake must keep committing on two nodes). */
  whileDownMs?: number | null;
  error?: string;
}

export interface UnexpectedExit {
  name: string;
  pid: number;
  code: number | null;
  atS: number;
  logTail: string;
}

/**
 * Knows which service processes the harness killed on purpose; any other exit is recorded (a service
 * that dies when NATS goes away instead of reconnecting fails the run) and the service is restarted so
 * the run can go on.
 */
export class Supervisor {
  readonly unexpected: UnexpectedExit[] = [];
  private readonly intentional = new Set<number>();
  private readonly alive = new Map<string, boolean>();
  private readonly restarting = new Map<string, Promise<ServiceHandle>>();
  private closed = false;

  constructor(
    private readonly lake: LakeHandle,
    private readonly t0: number,
    private readonly log: (s: string) => void,
  ) {
    for (const [name, h] of lake.services) this.watch(name, h);
  }

  /** Every service process of the run, killed ones included, for the logs of a failed run. */
  readonly all: { name: string; handle: ServiceHandle }[] = [];

  private watch(name: string, h: ServiceHandle): void {
    this.alive.set(name, true);
    this.all.push({ name, handle: h });
    void h.exited.then((code) => {
      if (this.lake.services.get(name) === h) this.alive.set(name, false);
      if (this.closed || this.intentional.has(h.pid)) return;
      const atS = (performance.now() - this.t0) / 1000;
      this.unexpected.push({ name, pid: h.pid, code, atS, logTail: h.logs().split("\n").slice(-15).join("\n") });
      this.log(`!! ${name} (pid ${h.pid}) exited by itself with code ${code} at ${atS.toFixed(1)} s; restarting it`);
      void this.start(name).catch(() => {});
    });
  }

  /** Warning and error lines every current service logged at or after `sinceIso`. */
  problemsSince(sinceIso: string, max = 12): string[] {
    const out: string[] = [];
    for (const { name, handle: h } of this.all) {
      for (const line of h.logs().split("\n")) {
        if (!line.startsWith('{"t":"') || line.slice(6, 30) < sinceIso) continue;
        if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) continue;
        out.push(`${name}: ${line.slice(6, 30)} ${line.slice(line.indexOf('"msg"'), line.indexOf('"msg"') + 220)}`);
      }
    }
    return out.sort((a, b) => (a.slice(a.indexOf(": ") + 2) < b.slice(b.indexOf(": ") + 2) ? -1 : 1)).slice(0, max);
  }

  names(): string[] {
    return [...this.lake.services.keys()];
  }

  async kill9(name: string): Promise<void> {
    await this.restarting.get(name)?.catch(() => {});
    const h = this.lake.services.get(name);
    if (!h) throw new Error(`no service ${name}`);
    this.intentional.add(h.pid);
    await h.kill9();
  }

  /** (Re)starts a service, retrying while it can't start (e.g. NATS is still coming back). */
  start(name: string): Promise<ServiceHandle> {
    const running = this.restarting.get(name);
    if (running) return running;
    const p = (async () => {
      const deadline = performance.now() + 90_000;
      for (let attempt = 1; ; attempt++) {
        try {
          const h = await this.spawn(name);
          this.watch(name, h);
          return h;
        } catch (e) {
          if (this.closed || performance.now() > deadline) throw e;
          this.log(`   ${name} did not start (attempt ${attempt}): ${(e as Error).message.split("\n")[0]}; retrying`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })().finally(() => this.restarting.delete(name));
    this.restarting.set(name, p);
    return p;
  }

  private spawn(name: string): Promise<ServiceHandle> {
    if (name === "ingest" || name === "catalog" || name === "quality") return this.lake.startService(name);
    const [kind, dataset] = name.split(":");
    if (kind === "committer" && dataset) return this.lake.startCommitter(dataset);
    if (kind === "aggregator" && dataset) return this.lake.startAggregator(dataset);
    throw new Error(`don't know how to start ${name}`);
  }

  /** Restarts every service that is not running; resolves once all are. */
  async healAll(): Promise<void> {
    await Promise.all([...this.restarting.values()].map((p) => p.catch(() => {})));
    for (const [name, up] of this.alive) if (!up) await this.start(name);
  }

  /** From now on exits are expected (the run is being torn down). */
  close(): void {
    this.closed = true;
  }
}
