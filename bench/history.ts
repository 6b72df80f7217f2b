// Commit cost as history grows: the domain_events commit log is filled with synthetic versions (written
// straight onto the log) up to 100, 1k and 10k versions; at each size a real committer commits real
// batches sent through ingest. Reported: the committer's own time per commit (Parquet write, manifest,
// CAS append: its "committed … ms" log line) and ingest ack → the catalog serving the covering version.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { startLake } from "@lake/app";
import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { ensureStreams, readCommitHead } from "@lake/messaging";
import { startNatsServer } from "@lake/testing";

import { appendSyntheticVersions, pct, type Row } from "./lib.ts";

const DATASET = "domain_events";
const SECTION = "5 commit cost vs history";

export async function history(o: { steps: number[]; commits: number; batch: number; env?: Record<string, string> }): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-history-"));
  const nats = await startNatsServer({ storeDir: join(dir, "nats-store") });
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await ensureStreams(jsm);
  await appendSyntheticVersions(js, jsm, DATASET, o.steps[0]!);
  // Flush micro-batches after 20 ms instead of 250: one request is one batch, and the wait doesn't
  // dominate the end-to-end figure.
  const lake = await startLake({
    dataDir: join(dir, "lake"),
    natsUrl: nats.url,
    without: ["quality", "aggregator"],
    env: { LAKE_COMMIT_MAX_AGE_MS: "20", ...o.env },
  });
  const catalog = new CatalogClient(lake.catalogUrl);
  const commitMs: Record<number, number> = {};
  try {
    let batchNo = 0;
    for (const step of o.steps) {
      const head = await readCommitHead(jsm, DATASET);
      const have = head.version?.record.version ?? 0;
      if (have < step) {
        await lake.services.get(`committer:${DATASET}`)!.stop();
        await appendSyntheticVersions(js, jsm, DATASET, step - have);
        await lake.startCommitter(DATASET);
      }
      const committer = lake.services.get(`committer:${DATASET}`)!;
      const e2e: number[] = [];
      for (let i = 0; i < o.commits; i++) {
        const events = sampleEvents(o.batch, { prefix: `h${step}-${batchNo}`, seed: ++batchNo });
        const r = await sendHttp(lake.producer, DATASET, events);
        if (r.status !== 200) throw new Error(`ingest answered ${r.status}`);
        const acked = performance.now();
        await catalog.covering(DATASET, r.max_offset!, 30_000);
        e2e.push(performance.now() - acked);
      }
      const ms = committer
        .logs()
        .split("\n")
        .filter((l) => l.includes('"msg":"committed"'))
        .map((l) => JSON.parse(l) as { version: number; ms: number })
        .filter((l) => l.version > step)
        .map((l) => l.ms);
      commitMs[step] = pct(ms, 50);
      const label = step >= 1000 ? `${step / 1000}k` : String(step);
      const ratio = commitMs[step]! / commitMs[o.steps[0]!]!;
      rows.push({
        key: `commit_ms_at_${label}_versions_p50`,
        section: SECTION,
        figure: `commit at ${label} versions: committer time, p50`,
        value: commitMs[step]!,
        unit: "ms",
        ...(step === 10_000 ? { target: `≤ 2× the time at ${o.steps[0]}`, meets: ratio <= 2 } : {}),
        note: `${ms.length} commits of ${o.batch} events; p99 ${pct(ms, 99)} ms${step !== o.steps[0] ? `; ${ratio.toFixed(2)}× the time at ${o.steps[0]}` : ""}`,
      });
      rows.push({
        key: `commit_e2e_ms_at_${label}_versions_p50`,
        section: SECTION,
        figure: `  ack → covering version served, p50`,
        value: pct(e2e, 50),
        unit: "ms",
        note: `p99 ${Math.round(pct(e2e, 99))} ms (the covering answer lists every file of the version)`,
      });
    }
  } finally {
    await nc.close();
    await lake.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
