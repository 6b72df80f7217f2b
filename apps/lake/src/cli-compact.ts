// `lake compact`: rewrite a dataset's small Parquet files into larger ones, as a new version with the
// same rows. It talks to NATS and the object store directly, like a committer: one more writer of the
// dataset's commit log, fenced by its compare-and-set (the logic is beside the committer's writer, in
// apps/lake/src/ops/).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { OpsUsageError } from "./cli-ops.ts";
import type { CompactionProgress, CompactionResult } from "./ops/index.ts";

type Values = Record<string, string | boolean | undefined>;

// The defaults are written out (apps/lake/test/cli-start.unit.test.ts checks them against COMPACTION_DEFAULTS):
// the usage text is on `lake --help`'s path, which must not load the compaction code.
export const COMPACT_USAGE = `  lake compact D [--target-bytes N] [--max-files N] [--dry-run]
      rewrite D's files smaller than N bytes (default 128MiB; 64MiB, 512KiB also work) into files of
      up to N, per partition, as a new version with the same rows (operation "compaction" in the log);
      at most --max-files input files per run (default 1000); --dry-run only shows the plan`;

/** The compaction could not land (others kept winning the race): printed as one line, exit 1. */
export class CompactionFailedError extends OpsUsageError {}

const UNITS: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

export function parseBytes(raw: string): number {
  const m = /^(\d{1,15})\s*(B|KiB|MiB|GiB)?$/.exec(raw.trim());
  const n = m ? Number(m[1]) * UNITS[m[2] ?? ""]! : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new OpsUsageError(`--target-bytes must be a positive size in bytes (optionally KiB, MiB or GiB), got ${JSON.stringify(raw)}`);
  return n;
}

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Where the running lake is: NATS_URL / LAKE_STORE* from the environment, else DIR/run.json (as `lake query`). */
async function locate(dataDir: string): Promise<{ natsUrl: string; storeEnv: Record<string, string> }> {
  const { STORE_ENV } = await import("./lazy/storage.ts");
  const file = join(dataDir, "run.json");
  const run = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { nats_url?: string; store_root?: string; store?: Record<string, string> }) : {};
  const natsUrl = process.env.NATS_URL || run.nats_url;
  if (!natsUrl) throw new OpsUsageError(`no running lake found: ${file} does not exist and NATS_URL is unset. Start one with \`lake up\`.`);
  const storeEnv: Record<string, string> = { ...(run.store ?? {}) };
  for (const k of Object.values(STORE_ENV)) if (process.env[k]) storeEnv[k] = process.env[k]!;
  if (!storeEnv.LAKE_STORE && !storeEnv.LAKE_STORE_ROOT && run.store_root) storeEnv.LAKE_STORE_ROOT = run.store_root;
  if (!storeEnv.LAKE_STORE_ROOT && storeEnv.LAKE_STORE !== "s3")
    throw new OpsUsageError("the object store is unknown: set LAKE_STORE_ROOT (or LAKE_STORE=s3 and LAKE_S3_*), or run inside the lake's data dir");
  return { natsUrl, storeEnv };
}

