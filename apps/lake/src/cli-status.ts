// `lake status` and `lake logs`: what the lake `lake up` runs in --data-dir is doing, read from its
// run.json (pids, ports, restarts, log files: written by up.ts at every change), the services' own
// /healthz and /metrics, the catalog (each dataset's freshness) and the log files under <data dir>/logs.
// Also the endpoint list `lake up` prints once it is ready.
import { join } from "node:path";

import type { CatalogClient } from "@lake/client";

import { catalogClient, OpsUsageError } from "./cli-ops.ts";
import { fileIdentity, lastErrorLine, logFileName, LOGS_DIR, readRange, servicesWithLogs, sinceLakeStart, tailLines } from "./log-files.ts";
import { processAlive, readRunFile, type RunFile, runFilePath, type RunService } from "./run-file.ts";
import type { LakeEndpoint } from "./up.ts";

type Values = Record<string, string | boolean | undefined>;

export const STATUS_USAGE = `  lake status [--json]
      every process of the lake \`lake up\` runs in --data-dir: state (running, restarting, down), pid,
      uptime, restarts, health, consumer lag, last error in its log; each dataset's latest and current
      version, last commit and staleness. Exit 1 if a service is down or unhealthy
  lake logs [SERVICE] [-f|--follow] [-n|--lines N]
      the last N lines of a service's log (<data-dir>/logs/SERVICE.log, e.g. committer:payments), or of
      every service's, each line prefixed by its service; -f follows them until Ctrl-C`;

export const STATUS_OPTIONS = {
  follow: { type: "boolean", short: "f" },
  lines: { type: "string", short: "n" },
} as const;

const HEALTH_TIMEOUT_MS = 1500;

// ---------------------------------------------------------------------------------------------------
// lake up's endpoint list

/** What `lake up` prints once ready: every endpoint, metrics ports included, and where the logs are. */
export function formatEndpoints(endpoints: readonly LakeEndpoint[], logsDir: string): string[] {
  const width = Math.max(...endpoints.map((e) => e.service.length));
  const lines = ["endpoints:"];
  for (const e of endpoints) {
    const parts = [e.url, e.metrics_url && `metrics ${e.metrics_url}`].filter(Boolean);
    lines.push(`  ${e.service.padEnd(width)}  ${parts.join("  ")}`);
  }
  lines.push(`logs      ${join(logsDir, "<service>.log")}  (lake logs [service] [-f]; lake status)`);
  return lines;
}

// ---------------------------------------------------------------------------------------------------
// lake status

export interface ServiceStatus {
  name: string;
  kind: string;
  dataset: string | null;
  /** running, restarting, or down (exited, stopped, or its process is gone). */
  state: "running" | "restarting" | "down";
  pid: number | null;
  uptime_ms: number | null;
  restarts: number;
  /** "ok", "HTTP <status>", "no answer", or "-" when the service has no health endpoint. */
  health: string;
  /** Source events not yet committed / applied (committers, aggregators), from its metrics. */
  lag: number | null;
  last_error: string | null;
  last_exit: RunService["last_exit"];
  log: string | null;
  url: string | null;
  metrics_url: string | null;
}

export interface DatasetStatus {
  name: string;
  latest_version: number;
  current_version: number;
  committed_at: string | null;
  /** Age of the latest version. */
  age_ms: number | null;
  /** How far the latest version is behind its sources (the catalog's freshness); null when unknown. */
  staleness_ms: number | null;
  unmeasured: string | null;
}

export interface LakeStatus {
  data_dir: string;
  pid: number;
  started_at: string;
  supervised: boolean;
  nats_url: string;
  ingest_url: string;
  catalog_url: string;
  ok: boolean;
  problems: string[];
  services: ServiceStatus[];
  datasets: DatasetStatus[];
  /** Why the datasets could not be listed (the catalog did not answer). */
  datasets_error: string | null;
}

