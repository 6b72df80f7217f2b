// Maintenance jobs over a running lake: garbage collection (`lake gc`) and the consistency check
// (`lake fsck`). Both talk to the catalog's API, read the commit log over NATS and work on the object
// store; neither writes the commit log itself (GC's FilesCollected record goes through the catalog,
// which is one of the three writers the NATS permissions allow).
//
// Race safety of GC. A file is live if a version that has not expired references it. GC reads the live
// set from the catalog (which may lag the log), lists the store, then folds every commit-log record the
// catalog had not applied when GC started: new versions' files and manifests are live too. After that:
//  - a file some version referenced and no live version does can never become live again: new versions
//    only reference the latest version's files (never expired) or files written for them, and expired
//    versions are never served, promoted, rolled back to or tagged again. These go without a grace period.
//  - a file no version references (an orphan) may be a committer's write that is about to be committed:
//    it goes only when older than the grace period (default 1 h). The grace period must exceed the longest
//    time a committer can take from writing a file to its commit (micro-batch age + retries + a stall);
//    a committer paused for longer and then committing would reference a deleted file, which `lake fsck`
//    reports as missing_file.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DeliverPolicy, jetstream, type JetStreamClient, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { liveVersionIn, logLastSeq, MAX_COLLECTED_KEYS, Projection, TABLE_STATE_PATTERN, tailCommitLog, type VersionRow } from "@lake/catalog";
import { type CatalogClient, type CatalogRegistryFile, CatalogRequestError, type CatalogVersion, FileSetResolver, isFileSetError } from "@lake/client";
import { cdcChangeCodec, derivedContract, derivedNames, isCdcContract, type LogRecord, type ParquetSettings } from "@lake/contracts";
import {
  decodeManifestList,
  ENTRY_STATUS,
  ICEBERG_KINDS,
  icebergPrefix,
  ManifestCache,
  type ManifestEntry,
  parseIcebergKey,
  readContainer,
} from "@lake/iceberg";
import { inspectLogRecord, readCommitHead, STREAMS, subjects } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { isObjectNotFound, type ObjectInfo, type ObjectStore } from "@lake/storage";
import type { Logger } from "@lake/telemetry";

import { type ExpectedColumn, type ParquetFacts, parquetFacts, schemaDifferences, settingsDrift } from "./parquet-check.ts";

export interface MaintenanceProgress {
  dataset: string;
  phase: "catalog" | "list" | "log" | "delete" | "replay" | "check";
  done: number;
  total?: number;
}

/** When an object was last written (epoch ms), or undefined when the store can't say. */
export async function objectModifiedAt(store: ObjectStore, info: ObjectInfo): Promise<number | undefined> {
  // `modifiedAt` is not (yet) part of ObjectInfo; read it when a store provides it (S3's LastModified).
  const m = (info as { modifiedAt?: unknown }).modifiedAt;
  if (typeof m === "number") return m;
  if (m instanceof Date) return m.getTime();
  const path = store.localPath(info.key);
  if (path === undefined) return undefined;
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined; // deleted meanwhile
  }
}

const dataPrefix = (dataset: string) => `datasets/${dataset}/data/`;
const manifestPrefix = (dataset: string) => `datasets/${dataset}/manifests/`;

async function listDataset(store: ObjectStore, dataset: string, onItem: (info: ObjectInfo) => void): Promise<void> {
  for (const prefix of [dataPrefix(dataset), manifestPrefix(dataset), icebergPrefix(dataset)]) for await (const info of store.list(prefix)) onItem(info);
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/**
 * Reads the commit log from `fromSeq` through `untilSeq` (inclusive) on `filter`, in order. Stops at
 * `untilSeq` or when nothing more is pending, so it never waits for records that don't exist yet.
 */
async function readLog(
  js: JetStreamClient,
  filter: string,
  fromSeq: number,
  untilSeq: number,
  fn: (m: { seq: number; subject: string; record: LogRecord | undefined; problem?: string }) => void,
): Promise<void> {
  if (untilSeq < fromSeq) return;
  const consumer = await js.consumers.get(STREAMS.commits, { filter_subjects: filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq });
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of messages as AsyncIterable<JsMsg>) {
      const r = inspectLogRecord(m);
      fn({ seq: m.seq, subject: m.subject, record: r.record, problem: r.problem });
      if (m.seq >= untilSeq || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
  }
}

async function allPages<T, K>(first: K, page: (after: K) => Promise<{ items: T[]; next: K | null }>): Promise<T[]> {
  const out: T[] = [];
  for (let after: K | null = first; after !== null;) {
    const p = await page(after);
    out.push(...p.items);
    after = p.next;
  }
  return out;
}

const versionsOf = (catalog: CatalogClient, dataset: string) =>
  allPages<Omit<CatalogVersion, "files">, number>(0, async (after) => {
    const p = await catalog.versions(dataset, after, 1000);
    return { items: p.versions, next: p.next_after };
  });

const filesOf = (catalog: CatalogClient, dataset: string) =>
  allPages<CatalogRegistryFile, string>("", async (after) => {
    const p = await catalog.files(dataset, after, 5000);
    return { items: p.files, next: p.next_after };
  });

// ---------------------------------------------------------------------------------------------------
// Garbage collection

export interface GcOptions {
  catalog: CatalogClient;
  store: ObjectStore;
  nc: NatsConnection;
  /** Datasets to collect (default: every dataset the catalog knows). */
  datasets?: readonly string[];
  /** Orphans (objects no version references) younger than this are kept: they may be a write about to commit. */
  graceMs: number;
  /** Report what would be deleted; delete nothing, record nothing. */
  dryRun: boolean;
  /** Recorded as the actor of FilesCollected (a catalog with authentication records the token's name). */
  actor: string;
  now?: () => number;
  onProgress?: (p: MaintenanceProgress) => void;
  /** Deletes in flight at once (default 16). */
  concurrency?: number;
  /** Objects deleted per dataset at most (default: all); the rest are left for the next run (`deferred`). */
  maxDeletes?: number;
}

export interface GcCandidate {
  key: string;
  size: number;
  /** expired: only versions that expired reference it; orphan: no version does (a failed write). */
  reason: "expired" | "orphan";
  /** Orphans: how old the object is. */
  ageMs?: number;
}

export interface GcDatasetResult {
  dataset: string;
  /** The dataset's last record the catalog had applied when GC read the live set. */
  snapshotSeq: number;
  /** Commit-log records after it, folded in before deciding. */
  tailRecords: number;
  listed: number;
  listedBytes: number;
  /** Listed objects a live version references. */
  live: number;
  /** Deleted (or, in a dry run, to be deleted). */
  candidates: GcCandidate[];
  /** Collectable objects left for a later run by maxDeletes. */
  deferred: number;
  /** Orphans kept because they are younger than the grace period. */
  youngOrphans: { key: string; size: number; ageMs: number }[];
  /** Orphans kept because the store can't tell their age. */
  unknownAge: { key: string; size: number }[];
  deleted: number;
  deletedBytes: number;
  /** Commit-log sequences of the FilesCollected records. */
  recordSeqs: number[];
  ms: number;
}

export interface GcResult {
  dryRun: boolean;
  graceMs: number;
  datasets: GcDatasetResult[];
  ms: number;
}

/** Refused to collect: something GC can't reason about safely. Nothing of the dataset was deleted. */
export class GcUnsafeError extends Error {
  constructor(
    readonly dataset: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`gc ${dataset}: ${message}; nothing deleted`, options);
    this.name = "GcUnsafeError";
  }
}

