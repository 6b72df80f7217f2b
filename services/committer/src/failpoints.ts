// Failpoints for fault tests (as in FoundationDB / TiKV fail-rs): LAKE_FAILPOINTS="after_manifest@2"
// makes the process kill -9 itself the 2nd time it reaches that point. Unset in production: then a
// failpoint is one Map lookup.
export const FAILPOINTS = ["after_parquet", "after_manifest", "after_commit"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export function parseFailpoints(spec: string): Map<Failpoint, number> {
  const out = new Map<Failpoint, number>();
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, nth] = part.split("@") as [string, string | undefined];
    if (!(FAILPOINTS as readonly string[]).includes(name)) throw new Error(`LAKE_FAILPOINTS: unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINTS.join(", ")}`);
    const n = nth === undefined ? 1 : Number(nth);
    if (!Number.isInteger(n) || n < 1) throw new Error(`LAKE_FAILPOINTS: ${JSON.stringify(part)}: count must be a positive integer`);
    out.set(name as Failpoint, n);
  }
  return out;
}

export function failpointHook(spec: string): (name: Failpoint) => void {
  const armed = parseFailpoints(spec);
  if (armed.size === 0) return () => {};
  const hits = new Map<Failpoint, number>();
  return (name) => {
    const target = armed.get(name);
    if (target === undefined) return;
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    if (n === target) {
      process.stdout.write(JSON.stringify({ level: "warn", msg: "failpoint", failpoint: name }) + "\n");
      process.kill(process.pid, "SIGKILL");
    }
  };
}
