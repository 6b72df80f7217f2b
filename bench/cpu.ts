// CPU time per process, the figure that survives a noisy machine: wall-clock rates move with whatever
// else runs, but the CPU seconds a process spends on a committed event barely do. Every lake process is
// read from /proc/<pid>/stat (utime + stime, in clock ticks); the load generator (this process) from
// process.cpuUsage(). A process that restarted during the window (a new pid) is reported from its start.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

import type { LakeHandle } from "@lake/app";

import { round, type Row } from "./lib.ts";

/** Clock ticks per second, as /proc counts them (100 on Linux almost everywhere). */
export const TICKS = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) the process has used, or undefined if it is gone. */
export function procCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / TICKS;
}

/**
 * Context switches of every thread of the process (voluntary + involuntary, from /proc/<pid>/task/*\/status),
 * or undefined if it is gone. A voluntary one is a thread going to sleep for want of work: each is a
 * wake-up later, and on a virtual machine waking a thread (and the socket write that wakes another
 * process) is a large part of the CPU one small message costs.
 */
export function procSwitches(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let sum = 0;
  for (const t of tasks) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
    } catch {
      continue; // a thread that ended meanwhile
    }
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) sum += Number(m[1]);
  }
  return sum;
}

export const selfCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** The lake's processes by name (nats-server, each service), plus the load generator. */
export function lakeProcesses(lake: LakeHandle): { name: string; pid: number }[] {
  const out: { name: string; pid: number }[] = [];
  if (lake.nats) out.push({ name: "nats-server", pid: lake.nats.pid });
  for (const [name, s] of lake.services) out.push({ name, pid: s.pid });
  return out;
}

export interface CpuWindow {
  /** CPU seconds per process over the window; `load generator` is this process. */
  stop(): Map<string, number>;
  /** After stop(): each lake process's context switches over the window (procSwitches). */
  readonly switches: Map<string, number>;
}

/** Starts measuring: stop() gives each process's CPU seconds since. */
export function cpuWindow(processes: () => { name: string; pid: number }[]): CpuWindow {
  const start = new Map<string, { pid: number; s: number; cs: number }>();
  for (const p of processes()) start.set(p.name, { pid: p.pid, s: procCpuSeconds(p.pid) ?? 0, cs: procSwitches(p.pid) ?? 0 });
  const self0 = selfCpuSeconds();
  const switches = new Map<string, number>();
  return {
    switches,
    stop() {
      const used = new Map<string, number>();
      for (const p of processes()) {
        const now = procCpuSeconds(p.pid);
        if (now === undefined) continue;
        const s0 = start.get(p.name);
        const same = s0 !== undefined && s0.pid === p.pid;
        used.set(p.name, same ? now - s0.s : now);
        const cs = procSwitches(p.pid);
        if (cs !== undefined) switches.set(p.name, same ? cs - s0.cs : cs);
      }
      used.set("load generator", selfCpuSeconds() - self0);
      return used;
    },
  };
}

/** Microseconds of CPU per event. */
export const usPerEvent = (seconds: number, events: number): number => (events > 0 ? (seconds * 1e6) / events : NaN);

/** The lake's total (every process but the load generator). */
export function lakeTotal(used: Map<string, number>): number {
  let sum = 0;
  for (const [name, s] of used) if (name !== "load generator") sum += s;
  return sum;
}

/**
 * Rows for one run: each process's CPU µs per committed event, the lake's total, and its ratio to
 * nats-server's CPU per event in the raw publish run.
 */
export function cpuRows(o: {
  used: Map<string, number>;
  events: number;
  keyPrefix: string;
  section: string;
  label: string;
  natsRawUsPerEvent: number;
  target?: number;
  /** Each process's context switches over the run (CpuWindow.switches): a note per process row. */
  switches?: Map<string, number>;
}): Row[] {
  const rows: Row[] = [];
  const order = [...o.used.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const total = usPerEvent(lakeTotal(o.used), o.events);
  rows.push({
    key: `${o.keyPrefix}_cpu_us_per_event_total`,
    section: o.section,
    figure: `${o.label}: lake CPU per committed event (all processes but the load generator)`,
    value: round(total, 1),
    unit: "µs/ev",
  });
  const ratio = total / o.natsRawUsPerEvent;
  rows.push({
    key: `${o.keyPrefix}_cpu_ratio_to_nats_raw`,
    section: o.section,
    figure: `  ratio to nats-server's CPU per event in the raw publish run`,
    value: round(ratio, 2),
    unit: "×",
    ...(o.target !== undefined ? { target: `≤ ${o.target}×`, meets: ratio <= o.target } : {}),
  });
  for (const name of order) {
    rows.push({
      key: `${o.keyPrefix}_cpu_us_per_event_${name.replace(/[^a-z0-9]+/gi, "_")}`,
      section: o.section,
      figure: `  ${name}`,
      value: round(usPerEvent(o.used.get(name)!, o.events), 1),
      unit: "µs/ev",
      ...(o.switches?.has(name) ? { note: `${round(o.switches.get(name)! / o.events, 2)} context switches per event` } : {}),
    });
  }
  return rows;
}

const rank = (name: string): number => {
  const order = ["nats-server", "ingest", "committer", "aggregator", "quality", "catalog", "maintenance", "load generator"];
  const i = order.findIndex((p) => name === p || name.startsWith(`${p}:`));
  return i < 0 ? order.length : i;
};
