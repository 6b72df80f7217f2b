// Table-level statistics (row count, nulls per column) are additive over files, so a version's stats
// are its parent's plus the files it adds minus the files it removes: judging version 10,000 costs
// reading its new files, not the whole table.

export interface ColumnStats {
  rows: number;
  /** Null count per column name. A column a file lacks counts as null in every row of that file. */
  nulls: Record<string, number>;
}

export const EMPTY_STATS: ColumnStats = Object.freeze({ rows: 0, nulls: Object.freeze({}) }) as ColumnStats;

/** A value that may be unknown, with the reason why (a file missing from the store, say). */
export type Measured<T> = { ok: true; value: T } | { ok: false; reason: string };

export const measured = <T>(value: T): Measured<T> => ({ ok: true, value });
export const unmeasured = <T = never>(reason: string): Measured<T> => ({ ok: false, reason });

function combine(a: ColumnStats, b: ColumnStats, sign: 1 | -1): ColumnStats {
  const nulls: Record<string, number> = { ...a.nulls };
  // A column present on one side only: its nulls on the other side are that side's rows.
  for (const col of new Set([...Object.keys(a.nulls), ...Object.keys(b.nulls)])) {
    const left = a.nulls[col] ?? a.rows;
    const right = b.nulls[col] ?? b.rows;
    nulls[col] = left + sign * right;
  }
  return { rows: a.rows + sign * b.rows, nulls };
}

export function addStats(a: ColumnStats, b: ColumnStats): ColumnStats {
  return combine(a, b, 1);
}

export function subtractStats(a: ColumnStats, b: ColumnStats): ColumnStats {
  return combine(a, b, -1);
}

export function sumStats(all: readonly ColumnStats[]): ColumnStats {
  return all.reduce(addStats, EMPTY_STATS);
}

/** Fraction of rows where `column` is null; 0 for an empty table (nothing in it is null). */
export function nullRatio(s: ColumnStats, column: string): number {
  if (s.rows === 0) return 0;
  return (s.nulls[column] ?? s.rows) / s.rows;
}