function progressLine(dataset: string, p: CompactionProgress): string {
  const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
  const what =
    p.phase === "commit"
      ? `committing${p.attempt > 1 ? ` (attempt ${p.attempt}, after a lost race)` : ""}`
      : `${p.filesDone}/${p.filesTotal} files read (${fmtBytes(p.bytesDone)} of ${fmtBytes(p.bytesTotal)}, ${pct}%), ${p.groupsDone}/${p.groupsTotal} written`;
  return `compacting ${dataset}: ${what}, ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

function printResult(r: CompactionResult): void {
  const groups = r.plan.groups;
  if (r.outcome === "nothing_to_do") {
    console.log(
      `${r.dataset}: nothing to compact (${r.plan.liveFiles} live files in ${r.plan.partitions} partitions; no partition has two files below the target)`,
    );
    return;
  }
  if (r.outcome === "dry_run") {
    console.log(
      `${r.dataset}: would rewrite ${r.plan.files} files (${fmtBytes(r.plan.bytes)}, ${r.plan.rows} rows) into ${groups.length} in ${new Set(groups.map((g) => g.partition)).size} partitions; live files ${r.plan.liveFiles} → ${r.plan.liveFiles - r.plan.files + groups.length}`,
    );
    for (const g of groups) console.log(`  ${g.partition}  ${g.files.length} files  ${fmtBytes(g.bytes)}  ${g.rows} rows`);
  }
  if (r.outcome === "committed") {
    console.log(
      `${r.dataset}: version ${r.version} (parent ${r.parentVersion}, commit-log sequence ${r.commitSeq}) rewrote ${r.filesRemoved} files into ${r.filesAdded}: ` +
        `${r.rows} rows, ${fmtBytes(r.bytesIn)} → ${fmtBytes(r.bytesOut)}, in ${(r.ms / 1000).toFixed(1)} s; live files ${r.filesBefore} → ${r.filesAfter}`,
    );
    if (r.rebases > 0) console.log(`  rebased onto newer versions ${r.rebases} time${r.rebases === 1 ? "" : "s"} (appends committed while it ran)`);
  }
  if (r.outcome === "abandoned") console.log(`${r.dataset}: nothing committed: every partition planned was rewritten by someone else or could not be read`);
  for (const d of r.dropped) {
    console.log(
      "removedBy" in d
        ? `  gave up ${d.partition}: version ${d.removedBy} rewrote ${d.files.length} of its files while this compaction ran`
        : `  left ${d.partition} as it is: ${d.reason}`,
    );
  }
  if (r.plan.deferredFiles > 0) console.log(`  ${r.plan.deferredFiles} more small files left for the next run (--max-files ${r.plan.files})`);
}

export async function cmdCompact(rest: string[], v: Values, dataDir: string): Promise<void> {
  const dataset = rest[0];
  if (!dataset || rest.length > 1) throw new OpsUsageError(`usage:\n${COMPACT_USAGE}`);
  const { COMPACTION_DEFAULTS } = await import("./ops/compaction-plan.ts");
  const targetBytes = v["target-bytes"] === undefined ? COMPACTION_DEFAULTS.targetBytes : parseBytes(String(v["target-bytes"]));
  const rawMax = v["max-files"] as string | undefined;
  const maxFiles = rawMax === undefined ? COMPACTION_DEFAULTS.maxFiles : /^\d{1,9}$/.test(rawMax) ? Number(rawMax) : NaN;
  if (!(maxFiles >= 2)) throw new OpsUsageError(`--max-files must be an integer ≥ 2 (a compaction merges at least two files), got ${JSON.stringify(rawMax)}`);
  const { natsUrl, storeEnv } = await locate(dataDir);
  const [
    { datasetSpec },
    { connectNats },
    { SchemaRegistry },
    { describeStore, openStore, storeConfigFromEnv },
    { compactDataset, compactionFailpointHook, isCompactionContended },
  ] = await Promise.all([
    import("./lazy/committer.ts"),
    import("./lazy/nats.ts"),
    import("./lazy/registry.ts"),
    import("./lazy/storage.ts"),
    import("./ops/index.ts"),
  ]);
  const storeConfig = storeConfigFromEnv(storeEnv);
  const store = await openStore(storeConfig);
  const nc = await connectNats({ url: natsUrl, name: "lake-compact" });
  const registry = await SchemaRegistry.open(nc, { seed: false });
  try {
    let spec;
    try {
      spec = datasetSpec(registry, dataset);
    } catch (e) {
      throw new OpsUsageError((e as Error).message);
    }
    console.log(
      `compacting ${dataset} (target ${fmtBytes(targetBytes)}, at most ${maxFiles} files${v["dry-run"] ? ", dry run" : ""}; store ${describeStore(storeConfig)})`,
    );
    const tty = process.stdout.isTTY;
    let lastLine = 0;
    let shown = false;
    const result = await compactDataset({
      nc,
      store,
      spec,
      targetBytes,
      maxFiles,
      dryRun: v["dry-run"] === true,
      // Fault tests only (e.g. compact_before_commit@1=wait): unset, every failpoint is a no-op.
      failpoint: compactionFailpointHook(process.env.LAKE_COMPACT_FAILPOINTS ?? ""),
      onProgress: (p) => {
        // A line a second on long runs; short runs print only the result.
        if (p.elapsedMs - lastLine < 1000 && p.phase !== "commit") return;
        if (p.phase === "commit" && !shown) return;
        lastLine = p.elapsedMs;
        shown = true;
        if (tty) process.stdout.write(`\r${progressLine(dataset, p)}   `);
        else console.log(progressLine(dataset, p));
      },
    }).catch((e: unknown) => {
      if (isCompactionContended(e)) throw new CompactionFailedError(e.message);
      throw e;
    });
    if (tty && shown) process.stdout.write("\n");
    printResult(result);
  } finally {
    registry.close();
    await nc.drain();
  }
}
