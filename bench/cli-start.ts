// How long a `lake` command takes from exec to exit, compiled (apps/lake/bin/lake.js running dist/cli.js)
// and from source (node --import tsx apps/lake/src/cli.ts, how every command started before the build
// step): `lake --help`, and `lake versions domain_events` against a running lake. Median and max of
// `runs` sequential runs each, wall clock, so the figure includes Node's own start.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

import { bundleFreshness, produce, produceDefaults, REPO_ROOT, startLake } from "@lake/app";
import { CatalogClient } from "@lake/client";

import { pct, type Row } from "./lib.ts";

const run = promisify(execFile);
const bin = resolve(REPO_ROOT, "apps/lake/bin/lake.js");
const source = resolve(REPO_ROOT, "apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");

async function timeRuns(args: string[], runs: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run(process.execPath, args, { timeout: 120_000 });
    ms.push(performance.now() - t);
  }
  return ms;
}

/** `before`: another checkout's apps/lake/src/cli.ts to time as "from source" (e.g. the commit before the build step). */
export async function cliStart(o: { runs: number; before?: string }): Promise<Row[]> {
  const fresh = bundleFreshness(REPO_ROOT, "lake");
  if (!fresh.fresh) throw new Error(`the compiled CLI is stale (${fresh.why}): run npm run build first`);
  const dataDir = mkdtempSync(join(tmpdir(), "lake-bench-cli-"));
  const lake = await startLake({ dataDir });
  const rows: Row[] = [];
  try {
    // A few versions to list.
    const p = await produce({ ...produceDefaults, count: 300, rate: 0, ingestUrl: lake.ingestUrl, ingestToken: lake.producer.token, seed: 3 });
    await new CatalogClient(lake.catalogUrl).covering("domain_events", p.maxOffset, 30_000);
    const cases = [
      { key: "help", figure: "lake --help", args: ["--help"] },
      { key: "versions", figure: "lake versions domain_events", args: ["versions", "domain_events", "--data-dir", dataDir] },
    ];
    for (const c of cases) {
      const compiled = await timeRuns([bin, ...c.args], o.runs);
      const fromSource = await timeRuns(["--import", tsx, o.before ?? source, ...c.args], o.runs);
      const median = pct(compiled, 50);
      rows.push({
        key: `cli_${c.key}_compiled_median_ms`,
        section: "cli start",
        figure: `${c.figure}: compiled (median of ${o.runs})`,
        value: Math.round(median),
        unit: "ms",
        target: "≤ 500 ms",
        meets: median <= 500,
        note: `max ${Math.round(Math.max(...compiled))} ms`,
      });
      rows.push({
        key: `cli_${c.key}_source_median_ms`,
        section: "cli start",
        figure: `${c.figure}: ${o.before ? `before (${o.before}) via tsx` : "from source via tsx"} (median of ${o.runs})`,
        value: Math.round(pct(fromSource, 50)),
        unit: "ms",
        note: `max ${Math.round(Math.max(...fromSource))} ms`,
      });
    }
    const node = await timeRuns(["-e", "0"], o.runs);
    rows.push({
      key: "cli_node_floor_median_ms",
      section: "cli start",
      figure: `node -e 0, the floor (median of ${o.runs})`,
      value: Math.round(pct(node, 50)),
      unit: "ms",
    });
  } finally {
    await lake.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}
