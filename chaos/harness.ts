// One seeded chaos run: a whole lake (on one nats-server, or on a 3-node cluster with R3 streams),
// producers with retries and duplicates, a reader checking every version it is served, and faults at
// random moments (kill -9 of each service, of nats-server, of a cluster node). After the run everything
// is healed, the lake catches up, and the invariants are checked (see checks.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type LakeHandle, startLake } from "@lake/app";
import { CatalogClient, rng } from "@lake/client";
import { connectNats, STREAMS, subjects } from "@lake/messaging";
import { createReplicatedStreams, streamReplicaState } from "@lake/messaging";
import { type ObjectStore, openStore } from "@lake/storage";
import { waitFor } from "@lake/testing";
import { type NatsCluster, startNatsCluster } from "@lake/testing";

import { checkAggregates, checkExactlyOnce, checkLinearHistory, checkRebuild, type CheckResult, checkStore, readCommitLog } from "./checks.ts";
import { CLUSTER_FAULTS, type FaultKind, type FaultRecord, FAULTS, NODE_FAULTS, SINGLE_NODE_FAULTS, Supervisor, type UnexpectedExit } from "./faults.ts";
import { runFsck } from "./fsck.ts";
import { DATASET, EventClock, Producers, type ProducerStats } from "./producers.ts";
import { Reader, type ReaderStats } from "./reader.ts";

export const DERIVED = "daily_user_totals";
const DAY = 86_400_000;
/** How long a probe may take after a fault is healed before the lake counts as not recovered. */
const PROBE_TIMEOUT_MS = 90_000;
/** Node loss: how long the lake may take to commit a probe while the node is down. */
const WHILE_DOWN_TIMEOUT_MS = 60_000;

export interface ChaosOptions {
  seed: number;
  durationS: number;
  topology: "single" | "cluster";
  /** Fault kinds to draw from (default: all of the topology's). Each is injected at least once. */
  faults?: readonly FaultKind[];
  /** Faults on top of one of each kind (default: one more per 15 s of run). */
  extraFaults?: number;
  /** Events per second, all producers together. */
  rate?: number;
  producers?: number;
  /** Run index, for event ids and messages. */
  run?: number;
  log?: (line: string) => void;
  /** Keep the data directory (for a post-mortem) instead of deleting it. */
  keep?: boolean;
  /** Services' stdout/stderr are kept in memory; print the tails of these on failure. */
  commitMaxAgeMs?: number;
}

