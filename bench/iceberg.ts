// Commit cost with Iceberg metadata on vs off: the committer's flush, step for step, in this process,
// against a real nats-server and a local-disk store: rows → Parquet, data file put, [the version as an
// Iceberg snapshot: manifest, manifest list, table metadata], lake manifest put, the CAS append. Two
// tables side by side, the same batches, interleaved so machine noise hits both alike; then the
// Iceberg step alone on a table that already has many versions (manifest merging included).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import {
  type BufferedEvent,
  buildManifest,
  commitRecord,
  type CommitterState,
  domainSpec,
  evolve,
  IcebergVersions,
  initialState,
  keys,
  planBatch,
  toParquet,
} from "@lake/committer";
import { domainContract, type LakeLog, type VersionCommitted } from "@lake/contracts";
import { appendLogRecord, ensureStreams } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { startNatsServer } from "@lake/testing";

import { pct, type Row } from "./lib.ts";

const SECTION = "7 iceberg metadata";
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export async function icebergCost(o: { commits: number; batch: number; deepVersions: number }): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-iceberg-"));
  const nats = await startNatsServer({ storeDir: join(dir, "nats") });
  const nc = await connect({ servers: nats.url });
  try {
    const js = jetstream(nc);
    await ensureStreams(await jetstreamManager(nc));
    const store = openLocalStore(join(dir, "store"));
    const contract = domainContract("domain_events");
    const base = domainSpec(contract, { stream: "EVENTS", subject: "lake.events.domain_events" });
    // One table per mode: the same batches, each committed to both, alternating which goes first.
    const tables = (["on", "off"] as const).map((mode) => ({
      mode,
      spec: { ...base, dataset: `bench_iceberg_${mode}` },
      state: initialState as CommitterState,
      head: undefined as VersionCommitted | undefined,
      iceberg: new IcebergVersions(store),
      ms: [] as number[],
      icebergMs: [] as number[],
    }));
    const day = Date.parse("2026-06-01T00:00:00Z");
    let seq = 0;
    const commit = async (t: (typeof tables)[number], events: BufferedEvent[]) => {
      const started = performance.now();
      const batch = planBatch(t.state, events, t.spec)!;
      const writeId = `w${t.state.version + 1}-${t.mode}`;
      const files: LakeLog.DataFile[] = [];
      const entries = [];
      const objects: { key: string; body: Uint8Array }[] = [];
      for (const [i, p] of batch.partitions.entries()) {
        const bytes = toParquet(t.spec, p.rows, p.seqs);
        const key = keys.dataFile(t.spec.dataset, p.partition, writeId, i);
        objects.push({ key, body: bytes });
        const file = { key, partition: p.partition, rows: p.rows.length, bytes: bytes.byteLength, sha256: sha256(bytes) };
        files.push(file);
        if (t.mode === "on") entries.push(t.iceberg.dataFile(t.spec, file, p.rows, p.seqs));
      }
      const dataWritten = store.putAll(objects);
      const manifest = buildManifest(t.state, batch, files, { writeId, committerId: "bench", now: Date.now(), spec: t.spec });
      // As the committer does: the data files written while the snapshot is encoded, then the snapshot with the manifest.
      let ref: LakeLog.IcebergSnapshotRef | null = null;
      let puts: { key: string; bytes: Uint8Array }[] = [];
      const i0 = performance.now();
      if (t.mode === "on") {
        const w = await t.iceberg.prepare(t.spec, t.head, commitRecord(manifest, { key: "", sha256: "", bytes: 0 }, null), entries, [], async () => []);
        ref = w.ref;
        puts = w.puts;
        manifest.iceberg = ref;
        t.iceberg.committed(t.spec.dataset, manifest.version, writeId, w.manifests);
      }
      await dataWritten;
      const mBytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
      const mKey = keys.manifest(t.spec.dataset, manifest.version, writeId);
      await store.putAll([...puts.map((x) => ({ key: x.key, body: x.bytes })), { key: mKey, body: mBytes }]);
      if (t.mode === "on") t.icebergMs.push(performance.now() - i0);
      const record = commitRecord(manifest, { key: mKey, sha256: sha256(mBytes), bytes: mBytes.byteLength }, ref);
      const at = await appendLogRecord(js, t.spec.dataset, { kind: "VersionCommitted", body: record }, { expectedLastSeq: t.state.headSeq, msgId: writeId });
      t.state = evolve(t.state, at, { kind: "VersionCommitted", body: record });
      t.head = record;
      t.ms.push(performance.now() - started);
    };
    const batchOf = () => {
      const events: BufferedEvent[] = [];
      for (let i = 0; i < o.batch; i++) {
        seq++;
        events.push({
          seq,
          value: { event_id: `e${seq}`, user_id: `u${seq % 97}`, event_type: "view", timestamp: day + (seq % 86_400_000), amount: (seq % 1000) / 10 },
        });
      }
      return events;
    };
    for (let i = 0; i < o.commits; i++) {
      const events = batchOf();
      const order = i % 2 === 0 ? tables : [...tables].reverse();
      for (const t of order) await commit(t, events);
    }
    const [on, off] = tables as [(typeof tables)[number], (typeof tables)[number]];
    // Deeper history: the Iceberg step alone after many versions (manifests merged along the way).
    for (let i = o.commits; i < o.deepVersions; i++) await commit(on, batchOf().slice(0, 5));
    const deep = on.icebergMs.slice(-20);
    const ratio = pct(on.ms.slice(0, o.commits), 50) / pct(off.ms, 50);
    return [
      {
        key: `commit_ms_p50_iceberg_off_${o.batch}`,
        section: SECTION,
        figure: `commit of ${o.batch} rows, Iceberg off: p50 / p99`,
        value: `${pct(off.ms, 50).toFixed(1)} / ${pct(off.ms, 99).toFixed(1)}`,
        unit: "ms",
      },
      {
        key: `commit_ms_p50_iceberg_on_${o.batch}`,
        section: SECTION,
        figure: `commit of ${o.batch} rows, Iceberg on: p50 / p99`,
        value: `${pct(on.ms.slice(0, o.commits), 50).toFixed(1)} / ${pct(on.ms.slice(0, o.commits), 99).toFixed(1)}`,
        unit: "ms",
      },
      {
        key: `commit_cost_ratio_iceberg_${o.batch}`,
        section: SECTION,
        figure: `commit of ${o.batch} rows, cost Iceberg on ÷ off (p50)`,
        value: Number(ratio.toFixed(2)),
        unit: "×",
        target: "≤ 1.2×",
        meets: ratio <= 1.2,
      },
      {
        key: `iceberg_step_ms_${o.batch}`,
        section: SECTION,
        figure: `snapshot encoding + writes (with the manifest): p50 over the first ${o.commits} / the last 20 of ${o.deepVersions} versions`,
        value: `${pct(on.icebergMs.slice(0, o.commits), 50).toFixed(1)} / ${pct(deep, 50).toFixed(1)}`,
        unit: "ms",
      },
    ];
  } finally {
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
