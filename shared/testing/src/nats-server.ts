import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

import { type ExitStatus, exitStatus, isRunning, killHard, terminate, track } from "./children.ts";
import { freePort, RESERVED_PORTS } from "./ports.ts";
import { TailBuffer } from "./tail.ts";

export class NatsServerMissingError extends Error {
  constructor(readonly searched: readonly string[]) {
    super(
      "nats-server not found on PATH; install it with `apt-get install -y nats-server` (Debian) or put the binary on PATH" +
        ` (searched: ${searched.join(", ")})`,
    );
    this.name = "NatsServerMissingError";
  }
}

export class NatsServerStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n--- nats-server output (tail) ---\n${output}`, options);
    this.name = "NatsServerStartError";
  }
}

export function isNatsServerMissing(e: unknown): e is NatsServerMissingError {
  return e instanceof NatsServerMissingError;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  /** Changes on restart(). */
  readonly pid: number;
  readonly storeDir: string;
  /** SIGTERM (SIGKILL after 5 s), wait for exit, then delete the store dir if this launcher created it and keepStore is unset. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit; the store dir is kept, as after a real crash. */
  kill9(): Promise<void>;
  /** Starts again on the same port and store dir (stopping gracefully first if still running). */
  restart(): Promise<void>;
  /** Recent server output, for assertion messages. */
  output(): string;
  /** How the current process ended, once it has (a supervisor watches it); never rejects. Changes on restart(). */
  readonly exitStatus: Promise<ExitStatus>;
}

export interface StartNatsServerOptions {
  port?: number;
  /** Defaults to a fresh temp dir under os.tmpdir(); a caller-provided dir is never deleted. */
  storeDir?: string;
  args?: string[];
  /**
   * A nats-server configuration file (accounts, users, permissions, TLS...), passed as `-c <file>`. The
   * launcher's own flags still win over it: the port, 127.0.0.1, JetStream on, the store dir and the
   * server name (nats-server applies command-line flags over the file). The file must not set
   * `jetstream.store_dir`: nats-server refuses it next to `-sd` ("Duplicate 'store_dir' configuration").
   */
  config?: string;
  /** Extra environment for nats-server, merged over process.env (a config file can reference `$VARS`). */
  env?: Record<string, string>;
  keepStore?: boolean;
  startTimeoutMs?: number;
  /** Every chunk nats-server writes to stdout or stderr, as it comes (e.g. appended to a log file). */
  onOutput?: (chunk: string) => void;
}

// Debian installs nats-server in /usr/sbin, which is not on an ordinary user's PATH.
const EXTRA_BIN_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];
const OUTPUT_TAIL_CHARS = 64 * 1024;
const STOP_GRACE_MS = 5_000;
const PORT_CLASH_RETRIES = 3;
// Enough to include the complaint at the top of nats-server's 65-line usage text on a bad flag.
const ERROR_OUTPUT_LINES = 100;

export function findNatsServer(dirs: readonly string[] = defaultSearchDirs()): string {
  for (const dir of dirs) {
    const candidate = path.join(dir, "nats-server");
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable); keep looking.
    }
  }
  throw new NatsServerMissingError(dirs);
}

function defaultSearchDirs(): string[] {
  const fromPath = (process.env["PATH"] ?? "").split(path.delimiter).filter(Boolean);
  return [...new Set([...fromPath, ...EXTRA_BIN_DIRS])];
}

/**
 * Starts a JetStream-enabled nats-server on 127.0.0.1 and resolves once it is verifiably this
 * server (not some other process) accepting connections on the port.
 */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServer();
  if (opts.port !== undefined) assertUsablePort(opts.port);
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(path.join(tmpdir(), "lake-nats-")));
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const extraArgs = [...(opts.config === undefined ? [] : ["-c", path.resolve(opts.config)]), ...(opts.args ?? [])];

  let proc: Running | undefined;
  let port = opts.port;
  try {
    // A port from freePort() can be taken before nats-server binds it; pick another and retry.
    for (let attempt = 0; proc === undefined; attempt++) {
      const candidate = port ?? (await freePort());
      try {
        proc = await launch(binary, candidate, storeDir, extraArgs, timeoutMs, opts.env, opts.onOutput);
        port = candidate;
      } catch (e) {
        const clash = e instanceof NatsServerStartError && /address already in use/.test(e.output);
        if (!clash || opts.port !== undefined || attempt >= PORT_CLASH_RETRIES) throw e;
      }
    }
  } catch (e) {
    if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    throw e;
  }

  const boundPort = port!;
  let current: Running = proc;
  return {
    url: `nats://127.0.0.1:${boundPort}`,
    port: boundPort,
    get pid() {
      return current.child.pid!;
    },
    storeDir,
    output: () => current.output.text(),
    get exitStatus() {
      return current.exit;
    },
    async stop() {
      await terminate(current.child, STOP_GRACE_MS);
      if (ownsStore && !opts.keepStore) await rm(storeDir, { recursive: true, force: true });
    },
    async kill9() {
      await killHard(current.child);
    },
    async restart() {
      await terminate(current.child, STOP_GRACE_MS);
      current = await launch(binary, boundPort, storeDir, extraArgs, timeoutMs, opts.env, opts.onOutput);
    },
  };
}

