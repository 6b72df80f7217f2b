// Each service's stdout and stderr, appended to <data dir>/logs/<service>.log by `lake up`, so a crash
// leaves its last words on disk (they used to live in memory only and died with `lake up`). One file
// per service across restarts; at a size cap it rotates once (<service>.log.1), so a chatty service
// costs at most twice the cap. `lake logs` and `lake status` read them back.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

export const LOGS_DIR = "logs";
/** Rotate a service's log when it would pass this size (one old file is kept). */
export const LOG_MAX_BYTES = 20 * 1024 * 1024;

/** The log file name of a service: `committer:payments` → `committer.payments.log` (names have no dots). */
export function logFileName(service: string): string {
  return `${service.replace(/:/g, ".")}.log`;
}

/** The service a log file belongs to (the inverse of logFileName); undefined for any other file. */
export function serviceOfLogFile(file: string): string | undefined {
  const m = /^([a-z][a-z0-9_-]*)(?:\.([a-z][a-z0-9_]*))?\.log$/.exec(file);
  if (!m) return undefined;
  return m[2] ? `${m[1]}:${m[2]}` : m[1];
}

/** The services with a log file in `dir`, sorted. */
export function servicesWithLogs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map(serviceOfLogFile)
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** An append-only log file that rotates itself at `maxBytes`. Writes are synchronous: a line is on disk before a crash can follow it. */
export class LogFile {
  private fd: number | undefined;
  private size = 0;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly maxBytes: number = LOG_MAX_BYTES,
    /** Told once if the file can't be written (a full disk must not take `lake up` down with it). */
    private readonly onError: (e: Error) => void = () => undefined,
  ) {}

  write(text: string): void {
    if (this.failed || text.length === 0) return;
    try {
      const bytes = Buffer.from(text, "utf8");
      if (this.fd === undefined) this.open();
      if (this.size > 0 && this.size + bytes.length > this.maxBytes) {
        this.close();
        renameSync(this.path, `${this.path}.1`);
        this.open();
      }
      writeSync(this.fd!, bytes);
      this.size += bytes.length;
    } catch (e) {
      this.failed = true;
      this.close();
      this.onError(e as Error);
    }
  }

  /** One line from `lake up` itself (a start, an exit, a restart), told apart from the service's own output. */
  note(line: string, at: Date = new Date()): void {
    this.write(`[lake up ${at.toISOString()}] ${line}\n`);
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Already closed or gone: nothing left to flush (writes are synchronous).
    }
  }

  private open(): void {
    this.fd = openSync(this.path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }
}

/** The last `n` lines of a file (reading backwards in chunks, so a 20 MB log costs what it shows). */
export function tailLines(path: string, n: number): string[] {
  if (n <= 0 || !existsSync(path)) return [];
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const chunk = 64 * 1024;
    let pos = size;
    let text = "";
    // Bounded: each pass reads one chunk further back, until the start of the file.
    while (pos > 0) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      text = buf.toString("utf8") + text;
      if (text.split("\n").length > n + 1) break;
    }
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

/** A service log's size and identity, to follow it across appends and rotations. */
export function fileIdentity(path: string): { ino: number; size: number } | undefined {
  try {
    const s = statSync(path);
    return { ino: s.ino, size: s.size };
  } catch {
    return undefined;
  }
}

/** Bytes [from, to) of a file as text. */
export function readRange(path: string, from: number, to: number): string {
  if (to <= from) return "";
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(to - from);
    const got = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, got).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

const ERROR_TEXT = /\b[A-Z]?[a-zA-Z]*Error\b|\buncaught\b|\bfatal\b|\bpanic\b/;

/**
 * The last error a service log shows, as one line: a JSON log line at level error (its message and
 * error), a `lake up` note of an exit or failed start, or a plain line naming an error (a stack's
 * first line). Undefined when the tail holds none.
 */
export function lastErrorLine(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    if (line.startsWith("{")) {
      let rec: Record<string, unknown> | undefined;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = undefined;
      }
      if (rec && (rec.level === "error" || rec.level === "fatal")) {
        const err = rec.err as { message?: unknown } | undefined;
        const detail = err && typeof err === "object" && typeof err.message === "string" ? `: ${err.message}` : "";
        return clip(`${typeof rec.t === "string" ? `${rec.t} ` : ""}${String(rec.msg)}${detail}`);
      }
      if (rec) continue;
    }
    if (line.startsWith("[lake up ")) {
      if (/ exited | failed to start/.test(line)) return clip(line);
      continue;
    }
    if (/^at /.test(line)) continue;
    if (ERROR_TEXT.test(line)) return clip(line);
  }
  return undefined;
}

/**
 * The lines written since the lake started at `startedAt` (ISO-8601): from the first `lake up` note
 * at or after it. A log spans every run of the lake in its data dir; an error of an earlier run is
 * not this run's. The whole tail when it holds no such note (it starts later than the note).
 */
export function sinceLakeStart(lines: readonly string[], startedAt: string): readonly string[] {
  const i = lines.findIndex((l) => {
    const m = /^\[lake up (\S+)\] /.exec(l);
    return m !== null && m[1]! >= startedAt;
  });
  return i < 0 ? lines : lines.slice(i);
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}

/** Where a data dir keeps its service logs. */
export const logsDirOf = (dataDir: string) => join(dataDir, LOGS_DIR);
