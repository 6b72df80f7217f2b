// How a dataset is maintained without anyone typing a command: the `lake.maintenance` attribute of its
// contract (domain or derived). `lake maintain --follow` (started by `lake up`) reads it every round.
// Every key is optional; absent keys take the defaults below, `null` switches a bound off (expiry's
// keep_last / keep_ms), and `"enabled": false` switches a task (or the whole policy) off.
//
//   "lake.maintenance": {
//     "compaction": { "max_files_per_partition": 32 },
//     "expiry": { "keep_last": 100, "keep_ms": 604800000 },
//     "gc": { "grace_ms": 3600000 }
//   }
//
// Validated strictly, like `lake.quality`: an unknown key (a typo) refuses the contract instead of
// silently leaving a task at its default.

export interface CompactionPolicy {
  readonly enabled: boolean;
  /**
   * A partition of the latest version with more live files below target_file_bytes than this is
   * compacted in the next round (its small files rewritten into files of up to target_file_bytes).
   */
  readonly maxFilesPerPartition: number;
  /** Files at or above this size are left alone. */
  readonly targetFileBytes: number;
  /** Input files one round rewrites at most (the rest wait for the next round). */
  readonly maxFilesPerRun: number;
}

export interface ExpiryPolicy {
  readonly enabled: boolean;
  /** Keep the N newest versions (null: no count bound). */
  readonly keepLast: number | null;
  /** Keep versions committed less than this long ago, ms (null: no age bound). A version either bound keeps is kept. */
  readonly keepMs: number | null;
  /** Versions one round expires at most. */
  readonly maxVersionsPerRun: number;
}

export interface GcPolicy {
  readonly enabled: boolean;
  /** Orphans (objects no version references) younger than this are kept: they may be a write about to commit. */
  readonly graceMs: number;
  /** At most one pass per this long (a pass lists the dataset's objects). */
  readonly intervalMs: number;
  /** Objects one pass deletes at most (the rest go in the next pass). */
  readonly maxDeletesPerRun: number;
}

export interface MaintenancePolicy {
  /** Off: the worker leaves the dataset alone (the manual commands still work). */
  readonly enabled: boolean;
  readonly compaction: CompactionPolicy;
  readonly expiry: ExpiryPolicy;
  readonly gc: GcPolicy;
}

export const DEFAULT_MAINTENANCE_POLICY: MaintenancePolicy = Object.freeze({
  enabled: true,
  compaction: Object.freeze({ enabled: true, maxFilesPerPartition: 32, targetFileBytes: 128 * 1024 * 1024, maxFilesPerRun: 1000 }),
  // A week of time travel, and never fewer than the 100 newest versions.
  expiry: Object.freeze({ enabled: true, keepLast: 100, keepMs: 7 * 86_400_000, maxVersionsPerRun: 1000 }),
  // The grace period must exceed the longest time a committer takes from writing a file to committing it.
  gc: Object.freeze({ enabled: true, graceMs: 3_600_000, intervalMs: 600_000, maxDeletesPerRun: 10_000 }),
});

const SECTIONS = {
  compaction: ["enabled", "max_files_per_partition", "target_file_bytes", "max_files_per_run"],
  expiry: ["enabled", "keep_last", "keep_ms", "max_versions_per_run"],
  gc: ["enabled", "grace_ms", "interval_ms", "max_deletes_per_run"],
} as const;
const TOP_KEYS = ["enabled", ...Object.keys(SECTIONS)] as const;

/** Ten years: beyond that a duration is a typo (and past Date's range once added to now). */
const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * Reads a contract's `lake.maintenance` attribute (absent or null: the defaults). Throws `bad(why)`
 * (the caller's own error type) naming the key and what it must be.
 */
export function parseMaintenancePolicy(raw: unknown, bad: (why: string) => Error): MaintenancePolicy {
  if (raw === undefined || raw === null) return DEFAULT_MAINTENANCE_POLICY;
  const fail = (why: string): never => {
    throw bad(`"lake.maintenance"${why}`);
  };
  const object = (v: unknown, path: string, keys: readonly string[]): Record<string, unknown> => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(`${path} must be an object, got ${show(v)}`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${path} has an unknown key ${JSON.stringify(k.slice(0, 64))} (known: ${keys.join(", ")})`);
    return v as Record<string, unknown>;
  };
  const top = object(raw, "", TOP_KEYS);
  const section = (name: keyof typeof SECTIONS) => (top[name] === undefined || top[name] === null ? {} : object(top[name], `.${name}`, SECTIONS[name]));
  const bool = (o: Record<string, unknown>, path: string, key: string, def: boolean): boolean => {
    const v = o[key];
    if (v === undefined) return def;
    if (typeof v !== "boolean") fail(`${path}.${key} must be true or false, got ${show(v)}`);
    return v as boolean;
  };
  const int = (o: Record<string, unknown>, path: string, key: string, def: number, min: number, max: number): number => {
    const v = o[key];
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max)
      fail(`${path}.${key} must be an integer from ${min} to ${max}, got ${show(v)}`);
    return v as number;
  };
  /** Like int, but `null` switches the bound off. */
  const optionalInt = (o: Record<string, unknown>, path: string, key: string, def: number | null, min: number, max: number): number | null =>
    o[key] === null ? null : int(o, path, key, def as number, min, max);

  const D = DEFAULT_MAINTENANCE_POLICY;
  const c = section("compaction");
  const compaction: CompactionPolicy = {
    enabled: bool(c, ".compaction", "enabled", D.compaction.enabled),
    maxFilesPerPartition: int(c, ".compaction", "max_files_per_partition", D.compaction.maxFilesPerPartition, 1, 1_000_000),
    targetFileBytes: int(c, ".compaction", "target_file_bytes", D.compaction.targetFileBytes, 1024, 16 * 1024 ** 3),
    // A compaction merges at least two files.
    maxFilesPerRun: int(c, ".compaction", "max_files_per_run", D.compaction.maxFilesPerRun, 2, 1_000_000),
  };
  const e = section("expiry");
  const expiry: ExpiryPolicy = {
    enabled: bool(e, ".expiry", "enabled", D.expiry.enabled),
    keepLast: optionalInt(e, ".expiry", "keep_last", D.expiry.keepLast, 1, Number.MAX_SAFE_INTEGER),
    keepMs: optionalInt(e, ".expiry", "keep_ms", D.expiry.keepMs, 0, MAX_DURATION_MS),
    maxVersionsPerRun: int(e, ".expiry", "max_versions_per_run", D.expiry.maxVersionsPerRun, 1, 10_000),
  };
  if (expiry.enabled && expiry.keepLast === null && expiry.keepMs === null)
    fail(`.expiry keeps nothing (keep_last and keep_ms are both null): give one, or set "enabled": false`);
  const g = section("gc");
  const gc: GcPolicy = {
    enabled: bool(g, ".gc", "enabled", D.gc.enabled),
    graceMs: int(g, ".gc", "grace_ms", D.gc.graceMs, 0, MAX_DURATION_MS),
    intervalMs: int(g, ".gc", "interval_ms", D.gc.intervalMs, 0, MAX_DURATION_MS),
    maxDeletesPerRun: int(g, ".gc", "max_deletes_per_run", D.gc.maxDeletesPerRun, 1, 1_000_000),
  };
  return Object.freeze({
    enabled: bool(top, "", "enabled", D.enabled),
    compaction: Object.freeze(compaction),
    expiry: Object.freeze(expiry),
    gc: Object.freeze(gc),
  });
}

function show(v: unknown): string {
  return v === undefined ? "nothing" : (JSON.stringify(v)?.slice(0, 64) ?? String(v));
}
