// <data dir>/run.json: how to reach the lake `lake up` runs there, and (since it supervises) what each
// of its processes is doing. The CLI finds the lake through it; `lake status` and `lake logs` read the
// rest. No secrets: it names the directory that holds them. Rewritten whole (temp file + rename) at
// every change, so a reader never sees half of it.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { ServiceExit, ServiceState } from "./supervisor.ts";

export const RUN_FILE = "run.json";

/** One service process of the lake, as run.json records it. */
export interface RunService {
  /** ingest, catalog, quality, committer, aggregator (or whatever else `lake up` starts). */
  kind: string;
  /** The dataset of a committer or an aggregator. */
  dataset: string | null;
  state: ServiceState;
  pid: number | null;
  /** When the running process became ready (ISO-8601). */
  started_at: string | null;
  restarts: number;
  last_exit: (Omit<ServiceExit, "at"> & { at: string }) | null;
  next_restart_at: string | null;
  /** Its output, appended across restarts. */
  log: string;
  /** Its API, if it serves one. */
  url: string | null;
  /** Prometheus text. */
  metrics_url: string | null;
  /** Answers 200 when the service is healthy. */
  health_url: string | null;
}

export interface RunFile {
  nats_url: string;
  ingest_url: string;
  catalog_url: string;
  store_root: string;
  store: Record<string, string>;
  secrets_dir: string | null;
  /** The process that runs the lake (`lake up`, or a test's startLake). */
  pid: number;
  started_at: string;
  /** Set when the lake was stopped cleanly; the file stays for the record. */
  stopped_at: string | null;
  /** Whether crashed services are restarted (`lake up`). */
  supervised: boolean;
  logs_dir: string;
  /**
   * Our own nats-server (null when the lake uses a server it was given). Supervised (`lake up`), it
   * carries the supervisor's record, as a service does.
   */
  nats: {
    pid: number;
    log: string;
    state?: RunService["state"];
    started_at?: string | null;
    restarts?: number;
    last_exit?: RunService["last_exit"];
    next_restart_at?: string | null;
  } | null;
  services: Record<string, RunService>;
}

export function runFilePath(dataDir: string): string {
  return join(dataDir, RUN_FILE);
}

export function writeRunFile(dataDir: string, run: RunFile): void {
  const file = runFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(run, null, 2));
  renameSync(tmp, file);
}

/** run.json of the lake in `dataDir`, or undefined when there is none. */
export function readRunFile(dataDir: string): Partial<RunFile> | undefined {
  const file = runFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as Partial<RunFile>;
}

/**
 * The ports a lake's services listened on besides ingest's and the catalog's API: each one's metrics
 * port (an aggregator's one HTTP port), by service. A new `lake up` in the same data dir asks for them
 * again, so metrics endpoints stay where a scraper was told they are.
 */
export function keptPortsOf(run: Partial<RunFile>): Map<string, string> {
  const ports = new Map<string, string>();
  for (const [name, s] of Object.entries(run.services ?? {})) {
    const url = s.kind === "aggregator" ? s.url : s.kind === "ingest" ? null : s.metrics_url;
    const port = url && URL.canParse(url) ? new URL(url).port : ""; // a hand-edited file: that service picks a port afresh
    if (/^\d+$/.test(port) && port !== "0") ports.set(name, port);
  }
  return ports;
}

/** Whether a process with this pid exists (it may belong to another user: EPERM still means alive). */
export function processAlive(pid: number | null | undefined): boolean {
  if (!pid || !Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
