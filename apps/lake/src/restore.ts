// `lake restore --from-store`: rebuilds a lost commit log from what the object store holds. Every
// version wrote its manifest (every fact of its commit record) and its Iceberg snapshot before its
// commit point, and the catalog writes each dataset's table state (refs, expiries, verdicts, the latest
// version's write id) after applying the log. From those, per dataset, in this order and each with a CAS:
//  1. the versions: the retained ones from their manifests, exactly as committed; expired ones (whose
//     manifests GC may have deleted) as empty placeholders, so version numbers stay dense;
//  2. one VersionsExpired naming the placeholders and the versions the table state says expired;
//  3. the quality verdicts of retained versions, as recorded;
//  4. the tags;
//  5. a promotion or rollback when `current` is not what the verdicts make it.
// Which of two manifests of one version number stands (a winner's and a losing writer's, before GC
// removes the loser's) is told by the chain: each manifest names its parent's write id, and the table
// state names the latest version's. Versions committed after the last table state was written are
// followed up that chain while it is unambiguous.
//
// What a restore cannot bring back: events accepted but not yet committed (they were in the lost
// streams), versions committed in the last moment before the loss whose chain is ambiguous, and the
// audit trail of who promoted or tagged what (the records restore appends name the restore's actor).
import { createHash } from "node:crypto";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { TABLE_STATE_PATTERN } from "@lake/catalog";
import { commitRecord, type Manifest, SCHEMA_COPY_PATTERN, type SchemaCopy } from "@lake/committer";
import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import { ManifestCache, snapshotFiles, storeIO } from "@lake/iceberg";
import { appendLogRecord, readCommitHead, STREAMS } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import type { ObjectStore } from "@lake/storage";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export interface RestoreOptions {
  nc: NatsConnection;
  store: ObjectStore;
  /** Only these datasets (default: every dataset the store holds). */
  datasets?: string[];
  /** Plan and report; append nothing. */
  dryRun?: boolean;
  actor: string;
  now?: () => number;
  onProgress?: (p: { dataset: string; appended: number; total: number }) => void;
}

export interface RestoreDatasetResult {
  dataset: string;
  /** The table state the restore started from (null: none was written; only manifests were used). */
  tableState: string | null;
  latestVersion: number;
  retained: number;
  /** Versions restored as expired placeholders (expired before the loss, or unrecoverable). */
  expired: number;
  verdicts: number;
  tags: number;
  current: number;
  /** Records appended (planned, in a dry run). */
  records: number;
  /** What could not be brought back, said plainly. */
  warnings: string[];
  /** The source streams whose next sequence was moved past what the restored versions cover. */
  sourcesMoved: string[];
}

export interface RestoreResult {
  dryRun: boolean;
  schemas: RestoredSchemas[];
  datasets: RestoreDatasetResult[];
  ms: number;
}

/** The commit log of a dataset is not empty: restore only rebuilds a lost one. Nothing was appended. */
export class RestoreRefusedError extends Error {
  constructor(
    readonly dataset: string,
    message: string,
  ) {
    super(`restore ${dataset}: ${message}; nothing appended`);
    this.name = "RestoreRefusedError";
  }
}

interface TableStateFile {
  refs?: Record<string, { "snapshot-id": number; type: string }>;
  snapshots?: { "snapshot-id": number; summary?: Record<string, string> }[];
  properties?: Record<string, string>;
}

interface Verdict {
  version: number;
  outcome: "passed" | "failed";
  rules: LakeLog.RuleResult[];
  checked_at: number;
  checker_id: string;
}

const MANIFEST_NAME = /^v(\d{12})-([A-Za-z0-9._-]+)\.json$/;

/** "1-3,7" → [1,2,3,7]. */
export function parseRanges(s: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (s ?? "").split(",")) {
    if (!part) continue;
    const [a, b] = part.split("-").map(Number);
    if (!Number.isSafeInteger(a) || (b !== undefined && !Number.isSafeInteger(b))) throw new Error(`not a version range: ${JSON.stringify(part)}`);
    for (let v = a!; v <= (b ?? a!) && out.length < 10_000_000; v++) out.push(v);
  }
  return out;
}

/** What the store holds for one dataset: its table states and its version manifests by version number. */
interface Holdings {
  states: { seq: number; key: string }[];
  /** Copies of the domain's registered contract versions (key by version). */
  schemas: Map<number, string>;
  manifests: Map<number, { writeId: string; key: string }[]>;
}

