import { spawn } from "node:child_process";

import { type ExitStatus, killHard, terminate, track } from "./children.ts";
import { TailBuffer } from "./tail.ts";

// Resolved against this file, not the caller's cwd: a bare `--import tsx` is resolved from the
// child's cwd and fails with ERR_MODULE_NOT_FOUND anywhere outside the repo.
const TSX_LOADER = import.meta.resolve("tsx");

/**
 * V8 flags every service runs with:
 * - a larger young generation (64 MB semi-spaces instead of 16): the services allocate short-lived
 *   objects per message (decoded records, NATS frames, promises), and with the default most of them
 *   outlived a scavenge and were copied; the bench measured ingest's CPU per event down from 38 to 27 µs
 *   and the aggregator's from 49 to 40 with it;
 * - garbage collection on the main thread only (--single-threaded-gc): eight services share the
 *   machine's cores, and waking V8's GC helper threads for every scavenge cost more than they saved;
 *   alternating runs (one event per request, and 10k-20k events/s) used 8-15% and 4-7% less CPU in all.
 * docs/benchmarks.md has the runs.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=64", "--single-threaded-gc"];

const LOG_TAIL_CHARS = 2 * 1024 * 1024;
const ERROR_LOG_LINES = 40;
const STOP_GRACE_MS = 10_000;

export interface ServiceHandle {
  name: string;
  pid: number;
  /** The parsed `"msg":"ready"` line: services put their listening ports etc. in it. */
  ready: Record<string, unknown>;
  /** Everything the service wrote to stdout and stderr (the last ~2 MB). */
  logs(): string;
  /** SIGTERM (SIGKILL after 10 s); resolves with the exit code (null if it died by signal). */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
  /** Resolves with the exit code (null if killed by a signal); never rejects. */
  exited: Promise<number | null>;
  /** Resolves with the exit code and signal (a supervisor says which); never rejects. */
  exitStatus: Promise<ExitStatus>;
}

export interface SpawnServiceOptions {
  name: string;
  /** Absolute path to the service's entry: a .ts source (run through tsx) or a compiled .js bundle. */
  entry: string;
  /** Merged over process.env. */
  env: Record<string, string>;
  readyTimeoutMs?: number;
  cwd?: string;
  /** Every chunk the service writes to stdout or stderr, as it comes (e.g. appended to a log file). */
  onOutput?: (chunk: string) => void;
}

export class ServiceStartError extends Error {
  constructor(
    readonly service: string,
    reason: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly logTail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `service ${service} ${reason} (exit code ${exitCode}, signal ${exitSignal})\n` + `--- last ${ERROR_LOG_LINES} log lines of ${service} ---\n${logTail}`,
      options,
    );
    this.name = "ServiceStartError";
  }
}

export function isServiceStartError(e: unknown): e is ServiceStartError {
  return e instanceof ServiceStartError;
}

/**
 * Runs a service (TypeScript through tsx, or its compiled bundle) in a child Node process and resolves once it logs its ready line:
 * the first stdout line that is a JSON object with `"msg":"ready"`.
 */
export async function spawnService(opts: SpawnServiceOptions): Promise<ServiceHandle> {
  const { name } = opts;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const logs = new TailBuffer(LOG_TAIL_CHARS);
  // A compiled entry (.js) runs on plain node, its stack traces mapped back to the sources; a .ts one through tsx.
  const args = [...SERVICE_NODE_FLAGS, ...(opts.entry.endsWith(".ts") ? ["--import", TSX_LOADER, opts.entry] : ["--enable-source-maps", opts.entry])];
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    detached: false,
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);

  let onReady: (ready: Record<string, unknown>) => void = () => undefined;
  const readyLine = new Promise<Record<string, unknown>>((resolve) => {
    onReady = resolve;
  });
  let pending = "";
  let isReady = false;
  const onOutput = opts.onOutput ?? (() => undefined);
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    logs.push(chunk);
    onOutput(chunk);
    if (isReady) return;
    pending += chunk;
    let newline: number;
    while (!isReady && (newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const ready = parseReady(line);
      if (ready !== undefined) {
        isReady = true;
        pending = "";
        onReady(ready);
      }
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    logs.push(chunk);
    onOutput(chunk);
  });
  // Keep a listener attached for the child's whole life: an unhandled 'error' event would crash the test.
  let spawnError: Error | undefined;
  child.on("error", (e) => {
    spawnError ??= e;
    logs.push(`[launcher] child process error: ${e.message}\n`);
    opts.onOutput?.(`[launcher] child process error: ${e.message}\n`);
  });

  const status = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    // 'exit' never fires if the process could not be spawned at all.
    child.once("error", () => {
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), readyTimeoutMs);
  });
  const outcome = await Promise.race([
    readyLine.then((ready) => ({ kind: "ready" as const, ready })),
    status.then((s) => ({ kind: "exited" as const, status: s })),
    timedOut.then(() => ({ kind: "timeout" as const })),
  ]);
  clearTimeout(timer);

  if (outcome.kind !== "ready") {
    const reason =
      outcome.kind === "timeout"
        ? `did not log a ready line within ${readyTimeoutMs} ms and was killed`
        : spawnError !== undefined
          ? `could not be started: ${spawnError.message}`
          : "exited before logging a ready line";
    const final = outcome.kind === "timeout" ? await killHard(child) : outcome.status;
    // The last lines are often still in the pipe when 'exit' fires; they are the useful ones.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    throw new ServiceStartError(name, reason, final.code, final.signal, logs.lastLines(ERROR_LOG_LINES), {
      cause: spawnError,
    });
  }

  return {
    name,
    pid: child.pid!,
    ready: outcome.ready,
    logs: () => logs.text(),
    exited: status.then((s) => s.code),
    exitStatus: status,
    async stop() {
      return (await terminate(child, STOP_GRACE_MS)).code;
    },
    async kill9() {
      await killHard(child);
    },
  };
}

function parseReady(line: string): Record<string, unknown> | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "msg" in parsed && parsed.msg === "ready") {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON: a stray print or a stack trace; it stays in logs() but cannot be the ready line.
  }
  return undefined;
}
