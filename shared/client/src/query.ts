// Runs SQL over exactly one catalog version: the version's file list becomes a DuckDB view named after
// the dataset, so the query sees all of that version's files and nothing else.
import { tmpdir } from "node:os";
import { join } from "node:path";

import { DuckDBInstance } from "@duckdb/node-api";

import { materialize, type ObjectStore, validateKey } from "@lake/storage";

import type { CatalogVersion } from "./catalog-client.ts";

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function queryVersion(
  store: ObjectStore,
  version: Pick<CatalogVersion, "dataset" | "files">,
  sql: string,
  opts: { cacheDir?: string } = {},
): Promise<QueryResult> {
  // Local stores are read in place; objects of a remote store (S3) are copied once into a cache
  // (checked against the recorded size and hash), since DuckDB's S3 extension isn't available offline.
  const cacheDir = opts.cacheDir ?? join(tmpdir(), "lake-query-cache");
  const paths = await materialize(
    store,
    version.files.map((f) => ({ key: validateKey(f.key), size: f.bytes, sha256: f.sha256 })),
    cacheDir,
  );
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