async function holdings(store: ObjectStore, only: readonly string[] | undefined): Promise<Map<string, Holdings>> {
  const out = new Map<string, Holdings>();
  const of = (d: string) => {
    let h = out.get(d);
    if (!h) out.set(d, (h = { states: [], schemas: new Map(), manifests: new Map() }));
    return h;
  };
  for (const dataset of only ?? []) of(dataset);
  const prefixes = only ? only.flatMap((d) => [`datasets/${d}/manifests/`, `datasets/${d}/metadata/c`, `datasets/${d}/schemas/`]) : ["datasets/"];
  for (const prefix of prefixes) {
    for await (const info of store.list(prefix)) {
      const sc = SCHEMA_COPY_PATTERN.exec(info.key);
      if (sc) {
        of(sc[1]!).schemas.set(Number(sc[2]), info.key);
        continue;
      }
      const m = /^datasets\/([^/]+)\/(manifests|metadata)\/([^/]+)$/.exec(info.key);
      if (!m) continue;
      const [, dataset, dir, name] = m as unknown as [string, string, string, string];
      if (dir === "metadata") {
        const s = TABLE_STATE_PATTERN.exec(name);
        if (s) of(dataset).states.push({ seq: Number(s[1]), key: info.key });
        continue;
      }
      const v = MANIFEST_NAME.exec(name);
      if (!v) continue;
      const h = of(dataset);
      const list = h.manifests.get(Number(v[1])) ?? [];
      list.push({ writeId: v[2]!, key: info.key });
      h.manifests.set(Number(v[1]), list);
    }
  }
  return out;
}

export async function restoreFromStore(o: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const jsm = await jetstreamManager(o.nc);
  const held = await holdings(o.store, o.datasets);
  const datasets: RestoreDatasetResult[] = [];
  // Refuse before appending anything anywhere: every dataset's log must be empty.
  for (const dataset of held.keys()) {
    const head = await readCommitHead(jsm, dataset);
    if (head.seq > 0) throw new RestoreRefusedError(dataset, `its commit log is not empty (last record at sequence ${head.seq})`);
  }
  const schemas = await restoreSchemas(o, held);
  if (!o.dryRun) await moveCommitLogPast(o, held);
  // A domain with contract copies but no version (nothing committed yet) has nothing to restore.
  for (const [dataset, h] of [...held].sort(([a], [b]) => (a < b ? -1 : 1)))
    if (h.manifests.size > 0 || h.states.length > 0) datasets.push(await restoreDataset(o, dataset, h));
  return { dryRun: Boolean(o.dryRun), schemas, datasets, ms: performance.now() - started };
}

export interface RestoredSchemas {
  domain: string;
  /** Versions registered again from the store's copies (to be, in a dry run). */
  registered: number[];
  warnings: string[];
}

/**
 * The schema registry lives in NATS too: contract versions the store has copies of and the registry
 * lacks (it holds the repo's contracts after a fresh start) are registered again, in order, so the
 * restored versions' schema versions mean what they meant.
 */
async function restoreSchemas(o: RestoreOptions, held: ReadonlyMap<string, Holdings>): Promise<RestoredSchemas[]> {
  const withCopies = [...held].filter(([, h]) => h.schemas.size > 0);
  if (withCopies.length === 0) return [];
  const registry = await SchemaRegistry.open(o.nc, { seed: false });
  try {
    const out: RestoredSchemas[] = [];
    for (const [domain, h] of withCopies) {
      const r: RestoredSchemas = { domain, registered: [], warnings: [] };
      out.push(r);
      for (const version of [...h.schemas.keys()].sort((a, b) => a - b)) {
        const copy = (await readJson<SchemaCopy>(o.store, h.schemas.get(version)!)).value;
        const existing = registry.versions(domain)[version - 1];
        if (existing) {
          if (existing.fingerprint !== copy.fingerprint)
            r.warnings.push(
              `contract version ${version}: the registry's (${existing.fingerprint.slice(0, 12)}…) is not the store's copy (${copy.fingerprint.slice(0, 12)}…)`,
            );
          continue;
        }
        if (registry.versions(domain).length !== version - 1) {
          r.warnings.push(
            `contract version ${version}: the registry has ${registry.versions(domain).length} version(s), so it can't be registered as version ${version}`,
          );
          break;
        }
        if (o.dryRun) {
          r.registered.push(version);
          continue;
        }
        const at = Number.isFinite(copy.registered_at) ? new Date(copy.registered_at).toISOString() : String(copy.registered_at);
        let res;
        try {
          res = await registry.register(
            JSON.parse(copy.schema) as unknown,
            o.actor,
            `restored from the store (registered ${at} by ${copy.actor}: ${copy.reason})`.slice(0, 1000),
          );
        } catch (e) {
          r.warnings.push(`contract version ${version} can't be registered again: ${(e as Error).message}`);
          break;
        }
        if (res.version !== version || res.fingerprint !== copy.fingerprint) {
          r.warnings.push(`contract version ${version} registered as version ${res.version} (${res.fingerprint.slice(0, 12)}…)`);
          break;
        }
        r.registered.push(version);
      }
    }
    return out;
  } finally {
    registry.close();
  }
}

