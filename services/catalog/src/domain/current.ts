// Which version readers are served (a dataset's current version), as the projection applies the commit
// log: on a commit, on a quality verdict, and on a promotion or rollback. Pure: the projection reads
// the facts, calls these, and writes what they decide; nothing here reads a clock, and the only times
// involved are the records' own.
import type { LakeLog } from "@lake/contracts";

import { type DatasetFacts, POLICIES, promotionProblem, QUALITY, type QualityStatus } from "./commands.ts";

/** What deciding the current version needs to know about a dataset. */
export interface CurrentFacts {
  /** critical or non-critical. */
  policy: string;
  /** 0 when no version is current yet. */
  currentVersion: number;
  /** Highest version an operator rolled back from (0: none): passed verdicts at or below it don't auto-promote. */
  rollbackFloor: number;
}

/**
 * The current version once `version` is committed: a non-critical dataset's is the version just
 * committed; a critical dataset keeps its current version until a newer one passes its checks.
 */
export function currentOnCommit(policy: string, version: number, currentBefore: number): number {
  return policy === POLICIES.critical ? currentBefore : version;
}

/** Why a quality verdict for `version` can't be recorded (`quality`: the version's status so far, undefined if unknown). */
export function verdictProblem(version: number, quality: QualityStatus | undefined): string | undefined {
  if (quality === undefined) return `verdict for unknown version ${version}`;
  if (quality !== QUALITY.pending) return `second verdict for version ${version} (first: ${quality})`;
  return undefined;
}

/**
 * Does this verdict make its version current (auto-promote)? A critical dataset's newest passing
 * version becomes current: that is what the gate opens to. Not a version at or below current, nor one
 * at or below the rollback floor (a late verdict must not undo an operator's rollback), nor an expired
 * one (retention keeps versions awaiting a verdict, so this only guards).
 */
export function autoPromotes(d: CurrentFacts, verdict: { version: number; outcome: string }, expired: boolean): boolean {
  return verdict.outcome === "passed" && d.policy === POLICIES.critical && verdict.version > d.currentVersion && verdict.version > d.rollbackFloor && !expired;
}

/**
 * Why a VersionPromoted record can't take effect, or undefined when it can: it must have been decided
 * on the current version it names, and obey the rules the command's decision applied
 * (domain/commands.ts), checked again on the record.
 */
export function promotionRecordProblem(d: DatasetFacts, r: Pick<LakeLog.VersionPromoted, "mode" | "version" | "previous_version">): string | undefined {
  if (r.previous_version !== d.currentVersion) return `${r.mode} of version ${r.version} expected current ${r.previous_version}, found ${d.currentVersion}`;
  const problem = promotionProblem(d, r.version);
  if (problem) return problem;
  if (r.mode === "promote" && r.version <= d.currentVersion) return `promote to version ${r.version} does not move current (${d.currentVersion}) forward`;
  if (r.mode === "rollback" && r.version >= d.currentVersion) return `rollback to version ${r.version} does not move current (${d.currentVersion}) back`;
  if (r.mode === "rollback" && d.policy === POLICIES.critical && !d.formerCurrents().includes(r.version))
    return `rollback to version ${r.version}, which was never current`;
  return undefined;
}

/**
 * The rollback floor after a promotion record that took effect. After a rollback, versions committed
 * before it stay out of current unless an operator promotes them, so the floor rises to the version
 * rolled back from; it never falls (a promotion leaves it, and so does a rollback from below it).
 */
export function rollbackFloorAfter(floor: number, r: Pick<LakeLog.VersionPromoted, "mode" | "previous_version">): number {
  return r.mode === "rollback" ? Math.max(floor, r.previous_version) : floor;
}
