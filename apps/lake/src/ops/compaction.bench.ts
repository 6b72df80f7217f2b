// How long a compaction of N small files takes (asserts nothing). Seeds a dataset with N versions of
// one small file each (R rows, spread over P day partitions), the way a committer's micro-batches
// leave it, on a local nats-server and a local-disk store, then runs one compaction and prints:
//   node --import tsx apps/lake/src/ops/compaction.bench.ts [N=500] [R=1000] [P=3]
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";

import { domainSpec, keys, toParquet } from "@lake/committer";
import { domainContract, type VersionCommitted } from "@lake/contracts";
import { appendLogRecord, connectNats, ensureStreams, STREAMS, subjects } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { startNatsServer } from "@lake/testing";

import { compactDataset } from "./compaction.ts";

const [N = 500, R = 1000, P = 3] = process.argv.slice(2).map(Number);
const DATASET = "bench_compaction";
const DAY = 86_400_000;
const JUNE_1 = Date.UTC(2026, 5, 1);
const contract = domainContract("domain_events");
const spec = { ...domainSpec(contract, { stream: STREAMS.events, subject: subjects.events(DATASET) }), dataset: DATASET };
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const nats = await startNatsServer();
const dir = await mkdtemp(join(tmpdir(), "lake-bench-compaction-"));
const nc = await connectNats({ url: nats.url, name: "bench-compaction" });
try {
  const js = jetstream(nc);
  await ensureStreams(await jetstreamManager(nc));
  const store = openLocalStore(dir);
  let seq = 0;
  let headSeq = 0;
  let total = 0;
  let bytesIn = 0;
  const seedStart = performance.now();
  for (let v = 1; v <= N!; v++) {
    const partition = `dt=2026-06-0${1 + (v % P!)}`;
    const rows = Array.from({ length: R! }, (_, i) => ({
      event_id: `e${v}-${i}`,
      user_id: `u${i % 97}`,
      event_type: "view",
      timestamp: JUNE_1 + (v % P!) * DAY + i,
      amount: i / 8,
    }));
    const offsets = rows.map(() => ++seq);
    const bytes = toParquet(spec, rows, offsets);
    const key = keys.dataFile(DATASET, partition, `w${String(v).padStart(8, "0")}`, 0);
    await store.put(key, bytes);
    bytesIn += bytes.byteLength;
    total += R!;
    const record: VersionCommitted = {
      dataset: DATASET,
      version: v,
      parent_version: v - 1,
      write_id: `w${v}`,
      committer_id: "bench",
      committed_at: JUNE_1,
      schema_name: spec.schema.name,
      schema_version: spec.schema.version,
      schema_fingerprint: spec.schema.fingerprint,
      manifest: { key: `none-${v}`, sha256: "0".repeat(64), bytes: 0 },
      added_files: [{ key, partition, rows: R!, bytes: bytes.byteLength, sha256: sha256(bytes) }],
      removed_files: [],
      source: { stream: STREAMS.events, subject: subjects.events(DATASET), first_seq: seq - R! + 1, last_seq: seq },
      row_count: R!,
      total_rows: total,
      min_event_time: null,
      max_event_time: null,
      policy: "non-critical",
      max_source_position: null,
      iceberg: null,
      lineage: null,
      operation: "append",
    };
    headSeq = await appendLogRecord(js, DATASET, { kind: "VersionCommitted", body: record }, { expectedLastSeq: headSeq });
  }
  console.log(
    `seeded ${N} files (${R} rows each, ${P} partitions, ${(bytesIn / 1024 / 1024).toFixed(1)} MiB) in ${Math.round(performance.now() - seedStart)} ms`,
  );
  const heapBefore = process.memoryUsage().rss;
  const r = await compactDataset({ nc, store, spec, maxFiles: N! + 1, onProgress: () => {} });
  console.log(
    `compaction: ${r.outcome}, version ${r.version}: ${r.filesBefore} files → ${r.filesAfter} (${r.filesRemoved} rewritten into ${r.filesAdded}), ` +
      `${r.rows} rows, ${(r.bytesIn / 1024 / 1024).toFixed(1)} MiB → ${(r.bytesOut / 1024 / 1024).toFixed(1)} MiB in ${r.ms} ms ` +
      `(${Math.round(r.rows / (r.ms / 1000))} rows/s, ${(r.ms / r.filesRemoved).toFixed(1)} ms per input file); rss +${Math.round((process.memoryUsage().rss - heapBefore) / 1024 / 1024)} MiB`,
  );
} finally {
  await nc.close();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
