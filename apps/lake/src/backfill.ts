// Backfill: rebuild a derived dataset from its source stream into ONE new version that replaces every
// file of the current one, appended with a compare-and-set. Readers keep the old version until the
// append lands; then the new one is there whole (the swap is the commit point). The window logic is the
// aggregator's own (pure, deterministic), so the rebuilt table is what the live pipeline would hold at
// the same source position. Dry-run writes the files to a throwaway local store and commits nothing.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type AggState, decide, evolve, initialState, type InputEvent, resultRow, toInputEvent } from "@lake/aggregator";
import { buildManifest, commitRecord, derivedSpec, IcebergVersions, keys, toParquet } from "@lake/committer";
import { derivedContract, type LakeLog } from "@lake/contracts";
import type { DataFileInfo } from "@lake/iceberg";
import { appendLogRecord, appendUntilStands, foldCommitLog, HEADERS, readCommitHead, STREAMS, subjects } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { type ObjectStore, openLocalStore } from "@lake/storage";

export interface BackfillProgress {
  phase: "reading" | "writing" | "committing";
  events: number;
  of: number;
}

export interface BackfillResult {
  dataset: string;
  /** The version appended (undefined in a dry run). */
  version: number | undefined;
  replacesVersion: number;
  events: number;
  rows: number;
  files: { key: string; partition: string; rows: number; bytes: number }[];
  removedFiles: number;
  sourceThroughSeq: number;
  attempts: number;
  dryRun: boolean;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Runs the window job over the source stream from the start through `untilSeq`; the newest result per window and key. */
async function recompute(
  nc: NatsConnection,
  registry: SchemaRegistry,
  contract: ReturnType<typeof derivedContract>,
  untilSeq: number,
  onProgress: (n: number) => void,
): Promise<{ rows: Map<string, Record<string, unknown>>; events: number }> {
  const job = contract.job;
  const rows = new Map<string, Record<string, unknown>>();
  let state: AggState = initialState();
  let events = 0;
  if (untilSeq === 0) return { rows, events };
  const consumer = await jetstream(nc).consumers.get(STREAMS.events, { filter_subjects: subjects.events(job.source), deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 1000 });
  let batch: InputEvent[] = [];
  const apply = () => {
    if (batch.length === 0) return;
    const outcome = decide(state, batch, job);
    state = evolve(state, outcome);
    for (const out of outcome.outputs) {
      if (out.kind !== "window") continue;
      rows.set(`${out.start}\u0000${out.keyId}`, resultRow(out, job));
    }
    batch = [];
  };
  try {
    for await (const m of messages) {
      if (m.seq > untilSeq) break;
      events++;
      let input: InputEvent;
      try {
        const v = registry.decode(job.source, m.data, m.headers?.get(HEADERS.schema) || undefined);
        // The live aggregator's own reading of a source event, bounds on its event time included.
        input = toInputEvent(m.seq, v, job, { at: Math.floor(m.info.timestampNanos / 1e6), maxFutureSkewMs: registry.latest(job.source).maxFutureSkewMs });
      } catch {
        // The live aggregator skips what it can't decode too (and counts it); so does its rebuild.
        input = { kind: "invalid", seq: m.seq, reason: "undecodable" };
      }
      batch.push(input);
      if (batch.length >= 1000) {
        apply();
        onProgress(events);
      }
      if (m.seq >= untilSeq || m.info.pending === 0) break;
    }
    apply();
  } finally {
    messages.stop();
  }
  return { rows, events };
}

/**
 * Rebuilds `dataset` (a derived dataset) from its source and swaps it in as one new version. Order
 * matters: the derived dataset's head is read first, then the source's end; every row the head holds was
 * computed from events at or before that end, so the rebuilt rows are never older than what they
 * replace. A lost compare-and-set (the live committer committed meanwhile) starts over.
 */
export async function backfillDerived(o: {
  nc: NatsConnection;
  store: ObjectStore;
  dataset: string;
  actor: string;
  dryRun?: boolean;
  onProgress?: (p: BackfillProgress) => void;
  maxAttempts?: number;
}): Promise<BackfillResult> {
  const contract = derivedContract(o.dataset);
  const spec = derivedSpec(
    contract,
    { stream: STREAMS.windows, subject: subjects.windows(o.dataset) },
    { stream: STREAMS.events, subject: subjects.events(contract.job.source) },
  );
  const js = jetstream(o.nc);
  const jsm = await jetstreamManager(o.nc);
  const registry = await SchemaRegistry.open(o.nc, { seed: false });
  const dryDir = o.dryRun ? mkdtempSync(join(tmpdir(), "lake-dry-run-")) : undefined;
  const store = dryDir ? openLocalStore(dryDir) : o.store;
  const iceberg = new IcebergVersions(store);
  try {
    // The live committer may commit meanwhile: its rows may be newer than ours, so a lost race starts
    // over from reading the head. The lost round's files are unreferenced garbage for GC.
    return await appendUntilStands({ maxAttempts: o.maxAttempts ?? 5 }, async (attempt) => {
      const head = await readCommitHead(jsm, o.dataset);
      const sourceEnd = (await jsm.streams.info(STREAMS.events)).state.last_seq;
      const { rows, events } = await recompute(o.nc, registry, contract, sourceEnd, (n) => o.onProgress?.({ phase: "reading", events: n, of: sourceEnd }));
      o.onProgress?.({ phase: "writing", events, of: sourceEnd });

      // The current file set: everything the new version replaces.
      const live = new Map<string, LakeLog.DataFile>();
      await foldCommitLog(js, o.dataset, head.seq, (rec) => {
        if (rec.kind !== "VersionCommitted") return;
        for (const k of rec.body.removed_files) live.delete(k);
        for (const f of rec.body.added_files) live.set(f.key, f);
      });

      const byPartition = new Map<string, Record<string, unknown>[]>();
      for (const row of rows.values()) {
        const p = spec.partition(row);
        let list = byPartition.get(p);
        if (!list) byPartition.set(p, (list = []));
        list.push(row);
      }
      const now = Date.now();
      const writeId = `b${now.toString(36)}-${randomBytes(6).toString("hex")}`;
      const files: LakeLog.DataFile[] = [];
      const entries: DataFileInfo[] = [];
      let index = 0;
      for (const [partition, list] of [...byPartition].sort(([a], [b]) => (a < b ? -1 : 1))) {
        // Rebuilt rows come from no window-stream message: their lineage offset is 0. toParquet writes
        // them in the dataset's key order.
        const offsets = new Array<number>(list.length).fill(0);
        const bytes = toParquet(spec, list, offsets);
        const key = keys.dataFile(o.dataset, partition, writeId, index++);
        await store.put(key, bytes);
        const file = { key, partition, rows: list.length, bytes: bytes.byteLength, sha256: sha256(bytes) };
        files.push(file);
        entries.push(iceberg.dataFile(spec, file, list, offsets));
      }
      const parent = head.version?.record;
      const state = {
        headSeq: head.seq,
        versionSeq: head.version?.seq ?? 0,
        version: parent?.version ?? 0,
        lastSourceSeq: parent?.source.last_seq ?? 0,
        totalRows: parent?.total_rows ?? 0,
      };
      // No new window-stream input: the derived committer resumes where it was.
      const batch = {
        firstSeq: state.lastSourceSeq + 1,
        lastSeq: state.lastSourceSeq,
        partitions: [],
        rowCount: rows.size,
        duplicateKeys: 0,
        minEventTime: rows.size ? Math.min(...[...rows.values()].map((r) => r.window_start as number)) : null,
        maxEventTime: rows.size ? Math.max(...[...rows.values()].map((r) => r.window_start as number)) : null,
        // The rebuilt rows are the window job's result over the source through its end, exactly.
        upstreamThroughSeq: sourceEnd,
        watermark: rows.size ? Math.max(...[...rows.values()].map((r) => r.watermark as number)) : null,
      };
      const removed = [...live.keys()].map((key) => ({ key, rows: 0 }));
      const manifest = {
        ...buildManifest(state, batch, files, { writeId, committerId: `backfill:${o.actor}`, now, spec }, removed),
        operation: "backfill",
        total_rows: rows.size,
      };
      const result: BackfillResult = {
        dataset: o.dataset,
        version: undefined,
        replacesVersion: state.version,
        events,
        rows: rows.size,
        files: files.map(({ key, partition, rows: n, bytes }) => ({ key, partition, rows: n, bytes })),
        removedFiles: live.size,
        sourceThroughSeq: sourceEnd,
        attempts: attempt,
        dryRun: Boolean(o.dryRun),
      };
      if (o.dryRun) return result;

      // Every file of the head replaced by the rebuilt ones: an `overwrite` snapshot on top of the head's.
      const ice = await iceberg.write(spec, parent, commitRecord(manifest, { key: "", sha256: "", bytes: 0 }, null), entries, [...live.values()], async () => [
        ...live.values(),
      ]);
      const manifestBytes = new TextEncoder().encode(JSON.stringify({ ...manifest, iceberg: ice.ref, parent_write_id: parent?.write_id ?? null }, null, 1));
      const manifestKey = keys.manifest(o.dataset, manifest.version, writeId);
      await store.put(manifestKey, manifestBytes);
      o.onProgress?.({ phase: "committing", events, of: sourceEnd });
      const record = commitRecord(manifest, { key: manifestKey, sha256: sha256(manifestBytes), bytes: manifestBytes.byteLength }, ice.ref);
      await appendLogRecord(js, o.dataset, { kind: "VersionCommitted", body: record }, { expectedLastSeq: head.seq, msgId: writeId });
      return { ...result, version: record.version };
    });
  } finally {
    registry.close();
    if (dryDir) rmSync(dryDir, { recursive: true, force: true });
  }
}
