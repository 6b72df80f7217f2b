// One event per HTTP request sent by wrk (Debian's `wrk`, a load tool written in C) instead of from
// this process. The load generator shares the lake's two cores: undici's client costs 45-70 µs of CPU
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
  if body == '{"ok":true}' then return end
  answered = answered + 1
  if status == 200 then ok = ok + 1 else
    if refused == 0 then io.stderr:write("first refusal: " .. status .. " " .. string.sub(body, 1, 300) .. "\\n") end
    refused = refused + 1
  end
  if answered >= #reqs and not told then
    told = true
    io.write("wrk-done " .. ok .. " " .. refused .. "\\n")
    io.flush()
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
    // The shell waits for wrk, so its own stat then holds wrk's CPU (cutime, cstime).
    const shell = `wrk -t1 -c${o.connections} -d600s --timeout 30s -s "${script}" "${o.url}"; cat /proc/$$/stat`;
    const child = spawn("bash", ["-c", shell], { stdio: ["ignore", "pipe", "pipe"] });
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
    const killer = setTimeout(() => child.kill("SIGKILL"), 620_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /wrk-done (\d+) (\d+)/.exec(out);
      if (m && !counts) {
        seconds = (performance.now() - started) / 1000;
        counts = [Number(m[1]), Number(m[2])];
        // wrk runs until its duration is up or it is interrupted: interrupt it (the shell carries on).
        spawn("pkill", ["-INT", "-P", String(child.pid), "-x", "wrk"], { stdio: "ignore" });
      }
    });
    await exited;
    clearTimeout(killer);
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
