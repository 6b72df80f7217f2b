// Upsert datasets (window results, CDC tables) hold one row per key. A batch touching a partition
// rewrites that partition: its current rows merged with the batch, newest per key, deletes removed.
import { type DatasetSpec, keyOf } from "./spec.ts";
import { olderThan } from "./version.ts";

export interface Rows {
  rows: Record<string, unknown>[];
  offsets: number[];
}

export function mergePartition(
  spec: Pick<DatasetSpec, "key" | "versionField" | "isDelete">,
  existing: readonly Rows[],
  incoming: Rows,
): Rows {
  const byKey = new Map<string, { row: Record<string, unknown>; offset: number }>();
  const put = (row: Record<string, unknown>, offset: number) => {
    const key = keyOf(spec, row);
    const cur = byKey.get(key);
    if (cur && (olderThan(spec, row, cur.row) || (!olderThan(spec, cur.row, row) && offset < cur.offset))) return;
    if (spec.isDelete?.(row)) byKey.delete(key);
    else byKey.set(key, { row, offset });
  };
  for (const file of existing) for (let i = 0; i < file.rows.length; i++) put(file.rows[i]!, file.offsets[i]!);
  for (let i = 0; i < incoming.rows.length; i++) put(incoming.rows[i]!, incoming.offsets[i]!);
  // Key order, so the same merge always writes the same file.
  const entries = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { rows: entries.map(([, v]) => v.row), offsets: entries.map(([, v]) => v.offset) };
}