/** Table states the catalog wrote that GC keeps per dataset (the newest; a restore reads the newest one). */
export const KEEP_TABLE_STATES = 3;

/** One FilesCollected record stays well under the commit stream's 1 MiB message limit. */
const MAX_RECORD_KEY_CHARS = 256 * 1024;

function chunks(cands: readonly GcCandidate[]): GcCandidate[][] {
  const out: GcCandidate[][] = [];
  let cur: GcCandidate[] = [];
  let chars = 0;
  for (const c of cands) {
    if (cur.length >= MAX_COLLECTED_KEYS || chars + c.key.length > MAX_RECORD_KEY_CHARS) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(c);
    chars += c.key.length;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      // A busy log can make the catalog lose its CAS a few times in a row (answered 500); retry those.
      const retriable = !(e instanceof CatalogRequestError) || e.status >= 500;
      if (!retriable || attempt >= 5) throw new Error(`${what} failed after ${attempt} attempt(s): ${(e as Error).message}`, { cause: e });
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

export async function collectGarbage(o: GcOptions): Promise<GcResult> {
  const started = performance.now();
  const js = jetstream(o.nc);
  const jsm = await jetstreamManager(o.nc);
  const names = o.datasets ?? (await o.catalog.datasets()).datasets.map((d) => d.name);
  const datasets: GcDatasetResult[] = [];
  for (const dataset of names) datasets.push(await collectDataset(o, js, jsm, dataset));
  return { dryRun: o.dryRun, graceMs: o.graceMs, datasets, ms: performance.now() - started };
}

async function collectDataset(o: GcOptions, js: JetStreamClient, jsm: Awaited<ReturnType<typeof jetstreamManager>>, dataset: string): Promise<GcDatasetResult> {
  const started = performance.now();
  const now = o.now ?? Date.now;
  const progress = (phase: MaintenanceProgress["phase"], done: number, total?: number) =>
    o.onProgress?.({ dataset, phase, done, ...(total === undefined ? {} : { total }) });

  // 1. The live set as the catalog knows it, from position `snapshotSeq` on (pages may be read later:
  //    liveness of a known file only ever goes down, and newer records are folded in below).
  progress("catalog", 0);
  const snapshotSeq = (await o.catalog.dataset(dataset)).dataset.last_record_seq ?? 0;
  const live = new Set<string>();
  const known = new Set<string>();
  // Iceberg files are named by the version and write that made them: is that version live (true) or expired (false)?
  const versionLive = new Map<string, boolean>();
  // Manifest lists of live versions, by the references their commit records make (the listing below
  // may predate a version): true when the catalog vouches for it (it must be readable).
  const liveLists = new Map<string, boolean>();
  for (const v of await versionsOf(o.catalog, dataset)) {
    known.add(v.manifest.key);
    if (!v.expired) live.add(v.manifest.key);
    versionLive.set(`${v.version}:${v.write_id}`, !v.expired);
    if (v.iceberg && !v.expired) {
      live.add(v.iceberg.manifest_list).add(v.iceberg.metadata);
      liveLists.set(v.iceberg.manifest_list, true);
    }
  }
  for (const f of await filesOf(o.catalog, dataset)) {
    known.add(f.key);
    if (f.live) live.add(f.key);
  }
  progress("catalog", known.size);

  // 2. What the store holds.
  const listed: ObjectInfo[] = [];
  await listDataset(o.store, dataset, (info) => {
    listed.push(info);
    if (listed.length % 1000 === 0) progress("list", listed.length);
  });
  progress("list", listed.length);

  // 3. Every record the catalog had not applied at the snapshot: versions committed since are live.
  const head = await readCommitHead(jsm, dataset);
  let tailRecords = 0;
  await readLog(js, subjects.commits(dataset), snapshotSeq + 1, head.seq, ({ record }) => {
    tailRecords++;
    // A malformed record (junk, no lake headers, a body for another dataset) is void: it references
    // nothing. A well-formed one keeps its files whether or not it stands: keeping is the safe side.
    if (record === undefined || record.kind !== "VersionCommitted") return;
    live.add(record.body.manifest.key);
    for (const f of record.body.added_files) live.add(f.key);
    versionLive.set(`${record.body.version}:${record.body.write_id}`, true);
    const ice = record.body.iceberg;
    // Only references into this dataset's metadata (a forged record can name anything; keeping is the safe side).
    if (ice && parseIcebergKey(dataset, ice.manifest_list) && parseIcebergKey(dataset, ice.metadata)) {
      live.add(ice.manifest_list).add(ice.metadata);
      if (!liveLists.has(ice.manifest_list)) liveLists.set(ice.manifest_list, false);
    }
  });
  progress("log", tailRecords);

  // 3a. The catalog's table states (what `lake restore --from-store` starts from): the newest few stay,
  //     older ones are superseded.
  const states = listed
    .map((info) => ({ info, m: TABLE_STATE_PATTERN.exec(info.key.slice(`datasets/${dataset}/metadata/`.length)) }))
    .filter((x) => x.info.key.startsWith(`datasets/${dataset}/metadata/`) && x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]));
  for (const [i, { info }] of states.entries()) {
    known.add(info.key);
    if (i < KEEP_TABLE_STATES) live.add(info.key);
  }

  // 3b. Iceberg files: a version's manifest list and table metadata live and die with it; a manifest
  //     lives while some live version's manifest list names it (manifests are shared between versions).
  for (const info of listed) {
    const k = parseIcebergKey(dataset, info.key);
    if (!k || k.kind === ICEBERG_KINDS.manifest) continue;
    const state = versionLive.get(`${k.version}:${k.writeId}`);
    if (state === undefined) continue; // no version: an orphan (a failed write), judged by age below
    known.add(info.key);
    if (!state) continue;
    live.add(info.key);
    if (k.kind === ICEBERG_KINDS.manifestList && !liveLists.has(info.key)) liveLists.set(info.key, true);
  }
  await pool([...liveLists], o.concurrency ?? 16, async ([key, vouched]) => {
    let manifests;
    try {
      manifests = await decodeManifestList(await o.store.get(key));
    } catch (e) {
      // A reference only an unprojected record makes, to nothing: that record can't be a real version.
      if (!vouched && isObjectNotFound(e)) return;
      throw new GcUnsafeError(dataset, `the manifest list ${key} of a live version can't be read (${(e as Error).message})`, { cause: e });
    }
    for (const m of manifests) {
      try {
        live.add(o.store.keyOfUri(m.path));
      } catch {
        // A manifest outside this store: nothing of ours to keep or collect.
      }
    }
  });
  for (const info of listed) {
    const k = parseIcebergKey(dataset, info.key);
    if (k?.kind === ICEBERG_KINDS.manifest && versionLive.has(`${k.version}:${k.writeId}`)) known.add(info.key);
  }

  // 4. Decide.
  const result: GcDatasetResult = {
    dataset,
    snapshotSeq,
    tailRecords,
    listed: listed.length,
    listedBytes: listed.reduce((n, i) => n + i.size, 0),
    live: 0,
    candidates: [],
    deferred: 0,
    youngOrphans: [],
    unknownAge: [],
    deleted: 0,
    deletedBytes: 0,
    recordSeqs: [],
    ms: 0,
  };
  const t = now();
  for (const info of listed) {
    if (live.has(info.key)) {
      result.live++;
      continue;
    }
    if (known.has(info.key)) {
      result.candidates.push({ key: info.key, size: info.size, reason: "expired" });
      continue;
    }
    const at = await objectModifiedAt(o.store, info);
    if (at === undefined) result.unknownAge.push({ key: info.key, size: info.size });
    else if (t - at >= o.graceMs) result.candidates.push({ key: info.key, size: info.size, reason: "orphan", ageMs: t - at });
    else result.youngOrphans.push({ key: info.key, size: info.size, ageMs: t - at });
  }

  if (o.maxDeletes !== undefined && result.candidates.length > o.maxDeletes) {
    result.deferred = result.candidates.length - o.maxDeletes;
    result.candidates = result.candidates.slice(0, o.maxDeletes);
  }

  // 5. Delete, then record what went (a record per chunk, so an interrupted run has recorded what it did).
  if (!o.dryRun && result.candidates.length > 0) {
    const total = result.candidates.length;
    for (const chunk of chunks(result.candidates)) {
      await pool(chunk, o.concurrency ?? 16, async (c) => {
        await o.store.delete(c.key);
        result.deleted++;
        result.deletedBytes += c.size;
        if (result.deleted % 200 === 0) progress("delete", result.deleted, total);
      });
      const r = await withRetries(`recording ${chunk.length} collected objects of ${dataset}`, () =>
        o.catalog.recordCollected(
          dataset,
          { keys: chunk.map((c) => c.key), bytes: chunk.reduce((n, c) => n + c.size, 0), orphans: chunk.filter((c) => c.reason === "orphan").length },
          o.actor,
        ),
      );
      result.recordSeqs.push(r.seq);
      progress("delete", result.deleted, total);
    }
  }
  result.ms = performance.now() - started;
  return result;
}

