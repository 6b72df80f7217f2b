// Pure: the drift figures of a judged version, for metrics (the rules judge them against thresholds;
// these are the raw measurements a dashboard plots over time, whatever the thresholds are).
import type { JudgeInput } from "./rules.ts";
import { type ColumnStats, nullRatio } from "./stats.ts";

/** At most this many columns per dataset get a null-ratio series: the label set stays bounded whatever the files hold. */
export const MAX_DRIFT_COLUMNS = 64;

export interface Drift {
  /** Fraction of the previous version's rows the version lost (0 when it grew); undefined without a measured baseline. */
  rowCountDrop: number | undefined;
  /** Null ratio of each contract column (every column for a dataset without a domain contract) over the whole version. */
  nullRatios: Record<string, number>;
}

export function driftOf(input: Pick<JudgeInput, "stats" | "previous" | "contract">): Drift {
  if (!input.stats.ok) return { rowCountDrop: undefined, nullRatios: {} };
  const cur: ColumnStats = input.stats.value;
  let rowCountDrop: number | undefined;
  if (input.previous?.stats.ok) {
    const prev = input.previous.stats.value.rows;
    rowCountDrop = prev === 0 ? 0 : Math.max(0, (prev - cur.rows) / prev);
  }
  const columns = input.contract ? input.contract.fields.map((f) => f.name) : Object.keys(cur.nulls).filter((c) => !c.startsWith("_"));
  const nullRatios: Record<string, number> = {};
  for (const c of columns.slice(0, MAX_DRIFT_COLUMNS)) nullRatios[c] = nullRatio(cur, c);
  return { rowCountDrop, nullRatios };
}
