// A dataset's quality rules, read from the `lake.quality` attribute of its domain contract's record.
// An absent key (or null) switches that rule off, so a contract opts in to each gate explicitly.
// The attribute is validated strictly: a typo in a key must stop the service at start, not silently
// turn a gate off.

export interface QualityConfig {
  /** At least this many rows added by each version. */
  readonly rowCountMin: number | undefined;
  /** total_rows may not drop by more than this fraction of the previous version's. */
  readonly maxRowCountDropRatio: number | undefined;
  /** Per nullable column: the whole version's null ratio may not exceed this. */
  readonly maxNullRatio: Readonly<Record<string, number>>;
  /** Per nullable column: the null ratio may not rise by more than this vs the previous version. */
  readonly maxNullRatioIncrease: number | undefined;
  /** now − max_event_time of the version may not exceed this. */
  readonly freshnessMaxLagMs: number | undefined;
}

export const NO_RULES: QualityConfig = Object.freeze({
  rowCountMin: undefined,
  maxRowCountDropRatio: undefined,
  maxNullRatio: Object.freeze({}),
  maxNullRatioIncrease: undefined,
  freshnessMaxLagMs: undefined,
});

export class QualityConfigError extends Error {
  constructor(
    readonly contract: string,
    detail: string,
  ) {
    super(`contract ${contract}: invalid "lake.quality": ${detail}`);
    this.name = "QualityConfigError";
  }
}

export function isQualityConfigError(e: unknown): e is QualityConfigError {
  return e instanceof QualityConfigError;
}

const KEYS = ["row_count_min", "max_row_count_drop_ratio", "max_null_ratio", "max_null_ratio_increase", "freshness_max_lag_ms"] as const;

/**
 * Parses the raw `lake.quality` value. `columns` are the contract's fields, so a ratio naming a column
 * that does not exist is refused instead of checking nothing.
 */
export function parseQualityConfig(raw: unknown, ctx: { contract: string; columns: readonly string[] }): QualityConfig {
  if (raw === undefined || raw === null) return NO_RULES;
  const fail = (detail: string): never => {
    throw new QualityConfigError(ctx.contract, detail);
  };
  if (typeof raw !== "object" || Array.isArray(raw)) return fail(`expected an object, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) fail(`unknown key ${JSON.stringify(k)} (known: ${KEYS.join(", ")})`);
  }
  const num = (key: string, check: (n: number) => boolean, what: string): number | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || !check(v)) fail(`${key} must be ${what}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const ratio = (n: number) => n >= 0 && n <= 1;
  const maxNullRatio: Record<string, number> = {};
  const rawRatios = o.max_null_ratio;
  if (rawRatios !== undefined && rawRatios !== null) {
    if (typeof rawRatios !== "object" || Array.isArray(rawRatios)) fail("max_null_ratio must be an object of column → ratio");
    for (const [column, v] of Object.entries(rawRatios as Record<string, unknown>)) {
      if (!ctx.columns.includes(column)) fail(`max_null_ratio names ${JSON.stringify(column)}, which is not a field of the contract`);
      if (typeof v !== "number" || !ratio(v)) fail(`max_null_ratio.${column} must be a ratio in [0, 1], got ${JSON.stringify(v)}`);
      maxNullRatio[column] = v as number;
    }
  }
  return {
    rowCountMin: num("row_count_min", (n) => Number.isSafeInteger(n) && n >= 0, "a non-negative integer"),
    maxRowCountDropRatio: num("max_row_count_drop_ratio", ratio, "a ratio in [0, 1]"),
    maxNullRatio,
    maxNullRatioIncrease: num("max_null_ratio_increase", ratio, "a ratio in [0, 1]"),
    freshnessMaxLagMs: num("freshness_max_lag_ms", (n) => Number.isSafeInteger(n) && n >= 0, "a non-negative integer (ms)"),
  };
}
