// One Iceberg snapshot per lake version: the files it adds go into a new manifest, manifests of the
// parent that hold files it removes are rewritten (those entries DELETED, the rest EXISTING), every
// other manifest of the parent is shared as it is, and small manifests are merged once a snapshot has
// too many, so a manifest list stays short. Then the manifest list. Nothing here is visible to anyone
// until the caller's commit point names the manifest list: a crash leaves only unreferenced files.
import {
  type DataFileInfo,
  decodeManifest,
  decodeManifestList,
  encodeManifest,
  encodeManifestList,
  ENTRY_STATUS,
  type ManifestEntry,
  type ManifestFile,
} from "./avro.ts";
import type { IcebergSchema, PartitionLayout, PartitionSpec, PartitionValue } from "./schema.ts";

/** What the writer of a table's snapshots needs to know about it. */
export interface TableDef {
  dataset: string;
  /** The schema the added files were written with (the table's current schema). */
  schema: IcebergSchema;
  spec: PartitionSpec;
  layout: PartitionLayout;
}

/** Where manifests come from and go to: store keys and the URIs readers see for them. */
export interface SnapshotIO {
  put(key: string, bytes: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  uri(key: string): string;
  /** The store key of a URI this store gave out. */
  keyOf(uri: string): string;
}

export interface SnapshotChange {
  /** The lake version: it is the snapshot id and the sequence number. */
  version: number;
  /** Unique id of the write (names the new manifests, so a losing writer never overwrites a winner's). */
  writeId: string;
  added: readonly DataFileInfo[];
  /** Files the version removes (their URIs), with their partition values (to skip manifests that can't hold them). */
  removed: readonly { path: string; partition: PartitionValue }[];
}

export interface WrittenSnapshot {
  manifestListKey: string;
  manifests: ManifestFile[];
  /** Every key written (the new manifests and the manifest list). */
  keys: string[];
  /** Removed files no manifest of the parent listed (the caller says so; the snapshot is written without them). */
  missing: string[];
}

export interface PlannedSnapshot extends WrittenSnapshot {
  /** The objects to write before the snapshot can be named by a commit. */
  puts: { key: string; bytes: Uint8Array }[];
}

export interface SnapshotOptions {
  /** A manifest list longer than this gets its small manifests merged. Default 50. */
  maxManifests?: number;
  /** Manifests with fewer live entries than this are merged. Default 10,000. */
  mergeBelowEntries?: number;
}

export const DEFAULT_MAX_MANIFESTS = 50;
export const DEFAULT_MERGE_BELOW_ENTRIES = 10_000;

/** The SnapshotIO of an object store (the stores of @lake/storage have this shape). */
export function storeIO(store: {
  put(key: string, body: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  uri(key: string): string;
  keyOfUri(uri: string): string;
}): SnapshotIO {
  return { put: (k, b) => store.put(k, b), get: (k) => store.get(k), uri: (k) => store.uri(k), keyOf: (u) => store.keyOfUri(u) };
}

/**
 * A snapshot's live data files: every entry of its manifests that is not DELETED, as a store key, with
 * the snapshot (version) that added it (inherited from the manifest for ADDED entries).
 */
export async function snapshotFiles(
  io: Pick<SnapshotIO, "get" | "keyOf">,
  cache: ManifestCache,
  manifestListKey: string,
): Promise<{ key: string; addedBy: number; entry: ManifestEntry }[]> {
  const out: { key: string; addedBy: number; entry: ManifestEntry }[] = [];
  for (const m of await decodeManifestList(await io.get(manifestListKey)))
    for (const e of await cache.read(m.path))
      if (e.status !== ENTRY_STATUS.deleted) out.push({ key: io.keyOf(e.file.path), addedBy: e.snapshotId ?? m.addedSnapshotId, entry: e });
  return out;
}

/** Manifests are immutable: entries once read are kept (up to `limit` manifests, oldest dropped first). */
export class ManifestCache {
  private readonly entries = new Map<string, ManifestEntry[]>();
  constructor(
    private readonly io: Pick<SnapshotIO, "get" | "keyOf">,
    private readonly limit = 512,
  ) {}

  async read(uri: string): Promise<ManifestEntry[]> {
    const hit = this.entries.get(uri);
    if (hit) return hit;
    const entries = await decodeManifest(await this.io.get(this.io.keyOf(uri)));
    this.remember(uri, entries);
    return entries;
  }

  remember(uri: string, entries: ManifestEntry[]): void {
    this.entries.delete(uri);
    this.entries.set(uri, entries);
    while (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
  }
}

const pad = (v: number) => String(v).padStart(12, "0");

export const icebergKeys = {
  manifest: (dataset: string, version: number, writeId: string, i: number) => `datasets/${dataset}/metadata/${pad(version)}-${writeId}-m${i}.avro`,
  manifestList: (dataset: string, version: number, writeId: string) => `datasets/${dataset}/metadata/snap-${pad(version)}-${writeId}.avro`,
  metadata: (dataset: string, version: number, writeId: string) => `datasets/${dataset}/metadata/v${pad(version)}-${writeId}.metadata.json`,
};

export const ICEBERG_KINDS = { manifest: "manifest", manifestList: "manifest_list", metadata: "metadata" } as const;
export type IcebergKind = (typeof ICEBERG_KINDS)[keyof typeof ICEBERG_KINDS];

const KEY_PATTERNS: [IcebergKind, RegExp][] = [
  [ICEBERG_KINDS.manifestList, /^snap-(\d{12})-([A-Za-z0-9._-]+)\.avro$/],
  [ICEBERG_KINDS.metadata, /^v(\d{12})-([A-Za-z0-9._-]+)\.metadata\.json$/],
  [ICEBERG_KINDS.manifest, /^(\d{12})-([A-Za-z0-9._-]+)-m\d+\.avro$/],
];

/** Which Iceberg file a key of `datasets/<dataset>/metadata/` is, and the version and write that wrote it (see icebergKeys). */
export function parseIcebergKey(dataset: string, key: string): { kind: IcebergKind; version: number; writeId: string } | undefined {
  const dir = `datasets/${dataset}/metadata/`;
  if (!key.startsWith(dir)) return undefined;
  const name = key.slice(dir.length);
  for (const [kind, re] of KEY_PATTERNS) {
    const m = re.exec(name);
    if (m) return { kind, version: Number(m[1]), writeId: m[2]! };
  }
  return undefined;
}

export const icebergPrefix = (dataset: string) => `datasets/${dataset}/metadata/`;

function encodePartitionValue(layout: PartitionLayout, v: PartitionValue): Uint8Array | null {
  if (v === null) return null;
  if (layout.kind === "day") {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v as number, true);
    return b;
  }
  return new TextEncoder().encode(String(v));
}

/** Bounds of the partition values of a manifest's live entries. */
function partitionSummary(layout: PartitionLayout, entries: readonly ManifestEntry[]): ManifestFile["partitions"] {
  if (layout.kind === "none") return [];
  let containsNull = false;
  let lo: PartitionValue = null;
  let hi: PartitionValue = null;
  for (const e of entries) {
    if (e.status === ENTRY_STATUS.deleted) continue;
    const v = e.file.partition;
    if (v === null) {
      containsNull = true;
      continue;
    }
    if (lo === null || v < lo) lo = v;
    if (hi === null || v > hi) hi = v;
  }
  return [{ containsNull, lower: encodePartitionValue(layout, lo), upper: encodePartitionValue(layout, hi) }];
}

/** Could this manifest hold a file of partition `v`, by its summary? */
function mayHold(layout: PartitionLayout, m: ManifestFile, v: PartitionValue): boolean {
  const p = m.partitions[0];
  if (layout.kind === "none" || !p) return true;
  if (v === null) return p.containsNull;
  // No bounds: all its partitions are null, or they are unknown; reading it settles which.
  if (!p.lower || !p.upper) return true;
  if (layout.kind === "day") {
    const lo = new DataView(p.lower.buffer, p.lower.byteOffset).getInt32(0, true);
    const hi = new DataView(p.upper.buffer, p.upper.byteOffset).getInt32(0, true);
    return (v as number) >= lo && (v as number) <= hi;
  }
  const dec = new TextDecoder();
  return String(v) >= dec.decode(p.lower) && String(v) <= dec.decode(p.upper);
}

const live = (m: ManifestFile) => m.addedFilesCount + m.existingFilesCount;

/** An entry carried into a rewritten or merged manifest: EXISTING (or DELETED by `version`), with what it inherited made explicit. */
function carried(e: ManifestEntry, from: ManifestFile, status: 0 | 2, version: number): ManifestEntry {
  const seq = e.sequenceNumber ?? from.sequenceNumber;
  return {
    status,
    snapshotId: status === ENTRY_STATUS.deleted ? version : (e.snapshotId ?? from.addedSnapshotId),
    sequenceNumber: seq,
    fileSequenceNumber: e.fileSequenceNumber ?? seq,
    file: e.file,
  };
}

export class SnapshotWriter {
  constructor(
    private readonly io: SnapshotIO,
    private readonly cache: ManifestCache,
    private readonly opts: SnapshotOptions = {},
  ) {}

  /** Writes the manifests and the manifest list of `change` on top of the parent snapshot's manifests. */
  async write(table: TableDef, parent: readonly ManifestFile[], change: SnapshotChange): Promise<WrittenSnapshot> {
    const planned = await this.plan(table, parent, change);
    await Promise.all(planned.puts.map((p) => this.io.put(p.key, p.bytes)));
    return planned;
  }

  /**
   * The manifests and manifest list of `change`, encoded but not written: `puts` are the objects to
   * write (all independent of each other), so a caller can write them at once with its own.
   */
  async plan(table: TableDef, parent: readonly ManifestFile[], change: SnapshotChange): Promise<PlannedSnapshot> {
    const { version, writeId } = change;
    const keys: string[] = [];
    const puts: { key: string; bytes: Uint8Array }[] = [];
    let n = 0;
    const writeManifest = async (entries: ManifestEntry[]): Promise<ManifestFile> => {
      const key = icebergKeys.manifest(table.dataset, version, writeId, n++);
      const bytes = await encodeManifest(entries, { schema: table.schema, spec: table.spec, layout: table.layout, name: key });
      puts.push({ key, bytes });
      keys.push(key);
      const uri = this.io.uri(key);
      this.cache.remember(uri, entries);
      const count = (s: number) => entries.filter((e) => e.status === s);
      const rows = (es: ManifestEntry[]) => es.reduce((t, e) => t + e.file.recordCount, 0);
      const added = count(ENTRY_STATUS.added);
      const existing = count(ENTRY_STATUS.existing);
      const deleted = count(ENTRY_STATUS.deleted);
      let minSeq = version;
      for (const e of entries) if (e.sequenceNumber !== null && e.sequenceNumber < minSeq) minSeq = e.sequenceNumber;
      return {
        path: uri,
        length: bytes.byteLength,
        specId: table.spec["spec-id"],
        sequenceNumber: version,
        minSequenceNumber: minSeq,
        addedSnapshotId: version,
        addedFilesCount: added.length,
        existingFilesCount: existing.length,
        deletedFilesCount: deleted.length,
        addedRowsCount: rows(added),
        existingRowsCount: rows(existing),
        deletedRowsCount: rows(deleted),
        partitions: partitionSummary(table.layout, entries),
      };
    };

    // Manifests left with deleted entries only (from an earlier snapshot) are not carried forward.
    let manifests = parent.filter((m) => live(m) > 0);
    const replaced = new Map<ManifestFile, ManifestEntry[]>();
    const found = new Set<string>();
    if (change.removed.length > 0) {
      const gone = new Set(change.removed.map((r) => r.path));
      for (const m of manifests) {
        if (!change.removed.some((r) => mayHold(table.layout, m, r.partition))) continue;
        const entries = await this.cache.read(m.path);
        if (!entries.some((e) => e.status !== ENTRY_STATUS.deleted && gone.has(e.file.path))) continue;
        const next: ManifestEntry[] = [];
        for (const e of entries) {
          if (e.status === ENTRY_STATUS.deleted) continue;
          if (gone.has(e.file.path)) {
            found.add(e.file.path);
            next.push(carried(e, m, ENTRY_STATUS.deleted, version));
          } else next.push(carried(e, m, ENTRY_STATUS.existing, version));
        }
        replaced.set(m, next);
      }
    }
    const missing = change.removed.map((r) => r.path).filter((p) => !found.has(p));

    // Merge small manifests once there are too many (the rewritten ones' entries are in hand already).
    const maxManifests = this.opts.maxManifests ?? DEFAULT_MAX_MANIFESTS;
    const mergeBelow = this.opts.mergeBelowEntries ?? DEFAULT_MERGE_BELOW_ENTRIES;
    // Manifests are written concurrently (names are fixed in call order, so the bytes don't depend on timing).
    const out: (ManifestFile | Promise<ManifestFile>)[] = [];
    if (change.added.length > 0) {
      const entries = change.added.map(
        (file) => ({ status: ENTRY_STATUS.added, snapshotId: null, sequenceNumber: null, fileSequenceNumber: null, file }) as ManifestEntry,
      );
      out.push(writeManifest(entries));
    }
    const total = out.length + manifests.length;
    if (total > maxManifests) {
      const small = manifests.filter((m) => live(m) < mergeBelow);
      if (small.length > 1) {
        const merged: ManifestEntry[] = [];
        for (const m of small) {
          const own = replaced.get(m);
          if (own) merged.push(...own);
          else for (const e of await this.cache.read(m.path)) if (e.status !== ENTRY_STATUS.deleted) merged.push(carried(e, m, ENTRY_STATUS.existing, version));
        }
        const smallSet = new Set(small);
        manifests = manifests.filter((m) => !smallSet.has(m));
        out.push(writeManifest(merged));
      }
    }
    for (const m of manifests) {
      const own = replaced.get(m);
      out.push(own ? writeManifest(own) : m);
    }
    const listed = await Promise.all(out);
    const manifestListKey = icebergKeys.manifestList(table.dataset, version, writeId);
    const list = await encodeManifestList(listed, {
      snapshotId: version,
      parentSnapshotId: version > 1 ? version - 1 : null,
      sequenceNumber: version,
      name: manifestListKey,
    });
    puts.push({ key: manifestListKey, bytes: list });
    keys.push(manifestListKey);
    return { manifestListKey, manifests: listed, keys, missing, puts };
  }
}
