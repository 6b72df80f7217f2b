// The lake's benchmarks, one run, one table: JetStream's ceiling and ingest → committed throughput,
// freshness at steady rates, catalog reads and rebuild, commit cost as history grows, and DuckDB over a
// large dataset. Prints the figures beside the targets of the issue and writes them to
// bench/results/bench-<time>.json. Asserts nothing about time: it measures.
//   npm run bench                                (everything, ~6 min on the 2-core dev machine)
//   npm run bench -- --quick                     (smaller sizes, ~1.5 min)
//   npm run bench -- --only lake,rebuild         (sections: lake, throughput, wap, rebuild, reads, history, table-state, query, parquet, iceberg, cli)
//   npm run bench -- --only throughput --events 40000   (the lake's throughput and CPU per event alone)
//   npm run bench -- --only cli                  (CLI start time, compiled vs from source: not in the default run)
//   npm run bench -- --without quality,aggregator   (the lake section without those services)
//   npm run bench -- --only history --profile /tmp/prof   (CPU profiles of every service, see bench/profile.ts)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { connect } from "@nats-io/transport-node";

import { startLake } from "@lake/app";

import { catalogReads } from "./catalog-reads.ts";
import { cliStart } from "./cli-start.ts";
import { freshness } from "./freshness.ts";
import { history } from "./history.ts";
import { icebergCost } from "./iceberg.ts";
import { natsLogin, printTable, type Row } from "./lib.ts";
import { parquet } from "./parquet.ts";
import { publishFreshness } from "./publish.ts";
import { query } from "./query.ts";
import { reads } from "./reads.ts";
import { rebuild } from "./rebuild.ts";
import { tableStateCost } from "./table-state.ts";
import { throughput, THROUGHPUT_RUNS } from "./throughput.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string", default: "lake,rebuild,reads,history,query,parquet,iceberg" },
    without: { type: "string", default: "" },
    events: { type: "string" },
    "freshness-seconds": { type: "string" },
    "query-rows": { type: "string" },
    // Every service process writes a V8 CPU profile (.cpuprofile, open in Chrome DevTools) into DIR.
    profile: { type: "string" },
    // NODE_OPTIONS for every service process (e.g. "--max-semi-space-size=64"), to compare runtime settings.
    "node-options": { type: "string" },
    // The throughput section's measured runs: http-batches, nats-batches, http-singles, http-singles-wrk, nats-singles,
    // nats-steady (default all).
    runs: { type: "string" },
    // Seconds of a steady stream before the throughput section's measured runs (default 60; --quick 15).
    "warmup-s": { type: "string" },
    // --only cli: time this CLI source (another checkout's apps/lake/src/cli.ts) as the "before" figure.
    "cli-before": { type: "string" },
  },
});
const quick = values.quick;
const num = (v: string | undefined, full: number, small: number) => (v === undefined ? (quick ? small : full) : Number(v));
const o = {
  events: num(values.events, 40_000, 10_000),
  singles: quick ? 3_000 : 30_000,
  freshnessSeconds: num(values["freshness-seconds"], 10, 4),
  // The last rate is past what the 2-core machine holds: its row says the rate reached, and the latencies there.
  freshnessRates: quick ? [2000, 5000, 10_000] : [2000, 5000, 10_000, 20_000],
  readRate: 1000,
  readSeconds: quick ? 2 : 5,
  rebuildCommits: quick ? 2_000 : 10_000,
  rebuildRounds: quick ? 1 : 3,
  readFileCounts: [10, 1000, 10_000],
  historySteps: quick ? [100, 1000] : [100, 1000, 10_000],
  historyCommits: quick ? 8 : 20,
  queryRows: num(values["query-rows"], 10_000_000, 1_000_000),
  parquetDayEvents: quick ? 200_000 : 1_000_000,
  // The pruning figure is about a day's file: the same day in both modes.
  parquetPruneDayEvents: 1_000_000,
};
const sections = new Set(values.only.split(",").filter(Boolean));
for (const s of sections)
  if (!["lake", "throughput", "wap", "rebuild", "reads", "history", "table-state", "query", "parquet", "iceberg", "cli"].includes(s))
    throw new Error(`--only takes lake, throughput, wap, rebuild, reads, history, table-state, query, parquet, iceberg, cli; got ${s}`);
for (const r of values.runs?.split(",") ?? [])
  if (!(THROUGHPUT_RUNS as readonly string[]).includes(r)) throw new Error(`--runs takes ${THROUGHPUT_RUNS.join(", ")}; got ${r}`);
const without = values.without.split(",").filter(Boolean) as ("quality" | "aggregator")[];
for (const w of without) if (w !== "quality" && w !== "aggregator") throw new Error(`--without takes quality and/or aggregator, got ${w}`);

// Node refuses --cpu-prof in NODE_OPTIONS: a preloaded hook profiles each service through the inspector.
const nodeOptions = [values.profile ? `--import ${join(import.meta.dirname, "cpu-profile-hook.mjs")}` : "", values["node-options"] ?? ""]
  .filter(Boolean)
  .join(" ");