/** The run.json of a lake that is running, or a one-line error saying why there is none. */
/** A lake that status or logs needs is not running (exit 3, like every command that finds no lake). */
export class LakeNotRunningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LakeNotRunningError";
  }
}

/** Status found a service down, restarting or unhealthy: the command ran and says the lake is not well (exit 1). */
export class LakeUnwellError extends OpsUsageError {}

export function runningLake(dataDir: string): RunFile {
  const file = runFilePath(dataDir);
  let run: Partial<RunFile> | undefined;
  try {
    run = readRunFile(dataDir);
  } catch (e) {
    throw new OpsUsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!run) throw new LakeNotRunningError(`no lake in ${dataDir}: ${file} does not exist. Start one with \`lake up\` (or pass --data-dir).`);
  if (run.stopped_at) throw new LakeNotRunningError(`the lake in ${dataDir} is not running: it was stopped at ${run.stopped_at}. Start it with \`lake up\`.`);
  if (!processAlive(run.pid))
    throw new LakeNotRunningError(
      `the lake in ${dataDir} is not running: its process (pid ${run.pid ?? "?"}) is gone (run.json is left from a start at ${run.started_at ?? "an unknown time"}). Start it with \`lake up\`.`,
    );
  if (!run.services) throw new OpsUsageError(`${file} records no services (written by an older \`lake up\`): restart the lake to see its status`);
  return run as RunFile;
}

async function probeHealth(url: string | null): Promise<string> {
  if (!url) return "-";
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await r.body?.cancel();
    return r.ok ? "ok" : `HTTP ${r.status}`;
  } catch {
    return "no answer";
  }
}

/** A committer's or aggregator's consumer lag, from its Prometheus text; null when it has none yet. */
export function lagFromMetrics(text: string): number | null {
  const m = /^lake_(?:committer|aggregator)_consumer_lag(?:\{[^}]*\})? (\S+)$/m.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : null;
}

