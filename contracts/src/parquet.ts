// How a dataset's Parquet files are written: the `lake.parquet` attribute of its contract (domain or
// derived). Everything is optional; the defaults are what the sample datasets use.
//
//   "lake.parquet": { "compression": "zstd", "row_group_rows": 65536 }
//
// The row order within a file is not a setting: it is the dataset's natural order (event time for an
// append dataset, the key for an upsert one), so readers can skip row groups and pages by statistics.

/** Codecs a dataset may choose (the Parquet writer's). `uncompressed` is for debugging, not for lakes. */
export const PARQUET_CODECS = ["zstd", "snappy", "gzip", "brotli", "lz4_raw", "uncompressed"] as const;
export type ParquetCodec = (typeof PARQUET_CODECS)[number];

export interface ParquetSettings {
  readonly compression: ParquetCodec;
  /**
   * Rows per row group at most. Readers skip whole row groups by their min/max statistics, so smaller
   * groups prune better and larger ones compress better: 65,536 rows keep a one-hour range of a day's
   * sorted events under a tenth of the file and stay smaller than DuckDB's own files (`npm run bench -- --only parquet`).
   */
  readonly rowGroupRows: number;
}

export const DEFAULT_PARQUET_SETTINGS: ParquetSettings = Object.freeze({ compression: "zstd", rowGroupRows: 65_536 });

export const ROW_GROUP_ROWS_MIN = 1_024;
export const ROW_GROUP_ROWS_MAX = 16_777_216;

/** The codec's name as Parquet metadata spells it (`ColumnChunk.meta_data.codec`). */
export function parquetCodecName(c: ParquetCodec): string {
  return c.toUpperCase();
}

/**
 * Reads a contract's `lake.parquet` attribute (absent: the defaults). Throws with the attribute's path
 * and the allowed values when it is malformed; `bad` makes the caller's own error type.
 */
export function parseParquetSettings(raw: unknown, bad: (why: string) => Error): ParquetSettings {
  if (raw === undefined) return DEFAULT_PARQUET_SETTINGS;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad(`"lake.parquet" must be an object, got ${JSON.stringify(raw)}`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (k !== "compression" && k !== "row_group_rows")
      throw bad(`"lake.parquet" has an unknown setting ${JSON.stringify(k.slice(0, 64))} (known: compression, row_group_rows)`);
  }
  const compression = r.compression ?? DEFAULT_PARQUET_SETTINGS.compression;
  if (typeof compression !== "string" || !(PARQUET_CODECS as readonly string[]).includes(compression)) {
    throw bad(`"lake.parquet".compression must be one of ${PARQUET_CODECS.join(", ")}, got ${JSON.stringify(compression)?.slice(0, 64)}`);
  }
  const rows = r.row_group_rows ?? DEFAULT_PARQUET_SETTINGS.rowGroupRows;
  if (typeof rows !== "number" || !Number.isSafeInteger(rows) || rows < ROW_GROUP_ROWS_MIN || rows > ROW_GROUP_ROWS_MAX) {
    throw bad(
      `"lake.parquet".row_group_rows must be an integer from ${ROW_GROUP_ROWS_MIN} to ${ROW_GROUP_ROWS_MAX}, got ${JSON.stringify(rows)?.slice(0, 64)}`,
    );
  }
  return Object.freeze({ compression: compression as ParquetCodec, rowGroupRows: rows });
}
