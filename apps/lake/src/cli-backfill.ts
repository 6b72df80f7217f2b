// `lake backfill <dataset> [--dry-run]`: rebuild a derived dataset from its source stream as one new
// version (or, with --dry-run, write it to a throwaway store and report what would be committed).
import { userInfo } from "node:os";

import type { ObjectStore } from "@lake/storage";

import type { BackfillProgress } from "./backfill.ts";

export const BACKFILL_USAGE = `  lake backfill D [--dry-run]                rebuild derived dataset D from its source stream as one new
                                              version, swapped in atomically; --dry-run commits nothing`;

export async function cmdBackfill(
  dataset: string | undefined,
  v: Record<string, string | boolean | undefined>,
  natsUrl: string,
  store: () => Promise<ObjectStore>,
): Promise<void> {
  if (!dataset) throw new Error("usage: lake backfill <dataset> [--dry-run]");
  const [{ connectNats }, { backfillDerived }] = await Promise.all([import("./lazy/nats.ts"), import("./backfill.ts")]);
  const nc = await connectNats({ url: natsUrl, name: "lake-backfill" });
  const tty = process.stdout.isTTY;
  let last = 0;
  const progress = (p: BackfillProgress) => {
    const now = Date.now();
    if (now - last < 250 && p.phase === "reading") return;
    last = now;
    const line = `${p.phase}: ${p.events} events${p.of ? ` (source through ${p.of})` : ""}`;
    if (tty) process.stdout.write(`\r${line}   `);
    else console.log(line);
  };
  try {
    const r = await backfillDerived({
      nc,
      store: await store(),
      dataset,
      actor: (v.actor as string | undefined) || process.env.LAKE_ACTOR || userInfo().username,
      dryRun: Boolean(v["dry-run"]),
      onProgress: progress,
    });
    if (tty) process.stdout.write("\n");
    const files = r.files.map((f) => `  ${f.key}  ${f.rows} rows  ${f.bytes} bytes`).join("\n");
    if (r.dryRun)
      console.log(
        `dry run: would commit version ${r.replacesVersion + 1} of ${dataset}: ${r.rows} rows in ${r.files.length} files from ${r.events} source events (through ${r.sourceThroughSeq}), replacing ${r.removedFiles} files\n${files}`,
      );
    else
      console.log(
        `backfilled ${dataset}: version ${r.version} (replaces ${r.replacesVersion}) with ${r.rows} rows in ${r.files.length} files from ${r.events} events, ${r.attempts} attempt(s)\n${files}`,
      );
  } finally {
    await nc.close();
  }
}