export interface RunResult {
  run: number;
  seed: number;
  topology: "single" | "cluster";
  durationS: number;
  wallS: number;
  faults: FaultRecord[];
  acknowledged: number;
  lost: number;
  duplicated: number;
  extra: number;
  rejected: number;
  late: number;
  unknown: number;
  producer: ProducerStats;
  reader: Omit<ReaderStats, "violations"> & { violations: number };
  unexpectedExits: UnexpectedExit[];
  checks: CheckResult[];
  ok: boolean;
  dataDir?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<RunResult> {
  const run = o.run ?? 1;
  const log = o.log ?? (() => {});
  const rate = o.rate ?? 1500;
  const kinds = o.faults ?? (o.topology === "cluster" ? CLUSTER_FAULTS : SINGLE_NODE_FAULTS);
  for (const k of kinds) {
    if (k === FAULTS.nats && o.topology === "cluster") throw new Error("nats-restart is a single-node fault; the cluster has node-loss");
    if (NODE_FAULTS.includes(k) && o.topology === "single") throw new Error(`${k} needs --topology cluster`);
  }
  const r = rng(o.seed);
  const wallStart = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), `lake-chaos-${run}-`));
  let keepDir = o.keep ?? false;
  const cacheDir = join(dataDir, "query-cache");
  const at = () => (performance.now() - t0) / 1000;
  let t0 = performance.now();

  let cluster: NatsCluster | undefined;
  let lake: LakeHandle | undefined;
  let nc: NatsConnection | undefined;
  let supervisor: Supervisor | undefined;
  let reader: Reader | undefined;
  let producers: Producers | undefined;
  /** Keeps everything for a post-mortem: the data dir (stores, SQLite, cluster nodes' logs, manifests), every service's log, the commit log. */
  const keepForPostMortem = (commitLog: Awaited<ReturnType<typeof readCommitLog>> | undefined) => {
    keepDir = true;
    const logDir = join(dataDir, "logs");
    mkdirSync(logDir, { recursive: true });
    for (const { name, handle } of supervisor?.all ?? []) writeFileSync(join(logDir, `${name.replace(":", "-")}-${handle.pid}.log`), handle.logs());
    // A cluster node's whole log, restarts included, is already beside its store (cluster/nats-N.log).
    if (!cluster && lake?.nats) writeFileSync(join(logDir, "nats-1.log"), lake.nats.output());
    if (commitLog)
      writeFileSync(
        join(logDir, "commit-log.jsonl"),
        commitLog.map((e) => JSON.stringify({ seq: e.seq, subject: e.subject, kind: e.record?.kind, body: e.record?.body })).join("\n"),
      );
    log(`   data dir, service logs${commitLog ? " and the commit log" : ""} kept in ${dataDir}`);
  };
  try {
    const env = { LAKE_COMMIT_MAX_AGE_MS: String(o.commitMaxAgeMs ?? 100), LAKE_DERIVED_COMMIT_MAX_AGE_MS: String(o.commitMaxAgeMs ?? 100) };
    if (o.topology === "cluster") {
      cluster = await startNatsCluster(join(dataDir, "cluster"));
      await createReplicatedStreams(cluster.url, 3);
      log(`   3-node NATS cluster up (${cluster.url}); every stream created with 3 replicas`);
      lake = await startLake({ dataDir: join(dataDir, "lake"), natsUrl: cluster.url, env: { ...env, LAKE_STREAM_REPLICAS: "3" } });
    } else {
      lake = await startLake({ dataDir: join(dataDir, "lake"), env });
    }
    const store: ObjectStore = await openStore(lake.storeConfig);
    const catalog = new CatalogClient(lake.catalogUrl);
    // As admin (it reads the commit log for the checks); connectNats reconnects forever, every 250 ms.
    nc = await connectNats({ url: lake.natsUrl, name: "chaos-harness", auth: lake.natsAuth() });
    t0 = performance.now();
    supervisor = new Supervisor(lake, t0, log);

    // Event time runs over ~2.5 days in the run, so daily windows close (and commit) while faults happen.
    const expectedEvents = Math.max(1000, rate * o.durationS);
    const clock = new EventClock(Date.UTC(2026, 5, 1, 6), (2.5 * DAY) / expectedEvents, r);
    producers = new Producers({
      ingestUrl: lake.ingestUrl,
      ingestToken: lake.producer.token,
      nc,
      seed: o.seed,
      prefix: `c${run}s${o.seed}-`,
      producers: o.producers ?? 3,
      rate,
      maxBatch: 40,
      duplicateRate: 0.08,
      invalidRate: 0.03,
      clock,
      giveUpMs: 120_000,
      requestTimeoutMs: 8000,
    });
    reader = new Reader(lake.catalogUrl, store, [DATASET, DERIVED], cacheDir);
    producers.start();
    reader.start();

    // The fault schedule: one of each kind, then extra ones, at random moments in [10 %, 80 %] of the run.
    const extra = o.extraFaults ?? Math.floor(o.durationS / 15);
    const plan: FaultKind[] = [...kinds];
    for (let i = 0; i < extra; i++) plan.push(kinds[Math.floor(r() * kinds.length)]!);
    const times = plan.map(() => o.durationS * (0.1 + 0.7 * r())).sort((a, b) => a - b);
    shuffle(plan, r);
    const faults: FaultRecord[] = [];
    for (const [i, kind] of plan.entries()) {
      const wait = times[i]! * 1000 - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
      const f = await inject(kind, { lake, cluster, supervisor, producers, catalog, r, at, log, prefix: `c${run}s${o.seed}-` });
      faults.push(f);
      log(
        `   ${f.atS.toFixed(1).padStart(5)} s  ${f.kind.padEnd(15)} ${f.target.padEnd(28)} down ${String(f.downtimeMs).padStart(4)} ms, recovered in ${f.recoveryMs === null ? "—" : `${f.recoveryMs} ms (ack ${f.ackMs} ms)`}${f.whileDownMs !== undefined ? `, committed while down in ${f.whileDownMs === null ? "—" : `${f.whileDownMs} ms`}` : ""}${f.error ? `  (${f.error})` : ""}`,
      );
      for (const l of f.slowRecoveryLog ?? []) log(`            slow recovery: ${l}`);
    }
    const rest = o.durationS * 1000 - (performance.now() - t0);
    if (rest > 0) await sleep(rest);

    // Heal: every service and node up, producers finish (every batch in flight acknowledged), then one
    // event far in the future moves the watermark past every window, so all of them fire and close.
    log(`   ${at().toFixed(1).padStart(5)} s  healing: restarting anything down, waiting for the producers' last acknowledgements`);
    if (cluster) for (const n of [...cluster.down]) await cluster.restart(n);
    await supervisor.healAll();
    await producers.stop();
    const flushId = `c${run}s${o.seed}-flush`;
    const flushOffset = await producers.sendOne(producers.event(flushId, undefined, clock.maxMs + 2 * DAY));
    const maxOffset = Math.max(producers.maxOffset, flushOffset);

    // Catch up: domain_events covers the last offset, the aggregator has consumed it and published its
    // outbox, the derived dataset covers the last window result, every version has its verdict.
    await coveringVersion(catalog, DATASET, maxOffset, 180_000);
    await waitFor(
      "the aggregator to consume every event and publish its outbox",
      async () => {
        const url = String(lake!.services.get(`aggregator:${DERIVED}`)!.ready.url);
        const h = (await fetch(new URL("/healthz", url))
          .then((x) => x.json())
          .catch(() => undefined)) as { input_seq: number; outbox_pending?: number } | undefined;
        return h && h.input_seq >= maxOffset && !h.outbox_pending ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const jsm = await jetstreamManager(nc);
    const lastWindow = await jsm.streams.getMessage(STREAMS.windows, { last_by_subj: subjects.windows(DERIVED) });
    if (lastWindow) await coveringVersion(catalog, DERIVED, lastWindow.seq, 120_000);
    await settled(catalog, 120_000);
    await reader.stop();
    log(`   ${at().toFixed(1).padStart(5)} s  caught up (offset ${maxOffset}); checking`);

    // The checks.
    const checks: CheckResult[] = [];
    const eo = await checkExactlyOnce({
      catalog,
      store,
      dataset: DATASET,
      acked: producers.acked,
      rejected: producers.rejectedIds,
      unknown: producers.unknownIds,
      cacheDir,
    });
    checks.push(eo.result);
    const agg = await checkAggregates({ catalog, store, nc, derived: DERIVED, acked: producers.acked, flushId, cacheDir });
    checks.push(agg.result);
    const commitLog = await readCommitLog(nc);
    const liveDump = await catalog.dump();
    checks.push(await checkLinearHistory(catalog, commitLog, liveDump));
    const rs = reader.stats;
    checks.push({
      name: "no reader saw a partial version",
      ok: rs.violations.length === 0 && rs.reads > 0,
      detail: rs.violations.length
        ? `${rs.violations.length} violations: ${rs.violations.slice(0, 3).join("; ")}`
        : `${rs.reads} versions read whole (${Object.entries(rs.byDataset)
            .map(([d, n]) => `${d} ${n}`)
            .join(", ")}); ${rs.unavailable} reads found the catalog unavailable`,
    });
    checks.push(await checkRebuild(catalog, liveDump));
    checks.push(await checkStore(store, commitLog));
    checks.push(await runFsck(lake));
    const exits = supervisor.unexpected;
    checks.push({
      name: "services survived and reconnected by themselves",
      ok: exits.length === 0,
      detail: exits.length
        ? exits.map((e) => `${e.name} exited with ${e.code} at ${e.atS.toFixed(1)} s: ${e.logTail.split("\n").slice(-2).join(" | ")}`).join("; ")
        : `no service exited unless killed; every fault recovered`,
    });
    const unrecovered = faults.filter((f) => f.recoveryMs === null);
    const byKind = new Map<string, number[]>();
    for (const f of faults) if (f.recoveryMs !== null) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f.recoveryMs]);
    checks.push({
      name: `the lake recovered from every fault (a probe event committed within ${PROBE_TIMEOUT_MS / 1000} s)`,
      ok: unrecovered.length === 0,
      detail: [
        ...unrecovered.map((f) => `${f.kind} at ${f.atS.toFixed(1)} s: ${f.error ?? "no recovery"}`),
        [...byKind].map(([k, ms]) => `${k} max ${(Math.max(...ms) / 1000).toFixed(1)} s`).join(", ") || "no faults",
      ].join("; "),
    });
    const nodeLosses = faults.filter((f) => NODE_FAULTS.includes(f.kind));
    if (nodeLosses.length) {
      const stalled = nodeLosses.filter((f) => f.whileDownMs === null || f.whileDownMs === undefined);
      checks.push({
        name: `kept committing with one of three nodes down (within ${WHILE_DOWN_TIMEOUT_MS / 1000} s)`,
        ok: stalled.length === 0,
        detail: nodeLosses
          .map(
            (f) =>
              `${f.kind === FAULTS.leader ? "commit-log leader" : "node"} loss at ${f.atS.toFixed(1)} s: ${f.whileDownMs === null || f.whileDownMs === undefined ? "no probe committed while the node was down" : `probe committed in ${(f.whileDownMs / 1000).toFixed(1)} s`}`,
          )
          .join("; "),
      });
    }
    if (producers.stats.unexpectedRejections || producers.stats.reaccepted) {
      checks.push({
        name: "ingest answered consistently",
        ok: false,
        detail: `${producers.stats.unexpectedRejections} valid records rejected, ${producers.stats.reaccepted} re-sent records accepted again (dedupe missed)`,
      });
    }
    if (cluster) {
      const state = await waitFor(
        "every stream's replicas to catch up after the node came back",
        async () => {
          const s = await streamReplicaState(cluster!.url).catch(() => undefined);
          return s && s.every((x) => x.replicas === 3 && x.current === 3) ? s : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      ).catch(() => undefined);
      checks.push({
        name: "R3 streams whole again after the node loss",
        ok: state !== undefined,
        detail: state
          ? `${state.length} streams with 3 current replicas`
          : JSON.stringify(await streamReplicaState(cluster.url).catch((e: Error) => e.message)),
      });
    }
    const ok = checks.every((c) => c.ok);
    if (!ok || o.keep) keepForPostMortem(commitLog);
    return {
      run,
      seed: o.seed,
      topology: o.topology,
      durationS: o.durationS,
      wallS: Math.round((performance.now() - wallStart) / 1000),
      faults,
      acknowledged: producers.acked.size,
      lost: eo.lost,
      duplicated: eo.duplicated,
      extra: eo.extra,
      rejected: producers.rejectedIds.size,
      late: agg.late,
      unknown: producers.unknownIds.size,
      producer: producers.stats,
      reader: { ...rs, violations: rs.violations.length },
      unexpectedExits: exits,
      checks,
      ok,
      ...(keepDir ? { dataDir } : {}),
    };
  } catch (e) {
    // The run could not finish (the lake never caught up): keep what shows why.
    keepForPostMortem(await readCommitLog(nc!).catch(() => undefined));
    throw e;
  } finally {
    await reader?.stop().catch(() => {});
    supervisor?.close();
    await nc?.close().catch(() => {});
    await lake?.stop().catch(() => {});
    await cluster?.stop().catch(() => {});
    if (!keepDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

interface FaultContext {
  lake: LakeHandle;
  cluster: NatsCluster | undefined;
  supervisor: Supervisor;
  producers: Producers;
  catalog: CatalogClient;
  r: () => number;
  at: () => number;
  log: (s: string) => void;
  /** Event id prefix of the run. */
  prefix: string;
}

async function inject(kind: FaultKind, c: FaultContext): Promise<FaultRecord> {
  const downtimeMs = Math.round(200 + c.r() * 1300);
  const f: FaultRecord = { kind, atS: c.at(), target: "", downtimeMs, recoveryMs: null };
  const sinceIso = new Date().toISOString();
  try {
    switch (kind) {
      case FAULTS.ingest:
      case FAULTS.catalog:
      case FAULTS.quality:
      case FAULTS.aggregator:
      case FAULTS.committer: {
        const candidates =
          kind === FAULTS.committer
            ? [`committer:${DATASET}`, `committer:${DERIVED}`]
            : kind === FAULTS.aggregator
              ? [`aggregator:${DERIVED}`]
              : [kind.slice("kill-".length)];
        f.target = candidates[Math.floor(c.r() * candidates.length)]!;
        f.atS = c.at();
        await c.supervisor.kill9(f.target);
        await sleep(downtimeMs);
        await c.supervisor.start(f.target);
        break;
      }
      case FAULTS.nats: {
        const nats = c.lake.nats;
        if (!nats) throw new Error("nats-restart needs the lake's own nats-server");
        f.target = `nats-server :${nats.port}`;
        f.atS = c.at();
        await nats.kill9();
        await sleep(downtimeMs);
        // Same port, same store dir: the services must reconnect by themselves (nothing else is restarted).
        await nats.restart();
        break;
      }
      case FAULTS.node:
      case FAULTS.leader: {
        const cluster = c.cluster;
        if (!cluster) throw new Error(`${kind} needs the cluster topology`);
        // One node at a time: a node back from the last loss may still be catching up, and losing another
        // then would leave some stream without a quorum (two of three down), which R3 doesn't survive.
        const streams = await waitFor(
          "every stream whole (a leader, three current replicas) before taking a node down",
          async () => {
            const s = await streamReplicaState(cluster.url).catch(() => []);
            return s.length > 0 && s.every((x) => x.leader && x.current === x.replicas) ? s : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 250 },
        );
        const node = kind === FAULTS.leader ? leaderNode(cluster, streams, STREAMS.commits) : Math.floor(c.r() * cluster.nodes.length);
        f.target = `cluster node ${node + 1} :${cluster.nodes[node]!.port}`;
        f.atS = c.at();
        await cluster.kill9(node);
        // With one of three nodes gone, R3 streams keep a quorum: the lake must keep committing.
        const down = performance.now();
        f.whileDownMs = await probe(c, kind, WHILE_DOWN_TIMEOUT_MS).then(
          (p) => p.ms,
          () => null,
        );
        const held = Math.max(0, downtimeMs * 3 - (performance.now() - down));
        await sleep(held);
        f.downtimeMs = Math.round(performance.now() - down);
        await cluster.restart(node);
        break;
      }
    }
    const p = await probe(c, kind, PROBE_TIMEOUT_MS);
    f.recoveryMs = p.ms;
    f.ackMs = p.ackMs;
  } catch (e) {
    f.error = (e as Error).message.split("\n")[0];
  }
  if (f.recoveryMs === null || f.recoveryMs > 10_000) f.slowRecoveryLog = c.supervisor.problemsSince(sinceIso);
  return f;
}

/** Which node of the cluster leads `stream` (its server name ends in -n<node + 1>). */
function leaderNode(cluster: NatsCluster, streams: { stream: string; leader: string | undefined }[], stream: string): number {
  const leader = streams.find((s) => s.stream === stream)?.leader;
  const node = Number(/-n([0-9]+)$/.exec(leader ?? "")?.[1]) - 1;
  if (!(node >= 0 && node < cluster.nodes.length)) throw new Error(`no leader of ${stream} among the cluster's nodes (leader: ${leader ?? "none"})`);
  return node;
}

/**
 * Sends one event and waits until the catalog serves a version with it; for the aggregator also until
 * it has consumed it, for quality until the covering version has its verdict. Returns the milliseconds.
 */
async function probe(c: FaultContext, kind: FaultKind, timeoutMs: number): Promise<{ ms: number; ackMs: number }> {
  const t = performance.now();
  const offset = await c.producers.sendOne(c.producers.event(`${c.prefix}probe${++probes}`));
  const ackMs = Math.round(performance.now() - t);
  const v = await coveringVersion(c.catalog, DATASET, offset, timeoutMs);
  if (kind === FAULTS.aggregator) {
    await waitFor(
      "the aggregator to consume the probe",
      async () => {
        const url = String(c.lake.services.get(`aggregator:${DERIVED}`)!.ready.url);
        const h = (await fetch(new URL("/healthz", url))
          .then((x) => x.json())
          .catch(() => undefined)) as { input_seq: number } | undefined;
        return h && h.input_seq >= offset ? true : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }
  if (kind === FAULTS.quality) {
    await waitFor(
      "quality to judge the probe's version",
      async () => ((await c.catalog.version(DATASET, v.version).catch(() => undefined))?.quality !== "pending" ? true : undefined),
      { timeoutMs, intervalMs: 50 },
    );
  }
  return { ms: Math.round(performance.now() - t), ackMs };
}

let probes = 0;

/**
 * The first version covering `offset`, waiting up to `timeoutMs` through catalog restarts (a refused
 * connection or a 5xx is retried; only the deadline ends the wait).
 */
export async function coveringVersion(catalog: CatalogClient, dataset: string, offset: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    try {
      return await catalog.covering(dataset, offset, Math.max(0, Math.min(left, 20_000)));
    } catch (e) {
      if (left <= 0) throw e;
      await sleep(100);
    }
  }
}

/** Every version of every dataset has its quality verdict: nothing more is appended unless sent. */
async function settled(catalog: CatalogClient, timeoutMs: number): Promise<void> {
  await waitFor(
    "every version to have its quality verdict",
    async () => {
      for (const ds of (await catalog.datasets()).datasets) {
        for (let after = 0, pages = 0; ; pages++) {
          if (pages >= 10_000) throw new Error(`more than 10,000 pages of versions of ${ds.name}`);
          const page = await catalog.versions(ds.name, after, 1000);
          if (page.versions.some((v) => (v as { quality?: string }).quality === "pending")) return undefined;
          if (page.next_after === null) break;
          if (page.next_after <= after) throw new Error(`the versions cursor of ${ds.name} did not move forward from ${after}`);
          after = page.next_after;
        }
      }
      return true;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

function shuffle<T>(xs: T[], r: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