interface Running {
  child: ChildProcess;
  output: TailBuffer;
  /** How it ended, once it has. */
  exit: Promise<ExitStatus>;
}

async function launch(
  binary: string,
  port: number,
  storeDir: string,
  extraArgs: readonly string[],
  timeoutMs: number,
  env: Record<string, string> | undefined,
  onOutput?: (chunk: string) => void,
): Promise<Running> {
  // The name is how we recognise our own server in the INFO greeting (see the wait loop below).
  const callerName = serverNameFromArgs(extraArgs);
  const serverName = callerName ?? `lake-test-${process.pid}-${randomBytes(4).toString("hex")}`;
  // Never "-p 0": nats-server reads 0 as "use the default", i.e. 4222. "-p -1" would pick a random
  // port, but then we would have to parse the log to learn it.
  const args = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir];
  if (callerName === undefined) args.push("--server_name", serverName);
  args.push(...extraArgs);
  const output = new TailBuffer(OUTPUT_TAIL_CHARS);
  const child = spawn(binary, args, { detached: false, stdio: ["ignore", "pipe", "pipe"], env: env === undefined ? process.env : { ...process.env, ...env } });
  track(child);
  const push = (s: string) => {
    output.push(s);
    onOutput?.(s);
  };
  child.stdout!.setEncoding("utf8").on("data", push);
  child.stderr!.setEncoding("utf8").on("data", push);
  // A listener must stay attached: an unhandled 'error' event (e.g. a failed kill) would crash the test.
  child.on("error", (e) => output.push(`[launcher] child process error: ${e.message}\n`));
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = await Promise.race([spawnFailed, settledWithin(10)]);
    if (failure !== undefined) {
      throw new NatsServerStartError(`cannot run ${binary}: ${failure.message}`, output.text(), { cause: failure });
    }
    if (!isRunning(child)) {
      const { code, signal } = await exitStatus(child);
      await drained(child);
      const tail = output.lastLines(ERROR_OUTPUT_LINES);
      const hint = /Duplicate 'store_dir'/.test(tail)
        ? " (the config file sets jetstream.store_dir; the launcher sets the store dir itself: remove it from the file)"
        : "";
      throw new NatsServerStartError(`nats-server on port ${port} exited during startup (code ${code}, signal ${signal})${hint}`, tail);
    }
    // A port that accepts is not proof: nats-server spends a while setting up JetStream before it
    // binds, so while it is still alive another process holding the port would look like success.
    // Only a NATS INFO greeting carrying the name we gave this server proves it is ours.
    if ((await greetingServerName(port)) === serverName && isRunning(child)) return { child, output, exit: exitStatus(child) };
    if (Date.now() > deadline) {
      await killHard(child);
      throw new NatsServerStartError(
        `nats-server did not greet as server_name ${JSON.stringify(serverName)} on port ${port} within ${timeoutMs} ms` +
          " (is something else answering on this port?)",
        output.lastLines(ERROR_OUTPUT_LINES),
      );
    }
  }
}

// Every server sends `INFO {json}\r\n` as soon as a client connects; undefined if nothing answers
// like a NATS server within the timeout.
function greetingServerName(port: number, timeoutMs = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let received = "";
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (name: string | undefined): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(name);
    };
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once("error", () => done(undefined));
    socket.once("end", () => done(undefined));
    socket.on("data", (chunk: string) => {
      received += chunk;
      const end = received.indexOf("\r\n");
      if (end < 0 && received.length < 64 * 1024) return;
      const line = end < 0 ? received : received.slice(0, end);
      done(line.startsWith("INFO ") ? parseServerName(line.slice(5)) : undefined);
    });
  });
}

function parseServerName(json: string): string | undefined {
  try {
    const info: unknown = JSON.parse(json);
    if (typeof info === "object" && info !== null && "server_name" in info && typeof info.server_name === "string") {
      return info.server_name;
    }
  } catch {
    // Not a NATS greeting.
  }
  return undefined;
}

// Callers may name the server themselves (flag forms as accepted by Go's flag package).
function serverNameFromArgs(args: readonly string[]): string | undefined {
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const match = /^--?(?:n|name|server_name)(?:=(.*))?$/.exec(args[i]!);
    if (match) name = match[1] ?? args[i + 1];
  }
  return name;
}

function assertUsablePort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 1..65535, got ${port} (nats-server treats 0 as 4222)`);
  }
  if (RESERVED_PORTS.has(port)) {
    throw new RangeError(`port ${port} is reserved for developers' own nats-server; tests must not use it`);
  }
}

// Resolves undefined after ms; the race partner of spawnFailed.
function settledWithin(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

// After exit, the last output can still be in the pipes; the error message needs it.
async function drained(child: ChildProcess): Promise<void> {
  if (child.stdout?.closed !== false && child.stderr?.closed !== false) return;
  await Promise.race([new Promise((resolve) => child.once("close", resolve)), settledWithin(1000)]);
}
