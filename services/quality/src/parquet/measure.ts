// Gathers everything the rules need about one version: the integrity and schema of the files it adds,
// row-level measurements over them, and table-level stats of the whole version computed incrementally
// from per-file stats (cached in the state, so each file is read once).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

import type { LakeLog } from "@lake/contracts";
import { ManifestCache, snapshotFiles, type SnapshotIO, storeIO } from "@lake/iceberg";
import { isObjectNotFound, materialize, type ObjectStore } from "@lake/storage";

import type { DatasetRules } from "../dataset-rules.ts";
import type { QualityState, VersionState } from "../db/state.ts";
import { type AddedFile, type JudgeInput, schemaDiffs } from "../domain/rules.ts";
import { addStats, type ColumnStats, EMPTY_STATS, type Measured, measured, subtractStats, sumStats, unmeasured } from "../domain/stats.ts";
import { isUnreadableFile, type ParquetInspector } from "./inspect.ts";

/** A file whose stats are needed is gone or unreadable: the stats depending on it are unknown. */
export class FileUnavailableError extends Error {
  constructor(
    readonly key: string,
    why: string,
    options?: { cause?: unknown },
  ) {
    super(`file ${key} ${why}`, options);
    this.name = "FileUnavailableError";
  }
}

export function isFileUnavailable(e: unknown): e is FileUnavailableError {
  return e instanceof FileUnavailableError;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export class VersionMeasurer {
  constructor(
    private readonly state: QualityState,
    private readonly store: ObjectStore,
    private readonly parquet: ParquetInspector,
    /** Where objects of a remote store (S3) are copied so DuckDB can read them; local stores read in place. */
    private readonly cacheDir: string,
  ) {
    this.io = storeIO(store);
    this.manifests = new ManifestCache(this.io);
  }

  private readonly io: SnapshotIO;
  /** Manifests are immutable and shared between versions: read once. */
  private readonly manifests: ManifestCache;

  /** The data files of an Iceberg snapshot (its manifests' live entries), as store keys. */
  private async snapshotKeys(manifestList: string): Promise<string[]> {
    try {
      return (await snapshotFiles(this.io, this.manifests, manifestList)).map((f) => f.key).sort();
    } catch (e) {
      if (isObjectNotFound(e)) throw new FileUnavailableError((e as { key?: string }).key ?? manifestList, "is missing from the store");
      throw e;
    }
  }

  private async path(key: string): Promise<string> {
    return (await materialize(this.store, [key], this.cacheDir))[0]!;
  }

  /** Measures `v` for the rules; `now` is passed through to the (pure) judge. */
  async inputFor(v: VersionState, rules: DatasetRules, now: number): Promise<JudgeInput> {
    const files: AddedFile[] = [];
    const paths: string[] = [];
    let addedRows = 0;
    let unreadable: string | undefined;
    for (const f of v.addedFiles) {
      const r = await this.inspectAdded(v.dataset, f);
      files.push(r.file);
      if (r.stats) {
        addedRows += r.stats.rows;
        paths.push(await this.path(f.key));
      } else unreadable ??= `${f.key}: ${r.file.problem ?? "unreadable"}`;
    }
    const allReadable = unreadable === undefined;
    const schemaOk = !rules.contract || files.every((f) => f.columns !== undefined && schemaDiffs(rules.contract!, f.columns).length === 0);
    const fields = rules.contract && allReadable && schemaOk ? await this.parquet.measureFields(paths, rules.contract) : undefined;
    // The parent first: the version's own stats are then its parent's plus and minus a few files.
    const previous = v.version > 1 ? { version: v.version - 1, stats: await this.versionStats(v.dataset, v.version - 1) } : undefined;
    const stats = await this.versionStats(v.dataset, v.version);
    return {
      dataset: v.dataset,
      version: v.version,
      schemaName: v.schemaName,
      recordedTotalRows: v.totalRows,
      maxEventTime: v.maxEventTime,
      contract: rules.contract,
      config: rules.config,
      files,
      addedRows: allReadable ? measured(addedRows) : unmeasured(unreadable!),
      fields,
      stats,
      previous,
      now,
    };
  }

  /** Why a version's manifest doesn't match its commit record (missing, size, sha256), or undefined. */
  async manifestProblem(ref: LakeLog.ManifestRef): Promise<string | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.store.get(ref.key);
    } catch (e) {
      if (isObjectNotFound(e)) return "missing from the store";
      throw e;
    }
    if (bytes.byteLength !== ref.bytes) return `${bytes.byteLength} bytes, recorded ${ref.bytes}`;
    if (sha256(bytes) !== ref.sha256) return "sha256 differs from the recorded one";
    return undefined;
  }

  /** Integrity (present, size, sha256, row count), columns and stats of one file the version adds. */
  private async inspectAdded(dataset: string, f: LakeLog.DataFile): Promise<{ file: AddedFile; stats: ColumnStats | undefined }> {
    const bad = (problem: string) => ({ file: { key: f.key, problem, columns: undefined }, stats: undefined });
    let bytes: Uint8Array;
    let path: string;
    try {
      // One copy (for a remote store) serves both the hash check and DuckDB.
      path = await this.path(f.key);
      bytes = await readFile(path);
    } catch (e) {
      if (isObjectNotFound(e) || (e as NodeJS.ErrnoException).code === "ENOENT") return bad("missing from the store");
      throw e;
    }
    // An altered file is not read at all: nothing measured in it could be trusted.
    if (bytes.byteLength !== f.bytes) return bad(`${bytes.byteLength} bytes, recorded ${f.bytes}`);
    if (sha256(bytes) !== f.sha256) return bad("sha256 differs from the recorded one");
    try {
      const columns = await this.parquet.describe(path);
      const stats = await this.parquet.fileStats(path, columns);
      this.state.setFileStats(dataset, f.key, stats);
      const problem = stats.rows === f.rows ? undefined : `${stats.rows} rows, recorded ${f.rows}`;
      return { file: { key: f.key, problem, columns }, stats };
    } catch (e) {
      if (isUnreadableFile(e)) return bad(e.message);
      throw e;
    }
  }

  /** Stats of any file the state knows, read from the file once and cached. */
  private async fileStats(dataset: string, key: string): Promise<ColumnStats> {
    const f = this.state.file(dataset, key);
    if (!f) throw new FileUnavailableError(key, "is referenced by no version");
    if (f.stats) return f.stats;
    if ((await this.store.head(key)) === undefined) throw new FileUnavailableError(key, "is missing from the store");
    const path = await this.path(key);
    try {
      const stats = await this.parquet.fileStats(path, await this.parquet.describe(path));
      this.state.setFileStats(dataset, key, stats);
      return stats;
    } catch (e) {
      if (isUnreadableFile(e)) throw new FileUnavailableError(key, e.message, { cause: e });
      throw e;
    }
  }

  /**
   * Stats of a whole version: cached, or the parent's (if cached) plus added minus removed files, or
   * else the sum over its full file set (a fresh instance, or one that never saw the parent judged).
   */
  async versionStats(dataset: string, version: number): Promise<Measured<ColumnStats>> {
    if (version === 0) return measured(EMPTY_STATS);
    const v = this.state.version(dataset, version);
    if (!v) return unmeasured(`version ${version} is not in the commit log`);
    if (v.stats) return measured(v.stats);
    try {
      const parent = version === 1 ? EMPTY_STATS : this.state.version(dataset, version - 1)?.stats;
      let stats: ColumnStats | undefined;
      if (parent) {
        try {
          stats = parent;
          for (const f of v.addedFiles) stats = addStats(stats, await this.fileStats(dataset, f.key));
          for (const key of v.removedFiles) stats = subtractStats(stats, await this.fileStats(dataset, key));
        } catch (e) {
          // A removed file may be gone already; the full file set can still be summed.
          if (!isFileUnavailable(e)) throw e;
          stats = undefined;
        }
      }
      if (!stats) {
        // The whole file set: read from the version's Iceberg snapshot (immutable manifests, cached),
        // or for a version from before those, from the files the log's versions added and removed.
        const keys = v.icebergManifestList ? await this.snapshotKeys(v.icebergManifestList) : this.state.liveFiles(dataset, version).map((f) => f.key);
        const all: ColumnStats[] = [];
        for (const key of keys) all.push(await this.fileStats(dataset, key));
        stats = sumStats(all);
      }
      this.state.setVersionStats(dataset, version, stats);
      return measured(stats);
    } catch (e) {
      if (isFileUnavailable(e)) return unmeasured(e.message);
      throw e;
    }
  }
}
