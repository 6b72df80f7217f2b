// Runs SQL over exactly one catalog version: the version's file list becomes a DuckDB view named after
// the dataset, so the query sees all of that version's files and nothing else. A version read with its
// file set by reference (files=reference) has its files resolved from its Iceberg manifests; a version
// without one (written before the lake wrote Iceberg metadata) comes with its files listed.
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DuckDBInstance } from "@duckdb/node-api";

import { materialize, type ObjectStore, validateKey } from "@lake/storage";

import type { CatalogFile, CatalogFileSet, CatalogFreshness } from "./catalog-client.ts";
import { FileSetResolver } from "./file-set.ts";
import { assertFresh } from "./session.ts";

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** A version as a read answers it: its file set by reference, its files listed, or both. */
export interface VersionFiles {
  dataset: string;
  /** Needed with `maxStalenessMs`: which version, and how fresh the catalog said it was. */
  version?: number;
  freshness?: CatalogFreshness | undefined;
  files?: readonly Pick<CatalogFile, "key" | "bytes" | "sha256">[] | undefined;
  file_set?: CatalogFileSet | null | undefined;
}

// One resolver per store, so manifests read for one query serve the next (they never change).
const resolvers = new WeakMap<ObjectStore, FileSetResolver>();
const resolverOf = (store: ObjectStore) => {
  let r = resolvers.get(store);
  if (!r) resolvers.set(store, (r = new FileSetResolver(store)));
  return r;
};

/** The objects to read for `version`: from its manifests when it has a file set, else its listed files. */
async function versionObjects(store: ObjectStore, version: VersionFiles, resolver: FileSetResolver | undefined) {
  if (version.file_set) {
    // Manifests carry sizes, not hashes: a hash listed beside them is still checked.
    const sha = new Map(version.files?.map((f) => [f.key, f.sha256]));
    const files = await (resolver ?? resolverOf(store)).files(version.file_set);
    return files.map((f) => ({ key: f.key, size: f.bytes, sha256: sha.get(f.key) }));
  }
  if (!version.files) throw new Error(`version of ${version.dataset} has neither a file set nor a file list: read it with files=reference or files=list`);
  return version.files.map((f) => ({ key: validateKey(f.key), size: f.bytes, sha256: f.sha256 }));
}

export async function queryVersion(
  store: ObjectStore,
  version: VersionFiles,
  sql: string,
  opts: { cacheDir?: string; resolver?: FileSetResolver; maxStalenessMs?: number } = {},
): Promise<QueryResult> {
  // A bound is checked before any file is read: a version too stale for the reader is never queried.
  if (opts.maxStalenessMs !== undefined) assertFresh({ ...version, version: version.version ?? 0 }, opts.maxStalenessMs);
  // Local stores are read in place; objects of a remote store (S3) are copied once into a cache
  // (checked against the recorded size, and hash where the caller has it), since DuckDB's S3 extension
  // isn't available offline.
  const cacheDir = opts.cacheDir ?? join(tmpdir(), "lake-query-cache");
  const paths = await materialize(store, await versionObjects(store, version, opts.resolver), cacheDir);
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    // union_by_name: files written before and after a schema version added a column read as one table;
    // no hive partitioning: the dt=… directories are layout, not a column of the dataset.
    const source =
      paths.length > 0 ? `read_parquet([${paths.map(sqlString).join(", ")}], union_by_name = true, hive_partitioning = false)` : "(SELECT NULL WHERE false)";
    await con.run(`CREATE VIEW "${version.dataset}" AS SELECT * FROM ${source}`);
    const reader = await con.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowObjectsJson() as Record<string, unknown>[] };
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}