// ---------------------------------------------------------------------------------------------------
// fsck

export const FSCK_PROBLEMS = {
  /** A live version references a file the store doesn't have. */
  missingFile: "missing_file",
  sizeMismatch: "size_mismatch",
  hashMismatch: "hash_mismatch",
  /** A live version's manifest is missing or differs from what its VersionCommitted names. */
  missingManifest: "missing_manifest",
  manifestMismatch: "manifest_mismatch",
  /** A record the catalog's rules refuse (a broken chain, a verdict for an unknown version, ...). */
  logAnomaly: "log_anomaly",
  undecodable: "undecodable_record",
  /** The live catalog doesn't catch up with the log. */
  catalogBehind: "catalog_behind",
  /** The live catalog's versions or files differ from the log's. */
  catalogMismatch: "catalog_mismatch",
  /** The live catalog's canonical dump differs from a replay of the log to the same position. */
  replayMismatch: "replay_mismatch",
  /** A live data file whose bytes are not a readable Parquet file (its footer does not parse). */
  unreadableParquet: "unreadable_parquet",
  /** A live data file whose columns or types differ from the schema version that wrote it. */
  schemaMismatch: "schema_mismatch",
  /** A live version's Iceberg manifest list, table metadata or one of its manifests is missing from the store. */
  missingIceberg: "missing_iceberg",
  /**
   * A live version's Iceberg snapshot differs from the log: its live files (or their rows and bytes), its
   * manifest list's snapshot, or its table metadata's manifest list; or one of its files does not read.
   */
  icebergMismatch: "iceberg_mismatch",
} as const;
export type FsckProblemKind = (typeof FSCK_PROBLEMS)[keyof typeof FSCK_PROBLEMS];

export interface FsckProblem {
  kind: FsckProblemKind;
  dataset: string;
  version?: number;
  key?: string;
  message: string;
}

export interface FsckOrphan {
  dataset: string;
  key: string;
  size: number;
  ageMs?: number;
}

export interface FsckDatasetSummary {
  dataset: string;
  versions: number;
  expired: number;
  liveFiles: number;
  liveBytes: number;
  /** Objects only expired versions reference, still in the store (`lake gc` deletes them). */
  collectable: number;
  orphans: number;
}

/**
 * A data file of a dataset's latest version that reads fine but is not written as the dataset's settings say (lake.parquet: a
 * codec changed since, or a file from before the codec fix), or not by the lake's writer. Not a problem:
 * `lake compact` rewrites small files with the current settings.
 */
export interface FsckDrift {
  dataset: string;
  version: number;
  key: string;
  message: string;
}

