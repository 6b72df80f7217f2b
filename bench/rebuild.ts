// Catalog rebuild speed: 10k VersionCommitted records written straight into the COMMITS stream of a
// bench nats-server, then (a) a catalog process catching up from an empty database at start, (b) its
// POST /v1/admin/rebuild (replay into a fresh database, then swap), (c) the same replay in process,
// split into reading+decoding the log and applying it to SQLite, to show which half limits. Then read
// latency against this catalog, whose latest version lists every file of the 10k versions.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { serviceEntry } from "@lake/app";
import { Projection } from "@lake/catalog";
import type { LogRecord } from "@lake/contracts";
import { decodeLogRecord, ensureStreams, STREAMS, subjects } from "@lake/messaging";
import { spawnService, startNatsServer, waitFor } from "@lake/testing";

import { catalogReads } from "./catalog-reads.ts";
import { appendSyntheticVersions, httpPost, pct, type Row } from "./lib.ts";

const DATASET = "domain_events";
const SECTION = "4 catalog rebuild";

export async function rebuild(o: { commits: number; rounds: number; readRate: number; readSeconds: number; env?: Record<string, string> }): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-rebuild-"));
  const nats = await startNatsServer({ storeDir: join(dir, "nats") });
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureStreams(jsm);
    let t = performance.now();
    const { lastSeq } = await appendSyntheticVersions(js, jsm, DATASET, o.commits);
    rows.push({
      key: "commit_log_write_rps",
      section: SECTION,
      figure: `writing ${o.commits} commit records (pipelined publishes)`,
      value: o.commits / ((performance.now() - t) / 1000),
      unit: "records/s",
    });

    // (a) A catalog starting on an empty database catches up by itself.
    t = performance.now();
    const catalog = await spawnService({
      name: "catalog",
      entry: serviceEntry("catalog"),
      env: { NATS_URL: nats.url, LAKE_CATALOG_DIR: join(dir, "catalog"), LAKE_CATALOG_PORT: "0", ...o.env },
    });
    const url = String(catalog.ready.url);
    const readyAt = performance.now();
    await waitFor(
      "the catalog to catch up",
      async () => {
        const h = (await (await fetch(new URL("/healthz", url))).json()) as { projected_through_seq: number };
        return h.projected_through_seq >= lastSeq ? true : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 20 },
    );
    const catchUp = (performance.now() - readyAt) / 1000;
    rows.push({
      key: "catalog_catch_up_cps",
      section: SECTION,
      figure: `catalog start on an empty db: catch-up after ready`,
      value: o.commits / catchUp,
      unit: "commits/s",
      note: `process start to ready: ${Math.round(readyAt - t)} ms`,
    });

    // (b) POST /v1/admin/rebuild: the catalog's own timing (replay into a fresh db, checkpoint, swap).
    const times: number[] = [];
    for (let i = 0; i < o.rounds; i++) {
      const r = JSON.parse(await httpPost(new URL("/v1/admin/rebuild", url).toString())) as { ms: number; projected_through_seq: number };
      if (r.projected_through_seq < lastSeq) throw new Error(`rebuild stopped at ${r.projected_through_seq} of ${lastSeq}`);
      times.push(r.ms);
    }
    const rebuildCps = o.commits / (pct(times, 50) / 1000);
    rows.push({
      key: "catalog_rebuild_cps",
      section: SECTION,
      figure: `POST /v1/admin/rebuild of ${o.commits} commits`,
      value: rebuildCps,
      unit: "commits/s",
      target: "≥ 20,000 commits/s",
      meets: rebuildCps >= 20_000,
      note: `median of ${o.rounds}: ${pct(times, 50)} ms (${times.join(", ")} ms)`,
    });

    // (c) The same replay in this process, in two halves.
    t = performance.now();
    const records: { seq: number; record: LogRecord | undefined; dataset?: string }[] = [];
    const consumer = await js.consumers.get(STREAMS.commits, { filter_subjects: subjects.allCommits, deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume({ max_messages: 1000 });
    for await (const m of messages) {
      records.push({ seq: m.seq, record: decodeLogRecord(m) });
      if (m.seq >= lastSeq) break;
    }
    messages.stop();
    const readS = (performance.now() - t) / 1000;
    const projection = new Projection(join(dir, "replay.db"));
    t = performance.now();
    for (let i = 0; i < records.length; i += 1000) projection.applyBatch(records.slice(i, i + 1000));
    const applyS = (performance.now() - t) / 1000;
    projection.close();
    rows.push({
      key: "replay_read_decode_cps",
      section: SECTION,
      figure: `  in process: read + decode the log`,
      value: records.length / readS,
      unit: "commits/s",
    });
    rows.push({
      key: "replay_apply_cps",
      section: SECTION,
      figure: `  in process: apply to SQLite (1000 per transaction)`,
      value: records.length / applyS,
      unit: "commits/s",
    });

    rows.push(
      ...(await catalogReads(url, {
        dataset: DATASET,
        rate: o.readRate,
        seconds: o.readSeconds,
        section: "4 catalog reads",
        keyPrefix: `read_${o.commits}v`,
        label: `${o.commits} versions`,
        covering: false,
        targets: true,
      })),
    );
    await catalog.stop();
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
