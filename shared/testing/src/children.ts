import type { ChildProcess } from "node:child_process";

// Every child this package starts, until it exits. A test that crashes or forgets stop() must not
// leave nats-servers or services running (and holding ports) after the test process is gone.
// Only an orderly exit of this process runs the hook; if it is SIGKILLed the children leak, and a
// terminal Ctrl-C reaches them directly because they share our process group (detached: false).
const live = new Set<ChildProcess>();
let hooked = false;

export function track(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on("exit", killAllLive);
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

// Exit handlers must be synchronous; SIGKILL is the only signal that cannot be ignored.
function killAllLive(): void {
  for (const child of live) {
    if (isRunning(child)) child.kill("SIGKILL");
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves once the child has exited (immediately if it already has). Never rejects. */
export function exitStatus(child: ChildProcess): Promise<ExitStatus> {
  if (!isRunning(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Signals the child we started (never a PID from elsewhere: ChildProcess.kill targets only
 * child.pid, and is a no-op once the child has been reaped, so a recycled PID is never hit),
 * escalating to SIGKILL if it has not exited within `graceMs`.
 */
export async function terminate(child: ChildProcess, graceMs: number): Promise<ExitStatus> {
  if (!isRunning(child)) return exitStatus(child);
  const exited = exitStatus(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (isRunning(child)) child.kill("SIGKILL");
  }, graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

export async function killHard(child: ChildProcess): Promise<ExitStatus> {
  const exited = exitStatus(child);
  if (isRunning(child)) child.kill("SIGKILL");
  return exited;
}
