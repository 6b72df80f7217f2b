import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";

import { exitStatus, isRunning, killHard, terminate, track } from "./children.ts";
import { RESERVED_PORTS } from "./ports.ts";
import { TailBuffer } from "./tail.ts";

export class S3ServerStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n--- s3rver output (tail) ---\n${output}`, options);
    this.name = "S3ServerStartError";
  }
}

export function isS3ServerStartError(e: unknown): e is S3ServerStartError {
  return e instanceof S3ServerStartError;
}

export interface S3ServerHandle {
  /** `http://127.0.0.1:<port>`; use it with path-style addressing (`forcePathStyle: true`). */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Where s3rver keeps buckets and objects (`<dir>/<bucket>/<key>._S3rver_object`). */
  readonly directory: string;
  /** s3rver only verifies signatures made with its one built-in account. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** s3rver's continuation tokens only accept this region. */
  readonly region: string;
  /** SIGTERM (SIGKILL after 5 s), wait for exit, then delete the directory if this launcher created it and keepDirectory is unset. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit; the directory is kept. */
  kill9(): Promise<void>;
  /** Recent server output (one log line per request unless `silent`), for assertion messages. */
  output(): string;
}

export interface StartS3ServerOptions {
  /** Buckets created before the server starts listening. */
  buckets?: readonly string[];
  /** Defaults to a port the kernel picks (s3rver binds port 0 and reports the real one). */
  port?: number;
  /** Defaults to a fresh temp dir under os.tmpdir(); a caller-provided dir is never deleted. */
  directory?: string;
  keepDirectory?: boolean;
  /**
   * Default true. s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3
   * (Node 17+) only offers through the legacy provider: without it every listing that needs a
   * second page fails with a 500. Only set false to demonstrate exactly that.
   */
  opensslLegacyProvider?: boolean;
  /** Suppress s3rver's per-request log lines. */
  silent?: boolean;
  startTimeoutMs?: number;
}

// s3rver's built-in account (models/account.js): the only key pair whose signatures it accepts.
const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;
const S3RVER_REGION = "us-east-1";
const OUTPUT_TAIL_CHARS = 64 * 1024;
const STOP_GRACE_MS = 5_000;
const ERROR_OUTPUT_LINES = 60;
// Printed by s3rver's own CLI once buckets exist and the socket is bound.
const LISTENING = /S3rver listening on (\S+):(\d+)/;

// Resolved against this package, not the caller's cwd, and only when a server is started (importing
// @lake/testing must not depend on s3rver). The bin runs in a child process rather than s3rver
// in-process: the legacy-provider flag must be set at process start, and a crash of the server
// (a test tool, not hardened: a put racing a delete of the same directory throws an uncaught
// ENOENT) must not take the test process down with it.
function s3rverBin(): string {
  return createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js");
}

/** Starts s3rver on 127.0.0.1 in a child process; resolves once it listens with the buckets created. */
export async function startS3Server(opts: StartS3ServerOptions = {}): Promise<S3ServerHandle> {
  if (opts.port !== undefined && (RESERVED_PORTS.has(opts.port) || !Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535)) {
    throw new Error(`port ${opts.port} cannot be used for s3rver (reserved or out of range; omit it for a free one)`);
  }
  const ownsDir = opts.directory === undefined;
  const directory = opts.directory ?? (await mkdtemp(path.join(tmpdir(), "lake-s3rver-")));
  let child: ChildProcess;
  let output: TailBuffer;
  let port: number;
  try {
    ({ child, output, port } = await launch(directory, opts));
  } catch (e) {
    if (ownsDir) await rm(directory, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    directory,
    credentials: S3RVER_CREDENTIALS,
    region: S3RVER_REGION,
    output: () => output.text(),
    async stop() {
      await terminate(child, STOP_GRACE_MS);
      if (ownsDir && !opts.keepDirectory) await rm(directory, { recursive: true, force: true });
    },
    async kill9() {
      await killHard(child);
    },
  };
}

async function launch(directory: string, opts: StartS3ServerOptions): Promise<{ child: ChildProcess; output: TailBuffer; port: number }> {
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  // Port 0: the kernel picks a free port atomically at bind time and s3rver prints it, so there is
  // no window in which another process can take a port we probed (freePort's race).
  const args = ["-d", directory, "-a", "127.0.0.1", "-p", String(opts.port ?? 0)];
  for (const bucket of opts.buckets ?? []) args.push("--configure-bucket", bucket);
  if (opts.silent) args.push("--silent");
  const nodeFlags = opts.opensslLegacyProvider === false ? [] : ["--openssl-legacy-provider"];
  // Our own NODE_OPTIONS (e.g. a loader, an inspector) are not meant for the server.
  const env = { ...process.env };
  delete env["NODE_OPTIONS"];

  const bin = s3rverBin();
  const output = new TailBuffer(OUTPUT_TAIL_CHARS);
  const child = spawn(process.execPath, [...nodeFlags, bin, ...args], {
    env,
    detached: false,
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  // A listener must stay attached: an unhandled 'error' event (e.g. a failed kill) would crash the test.
  let spawnError: Error | undefined;
  child.on("error", (e) => {
    spawnError ??= e;
    output.push(`[launcher] child process error: ${e.message}\n`);
  });

  let stdoutSoFar = "";
  const listening = new Promise<number>((resolve) => {
    const onData = (s: string): void => {
      stdoutSoFar += s;
      const m = LISTENING.exec(stdoutSoFar);
      if (m) {
        child.stdout!.off("data", onData);
        stdoutSoFar = "";
        resolve(Number(m[2]));
      } else if (stdoutSoFar.length > 64 * 1024) {
        stdoutSoFar = stdoutSoFar.slice(-1024);
      }
    };
    child.stdout!.on("data", onData);
  });
  child.stdout!.setEncoding("utf8").on("data", (s: string) => output.push(s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => output.push(s));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const ended = new Promise<"ended">((resolve) => {
    child.once("exit", () => resolve("ended"));
    child.once("error", () => {
      if (child.pid === undefined) resolve("ended");
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([listening, ended, timedOut]);
  clearTimeout(timer);

  if (typeof outcome === "number" && isRunning(child)) return { child, output, port: outcome };
  if (outcome === "timeout") {
    await killHard(child);
    throw new S3ServerStartError(`s3rver did not report listening within ${timeoutMs} ms`, output.lastLines(ERROR_OUTPUT_LINES));
  }
  const { code, signal } = await exitStatus(child);
  // The complaint is often still in the pipe when 'exit' fires.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  const reason = spawnError ? `cannot run ${process.execPath} ${bin}: ${spawnError.message}` : `s3rver exited during startup (code ${code}, signal ${signal})`;
  throw new S3ServerStartError(reason, output.lastLines(ERROR_OUTPUT_LINES), { cause: spawnError });
}
