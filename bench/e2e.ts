// End-to-end figures of the lake on this machine, printed as a table and written to
// bench/results/e2e-<time>.json. Asserts nothing: it measures.
//   npm run bench                 (defaults)
//   npm run bench -- --events 50000 --freshness-seconds 10
//   npm run bench -- --without quality,aggregator      (the ingest → committer → catalog path alone)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { domainContract } from "@lake/contracts";
import { CatalogClient, produce, produceDefaults, sampleEvents, startLake, type IngestReply } from "@lake/client";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "40000" },
    "freshness-rate": { type: "string", default: "2000" },
    "freshness-seconds": { type: "string", default: "10" },
    // e.g. --without quality,aggregator: the ingest → committer → catalog path alone.
    without: { type: "string", default: "" },
  },
});
const N = Number(values.events);
const freshRate = Number(values["freshness-rate"]);
const freshSeconds = Number(values["freshness-seconds"]);

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

const dataDir = mkdtempSync(join(tmpdir(), "lake-bench-"));
const without = values.without.split(",").filter(Boolean) as ("quality" | "aggregator")[];
for (const w of without) if (w !== "quality" && w !== "aggregator") throw new Error(`--without takes quality and/or aggregator, got ${w}`);
const lake = await startLake({ dataDir, without });
const nc = await connect({ servers: lake.natsUrl });
const catalog = new CatalogClient(lake.catalogUrl);
const results: Record<string, number | string> = {};
try {
  // 1. The ceiling: raw JetStream async publish of the same Avro payloads, with msg ids, to a stream
  //    of its own on the same server.
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw"] });
  const js = jetstream(nc);
  const contract = domainContract("domain_events");
  const payloads = sampleEvents(N, { prefix: "raw" }).map((e) => contract.encode(e as unknown as Record<string, unknown>));
  let t = performance.now();
  const window = 2000;
  for (let i = 0; i < N; i += window) {
    const acks = [];
    for (let k = i; k < Math.min(N, i + window); k++) acks.push(js.publish("bench.raw", payloads[k]!, { msgID: `raw-${k}` }));
    await Promise.all(acks);
  }
  const rawPublish = N / ((performance.now() - t) / 1000);
  results.raw_jetstream_publish_eps = Math.round(rawPublish);
  await jsm.streams.delete("BENCH_RAW");

  // 2. Ingest over HTTP and over NATS request/reply, as fast as replies come back (batches of 500,
  //    4 in flight), then the time until the catalog has a version covering the last offset.
  for (const via of ["http", "nats"] as const) {
    t = performance.now();
    const r = await produce({ ...produceDefaults, count: N, rate: 0, batch: 500, duplicates: 0, invalid: 0, concurrency: 4, via, prefix: `tp-${via}`, ingestUrl: lake.ingestUrl, nc });
    const ingestS = (performance.now() - t) / 1000;
    await catalog.waitCovering("domain_events", r.maxOffset, 300_000);
    const e2eS = (performance.now() - t) / 1000;
    results[`ingest_${via}_accepted_eps`] = Math.round(r.accepted / ingestS);
    results[`e2e_${via}_committed_eps`] = Math.round(r.accepted / e2eS);
    results[`e2e_${via}_ratio_to_raw`] = (r.accepted / e2eS / rawPublish).toFixed(2);
  }

  // 3. Freshness: a steady rate in batches of 20; for every reply, time from its ack until the
  //    catalog serves a version covering its offset (long-poll covering reads).
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const onReply = (reply: IngestReply, _sentAt: number, ackedAt: number) => {
    if (reply.max_offset === null) return;
    pending.push(
      catalog.covering("domain_events", reply.max_offset, 30_000).then(() => {
        lat.push(performance.now() - ackedAt);
      }),
    );
  };
  await produce({ ...produceDefaults, count: freshRate * freshSeconds, rate: freshRate, batch: 20, duplicates: 0, invalid: 0, concurrency: 8, prefix: "fresh", ingestUrl: lake.ingestUrl, onReply });
  await Promise.all(pending);
  results.freshness_rate_eps = freshRate;
  results.freshness_p50_ms = Math.round(pct(lat, 50));
  results.freshness_p99_ms = Math.round(pct(lat, 99));
  results.freshness_max_ms = Math.round(Math.max(...lat));
  results.versions = (await catalog.version("domain_events", "latest")).version;
} finally {
  await nc.close();
  await lake.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

results.events = N;
results.services = without.length ? `all but ${without.join(", ")}` : "all";
results.machine = `${process.platform} node ${process.version}`;
console.log("\nlake end-to-end benchmark");
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(32)} ${v}`);
const outDir = join(import.meta.dirname, "results");
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `e2e-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`\nwrote ${file}`);
