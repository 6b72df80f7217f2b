// Failpoints for fault tests (the committer's scheme). LAKE_FAILPOINTS is a comma list of `point@N`
// (kill -9 self the N-th time the point is reached) or `point@N=pause:MS` (stall there for MS ms).
// Unset in production: a failpoint is then a no-op.
//   after_state_commit  a batch with outputs is committed (state, outbox, position); none of them is
//                       published yet
//   mid_publish         the first half of an outbox round is acknowledged by JetStream, the rest is not
//                       sent and none of it is removed from the outbox
export const FAILPOINTS = ["after_state_commit", "mid_publish"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

type Action = { nth: number; kind: "kill" } | { nth: number; kind: "pause"; ms: number };

export function parseFailpoints(spec: string): Map<Failpoint, Action> {
  const out = new Map<Failpoint, Action>();
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)(?:@(\d+))?(?:=pause:(\d+))?$/.exec(part);
    if (!m) throw new Error(`LAKE_FAILPOINTS: cannot parse ${JSON.stringify(part)}; expected point@N or point@N=pause:MS`);
    const name = m[1]!;
    if (!(FAILPOINTS as readonly string[]).includes(name)) throw new Error(`LAKE_FAILPOINTS: unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINTS.join(", ")}`);
    const nth = m[2] === undefined ? 1 : Number(m[2]);
    if (nth < 1) throw new Error(`LAKE_FAILPOINTS: ${JSON.stringify(part)}: count must be a positive integer`);
    out.set(name as Failpoint, m[3] === undefined ? { nth, kind: "kill" } : { nth, kind: "pause", ms: Number(m[3]) });
  }
  return out;
}

/** Returns the hook the service calls at each point; it resolves at once unless a pause is armed there. */
export function failpointHook(spec: string): (name: Failpoint) => Promise<void> | undefined {
  const armed = parseFailpoints(spec);
  if (armed.size === 0) return () => undefined;
  const hits = new Map<Failpoint, number>();
  return (name) => {
    const action = armed.get(name);
    if (action === undefined) return undefined;
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    if (n !== action.nth) return undefined;
    process.stdout.write(JSON.stringify({ level: "warn", msg: "failpoint", failpoint: name, action: action.kind }) + "\n");
    if (action.kind === "kill") process.kill(process.pid, "SIGKILL");
    return action.kind === "pause" ? new Promise((r) => setTimeout(r, action.ms)) : undefined;
  };
}
