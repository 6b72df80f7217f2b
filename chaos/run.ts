// The chaos suite: seeded runs of the whole lake under faults, each ending with the invariant checks.
//   npm run chaos                                          2 runs of 45 s: one on a single nats-server, one on a 3-node cluster
//   npm run chaos -- --runs 4 --seed 7 --duration-s 60
//   npm run chaos -- --topology cluster --faults node-loss,kill-committer
//   npm run chaos -- --topology cluster --faults leader-loss   lose the commit log's leader, each time
//   npm run chaos -- --keep                                keep the data dirs (printed) for a post-mortem
// Exit 1 if any check of any run fails.
import { parseArgs } from "node:util";

import { type FaultKind, FAULTS, isFaultKind, NODE_FAULTS } from "./faults.ts";
import { runChaos, type RunResult } from "./harness.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
    "duration-s": { type: "string", default: "45" },
    topology: { type: "string", default: "mixed" },
    faults: { type: "string" },
    "extra-faults": { type: "string" },
    rate: { type: "string", default: "1500" },
    producers: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
const durationS = Number(values["duration-s"]);
const topology = values.topology;
if (!Number.isInteger(runs) || runs < 1) usage(`--runs must be a positive integer`);
if (!Number.isInteger(seed)) usage(`--seed must be an integer`);
if (!(durationS >= 10)) usage(`--duration-s must be at least 10`);
if (!["single", "cluster", "mixed"].includes(topology)) usage(`--topology is single, cluster or mixed (alternating, the default)`);
const faultFilter = values.faults?.split(",").filter(Boolean);
for (const f of faultFilter ?? []) if (!isFaultKind(f)) usage(`unknown fault ${f}; kinds: ${Object.values(FAULTS).join(", ")}`);

function usage(problem: string): never {
  process.stderr.write(
    `chaos: ${problem}\nusage: npm run chaos -- [--runs N] [--seed S] [--duration-s T] [--topology single|cluster|mixed] [--faults k1,k2] [--rate EV/S] [--keep] [--json]\n`,
  );
  process.exit(2);
}

const results: RunResult[] = [];
for (let i = 1; i <= runs; i++) {
  const topo: "single" | "cluster" = topology === "mixed" ? (i % 2 === 1 ? "single" : "cluster") : (topology as "single" | "cluster");
  const runSeed = seed + i - 1;
  const kinds = faultFilter?.filter((f) => (topo === "cluster" ? f !== FAULTS.nats : !NODE_FAULTS.includes(f as FaultKind))) as FaultKind[] | undefined;
  console.log(`\nchaos run ${i}/${runs}: seed ${runSeed}, ${topo === "cluster" ? "3-node NATS cluster, R3 streams" : "single nats-server"}, ${durationS} s`);
  let r: RunResult;
  try {
    r = await runChaos({
      seed: runSeed,
      durationS,
      topology: topo,
      run: i,
      rate: Number(values.rate),
      producers: Number(values.producers),
      keep: values.keep,
      log: (l) => console.log(l),
      ...(kinds ? { faults: kinds } : {}),
      ...(values["extra-faults"] !== undefined ? { extraFaults: Number(values["extra-faults"]) } : {}),
    });
  } catch (e) {
    // The run could not finish (the lake never caught up, a service never came back): that is a failure too.
    console.log(`   run failed before its checks: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
    continue;
  }
  results.push(r);
  printRun(r);
}

if (results.length > 0) {
  const byKind = new Map<string, number>();
  for (const r of results) for (const f of r.faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const sum = (f: (r: RunResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const failed = results.filter((r) => !r.ok);
  console.log(`\nchaos summary`);
  console.log(
    `  runs                 ${results.length}${results.length < runs ? ` finished of ${runs}` : ""} (${results.filter((r) => r.topology === "single").length} single-node, ${results.filter((r) => r.topology === "cluster").length} cluster)`,
  );
  console.log(`  faults injected      ${sum((r) => r.faults.length)}: ${[...byKind].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  console.log(`  events acknowledged  ${sum((r) => r.acknowledged)}`);
  console.log(`  lost                 ${sum((r) => r.lost)}`);
  console.log(`  duplicated           ${sum((r) => r.duplicated)}`);
  console.log(`  checks               ${sum((r) => r.checks.filter((c) => c.ok).length)} passed, ${sum((r) => r.checks.filter((c) => !c.ok).length)} failed`);
  console.log(
    `  result               ${failed.length === 0 && results.length === runs ? "PASS" : `FAIL (${failed.map((r) => `run ${r.run}`).join(", ") || "a run did not finish"})`}`,
  );
  if (values.json) console.log(JSON.stringify(results, null, 2));
}
if (results.some((r) => !r.ok) || results.length < runs) process.exitCode = 1;

function printRun(r: RunResult): void {
  const kinds = new Map<string, number>();
  for (const f of r.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  const p = r.producer;
  console.log(`   faults injected: ${r.faults.length} (${[...kinds].map(([k, n]) => `${k} ×${n}`).join(", ")})`);
  console.log(
    `   events acknowledged ${r.acknowledged}, lost ${r.lost}, duplicated ${r.duplicated}; rejected (invalid, kept out) ${r.rejected}; late (side output) ${r.late}${r.unknown ? `; never acknowledged ${r.unknown}` : ""}`,
  );
  console.log(
    `   producers: ${p.batches} batches, ${p.requests} requests (${p.byVia.http} HTTP, ${p.byVia.nats} NATS), ${p.retries} retries after ${p.failedRequests} failed requests, ${p.duplicateSends} deliberate re-sends, ${p.duplicateAnswers} records answered duplicate`,
  );
  for (const c of r.checks) console.log(`   ${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
  console.log(`   ${r.ok ? "PASS" : "FAIL"} in ${r.wallS} s${r.dataDir ? `; data kept in ${r.dataDir}` : ""}`);
}
