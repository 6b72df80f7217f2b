// Upsert datasets (window results, CDC tables) hold one row per key. A batch touching a partition
// rewrites that partition: its current rows merged with the batch, newest per key, deletes removed.
// Order is per key: a change is applied unless the partition already holds a newer change of the same
// key (a row, or a tombstone left by a delete). There is no dataset-wide position: one change with a
// very high position can only ever hide older changes of its own key.
import { type DatasetSpec, keyOf } from "./spec.ts";
import { orderValue } from "./version.ts";

export interface Rows {
  rows: Record<string, unknown>[];
  offsets: number[];
  /** Keys deleted in this partition and the version-field value of each delete. */
  tombstones?: ReadonlyMap<string, number>;
}

export interface MergedRows {
  rows: Record<string, unknown>[];
  offsets: number[];
  /** Keys whose newest change is a delete, with its version-field value: kept beside the rows. */
  tombstones: Map<string, number>;
  /** Incoming rows that lost to a newer change of their key already in the partition. */
  superseded: number;
}

export function mergePartition(
  spec: Pick<DatasetSpec, "key" | "versionField" | "orderField" | "isDelete">,
  existing: readonly Rows[],
  incoming: Rows,
): MergedRows {
  // Per key, the newest change so far: a row, or a delete (row undefined) with its version.
  const byKey = new Map<string, { row: Record<string, unknown> | undefined; version: number; order: number; offset: number }>();
  const vf = spec.versionField;
  const of = spec.orderField;
  const versionOf = (row: Record<string, unknown>) => (vf ? (row[vf] as number) : 0);
  const orderOf = (row: Record<string, unknown> | undefined) => (of && row ? orderValue(row[of]) : -1);
  let superseded = 0;
  const put = (key: string, row: Record<string, unknown> | undefined, version: number, offset: number, counts: boolean) => {
    const cur = byKey.get(key);
    const order = orderOf(row);
    // Newer version wins; on equal versions the higher order field (derived: through_seq), then
    // (or without those fields) the later offset.
    if (cur && (version < cur.version || (version === cur.version && (order < cur.order || (order === cur.order && offset < cur.offset))))) {
      if (counts) superseded++;
      return;
    }
    byKey.set(key, { row, version, order, offset });
  };
  const putRow = (row: Record<string, unknown>, offset: number, counts: boolean) =>
    put(keyOf(spec, row), spec.isDelete?.(row) ? undefined : row, versionOf(row), offset, counts);
  for (const file of existing) {
    // A tombstone has no offset of its own: at an equal version, a row of the same change wins ties.
    for (const [key, version] of file.tombstones ?? []) put(key, undefined, version, -1, false);
    for (let i = 0; i < file.rows.length; i++) putRow(file.rows[i]!, file.offsets[i]!, false);
  }
  for (let i = 0; i < incoming.rows.length; i++) putRow(incoming.rows[i]!, incoming.offsets[i]!, true);
  // Key order, so the same merge always writes the same file.
  const entries = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: MergedRows = { rows: [], offsets: [], tombstones: new Map(), superseded };
  for (const [key, v] of entries) {
    if (v.row === undefined) {
      if (spec.isDelete) out.tombstones.set(key, v.version);
      continue;
    }
    out.rows.push(v.row);
    out.offsets.push(v.offset);
  }
  return out;
}
