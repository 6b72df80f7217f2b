// Failpoints for fault tests (as in FoundationDB / TiKV fail-rs). LAKE_FAILPOINTS is a comma list of
// `point@N` (kill -9 self the N-th time the point is reached), `point@N=pause:MS` (stall there for MS
// milliseconds) or `point@N=wait` (stall there until the process gets SIGUSR2: a test holds a zombie
// exactly as long as it needs to). Unset in production: a failpoint is then a no-op. Each service
// names its own points.
export type FailpointAction = { nth: number; kind: "kill" } | { nth: number; kind: "pause"; ms: number } | { nth: number; kind: "wait" };

export function parseFailpoints<T extends string>(spec: string, known: readonly T[]): Map<T, FailpointAction> {
  const out = new Map<T, FailpointAction>();
  for (const part of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z_]+)(?:@(\d+))?(?:=pause:(\d+)|(=wait))?$/.exec(part);
    if (!m) throw new Error(`LAKE_FAILPOINTS: cannot parse ${JSON.stringify(part)}; expected point@N, point@N=pause:MS or point@N=wait`);
    const name = m[1]!;
    if (!(known as readonly string[]).includes(name)) throw new Error(`LAKE_FAILPOINTS: unknown failpoint ${JSON.stringify(name)}; known: ${known.join(", ")}`);
    const nth = m[2] === undefined ? 1 : Number(m[2]);
    if (nth < 1) throw new Error(`LAKE_FAILPOINTS: ${JSON.stringify(part)}: count must be a positive integer`);
    out.set(name as T, m[4] ? { nth, kind: "wait" } : m[3] === undefined ? { nth, kind: "kill" } : { nth, kind: "pause", ms: Number(m[3]) });
  }
  return out;
}

/** Returns the hook a service calls at each point; it resolves at once unless a pause is armed there. */
export function failpointHook<T extends string>(spec: string, known: readonly T[]): (name: T) => Promise<void> | undefined {
  const armed = parseFailpoints(spec, known);
  if (armed.size === 0) return () => undefined;
  // Listen from the start: SIGUSR2 would otherwise terminate the process if it came early.
  let released = false;
  const waiters: (() => void)[] = [];
  if ([...armed.values()].some((a) => a.kind === "wait")) {
    process.on("SIGUSR2", () => {
      released = true;
      for (const w of waiters.splice(0)) w();
    });
  }
  const hits = new Map<T, number>();
  return (name) => {
    const action = armed.get(name);
    if (action === undefined) return undefined;
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    if (n !== action.nth) return undefined;
    process.stdout.write(JSON.stringify({ level: "warn", msg: "failpoint", failpoint: name, action: action.kind }) + "\n");
    if (action.kind === "kill") process.kill(process.pid, "SIGKILL");
    if (action.kind === "wait") return released ? undefined : new Promise<void>((r) => waiters.push(r));
    return action.kind === "pause" ? new Promise((r) => setTimeout(r, action.ms)) : undefined;
  };
}