const profileEnv: Record<string, string> = {
  ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
  ...(values.profile ? { LAKE_CPU_PROFILE_DIR: resolve(values.profile) } : {}),
};
if (values.profile) mkdirSync(values.profile, { recursive: true });
const rows: Row[] = [];
const started = new Date();
const log = (s: string) => console.error(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)}s] ${s}`);

/** Runs `fn` against a lake started for it (with its own data dir), then stops the lake. */
async function withBenchLake(fn: (lake: Awaited<ReturnType<typeof startLake>>, nc: Awaited<ReturnType<typeof connect>>) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "lake-bench-"));
  const lake = await startLake({ dataDir, without, env: profileEnv });
  const nc = await connect({ servers: lake.natsUrl, ...natsLogin(lake) });
  try {
    await fn(lake, nc);
  } finally {
    await nc.close();
    await lake.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
const throughputOptions = {
  events: o.events,
  singles: o.singles,
  singleConcurrency: 16,
  warmupSeconds: num(values["warmup-s"], 60, 15),
  ...(values.runs ? { runs: values.runs.split(",") } : {}),
};

if (sections.has("lake")) {
  log(`lake: throughput (${o.events} events), freshness, catalog reads${without.length ? ` (without ${without.join(", ")})` : ""}`);
  await withBenchLake(async (lake, nc) => {
    rows.push(...(await throughput(lake, nc, throughputOptions)).rows);
    log("freshness");
    rows.push(...(await freshness(lake, { rates: o.freshnessRates, seconds: o.freshnessSeconds })));
    if (!without.includes("quality")) {
      log("write-audit-publish freshness");
      rows.push(...(await publishFreshness(lake, { rate: 1000, seconds: o.freshnessSeconds })));
    }
    log("catalog reads");
    rows.push(
      ...(await catalogReads(lake.catalogUrl, {
        dataset: "domain_events",
        rate: o.readRate,
        seconds: o.readSeconds,
        section: "4 catalog reads",
        keyPrefix: "read_live",
        label: "the live lake",
        covering: true,
        targets: true,
      })),
    );
  });
}
if (sections.has("throughput") && !sections.has("lake")) {
  log(`throughput alone (${o.events} events)${without.length ? ` (without ${without.join(", ")})` : ""}`);
  await withBenchLake(async (lake, nc) => {
    rows.push(...(await throughput(lake, nc, throughputOptions)).rows);
  });
}
if (sections.has("wap") && !sections.has("lake")) {
  log("write-audit-publish freshness alone");
  await withBenchLake(async (lake) => {
    rows.push(...(await publishFreshness(lake, { rate: 1000, seconds: o.freshnessSeconds })));
  });
}
if (sections.has("rebuild")) {
  log(`catalog rebuild from ${o.rebuildCommits} commits`);
  rows.push(...(await rebuild({ commits: o.rebuildCommits, rounds: o.rebuildRounds, readRate: o.readRate, readSeconds: o.readSeconds, env: profileEnv })));
}
if (sections.has("reads")) {
  log(`latest-version reads at ${o.readFileCounts.join(", ")} files: full list and files=reference`);
  rows.push(...(await reads({ sizes: o.readFileCounts, rate: o.readRate, seconds: o.readSeconds, env: profileEnv })));
}
if (sections.has("history")) {
  log(`commit cost at ${o.historySteps.join(", ")} versions`);
  rows.push(...(await history({ steps: o.historySteps, commits: o.historyCommits, batch: 200, env: profileEnv })));
}
if (sections.has("history") || sections.has("table-state")) {
  log(`catalog work at ${o.historySteps.join(", ")} versions`);
  rows.push(...(await tableStateCost({ sizes: o.historySteps, repeats: quick ? 3 : 10 })));
}
if (sections.has("query")) {
  log(`query over ${o.queryRows} rows`);
  rows.push(...(await query({ rows: o.queryRows, chunk: 500_000, repeats: 3 })));
}
if (sections.has("parquet")) {
  log(`parquet: sample datasets beside DuckDB's writer, codecs, a one-hour range over a day of ${o.parquetPruneDayEvents} events`);
  rows.push(...(await parquet({ dayEvents: o.parquetDayEvents, pruneDayEvents: o.parquetPruneDayEvents, repeats: 3 })));
}

if (sections.has("iceberg")) {
  log("iceberg: commit cost with Iceberg metadata on vs off");
  rows.push(...(await icebergCost({ commits: quick ? 40 : 100, batch: 200, deepVersions: quick ? 300 : 1000 })));
  rows.push(...(await icebergCost({ commits: quick ? 20 : 50, batch: 2000, deepVersions: quick ? 20 : 50 })));
}

if (sections.has("cli")) {
  log("cli start: lake --help and lake versions, compiled and from source");
  rows.push(...(await cliStart({ runs: quick ? 5 : 10, ...(values["cli-before"] ? { before: resolve(values["cli-before"]) } : {}) })));
}

const machine = `${process.platform} ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`;
console.log(
  `\nlake benchmarks${quick ? " (--quick)" : ""}: ${machine}; services${without.length ? ` all but ${without.join(", ")}` : " all"}; everything shares the machine\n`,
);
printTable(rows);
const outDir = join(import.meta.dirname, "results");
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      started: started.toISOString(),
      seconds: Math.round((Date.now() - started.getTime()) / 1000),
      machine,
      quick,
      options: o,
      services: without.length ? `all but ${without.join(", ")}` : "all",
      figures: Object.fromEntries(rows.map((r) => [r.key, typeof r.value === "number" ? Math.round(r.value * 100) / 100 : r.value])),
      rows,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${file}`);