async function readJson<T>(store: ObjectStore, key: string): Promise<{ value: T; bytes: Uint8Array }> {
  const bytes = await store.get(key);
  return { value: JSON.parse(new TextDecoder().decode(bytes)) as T, bytes };
}

async function restoreDataset(o: RestoreOptions, dataset: string, h: Holdings): Promise<RestoreDatasetResult> {
  const now = (o.now ?? Date.now)();
  const warnings: string[] = [];
  const newest = h.states.sort((a, b) => a.seq - b.seq).at(-1);
  const state = newest ? (await readJson<TableStateFile>(o.store, newest.key)).value : undefined;
  const props = state?.properties ?? {};
  const expiredByState = new Set(parseRanges(props["lake.expired"]));
  // Write ids the table state vouches for: the latest version's, and each snapshot a ref names.
  const vouched = new Map<number, string>();
  if (props["lake.latest-version"] && props["lake.latest-write-id"]) vouched.set(Number(props["lake.latest-version"]), props["lake.latest-write-id"]);
  for (const s of state?.snapshots ?? []) if (s.summary?.["lake.write-id"]) vouched.set(s["snapshot-id"], s.summary["lake.write-id"]);

  const manifests = new Map<string, Manifest & { _key: string; _bytes: Uint8Array }>();
  const manifestOf = async (version: number, writeId: string) => {
    const c = h.manifests.get(version)?.find((x) => x.writeId === writeId);
    if (!c) return undefined;
    const hit = manifests.get(c.key);
    if (hit) return hit;
    const { value, bytes } = await readJson<Manifest>(o.store, c.key);
    const m = { ...value, _key: c.key, _bytes: bytes };
    manifests.set(c.key, m);
    return m;
  };

  // The chain of standing versions: from the vouched latest (or the highest version, when unambiguous),
  // up through later versions that name it as parent, and down through parents while manifests remain.
  const chosen = new Map<number, string>();
  const stateLatest = Number(props["lake.latest-version"] ?? 0);
  let top = stateLatest;
  if (top > 0 && vouched.has(top)) chosen.set(top, vouched.get(top)!);
  else {
    const highest = Math.max(0, ...h.manifests.keys());
    const c = h.manifests.get(highest) ?? [];
    if (c.length === 1) chosen.set((top = highest), c[0]!.writeId);
    else if (c.length > 1) warnings.push(`version ${highest}: ${c.length} manifests and no table state to tell which was committed`);
  }
  for (let v = top + 1; chosen.has(v - 1) && h.manifests.has(v); v++) {
    const parent = chosen.get(v - 1)!;
    const next: string[] = [];
    for (const c of h.manifests.get(v)!) if ((await manifestOf(v, c.writeId))?.parent_write_id === parent) next.push(c.writeId);
    if (next.length !== 1) {
      if (next.length > 1)
        warnings.push(
          `version ${v}: ${next.length} manifests build on version ${v - 1}; the log can't tell which was committed, so versions from ${v} on are not restored`,
        );
      break;
    }
    chosen.set(v, next[0]!);
    top = v;
  }
  for (let v = top; v > 1; v--) {
    if (!chosen.has(v)) break;
    const m = await manifestOf(v, chosen.get(v)!);
    const parent = m?.parent_write_id;
    if (!parent || chosen.has(v - 1) || !h.manifests.get(v - 1)?.some((c) => c.writeId === parent)) break;
    chosen.set(v - 1, parent);
  }
  // Below a gap: a version the state vouches for, or the only manifest of its number.
  for (let v = 1; v <= top; v++) {
    if (chosen.has(v) || expiredByState.has(v)) continue;
    const c = h.manifests.get(v) ?? [];
    const w = vouched.get(v) ?? (c.length === 1 ? c[0]!.writeId : undefined);
    if (w && c.some((x) => x.writeId === w)) chosen.set(v, w);
  }

  // The records.
  const records: LogRecord[] = [];
  const placeholders: number[] = [];
  let retained = 0;
  let template: VersionCommitted | undefined;
  const real = new Map<number, VersionCommitted>();
  for (let v = 1; v <= top; v++) {
    const w = expiredByState.has(v) ? undefined : chosen.get(v);
    const m = w ? await manifestOf(v, w) : undefined;
    if (!m) continue;
    const { _key, _bytes, ...manifest } = m;
    const r = commitRecord(manifest as Manifest, { key: _key, sha256: sha256(_bytes), bytes: _bytes.byteLength }, manifest.iceberg ?? null);
    real.set(v, r);
    template ??= r;
  }
  // The file chain: the catalog folds each version's added and removed files into its file set, so a
  // placeholder carries the files of the next retained version that expired versions added (each to
  // the version that added it, as its Iceberg entry says), and the last placeholder before a retained
  // version removes what that version's snapshot no longer has. Retained versions' file sets then equal
  // their snapshots, as they were.
  const fold = new Map<string, LakeLog.DataFile>();
  const io = storeIO(o.store);
  const snapshotCache = new ManifestCache(io);
  const snapshots = new Map<number, Map<string, { adder: number; rows: number; bytes: number }>>();
  const snapshotOf = async (r: VersionCommitted) => {
    let s = snapshots.get(r.version);
    if (s || !r.iceberg) return s;
    s = new Map();
    for (const f of await snapshotFiles(io, snapshotCache, r.iceberg.manifest_list))
      s.set(f.key, { adder: f.addedBy, rows: f.entry.file.recordCount, bytes: f.entry.file.sizeBytes });
    snapshots.set(r.version, s);
    return s;
  };
  const fileOf = async (key: string, rows: number, bytes: number): Promise<LakeLog.DataFile> => {
    const partition = /^datasets\/[^/]+\/data\/([^/]+)\//.exec(key)?.[1] ?? "";
    return { key, partition, rows, bytes, sha256: sha256(await o.store.get(key)) };
  };
  for (let v = 1; v <= top; v++) {
    const r = real.get(v);
    if (r) {
      records.push({ kind: "VersionCommitted", body: r });
      for (const f of r.added_files) fold.set(f.key, f);
      for (const k of r.removed_files) fold.delete(k);
      retained++;
      continue;
    }
    if (!expiredByState.has(v)) warnings.push(`version ${v}: no manifest in the store (or several, none vouched for); restored as expired`);
    placeholders.push(v);
    const next = [...real.values()].find((x) => x.version > v);
    const base = next ?? template!;
    const added: LakeLog.DataFile[] = [];
    const removed: string[] = [];
    const snap = next ? await snapshotOf(next) : undefined;
    if (next && !snap) warnings.push(`version ${next.version} has no Iceberg snapshot: the files expired versions gave it can't be restored`);
    if (next && snap) {
      const last = v === next.version - 1;
      for (const [key, e] of snap) {
        if (fold.has(key) || e.adder === next.version) continue;
        // Its own files; the last placeholder also takes those whose adder is unknown.
        if (e.adder === v || (last && !real.has(e.adder))) added.push(await fileOf(key, e.rows, e.bytes));
      }
      for (const f of added) fold.set(f.key, f);
      if (last) {
        const keep = new Set([...snap.keys(), ...next.removed_files]);
        for (const k of fold.keys()) if (!keep.has(k)) removed.push(k);
        for (const k of removed) fold.delete(k);
      }
    }
    records.push({
      kind: "VersionCommitted",
      body: {
        ...base,
        version: v,
        parent_version: v - 1,
        write_id: `restored-expired-v${v}`,
        committer_id: `restore:${o.actor}`,
        committed_at: now,
        manifest: { key: "", sha256: "", bytes: 0 },
        added_files: added,
        removed_files: removed,
        source: { ...base.source, first_seq: 0, last_seq: 0 },
        row_count: added.reduce((t, f) => t + f.rows, 0),
        total_rows: [...fold.values()].reduce((t, f) => t + f.rows, 0),
        min_event_time: null,
        max_event_time: null,
        operation: "restore-expired",
        iceberg: null,
      },
    });
  }
  // Each placeholder is judged failed (it has no files to check and must never be served), so nothing
  // waits for its verdict and it can expire; then the verdicts that were recorded.
  for (const v of placeholders)
    records.push({
      kind: "QualityVerdict",
      body: {
        dataset,
        version: v,
        outcome: "failed",
        rules: [
          {
            rule: "restored_expired",
            passed: false,
            measured: "no files",
            expected: "a retained version",
            message: "expired before the commit log was restored from the store; its files are gone",
          },
        ],
        checked_at: now,
        checker_id: `restore:${o.actor}`,
      },
    });
  let verdicts = 0;
  for (const v of JSON.parse(props["lake.verdicts"] ?? "[]") as Verdict[]) {
    if (!real.has(v.version)) continue;
    records.push({
      kind: "QualityVerdict",
      body: { dataset, version: v.version, outcome: v.outcome, rules: v.rules, checked_at: v.checked_at, checker_id: v.checker_id },
    });
    verdicts++;
  }
  if (placeholders.length > 0)
    records.push({
      kind: "VersionsExpired",
      body: {
        dataset,
        versions: placeholders,
        policy: "restore",
        actor: o.actor,
        reason: "expired before the commit log was restored from the store",
        at: now,
      },
    });
  let tags = 0;
  for (const [name, ref] of Object.entries(state?.refs ?? {})) {
    if (ref.type !== "tag" || !real.has(ref["snapshot-id"])) continue;
    records.push({
      kind: "VersionTagged",
      body: { dataset, version: ref["snapshot-id"], tag: name, actor: o.actor, reason: "restored from the store", at: now },
    });
    tags++;
  }
  // Current: what commits and verdicts make it, then a promotion or rollback to the recorded one.
  const policy = template?.policy ?? "non-critical";
  const passed = (JSON.parse(props["lake.verdicts"] ?? "[]") as Verdict[]).filter((x) => x.outcome === "passed" && real.has(x.version)).map((x) => x.version);
  const implied = policy === "critical" ? Math.max(0, ...passed) : top;
  const target = Number(props["lake.current-version"] ?? implied) || implied;
  if (target !== implied && real.has(target))
    records.push({
      kind: "VersionPromoted",
      body: {
        dataset,
        version: target,
        previous_version: implied,
        mode: target > implied ? "promote" : "rollback",
        actor: o.actor,
        reason: "restored from the store",
        at: now,
      } as LakeLog.VersionPromoted,
    });

  const result: RestoreDatasetResult = {
    dataset,
    tableState: newest?.key ?? null,
    latestVersion: top,
    retained,
    expired: placeholders.length,
    verdicts,
    tags,
    current: target,
    records: records.length,
    warnings,
    sourcesMoved: [],
  };
  if (!newest)
    warnings.push("no table state in the store (the catalog writes one after applying the log): versions, but no verdicts, tags or expiries, were restored");
  if (o.dryRun || records.length === 0) return result;

  const js = jetstream(o.nc);
  let last = (await readCommitHead(await jetstreamManager(o.nc), dataset)).seq;
  for (const [i, r] of records.entries()) {
    last = await appendLogRecord(js, dataset, r, { expectedLastSeq: last, msgId: `restore:${dataset}:${i}:${now}` });
    if (i % 100 === 0) o.onProgress?.({ dataset, appended: i + 1, total: records.length });
  }
  o.onProgress?.({ dataset, appended: records.length, total: records.length });
  result.sourcesMoved = await moveSourcesPast(o, [...real.values()]);
  return result;
}

