// One event per HTTP request sent by wrk (Debian's `wrk`, a load tool written in C) instead of from
// this process. The load generator shares the lake's two cores: undici's client costs 45-75 µs of CPU
// per request, which the lake doesn't get. wrk costs a few µs. Every request carries an event of its
// own (prepared before the run, as wrk's Lua script reads them); wrk is stopped once every event has an
// answer, and its CPU is read off the shell that waited for it.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { TICKS } from "./cpu.ts";

export interface WrkResult {
  /** Answers 200 to an event request, and answers of any other status. */
  ok: number;
  refused: number;
  seconds: number;
  /** wrk's own CPU seconds (user + system). */
  cpuSeconds: number;
}

/** Whether wrk is on PATH. */
export async function haveWrk(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn("wrk", ["--version"], { stdio: "ignore" });
    p.on("error", () => resolve(false));
    p.on("exit", () => resolve(true));
  });
}

const lua = (bodies: string, path: string, token: string | undefined) => `
local path = ${JSON.stringify(path)}
local headers = { ["Content-Type"] = "application/json"${token ? `, ["Authorization"] = ${JSON.stringify(`Bearer ${token}`)}` : ""} }
local reqs = {}
local health
-- Built in init: wrk knows the Host header only once the script is loaded.
init = function(args)
  for line in io.lines(${JSON.stringify(bodies)}) do reqs[#reqs + 1] = wrk.format("POST", path, headers, line) end
  health = wrk.format("GET", "/healthz")
end
local i, answered, ok, refused, told = 0, 0, 0, 0, false
-- wrk 4.1 asks each thread for one request it never sends (at the thread's start): that one is a health check.
local primed = false
request = function()
  if not primed then
    primed = true
    return health
  end
  i = i + 1
  if i <= #reqs then return reqs[i] end
  return health
end
response = function(status, headers, body)
  if string.sub(body, 1, 6) == '{"ok":' then return end
  answered = answered + 1
  if status == 200 then ok = ok + 1 else
    if refused == 0 then io.stderr:write("first refusal: " .. status .. " " .. string.sub(body, 1, 300) .. "\\n") end
    refused = refused + 1
  end
  if answered >= #reqs and not told then
    told = true
    io.write("wrk-done " .. ok .. " " .. refused .. "\\n")
    io.flush()
    -- No more health checks while the bench interrupts wrk.
    wrk.thread:stop()
  end
end
`;

/**
 * Sends each body (one JSON event) once over `connections` kept-alive connections, one request in
 * flight on each. Resolves when every event has been answered.
 */
export async function wrkSingles(o: {
  url: string;
  path: string;
  token: string | undefined;
  bodies: readonly string[];
  connections: number;
}): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), "lake-wrk-"));
  try {
    const bodies = join(dir, "bodies.jsonl");
    writeFileSync(bodies, o.bodies.join("\n") + "\n");
    const script = join(dir, "singles.lua");
    writeFileSync(script, lua(bodies, o.path, o.token));
    // wrk runs for a duration or until interrupted: a bound of a minute plus a millisecond per event
    // (a lost request would otherwise leave the run waiting for its answer). The shell waits for it,
    // so the shell's own stat then holds wrk's CPU (cutime, cstime); paths go in as arguments.
    const durationS = 60 + Math.ceil(o.bodies.length / 1000);
    const args = ["-t1", `-c${o.connections}`, `-d${durationS}s`, "--timeout", "30s", "-s", script, o.url];
    const child = spawn("bash", ["-c", 'wrk "$@" & pid=$!; echo "wrk-pid $pid"; wait "$pid"; cat /proc/$$/stat', "bash", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let wrkPid: number | undefined;
    const stopWrk = (signal: NodeJS.Signals) => {
      if (wrkPid === undefined) return;
      try {
        process.kill(wrkPid, signal);
      } catch {
        // gone already
      }
    };
    // If the bench dies first, wrk must not go on loading the lake.
    const onExit = () => stopWrk("SIGKILL");
    process.once("exit", onExit);
    const started = performance.now();
    let out = "";
    let err = "";
    let seconds = NaN;
    let counts: [number, number] | undefined;
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", resolve);
    });
    const killer = setTimeout(
      () => {
        stopWrk("SIGKILL");
        child.kill("SIGKILL");
      },
      (durationS + 30) * 1000,
    );
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      wrkPid ??= Number(/wrk-pid (\d+)/.exec(out)?.[1]) || undefined;
      const m = /wrk-done (\d+) (\d+)/.exec(out);
      if (m && !counts) {
        seconds = (performance.now() - started) / 1000;
        counts = [Number(m[1]), Number(m[2])];
        stopWrk("SIGINT");
      }
    });
    try {
      await exited;
    } finally {
      clearTimeout(killer);
      stopWrk("SIGKILL");
      process.removeListener("exit", onExit);
    }
    if (!counts) throw new Error(`wrk ended before every event was answered: ${err.trim().slice(0, 500)}`);
    if (counts[1] > 0) throw new Error(`wrk: ${counts[1]} of ${counts[0] + counts[1]} events refused; ${err.trim().slice(0, 500)}`);
    const stat = out.slice(out.lastIndexOf("\n", out.length - 2) + 1);
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 (cutime, cstime): the CPU of children the shell waited for.
    const cpuSeconds = (Number(rest[13]) + Number(rest[14])) / TICKS;
    return { ok: counts[0], refused: counts[1], seconds, cpuSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
