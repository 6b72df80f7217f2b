// Test fixtures: payments-shaped Parquet files written by DuckDB into a real local store (laid out as
// the committer lays them out), and VersionCommitted records referencing them.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";

import type { LakeLog, VersionCommitted } from "@lake/contracts";
import type { ObjectStore } from "@lake/storage";

import { ParquetInspector } from "../src/parquet/inspect.ts";

let fileNo = 0;

/**
 * A temp dir, a DuckDB connection (to write test files) and a ParquetInspector, opened before the
 * file's tests and closed after them. Read the fields inside tests (they are set in `before`).
 */
export function duckFixture(prefix: string): { dir: string; con: DuckDBConnection; parquet: ParquetInspector } {
  const f = {} as { dir: string; con: DuckDBConnection; parquet: ParquetInspector; duck: DuckDBInstance };
  before(async () => {
    f.dir = await mkdtemp(join(tmpdir(), prefix));
    f.duck = await DuckDBInstance.create(":memory:");
    f.con = await f.duck.connect();
    f.parquet = await ParquetInspector.open();
  });
  after(async () => {
    f.parquet?.close();
    f.con?.closeSync();
    f.duck?.closeSync();
    if (f.dir) await rm(f.dir, { recursive: true, force: true });
  });
  return f;
}

export const PAYMENT_COLUMNS: Record<string, string> = {
  payment_id: "'p-' || $file || '-' || i",
  user_id: "'u-' || (i % 7)",
  timestamp: "make_timestamptz(2026, 6, 1, 10, 0, 0)",
  amount: "(i * 1.5)::DOUBLE",
  currency: "CASE i % 3 WHEN 0 THEN 'EUR' WHEN 1 THEN 'USD' ELSE 'GBP' END",
  card_country: "CASE WHEN i < $nulls THEN NULL ELSE 'DE' END",
  _offset: "i::BIGINT",
};

/**
 * Writes a Parquet file of `rows` rows into the store and returns its DataFile. `columns` are SQL
 * expressions over `i` (the row number) added to (or replacing) `base`, the payments columns by
 * default; `$nulls` and `$file` are substituted.
 */
export async function putParquet(
  con: DuckDBConnection,
  store: ObjectStore,
  tmpDir: string,
  dataset: string,
  rows: number,
  opts: { nulls?: number; base?: Record<string, string>; columns?: Record<string, string | undefined> } = {},
): Promise<LakeLog.DataFile> {
  const n = fileNo++;
  const cols = { ...(opts.base ?? PAYMENT_COLUMNS), ...opts.columns };
  const select = Object.entries(cols)
    .filter((c): c is [string, string] => c[1] !== undefined)
    .map(([k, e]) => `${e.replaceAll("$nulls", String(opts.nulls ?? 0)).replaceAll("$file", `'${n}'`)} AS "${k}"`)
    .join(", ");
  const tmp = join(tmpDir, `fixture-${process.pid}-${n}.parquet`);
  await con.run(`COPY (SELECT ${select} FROM range(${rows}) t(i)) TO '${tmp}' (FORMAT parquet)`);
  const bytes = new Uint8Array(await readFile(tmp));
  const key = `datasets/${dataset}/data/dt=2026-06-01/wfixture${n}-000.parquet`;
  await store.put(key, bytes);
  return { key, partition: "dt=2026-06-01", rows, bytes: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
}

export function versionCommitted(
  dataset: string,
  version: number,
  added: LakeLog.DataFile[],
  totalRows: number,
  opts: { removed?: string[]; schemaName?: string; maxEventTime?: number } = {},
): VersionCommitted {
  return {
    dataset,
    version,
    parent_version: version - 1,
    write_id: `w${version}`,
    committer_id: "fixture",
    committed_at: Date.UTC(2026, 5, 1, 12),
    schema_name: opts.schemaName ?? dataset,
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${dataset}/manifests/v${version}.json`, sha256: "0".repeat(64), bytes: 1 },
    added_files: added,
    removed_files: opts.removed ?? [],
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: version, last_seq: version },
    row_count: added.reduce((s, f) => s + f.rows, 0),
    total_rows: totalRows,
    min_event_time: null,
    max_event_time: opts.maxEventTime ?? Date.UTC(2026, 5, 1, 10),
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
    policy: "critical",
  };
}
