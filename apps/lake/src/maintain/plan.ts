// The maintenance worker, the pure part: given a dataset's policy (its contract's `lake.maintenance`)
// and what the catalog says about it, which tasks are due this round and how much each may do. No I/O,
// no clock (`now` is passed in).
//
// The work itself is the manual commands' (compaction, expire, gc), which already race safely with
// appends: compaction is one more CAS writer of the commit log that rebases onto appends; expiry is a
// catalog command that never expires the latest, current or a tagged version, nor one awaiting a verdict
// (or its parent); GC keeps what any live version or any newer commit-log record references, and
// orphans younger than the grace period.
import type { MaintenancePolicy } from "@lake/contracts";

export const MAINTENANCE_TASKS = { compaction: "compaction", expiry: "expiry", gc: "gc" } as const;
export type MaintenanceTask = (typeof MAINTENANCE_TASKS)[keyof typeof MAINTENANCE_TASKS];

/** What the worker knows of a dataset at the start of a round. */
export interface DatasetFacts {
  latestVersion: number;
  /** The latest version's live files, by partition: each file's size in bytes. */
  partitions: ReadonlyMap<string, readonly number[]>;
  /**
   * Its oldest versions that have not expired, ascending: at least expiry.maxVersionsPerRun + 1 of
   * them when there are that many (fewer means that is all there is).
   */
  unexpired: readonly { version: number; committedAt: number }[];
  /** When the last GC pass of the dataset finished (epoch ms), undefined if none in this process. */
  lastGcAt: number | undefined;
}

export interface CompactionStep {
  /** Partitions over the bound, and the number of small files each has. */
  over: { partition: string; smallFiles: number }[];
  targetBytes: number;
  maxFiles: number;
  /** Only partitions with at least this many small files are rewritten (the bound + 1). */
  minSmallFiles: number;
}

/** The catalog's expire command (it applies the protections), narrowed so at most maxVersionsPerRun go. */
export interface ExpiryStep {
  keepLast?: number;
  keepMs?: number;
  /** Unexpired versions outside the policy in the window looked at: what the command should expire at most. */
  due: number;
}

export interface GcStep {
  graceMs: number;
  maxDeletes: number;
}

export interface RoundPlan {
  compaction?: CompactionStep;
  expiry?: ExpiryStep;
  gc?: GcStep;
}

/** What is due for one dataset now. An empty plan: nothing to do. */
export function planDataset(policy: MaintenancePolicy, facts: DatasetFacts, now: number): RoundPlan {
  if (!policy.enabled || facts.latestVersion === 0) return {};
  const plan: RoundPlan = {};
  const c = policy.compaction;
  if (c.enabled) {
    const over: CompactionStep["over"] = [];
    for (const [partition, sizes] of facts.partitions) {
      const smallFiles = sizes.filter((b) => b < c.targetFileBytes).length;
      if (smallFiles > c.maxFilesPerPartition) over.push({ partition, smallFiles });
    }
    over.sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
    if (over.length > 0) plan.compaction = { over, targetBytes: c.targetFileBytes, maxFiles: c.maxFilesPerRun, minSmallFiles: c.maxFilesPerPartition + 1 };
  }
  const expiry = planExpiry(policy, facts, now);
  if (expiry) plan.expiry = expiry;
  const g = policy.gc;
  if (g.enabled && (facts.lastGcAt === undefined || now - facts.lastGcAt >= g.intervalMs)) plan.gc = { graceMs: g.graceMs, maxDeletes: g.maxDeletesPerRun };
  return plan;
}

/**
 * Expiry: due when one of the oldest unexpired versions is outside the policy (beyond the keep_last
 * newest AND older than keep_ms). The catalog's rule is "a version either bound keeps is kept", so a
 * tighter keep_last only keeps more: passing keep_last = latest − (the M-th oldest unexpired version)
 * lets at most M versions expire in one command, whatever the backlog.
 */
export function planExpiry(policy: MaintenancePolicy, facts: DatasetFacts, now: number): ExpiryStep | undefined {
  const e = policy.expiry;
  if (!e.enabled || (e.keepLast === null && e.keepMs === null)) return undefined;
  const outside = (v: { version: number; committedAt: number }) =>
    (e.keepLast === null || v.version <= facts.latestVersion - e.keepLast) && (e.keepMs === null || now - v.committedAt >= e.keepMs);
  const window = facts.unexpired.slice(0, e.maxVersionsPerRun);
  const due = window.filter(outside).length;
  if (due === 0) return undefined;
  let keepLast = e.keepLast ?? undefined;
  if (facts.unexpired.length > e.maxVersionsPerRun) {
    const cutoff = window.at(-1)!.version;
    keepLast = Math.max(keepLast ?? 1, facts.latestVersion - cutoff);
  }
  return { ...(keepLast === undefined ? {} : { keepLast }), ...(e.keepMs === null ? {} : { keepMs: e.keepMs }), due };
}

/** Back-off after `failures` rounds in a row failed for a dataset: the interval, doubled each time, capped. */
export function backoffMs(failures: number, intervalMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, intervalMs * 2 ** Math.min(failures - 1, 30));
}

/** The most live files any partition of the latest version has (what the policy bounds). */
export function maxFilesPerPartition(partitions: ReadonlyMap<string, readonly number[]>): number {
  let n = 0;
  for (const sizes of partitions.values()) n = Math.max(n, sizes.length);
  return n;
}
