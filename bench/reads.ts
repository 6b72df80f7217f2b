// Latest-version reads by file count: datasets whose latest version holds 10, 1,000 and 10,000 files,
// their commit records appended straight onto the log of a bench nats-server, each version with a real
// Iceberg snapshot written by @lake/iceberg's writeVersion (so the reference names real manifests).
// Then, at a steady request rate (open loop, keep-alive HTTP, whole body read), the latest-version read
// that lists every file (the default) beside the one that names the file set (files=reference), and
// what a reader pays once to resolve the reference from the manifests (cold) and again (cached).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { serviceEntry } from "@lake/app";
import { CatalogClient, FileSetResolver } from "@lake/client";
import type { LakeLog } from "@lake/contracts";
import { IcebergHistory } from "@lake/iceberg/history";
import { appendLogRecord, ensureStreams, readCommitHead } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { spawnService, startNatsServer, waitFor } from "@lake/testing";

import { httpGet, openLoop, pct, type Row } from "./lib.ts";

const SECTION = "4 catalog reads by file count";
/** Files per version: a dataset of N files is N / 500 appends (fewer for small N), as a committer's history would be. */
const PER_VERSION = 500;

const file = (dataset: string, v: number, i: number): LakeLog.DataFile => {
  const day = `2026-06-${String(1 + (i % 28)).padStart(2, "0")}`;
  return {
    key: `datasets/${dataset}/data/dt=${day}/w${v}-${String(i).padStart(5, "0")}.parquet`,
    partition: `dt=${day}`,
    rows: 1000,
    bytes: 65_536 + i,
    sha256: "0".repeat(64),
  };
};

export async function reads(o: { sizes: readonly number[]; rate: number; seconds: number; env?: Record<string, string> }): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-reads-"));
  const nats = await startNatsServer({ storeDir: join(dir, "nats") });
  const nc = await connect({ servers: nats.url });
  const catalogProc = await spawnService({
    name: "catalog",
    entry: serviceEntry("catalog"),
    env: { NATS_URL: nats.url, LAKE_CATALOG_DIR: join(dir, "catalog"), LAKE_CATALOG_PORT: "0", ...o.env },
  });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureStreams(jsm);
    const store = await openLocalStore(join(dir, "store"));
    const url = String(catalogProc.ready.url);
    const catalog = new CatalogClient(url);
    let lastSeq = 0;
    for (const n of o.sizes) {
      const dataset = `reads_${n}`;
      const history = new IcebergHistory(store, dataset);
      for (let v = 1, done = 0; done < n; v++) {
        const count = Math.min(PER_VERSION, n - done);
        const record = await history.next({ added: Array.from({ length: count }, (_, i) => file(dataset, v, done + i)) });
        done += count;
        const head = await readCommitHead(jsm, dataset);
        lastSeq = await appendLogRecord(js, dataset, { kind: "VersionCommitted", body: record }, { expectedLastSeq: head.seq });
      }
    }
    await waitFor("the catalog to catch up", async () => ((await catalog.healthz()).projected_through_seq >= lastSeq ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 20,
    });

    for (const n of o.sizes) {
      const dataset = `reads_${n}`;
      const base = new URL(`/v1/datasets/${dataset}/versions/latest`, url).toString();
      const ref = await catalog.version(dataset, "latest", { files: "reference" });
      if (ref.file_set?.total_files !== n) throw new Error(`${dataset}: the latest version names ${ref.file_set?.total_files} files, expected ${n}`);
      for (const kind of [
        // The reference first: the full list's backlog at large sizes would otherwise spill into its figures.
        { name: "files=reference", key: "reference", url: `${base}?files=reference` },
        { name: "full list", key: "list", url: base },
      ]) {
        for (let i = 0; i < 50; i++) await httpGet(kind.url);
        let bytes = 0;
        const r = await openLoop(o.rate, o.seconds * 1000, async () => {
          const got = await httpGet(kind.url);
          bytes += got.bytes;
        });
        const held = r.achievedRate >= o.rate * 0.95;
        const p99 = pct(r.latencies, 99);
        const kb = bytes / Math.max(1, r.latencies.length) / 1024;
        const prefix = `read_files_${n}_${kind.key}`;
        rows.push({
          key: `${prefix}_achieved_rps`,
          section: SECTION,
          figure: `latest, ${n.toLocaleString("en-US")} files, ${kind.name}: rate reached`,
          value: r.achievedRate,
          unit: "req/s",
          note: `${kb < 10 ? kb.toFixed(1) : Math.round(kb)} KiB per answer${r.skipped ? `; ${r.skipped} requests skipped (256 in flight)` : ""}${r.errors ? `; ${r.errors} errors` : ""}`,
        });
        rows.push({ key: `${prefix}_p50_ms`, section: SECTION, figure: "  p50", value: pct(r.latencies, 50), unit: "ms" });
        rows.push({
          key: `${prefix}_p99_ms`,
          section: SECTION,
          figure: "  p99",
          value: p99,
          unit: "ms",
          ...(kind.key === "reference" ? { target: `≤ 5 ms at ${o.rate} req/s`, meets: held && p99 <= 5 } : {}),
        });
      }
      // What the reader then pays for the file list: the manifests read once, then from its cache.
      const resolver = new FileSetResolver(store);
      let t = performance.now();
      const files = await resolver.files(ref.file_set);
      const cold = performance.now() - t;
      t = performance.now();
      await resolver.files(ref.file_set);
      const warm = performance.now() - t;
      rows.push({
        key: `resolve_files_${n}_ms`,
        section: SECTION,
        figure: `  resolving the reference (client, local store): cold / cached`,
        value: `${cold.toFixed(1)} / ${warm.toFixed(1)}`,
        unit: "ms",
        note: `${files.length} files from ${Math.ceil(n / PER_VERSION)} manifest(s)`,
      });
    }
  } finally {
    await catalogProc.stop();
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
