// Query: DuckDB over the current version of a large domain_events dataset. The Parquet files are made
// directly with the committer's toParquet (500k rows each, one dt= partition per file), put in a local
// object store, and committed as versions on the commit log of a bench nats-server; a catalog process
// projects them, and the queries go through queryVersion (the catalog's file list → a DuckDB view).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { serviceEntry } from "@lake/app";
import { CatalogClient, queryVersion, sampleEvents } from "@lake/client";
import { domainSpec, toParquet } from "@lake/committer";
import { domainContract, type LakeLog } from "@lake/contracts";
import { ensureStreams, STREAMS, subjects } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { spawnService, startNatsServer, waitFor } from "@lake/testing";

import { appendSyntheticVersions, pct, type Row } from "./lib.ts";

const DATASET = "domain_events";
const SECTION = "6 query";
const DAY = 86_400_000;

export async function query(o: { rows: number; chunk: number; repeats: number }): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-query-"));
  const nats = await startNatsServer({ storeDir: join(dir, "nats") });
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureStreams(jsm);
    const store = openLocalStore(join(dir, "store"));
    const spec = domainSpec(domainContract(DATASET), { stream: STREAMS.events, subject: subjects.events(DATASET) });
    const files: LakeLog.DataFile[][] = [];
    let t = performance.now();
    let bytes = 0;
    let expectedSum = 0;
    for (let i = 0, offset = 0; i * o.chunk < o.rows; i++) {
      const n = Math.min(o.chunk, o.rows - i * o.chunk);
      const startMs = Date.UTC(2026, 0, 1) + i * DAY;
      const events = sampleEvents(n, { prefix: `q${i}`, seed: i + 1, users: 10_000, startMs: startMs + 180_000, spanMs: DAY - 360_000 });
      for (const e of events) expectedSum += e.amount;
      const offsets = Array.from({ length: n }, () => ++offset);
      const data = toParquet(spec, events as unknown as Record<string, unknown>[], offsets);
      const partition = `dt=${new Date(startMs).toISOString().slice(0, 10)}`;
      const key = `datasets/${DATASET}/data/${partition}/wq${i}-000.parquet`;
      await store.put(key, data);
      bytes += data.byteLength;
      files.push([{ key, partition, rows: n, bytes: data.byteLength, sha256: createHash("sha256").update(data).digest("hex") }]);
    }
    const genS = (performance.now() - t) / 1000;
    await appendSyntheticVersions(js, jsm, DATASET, files.length, { files: (v) => files[v - 1]! });
    const catalogProc = await spawnService({
      name: "catalog",
      entry: serviceEntry("catalog"),
      env: { NATS_URL: nats.url, LAKE_CATALOG_DIR: join(dir, "catalog"), LAKE_CATALOG_PORT: "0" },
    });
    const catalog = new CatalogClient(String(catalogProc.ready.url));
    const current = await waitFor(
      "the catalog to project the versions",
      async () => {
        const v = await catalog.version(DATASET, "current").catch(() => undefined);
        return v && v.version === files.length ? v : undefined;
      },
      { timeoutMs: 60_000 },
    );
    rows.push({
      key: "query_dataset_rows",
      section: SECTION,
      figure: `dataset: rows in the current version`,
      value: current.total_rows,
      unit: "rows",
      note: `${current.files.length} files, ${Math.round(bytes / 1024 / 1024)} MiB zstd Parquet; written with toParquet in ${Math.round(genS)} s (${Math.round(o.rows / genS)} rows/s)`,
    });
    const queries = [
      { key: "count_sum", name: "SELECT count(*), sum(amount)", sql: `SELECT count(*) AS n, sum(amount) AS total FROM ${DATASET}` },
      {
        key: "group_by_type",
        name: "GROUP BY event_type (count, sum, avg)",
        sql: `SELECT event_type, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM ${DATASET} GROUP BY event_type ORDER BY event_type`,
      },
      {
        key: "group_by_user",
        name: "GROUP BY user_id (10k keys), top 10",
        sql: `SELECT user_id, count(*) AS n, sum(amount) AS total FROM ${DATASET} GROUP BY user_id ORDER BY total DESC LIMIT 10`,
      },
    ];
    for (const q of queries) {
      const times: number[] = [];
      for (let i = 0; i < o.repeats; i++) {
        t = performance.now();
        const r = await queryVersion(store, current, q.sql);
        times.push(performance.now() - t);
        if (q.key === "count_sum") {
          const row = r.rows[0]!;
          if (Number(row.n) !== o.rows || Math.abs(Number(row.total) - expectedSum) > 1e-6 * Math.max(1, expectedSum)) {
            throw new Error(`query answered ${JSON.stringify(row)}, expected ${o.rows} rows summing to ${expectedSum}`);
          }
        }
      }
      rows.push({
        key: `query_${q.key}_ms`,
        section: SECTION,
        figure: q.name,
        value: pct(times, 50),
        unit: "ms",
        note: `median of ${o.repeats} through queryVersion (${times.map((x) => Math.round(x)).join(", ")} ms)`,
      });
    }
    await catalogProc.stop();
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
