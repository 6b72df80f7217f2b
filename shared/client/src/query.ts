// Runs SQL over exactly one catalog version: the version's file list becomes a DuckDB view named after
// the dataset, so the query sees all of that version's files and nothing else.
import { DuckDBInstance } from "@duckdb/node-api";
import { type ObjectStore, validateKey } from "@lake/storage";
import type { CatalogVersion } from "./catalog-client.ts";

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function queryVersion(store: ObjectStore, version: Pick<CatalogVersion, "dataset" | "files">, sql: string): Promise<QueryResult> {
  const paths = version.files.map((f) => {
    const path = store.localPath(validateKey(f.key));
    if (!path) throw new Error(`store ${store.kind} has no local path for ${f.key}; copy the files locally first`);
    return path;
  });
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    // union_by_name: files written before and after a schema version added a column read as one table.
    const source = paths.length > 0 ? `read_parquet([${paths.map(sqlString).join(", ")}], union_by_name = true)` : "(SELECT NULL WHERE false)";
    await con.run(`CREATE VIEW "${version.dataset}" AS SELECT * FROM ${source}`);
    const reader = await con.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowObjectsJson() as Record<string, unknown>[] };
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}