export interface FsckReport {
  /** The commit log's last sequence when fsck started. */
  logSeq: number;
  /** The position the log was replayed to (the live catalog's, so the dumps compare). */
  replaySeq: number;
  datasets: FsckDatasetSummary[];
  problems: FsckProblem[];
  orphans: FsckOrphan[];
  /** Checks that could not run (e.g. the dump needs an admin token); not problems. */
  warnings: string[];
  /** Data files of the latest versions not written as their dataset's Parquet settings say (first 1000; `driftFiles` counts all). */
  drift: FsckDrift[];
  driftFiles: number;
  /** Live data files whose Parquet footer was read and checked (codec, writer, columns and types). */
  parquetChecked: number;
  /** Live versions whose Iceberg snapshot was checked against the log, and the distinct manifests read for them. */
  icebergChecked: { snapshots: number; manifests: number };
  /**
   * Void records: appends that lost a compare-and-set race yet landed (clustered nats-server 2.9), and
   * anything on a commit subject that is not a well-formed lake record of its dataset (junk, a record
   * without lake headers, a body naming another dataset). Refused by every reader; listed, not problems.
   */
  voidRecords: number;
  voids: { seq: number; dataset: string; why: string }[];
  objectsChecked: number;
  bytesHashed: number;
  /** The live catalog's dump was compared with the replay's (and was equal unless a replay_mismatch says otherwise). */
  dumpCompared: boolean;
  ms: number;
}