async function probeLag(s: RunService): Promise<number | null> {
  if (!s.metrics_url || (s.kind !== "committer" && s.kind !== "aggregator")) return null;
  try {
    const r = await fetch(s.metrics_url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    return r.ok ? lagFromMetrics(await r.text()) : null;
  } catch {
    return null;
  }
}

async function datasetStatuses(catalog: CatalogClient, now: number): Promise<DatasetStatus[]> {
  const { datasets } = await catalog.datasets();
  return Promise.all(
    datasets.map(async (d): Promise<DatasetStatus> => {
      const base = { name: d.name, latest_version: d.latest_version, current_version: d.current_version };
      if (d.latest_version === 0) return { ...base, committed_at: null, age_ms: null, staleness_ms: null, unmeasured: "no version yet" };
      try {
        const v = await catalog.version(d.name, "latest", { files: "reference" });
        const committedAt = v.committed_at;
        return {
          ...base,
          committed_at: committedAt,
          age_ms: committedAt ? now - Date.parse(committedAt) : null,
          staleness_ms: v.freshness?.staleness_ms ?? null,
          unmeasured: v.freshness?.unmeasured ?? null,
        };
      } catch (e) {
        return { ...base, committed_at: null, age_ms: null, staleness_ms: null, unmeasured: (e as Error).message.split("\n")[0]! };
      }
    }),
  );
}

export async function lakeStatus(dataDir: string, run: RunFile, now = Date.now()): Promise<LakeStatus> {
  const rows: [string, RunService][] = Object.entries(run.services);
  const services = await Promise.all(
    rows.map(async ([name, s]): Promise<ServiceStatus> => {
      const alive = s.state === "running" && processAlive(s.pid);
      const state = alive ? "running" : s.state === "restarting" ? "restarting" : "down";
      const [health, lag] = alive ? await Promise.all([probeHealth(s.health_url), probeLag(s)]) : ["-", null];
      return {
        name,
        kind: s.kind,
        dataset: s.dataset,
        state,
        pid: alive ? s.pid : null,
        uptime_ms: alive && s.started_at ? now - Date.parse(s.started_at) : null,
        restarts: s.restarts,
        health,
        lag,
        last_error: lastErrorLine(sinceLakeStart(tailLines(s.log, 400), run.started_at)) ?? null,
        last_exit: s.last_exit,
        log: s.log,
        url: s.url,
        metrics_url: s.metrics_url,
      };
    }),
  );
  if (run.nats) {
    const n = run.nats;
    const alive = (n.state ?? "running") === "running" && processAlive(n.pid);
    services.unshift({
      name: "nats",
      kind: "nats",
      dataset: null,
      state: alive ? "running" : n.state === "restarting" ? "restarting" : "down",
      pid: alive ? n.pid : null,
      uptime_ms: alive ? now - Date.parse(n.started_at ?? run.started_at) : null,
      restarts: n.restarts ?? 0,
      health: "-",
      lag: null,
      // nats-server's own errors, and lake up's notes of its crashes.
      last_error:
        lastErrorLine(sinceLakeStart(tailLines(n.log, 400), run.started_at).filter((l) => /\[(ERR|FTL)\]| exited \(| failed to start/.test(l))) ?? null,
      last_exit: n.last_exit ?? null,
      log: run.nats.log,
      url: run.nats_url,
      metrics_url: null,
    });
  }
  let datasets: DatasetStatus[] = [];
  let datasetsError: string | null = null;
  try {
    datasets = await datasetStatuses(catalogClient(run.catalog_url), now);
  } catch (e) {
    datasetsError = (e as Error).message.split("\n")[0]!;
  }
  const problems: string[] = [];
  for (const s of services) {
    if (s.state !== "running") problems.push(`${s.name} is ${s.state}`);
    else if (s.health !== "ok" && s.health !== "-") problems.push(`${s.name} is unhealthy (${s.health})`);
  }
  return {
    data_dir: dataDir,
    pid: run.pid,
    started_at: run.started_at,
    supervised: run.supervised,
    nats_url: run.nats_url,
    ingest_url: run.ingest_url,
    catalog_url: run.catalog_url,
    ok: problems.length === 0,
    problems,
    services,
    datasets,
    datasets_error: datasetsError,
  };
}

/** 45 s, 3m 20s, 2h 5m, 1d 3h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function table(columns: string[], rows: string[][]): string[] {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

export function formatStatus(st: LakeStatus): string[] {
  const out = [
    `lake in ${st.data_dir}: up ${formatDuration(Date.now() - Date.parse(st.started_at))} (pid ${st.pid}${st.supervised ? ", restarting crashed services" : ", not supervised"})`,
    "",
  ];
  out.push(
    ...table(
      ["service", "state", "pid", "uptime", "restarts", "health", "lag", "last error"],
      st.services.map((s) => [
        s.name,
        s.state,
        s.pid === null ? "-" : String(s.pid),
        s.uptime_ms === null ? "-" : formatDuration(s.uptime_ms),
        String(s.restarts),
        s.health,
        s.lag === null ? "-" : String(s.lag),
        s.last_error ?? "-",
      ]),
    ),
  );
  out.push("");
  if (st.datasets_error) out.push(`datasets: the catalog did not answer (${st.datasets_error})`);
  else if (st.datasets.length === 0) out.push("datasets: none committed yet");
  else
    out.push(
      ...table(
        ["dataset", "latest", "current", "last commit", "staleness"],
        st.datasets.map((d) => [
          d.name,
          String(d.latest_version),
          String(d.current_version),
          d.age_ms === null ? "-" : `${formatDuration(d.age_ms)} ago`,
          d.staleness_ms !== null ? (d.staleness_ms < 1000 ? `${d.staleness_ms} ms` : formatDuration(d.staleness_ms)) : `unknown (${d.unmeasured ?? "?"})`,
        ]),
      ),
    );
  return out;
}

export async function cmdStatus(dataDir: string, v: Values): Promise<void> {
  const run = runningLake(dataDir);
  const st = await lakeStatus(dataDir, run);
  if (v.json) console.log(JSON.stringify(st, null, 2));
  else for (const l of formatStatus(st)) console.log(l);
  if (!st.ok) throw new LakeUnwellError(st.problems.join("; "));
}

// ---------------------------------------------------------------------------------------------------
// lake logs

const FOLLOW_POLL_MS = 250;

function linesOption(v: Values, fallback: number): number {
  if (v.lines === undefined) return fallback;
  const raw = String(v.lines);
  if (!/^\d{1,7}$/.test(raw)) throw new OpsUsageError(`--lines must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

/** The logs directory of the lake in `dataDir` (run.json's, or <dataDir>/logs for a stopped one). */
function logsDirOf(dataDir: string): string {
  let run: Partial<RunFile> | undefined;
  try {
    run = readRunFile(dataDir);
  } catch {
    run = undefined;
  }
  return run?.logs_dir ?? join(dataDir, LOGS_DIR);
}

export async function cmdLogs(dataDir: string, rest: string[], v: Values): Promise<void> {
  if (rest.length > 1) throw new OpsUsageError(`usage: lake logs [SERVICE] [-f] [--lines N] (one service, got ${rest.length})`);
  const dir = logsDirOf(dataDir);
  const known = servicesWithLogs(dir);
  if (known.length === 0) throw new OpsUsageError(`no service logs in ${dir}: has \`lake up\` run with --data-dir ${dataDir}?`);
  // committer.payments (the file's spelling) is taken for committer:payments.
  const wanted = rest[0]?.replace(/\./g, ":");
  if (wanted !== undefined && !known.includes(wanted))
    throw new OpsUsageError(`no log for service ${JSON.stringify(rest[0])} in ${dir}; services with logs: ${known.join(", ")}`);
  const services = wanted === undefined ? known : [wanted];
  const n = linesOption(v, wanted === undefined ? 10 : 100);
  const width = Math.max(...services.map((s) => s.length));
  const prefix = (s: string) => (wanted === undefined ? `${s.padEnd(width)} | ` : "");
  for (const s of services) for (const line of tailLines(join(dir, logFileName(s)), n)) console.log(prefix(s) + line);
  if (!v.follow) return;
  await follow(dir, services, wanted === undefined, prefix);
}

/**
 * Prints what is appended to the logs until SIGINT/SIGTERM: polls each file's size (fs.watch misses
 * events on some file systems), starts over on a rotated file, and, following every service, picks up
 * the logs of services that start later.
 */
async function follow(dir: string, initial: string[], all: boolean, prefix: (s: string) => string): Promise<void> {
  const files = new Map<string, { ino: number; offset: number; partial: string }>();
  const track = (s: string, fromStart: boolean) => {
    const id = fileIdentity(join(dir, logFileName(s)));
    files.set(s, { ino: id?.ino ?? -1, offset: fromStart ? 0 : (id?.size ?? 0), partial: "" });
  };
  for (const s of initial) track(s, false);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const tick = () => {
    if (all) for (const s of servicesWithLogs(dir)) if (!files.has(s)) track(s, true);
    for (const [s, f] of files) {
      const path = join(dir, logFileName(s));
      const id = fileIdentity(path);
      if (!id) continue;
      if (id.ino !== f.ino || id.size < f.offset) {
        // Rotated (or truncated): the new file is read from its start.
        f.ino = id.ino;
        f.offset = 0;
        f.partial = "";
      }
      if (id.size === f.offset) continue;
      const text = f.partial + readRange(path, f.offset, id.size);
      f.offset = id.size;
      const lines = text.split("\n");
      f.partial = lines.pop()!;
      for (const line of lines) console.log(prefix(s) + line);
    }
  };
  const timer = setInterval(tick, FOLLOW_POLL_MS);
  try {
    await stopped;
  } finally {
    clearInterval(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