/**
 * Services that keep a position in the commit log (quality's state, a catalog's database not yet
 * rebuilt) would skip restored records numbered at or below it. An empty commit stream is moved so its
 * next sequence follows the highest one any table state recorded.
 */
async function moveCommitLogPast(o: RestoreOptions, held: ReadonlyMap<string, Holdings>): Promise<void> {
  let through = 0;
  for (const h of held.values()) {
    const newest = [...h.states].sort((a, b) => a.seq - b.seq).at(-1);
    if (newest) through = Math.max(through, newest.seq);
  }
  const jsm = await jetstreamManager(o.nc);
  const info = await jsm.streams.info(STREAMS.commits);
  if (through > 0 && info.state.messages === 0 && info.state.last_seq < through) await jsm.streams.purge(STREAMS.commits, { seq: through + 1 });
}

/**
 * A source stream made again after the loss numbers from 1, and a committer resumes after the offset
 * its head covers: it would skip new events until the numbers pass it. An empty source stream is moved
 * so its next sequence follows the highest restored offset. A source stream that already holds
 * messages is left alone (moving it would drop them), and said so.
 */
async function moveSourcesPast(o: RestoreOptions, versions: readonly VersionCommitted[]): Promise<string[]> {
  const jsm = await jetstreamManager(o.nc);
  const need = new Map<string, number>();
  for (const v of versions) need.set(v.source.stream, Math.max(need.get(v.source.stream) ?? 0, v.source.last_seq));
  const moved: string[] = [];
  for (const [stream, through] of need) {
    if (through <= 0) continue;
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info || info.state.last_seq >= through) continue;
    if (info.state.messages > 0) continue;
    await jsm.streams.purge(stream, { seq: through + 1 });
    moved.push(`${stream} → next sequence ${through + 1}`);
  }
  return moved;
}
