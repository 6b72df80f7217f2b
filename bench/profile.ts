// Summarises V8 CPU profiles (from `npm run bench -- --profile DIR`, or any `node --cpu-prof`): the
// functions with the most self time per profile, to see what limits a service.
//   node --import tsx bench/profile.ts DIR [--top 15] [--all]   (--all: one list over every process, by service)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "15" }, all: { type: "boolean", default: false } },
});
const dir = positionals[0];
if (!dir) throw new Error("usage: node --import tsx bench/profile.ts DIR [--top N] [--all]");
// --all: self time summed over every process's profile, each function named with its process.
const merged = new Map<string, number>();
let mergedBusy = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
  const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|work\/main)\//, "")}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const idle = self.get("(idle)") ?? 0;
  if (values.all) {
    const service = file.replace(/-\d+\.cpuprofile$/, "");
    for (const [k, us] of self) if (k !== "(idle)") merged.set(`${service}: ${k}`, (merged.get(`${service}: ${k}`) ?? 0) + us);
    mergedBusy += total - idle;
    continue;
  }
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(1)} s busy`);
  for (const [k, us] of [...self]
    .filter(([k]) => k !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(values.top))) {
    console.log(`  ${((us / Math.max(1, total - idle)) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
if (values.all) {
  console.log(`every process: ${(mergedBusy / 1e6).toFixed(1)} s busy`);
  for (const [k, us] of [...merged].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top)))
    console.log(`  ${((us / Math.max(1, mergedBusy)) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}