export interface FsckOptions {
  catalog: CatalogClient;
  store: ObjectStore;
  nc: NatsConnection;
  /** Check only this dataset's objects and catalog entries (the log is still replayed whole). */
  dataset?: string;
  /** Verify each file's sha256 and read its Parquet footer (default true; false checks sizes only). */
  hash?: boolean;
  /** How long to wait for the live catalog to catch up with the log (default 30 s). */
  catalogWaitMs?: number;
  now?: () => number;
  onProgress?: (p: MaintenanceProgress) => void;
  /** Objects checked at once (default 8). */
  concurrency?: number;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export async function fsck(o: FsckOptions): Promise<FsckReport> {
  const started = performance.now();
  const now = o.now ?? Date.now;
  const hash = o.hash ?? true;
  const jsm = await jetstreamManager(o.nc);
  const problems: FsckProblem[] = [];
  const warnings: string[] = [];
  let voidRecords = 0;
  const voids: FsckReport["voids"] = [];
  const drift: FsckDrift[] = [];
  let driftFiles = 0;
  let parquetChecked = 0;
  const icebergChecked = { snapshots: 0, manifests: 0 };
  const problem = (p: FsckProblem) => problems.push(p);
  const progress = (dataset: string, phase: MaintenanceProgress["phase"], done: number, total?: number) =>
    o.onProgress?.({ dataset, phase, done, ...(total === undefined ? {} : { total }) });

  // 1. Line the live catalog up with the log: wait for it to apply everything there is now, then take
  //    its dump and replay the log to exactly the dump's position.
  const logSeq = await logLastSeq(jsm);
  const deadline = Date.now() + (o.catalogWaitMs ?? 30_000);
  let projected = (await o.catalog.healthz()).projected_through_seq;
  while (projected < logSeq && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    projected = (await o.catalog.healthz()).projected_through_seq;
  }
  if (projected < logSeq) {
    problem({
      kind: FSCK_PROBLEMS.catalogBehind,
      dataset: "*",
      message: `the catalog has applied the commit log through ${projected}, the log is at ${logSeq}; it did not catch up within ${o.catalogWaitMs ?? 30_000} ms`,
    });
  }
  let liveDump: string | undefined;
  try {
    liveDump = await o.catalog.dump();
  } catch (e) {
    if (!(e instanceof CatalogRequestError && (e.status === 401 || e.status === 403))) throw e;
    warnings.push(`the catalog's canonical dump was not compared with a replay: GET /v1/admin/dump needs an admin token (${e.status})`);
  }
  const dumpSeq =
    liveDump === undefined ? logSeq : Number((JSON.parse(liveDump) as { meta: [string, string][] }).meta.find(([k]) => k === "last_seq")?.[1] ?? 0);

  // 2. Replay the log into a fresh projection: the catalog the log implies, applied by the catalog's own code.
  const dir = mkdtempSync(join(tmpdir(), "lake-fsck-"));
  const replay = new Projection(join(dir, "replay.db"));
  // The contracts, for the files' expected columns and settings (opened on the first data file read).
  let registry: Promise<SchemaRegistry> | undefined;
  const contracts = () => (registry ??= SchemaRegistry.open(o.nc, { seed: false }));
  try {
    const quiet: Logger = {
      info: () => {},
      warn: () => {},
      error: (msg, fields) => {
        if (msg === "undecodable commit-log record") {
          problem({
            kind: FSCK_PROBLEMS.undecodable,
            dataset: "*",
            message: `commit-log record ${String(fields?.seq)} cannot be decoded: ${(fields?.err as Error | undefined)?.message ?? "?"}`,
          });
        }
      },
      child: () => quiet,
    };
    if (dumpSeq > 0) {
      const t = await tailCommitLog({
        nc: o.nc,
        projection: replay,
        log: quiet,
        untilSeq: dumpSeq,
        onApplied: () => progress("*", "replay", replay.lastSeq, dumpSeq),
      });
      await t.done;
    }
    if (liveDump !== undefined) compareDumps(liveDump, replay.canonicalDump(), dumpSeq, problem);

    for (const a of replay.db.prepare("SELECT commit_seq, dataset, problem FROM anomalies ORDER BY commit_seq").all() as {
      commit_seq: number;
      dataset: string;
      problem: string;
    }[]) {
      if (o.dataset && a.dataset !== o.dataset) continue;
      // A void record (a compare-and-set append the server let land beside the winner) was refused by
      // every reader and its writer was told it lost: noted, not a problem.
      if (a.problem.startsWith("void ")) {
        voidRecords++;
        if (voids.length < 1000) voids.push({ seq: a.commit_seq, dataset: a.dataset, why: a.problem.slice("void ".length) });
        continue;
      }
      problem({ kind: FSCK_PROBLEMS.logAnomaly, dataset: a.dataset, message: `commit-log record ${a.commit_seq}: ${a.problem}` });
    }

    // 3. Each dataset: the store against the replay, then the catalog's API against the replay.
    const names = o.dataset ? [o.dataset] : replay.datasets().map((d) => d.name);
    const summaries: FsckDatasetSummary[] = [];
    const orphans: FsckOrphan[] = [];
    // The store in one listing (all of `datasets/`, or one dataset's), by dataset: objects of datasets
    // the log has never heard of are orphans too.
    const listing = new Map<string, ObjectInfo[]>();
    // Manifests never change and a dataset's versions share them: one cache for the whole run.
    const resolver = new FileSetResolver(o.store);
    let listed = 0;
    const collect = (info: ObjectInfo) => {
      const m = /^datasets\/([^/]+)\/(?:data|manifests)\//.exec(info.key);
      if (!m) return;
      let list = listing.get(m[1]!);
      if (!list) listing.set(m[1]!, (list = []));
      list.push(info);
      if (++listed % 1000 === 0) progress(o.dataset ?? "*", "list", listed);
    };
    if (o.dataset) await listDataset(o.store, o.dataset, collect);
    else for await (const info of o.store.list("datasets/")) collect(info);
    const t = now();
    if (!o.dataset) {
      for (const [dataset, infos] of listing) {
        if (replay.dataset(dataset)) continue;
        for (const info of infos) {
          const at = await objectModifiedAt(o.store, info);
          orphans.push({ dataset, key: info.key, size: info.size, ...(at === undefined ? {} : { ageMs: t - at }) });
        }
      }
    }
    let objectsChecked = 0;
    let bytesHashed = 0;
    for (const dataset of names) {
      const ds = replay.dataset(dataset);
      if (!ds) {
        problem({ kind: FSCK_PROBLEMS.catalogMismatch, dataset, message: `the commit log has no version of ${dataset} (through seq ${dumpSeq})` });
        continue;
      }
      const versions = replay.versions(dataset, 0, Number.MAX_SAFE_INTEGER);
      const liveVersions = replay.liveVersions(dataset);
      const liveSet = new Set(liveVersions);
      const registry: ReturnType<Projection["fileRegistry"]> = [];
      for (let after = ""; ;) {
        const page = replay.fileRegistry(dataset, after, 10_000);
        registry.push(...page);
        if (page.length < 10_000) break;
        after = page.at(-1)!.key;
      }
      const summary: FsckDatasetSummary = {
        dataset,
        versions: versions.length,
        expired: versions.length - liveVersions.length,
        liveFiles: 0,
        liveBytes: 0,
        collectable: 0,
        orphans: 0,
      };

      // Every object a live version references: present, with its recorded size and hash.
      // `latest`: the file is in the dataset's latest version (what compaction can still rewrite).
      type Check = { key: string; bytes: number; sha256: string; version: number; manifest: boolean; addedVersion: number; latest: boolean };
      const checks: Check[] = [];
      for (const f of registry) {
        const v = liveVersionIn(liveVersions, f.added_version, f.removed_version);
        if (v === undefined) continue;
        checks.push({
          key: f.key,
          bytes: f.bytes,
          sha256: f.sha256,
          version: v,
          manifest: false,
          addedVersion: f.added_version,
          latest: f.removed_version == null,
        });
        summary.liveFiles++;
        summary.liveBytes += f.bytes;
      }
      for (const v of versions)
        if (liveSet.has(v.version))
          checks.push({
            key: v.manifest_key,
            bytes: v.manifest_bytes,
            sha256: v.manifest_sha256,
            version: v.version,
            manifest: true,
            addedVersion: v.version,
            latest: false,
          });
      const fingerprintOf = new Map(versions.map((v) => [v.version, v.schema_fingerprint]));
      const found = hash ? await datasetLayout(await contracts(), dataset) : undefined;
      if (found?.unknown) warnings.push(`${dataset}: ${found.unknown}; its files' Parquet schema and codec were not checked`);
      const layout = found && found.unknown === undefined ? found : undefined;
      const unknownSchemas = new Set<string>();
      let done = 0;
      await pool(checks, o.concurrency ?? 8, async (c) => {
        const what = c.manifest
          ? `the manifest of version ${c.version}`
          : `a file of version ${c.version}${c.version < ds.latest_version ? " (and later ones)" : ""}`;
        const missing = c.manifest ? FSCK_PROBLEMS.missingManifest : FSCK_PROBLEMS.missingFile;
        const differs = c.manifest ? FSCK_PROBLEMS.manifestMismatch : undefined;
        if (hash) {
          let body: Uint8Array | undefined;
          try {
            body = await o.store.get(c.key);
          } catch (e) {
            if (!isObjectNotFound(e)) throw e;
          }
          if (body === undefined) problem({ kind: missing, dataset, version: c.version, key: c.key, message: `${what} is missing from the store` });
          else if (body.byteLength !== c.bytes)
            problem({
              kind: differs ?? FSCK_PROBLEMS.sizeMismatch,
              dataset,
              version: c.version,
              key: c.key,
              message: `${what} has ${body.byteLength} bytes, the log records ${c.bytes}`,
            });
          else {
            bytesHashed += body.byteLength;
            const got = sha256(body);
            if (got !== c.sha256)
              problem({
                kind: differs ?? FSCK_PROBLEMS.hashMismatch,
                dataset,
                version: c.version,
                key: c.key,
                message: `${what} has sha256 ${got.slice(0, 16)}…, the log records ${c.sha256.slice(0, 16)}…`,
              });
            else if (!c.manifest && layout) {
              // The footer, read by an independent Parquet reader: columns against the schema version that
              // wrote the file, codec and writer against the dataset's current settings.
              let facts: ParquetFacts | undefined;
              try {
                facts = parquetFacts(body);
              } catch (e) {
                problem({
                  kind: FSCK_PROBLEMS.unreadableParquet,
                  dataset,
                  version: c.version,
                  key: c.key,
                  message: `${what} is not a readable Parquet file: ${(e as Error).message}`,
                });
              }
              if (facts) {
                parquetChecked++;
                const fingerprint = fingerprintOf.get(c.addedVersion) ?? "";
                const columns = layout.columns(fingerprint);
                if (!columns) unknownSchemas.add(fingerprint);
                else {
                  const diff = schemaDifferences(facts, columns);
                  if (diff.length > 0)
                    problem({
                      kind: FSCK_PROBLEMS.schemaMismatch,
                      dataset,
                      version: c.version,
                      key: c.key,
                      message: `${what} (written by version ${c.addedVersion}, schema ${fingerprint.slice(0, 12)}…): ${diff.join("; ")}`,
                    });
                }
                // Drift matters for the files readers of the latest version read: older versions' own
                // files go with their versions at expiry.
                const d = c.latest ? settingsDrift(facts, layout.settings) : [];
                if (d.length > 0) {
                  driftFiles++;
                  if (drift.length < 1000) drift.push({ dataset, version: c.addedVersion, key: c.key, message: d.join("; ") });
                }
              }
            }
          }
        } else {
          const info = await o.store.head(c.key);
          if (!info) problem({ kind: missing, dataset, version: c.version, key: c.key, message: `${what} is missing from the store` });
          else if (info.size !== c.bytes)
            problem({
              kind: differs ?? FSCK_PROBLEMS.sizeMismatch,
              dataset,
              version: c.version,
              key: c.key,
              message: `${what} has ${info.size} bytes, the log records ${c.bytes}`,
            });
        }
        objectsChecked++;
        if (++done % 100 === 0) progress(dataset, "check", done, checks.length);
      });
      progress(dataset, "check", done, checks.length);
      for (const f of unknownSchemas)
        warnings.push(`${dataset}: schema ${f.slice(0, 12) || "(none)"}… of some files is not in the schema registry; their columns were not checked`);

      // Every live version's Iceberg snapshot against the log (what engines reading the table see).
      const ice = await checkIcebergSnapshots(
        o.store,
        dataset,
        replay,
        versions.filter((v) => liveSet.has(v.version)),
        o.concurrency ?? 8,
        problem,
        (n, total) => progress(dataset, "check", n, total),
      );
      icebergChecked.snapshots += ice.snapshots;
      icebergChecked.manifests += ice.manifests;
      objectsChecked += ice.objects;

      // What else the store holds: objects only expired versions reference (collectable) and orphans.
      const liveKeys = new Set(checks.map((c) => c.key));
      const knownKeys = new Set([...registry.map((f) => f.key), ...versions.map((v) => v.manifest_key)]);
      for (const info of listing.get(dataset) ?? []) {
        if (liveKeys.has(info.key)) continue;
        if (knownKeys.has(info.key)) {
          summary.collectable++;
          continue;
        }
        const at = await objectModifiedAt(o.store, info);
        orphans.push({ dataset, key: info.key, size: info.size, ...(at === undefined ? {} : { ageMs: t - at }) });
        summary.orphans++;
      }
      summaries.push(summary);

      await compareCatalogApi(o.catalog, resolver, dataset, replay, versions, registry, problem);
    }

    return {
      logSeq,
      replaySeq: replay.lastSeq,
      datasets: summaries,
      problems,
      orphans,
      warnings,
      drift,
      driftFiles,
      parquetChecked,
      icebergChecked,
      voidRecords,
      voids,
      objectsChecked,
      bytesHashed,
      dumpCompared: liveDump !== undefined,
      ms: performance.now() - started,
    };
  } finally {
    replay.close();
    if (registry) (await registry.catch(() => undefined))?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The Iceberg snapshot of each live version (those with an `iceberg` reference; versions written before
 * the lake wrote Iceberg metadata have none) against the replayed log: its table metadata and manifest
 * list are in the store, the metadata's snapshot of the version names that manifest list, the list's
 * header is the version's snapshot, and the live (not DELETED) entries of its manifests are exactly the
 * version's files, with the log's rows and bytes. Manifests are shared between versions: each is read
 * and decoded once while it stays in the cache (and once at a time), and a problem in one is reported
 * once, at the first version naming it, with how many more do.
 */
async function checkIcebergSnapshots(
  store: ObjectStore,
  dataset: string,
  replay: Projection,
  live: readonly VersionRow[],
  concurrency: number,
  problem: (p: FsckProblem) => void,
  progress: (done: number, total: number) => void,
): Promise<{ snapshots: number; manifests: number; objects: number }> {
  // A store failure (not a missing object) fails fsck as it does for data files; only a missing or
  // undecodable manifest is a problem of the lake.
  const storeErrors = new WeakSet<object>();
  const get = async (key: string) => {
    try {
      return await store.get(key);
    } catch (e) {
      if (!isObjectNotFound(e) && typeof e === "object" && e !== null) storeErrors.add(e);
      throw e;
    }
  };
  const cache = new ManifestCache({ get, keyOf: (u) => store.keyOfUri(u) }, 2048);
  const reading = new Map<string, Promise<ManifestEntry[]>>();
  const failed = new Map<string, unknown>();
  const read = new Set<string>();
  let objects = 0;
  const manifest = async (uri: string): Promise<ManifestEntry[] | { error: unknown }> => {
    if (failed.has(uri)) return { error: failed.get(uri) };
    let p = reading.get(uri);
    if (!p) {
      if (!read.has(uri)) objects++;
      read.add(uri);
      p = cache.read(uri).finally(() => reading.delete(uri));
      reading.set(uri, p);
    }
    try {
      return await p;
    } catch (e) {
      if (typeof e === "object" && e !== null && storeErrors.has(e)) throw e;
      failed.set(uri, e);
      return { error: e };
    }
  };
  // Problems of shared objects, by what is wrong: reported once, at the first version naming the object.
  const shared = new Map<string, { kind: FsckProblemKind; key: string; message: (version: number) => string; versions: number[] }>();
  const sharedProblem = (id: string, kind: FsckProblemKind, key: string, version: number, message: (version: number) => string) => {
    let s = shared.get(`${kind}\0${key}\0${id}`);
    if (!s) shared.set(`${kind}\0${key}\0${id}`, (s = { kind, key, message, versions: [] }));
    s.versions.push(version);
  };
  const unreadable = (e: unknown) => (e instanceof Error ? e.message : String(e));
  const sample = (keys: readonly string[]) => `${keys.slice(0, 3).join(", ")}${keys.length > 3 ? `, … (${keys.length})` : ""}`;

  const withRef = live.filter((v) => v.iceberg_manifest_list !== null && v.iceberg_metadata !== null);
  let done = 0;
  const checkOne = async (v: VersionRow): Promise<void> => {
    const version = v.version;
    const listKey = v.iceberg_manifest_list!;
    const metadataKey = v.iceberg_metadata!;
    const report = (kind: FsckProblemKind, key: string, message: string) => problem({ kind, dataset, version, key, message });
    const getIfThere = async (key: string): Promise<Uint8Array | undefined> => {
      objects++;
      try {
        return await store.get(key);
      } catch (e) {
        if (isObjectNotFound(e)) return undefined;
        throw e;
      }
    };

    const metadata = await getIfThere(metadataKey);
    if (!metadata) report(FSCK_PROBLEMS.missingIceberg, metadataKey, `the Iceberg table metadata of version ${version} is missing from the store`);
    else {
      let named: string | undefined;
      let why: string | undefined;
      try {
        const snapshots = (JSON.parse(new TextDecoder().decode(metadata)) as { snapshots?: { "snapshot-id"?: unknown; "manifest-list"?: unknown }[] })
          .snapshots;
        const s = Array.isArray(snapshots) ? snapshots.find((x) => x["snapshot-id"] === version) : undefined;
        if (!s) why = `has no snapshot ${version}`;
        else named = String(s["manifest-list"]);
      } catch (e) {
        why = `is not table metadata JSON: ${unreadable(e)}`;
      }
      if (named !== undefined && named !== store.uri(listKey)) why = `names manifest list ${named}, the commit record ${listKey}`;
      if (why) report(FSCK_PROBLEMS.icebergMismatch, metadataKey, `the Iceberg table metadata of version ${version} ${why}`);
    }

    const list = await getIfThere(listKey);
    if (!list) {
      report(FSCK_PROBLEMS.missingIceberg, listKey, `the Iceberg manifest list of version ${version} is missing from the store`);
      return;
    }
    let manifests: Awaited<ReturnType<typeof decodeManifestList>>;
    try {
      const snapshotId = (await readContainer(list)).metadata["snapshot-id"];
      if (snapshotId !== String(version)) {
        report(FSCK_PROBLEMS.icebergMismatch, listKey, `the Iceberg manifest list of version ${version} is the list of snapshot ${snapshotId ?? "(none)"}`);
        return;
      }
      manifests = await decodeManifestList(list);
    } catch (e) {
      report(FSCK_PROBLEMS.icebergMismatch, listKey, `the Iceberg manifest list of version ${version} is not a readable Avro manifest list: ${unreadable(e)}`);
      return;
    }

    // The snapshot's live files, with the manifest that lists each.
    const files = new Map<string, { rows: number; bytes: number; manifest: string }>();
    let whole = true;
    const twice: string[] = [];
    for (const m of manifests) {
      let mkey: string;
      try {
        mkey = store.keyOfUri(m.path);
      } catch {
        report(FSCK_PROBLEMS.icebergMismatch, listKey, `the Iceberg manifest list of version ${version} names a manifest outside the store: ${m.path}`);
        whole = false;
        continue;
      }
      const entries = await manifest(m.path);
      if (!Array.isArray(entries)) {
        if (isObjectNotFound(entries.error))
          sharedProblem("", FSCK_PROBLEMS.missingIceberg, mkey, version, (n) => `an Iceberg manifest of version ${n}'s snapshot is missing from the store`);
        else
          sharedProblem(
            "",
            FSCK_PROBLEMS.icebergMismatch,
            mkey,
            version,
            (n) => `an Iceberg manifest of version ${n}'s snapshot is not a readable Avro manifest: ${unreadable(entries.error)}`,
          );
        whole = false;
        continue;
      }
      for (const e of entries) {
        if (e.status === ENTRY_STATUS.deleted) continue;
        let key: string;
        try {
          key = store.keyOfUri(e.file.path);
        } catch {
          sharedProblem(
            e.file.path,
            FSCK_PROBLEMS.icebergMismatch,
            mkey,
            version,
            (n) => `an Iceberg manifest of version ${n}'s snapshot lists a file outside the store: ${e.file.path}`,
          );
          whole = false;
          continue;
        }
        if (files.has(key)) twice.push(key);
        files.set(key, { rows: e.file.recordCount, bytes: e.file.sizeBytes, manifest: mkey });
      }
    }
    if (twice.length > 0)
      report(FSCK_PROBLEMS.icebergMismatch, listKey, `the Iceberg snapshot of version ${version} lists a file more than once: ${sample(twice)}`);
    if (whole) {
      // Only a snapshot read whole can be compared: a missing manifest is its own problem.
      const logFiles = replay.files(dataset, version);
      const inLog = new Set(logFiles.map((f) => f.key));
      const extra = [...files.keys()].filter((k) => !inLog.has(k)).sort();
      const lacking = logFiles.filter((f) => !files.has(f.key)).map((f) => f.key);
      if (extra.length > 0 || lacking.length > 0) {
        const diffs = [
          ...(extra.length ? [`lists ${extra.length} file(s) the version does not have (${sample(extra)})`] : []),
          ...(lacking.length ? [`lacks ${lacking.length} of its ${logFiles.length} file(s) (${sample(lacking)})`] : []),
        ];
        report(FSCK_PROBLEMS.icebergMismatch, listKey, `the Iceberg snapshot of version ${version} ${diffs.join(" and ")}`);
      }
      for (const f of logFiles) {
        const e = files.get(f.key);
        if (e && (e.rows !== f.rows || e.bytes !== f.bytes))
          sharedProblem(
            f.key,
            FSCK_PROBLEMS.icebergMismatch,
            e.manifest,
            version,
            (n) =>
              `an Iceberg manifest of version ${n}'s snapshot records ${f.key} with ${e.rows} row(s) and ${e.bytes} bytes, the log with ${f.rows} and ${f.bytes}`,
          );
      }
      if (v.iceberg_total_files !== logFiles.length)
        report(
          FSCK_PROBLEMS.icebergMismatch,
          listKey,
          `the commit record of version ${version} says its snapshot has ${v.iceberg_total_files} file(s), the version has ${logFiles.length}`,
        );
    }
  };
  await pool(withRef, concurrency, async (v) => {
    await checkOne(v);
    if (++done % 100 === 0) progress(done, withRef.length);
  });
  for (const s of shared.values()) {
    const first = s.versions.reduce((a, b) => Math.min(a, b));
    const more = s.versions.length - 1;
    const message = s.message(first) + (more > 0 ? ` (and of ${more} other live version(s))` : "");
    problem({ kind: s.kind, dataset, version: first, key: s.key, message });
  }
  return { snapshots: withRef.length, manifests: read.size, objects };
}

/**
 * What a dataset's files should look like: the columns each schema version writes (by fingerprint) and
 * the current Parquet settings, from the registry (domains, CDC) or the derived contract.
 */
async function datasetLayout(
  registry: SchemaRegistry,
  dataset: string,
): Promise<{ columns(fingerprint: string): readonly ExpectedColumn[] | undefined; settings: ParquetSettings; unknown?: undefined } | { unknown: string }> {
  if (derivedNames().includes(dataset)) {
    const c = derivedContract(dataset);
    return { columns: (f) => (f === c.fingerprint ? c.columns : undefined), settings: c.parquet };
  }
  if (!registry.domains().includes(dataset)) return { unknown: "neither the schema registry nor contracts/avro/derived has its contract" };
  const latest = registry.latest(dataset);
  return {
    columns: (f) => {
      const c = registry.writer(f);
      if (!c || c.name !== dataset) return undefined;
      return isCdcContract(c) ? cdcChangeCodec(c).fields : c.fields;
    },
    settings: latest.parquet,
  };
}

/** Table by table: rows only the live catalog has, rows only the replay has. */
function compareDumps(live: string, replayed: string, seq: number, problem: (p: FsckProblem) => void): void {
  if (live === replayed) return;
  const a = JSON.parse(live) as Record<string, unknown[]>;
  const b = JSON.parse(replayed) as Record<string, unknown[]>;
  for (const table of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const rowsA = new Set((a[table] ?? []).map((r) => JSON.stringify(r)));
    const rowsB = new Set((b[table] ?? []).map((r) => JSON.stringify(r)));
    const onlyLive = [...rowsA].filter((r) => !rowsB.has(r));
    const onlyReplay = [...rowsB].filter((r) => !rowsA.has(r));
    if (onlyLive.length === 0 && onlyReplay.length === 0) continue;
    const sample = (rows: string[]) =>
      rows
        .slice(0, 3)
        .map((r) => (r.length > 200 ? `${r.slice(0, 200)}…` : r))
        .join("; ");
    problem({
      kind: FSCK_PROBLEMS.replayMismatch,
      dataset: "*",
      message:
        `table ${table} differs from a replay of the log through seq ${seq}: ` +
        `${onlyLive.length} row(s) only in the live catalog${onlyLive.length ? ` (${sample(onlyLive)})` : ""}, ` +
        `${onlyReplay.length} only in the replay${onlyReplay.length ? ` (${sample(onlyReplay)})` : ""}`,
    });
  }
}

/**
 * The live catalog's API against the replay: every version and file the replay has, with the same
 * immutable facts. The live catalog may be ahead of the replay (records appended since), so newer
 * versions, files and expiries on its side are fine; anything missing or different is not.
 */
async function compareCatalogApi(
  catalog: CatalogClient,
  resolver: FileSetResolver,
  dataset: string,
  replay: Projection,
  versions: ReturnType<Projection["versions"]>,
  registry: ReturnType<Projection["fileRegistry"]>,
  problem: (p: FsckProblem) => void,
): Promise<void> {
  const mismatch = (message: string, version?: number, key?: string) =>
    problem({ kind: FSCK_PROBLEMS.catalogMismatch, dataset, message, ...(version === undefined ? {} : { version }), ...(key === undefined ? {} : { key }) });
  let apiVersions: Omit<CatalogVersion, "files">[];
  let apiFiles: CatalogRegistryFile[];
  try {
    apiVersions = await versionsOf(catalog, dataset);
    apiFiles = await filesOf(catalog, dataset);
  } catch (e) {
    if (e instanceof CatalogRequestError && e.status === 404) return mismatch(`the catalog does not know dataset ${dataset}, which the commit log has`);
    throw e;
  }
  const byVersion = new Map(apiVersions.map((v) => [v.version, v]));
  for (const v of versions) {
    const a = byVersion.get(v.version);
    if (!a) {
      mismatch(`the catalog has no version ${v.version}`, v.version);
      continue;
    }
    const expired = replay.expiredSeq(dataset, v.version) !== undefined;
    const diffs: string[] = [];
    if (a.parent_version !== v.parent_version) diffs.push(`parent ${a.parent_version} ≠ ${v.parent_version}`);
    if (a.commit_seq !== v.commit_seq) diffs.push(`commit_seq ${a.commit_seq} ≠ ${v.commit_seq}`);
    if (a.manifest.key !== v.manifest_key || a.manifest.sha256 !== v.manifest_sha256 || a.manifest.bytes !== v.manifest_bytes)
      diffs.push(`manifest ${a.manifest.key} ≠ ${v.manifest_key}`);
    if (a.total_rows !== v.total_rows) diffs.push(`total_rows ${a.total_rows} ≠ ${v.total_rows}`);
    if (expired && !a.expired) diffs.push("served by the catalog, expired in the log");
    if (diffs.length) mismatch(`version ${v.version} differs from the log: ${diffs.join(", ")}`, v.version);
  }
  const latest = versions.at(-1)?.version ?? 0;
  for (const a of apiVersions)
    if (a.version > latest && a.commit_seq <= replay.lastSeq)
      mismatch(`the catalog has version ${a.version}, which the log (through seq ${replay.lastSeq}) does not`, a.version);

  const byKey = new Map(apiFiles.map((f) => [f.key, f]));
  for (const f of registry) {
    const a = byKey.get(f.key);
    if (!a) {
      mismatch(`the catalog does not list a file version ${f.added_version} adds`, f.added_version, f.key);
      continue;
    }
    const removedDiffers = f.removed_version !== null ? a.removed_version !== f.removed_version : a.removed_version !== null && a.removed_version <= latest;
    if (a.bytes !== f.bytes || a.sha256 !== f.sha256 || a.added_version !== f.added_version || removedDiffers) {
      mismatch(
        `file differs from the log: catalog ${a.bytes} bytes, versions ${a.added_version}..${a.removed_version ?? "∞"}; log ${f.bytes} bytes, versions ${f.added_version}..${f.removed_version ?? "∞"}`,
        f.added_version,
        f.key,
      );
    }
  }
  const known = new Set(registry.map((f) => f.key));
  for (const a of apiFiles)
    if (!known.has(a.key) && a.added_version <= latest)
      mismatch(`the catalog lists a file the log's versions (through ${latest}) never added`, a.added_version, a.key);

  // The files readers get for the latest version, read as readers read them: by reference (the manifests
  // of its Iceberg snapshot, from the store) when it has one, listed otherwise. Manifests carry no sha256;
  // the files' hashes were checked against the log's above.
  if (latest > 0 && replay.expiredSeq(dataset, latest) === undefined) {
    try {
      const v = await catalog.version(dataset, latest, { files: "reference" });
      const row = versions.at(-1)!;
      const logFiles = replay.files(dataset, latest);
      if ((v.file_set?.manifest_list ?? null) !== row.iceberg_manifest_list)
        mismatch(
          `the catalog names file set ${v.file_set?.manifest_list ?? "(none)"} for version ${latest}, the log ${row.iceberg_manifest_list ?? "(none)"}`,
          latest,
        );
      else if (v.file_set) {
        const want = logFiles.map((f) => `${f.key}:${f.bytes}:${f.rows}`);
        let got: string[] | undefined;
        try {
          got = (await resolver.files(v.file_set)).map((f) => `${f.key}:${f.bytes}:${f.rows}`);
        } catch (e) {
          // A missing manifest or list is the snapshot check's missing_iceberg (reported once, there).
          if (isObjectNotFound(e)) got = undefined;
          else if (!isFileSetError(e)) throw e;
          else mismatch(`the file set of version ${latest} can't be read from its manifests: ${(e as Error).message}`, latest);
        }
        if (got && JSON.stringify(want) !== JSON.stringify(got))
          mismatch(`the manifests of version ${latest} name ${got.length} file(s) (or other sizes), the log gives ${want.length}`, latest);
      } else {
        const want = logFiles.map((f) => `${f.key}:${f.bytes}:${f.sha256}`);
        const got = (v.files ?? []).map((f) => `${f.key}:${f.bytes}:${f.sha256}`);
        if (JSON.stringify(want) !== JSON.stringify(got))
          mismatch(`the catalog serves version ${latest} with ${got.length} file(s), the log gives ${want.length}`, latest);
      }
    } catch (e) {
      // Expired since the replay's position: nothing to compare.
      if (!(e instanceof CatalogRequestError && e.status === 410)) throw e;
    }
  }
}
