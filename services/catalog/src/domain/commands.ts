// Pure decisions of the catalog's commands (promote, rollback, tag): given what the projection knows of
// a dataset, a command becomes one commit-log record, a no-op, or a refusal with a reason. The same
// checks run again when a record is projected, so a record that slipped past them (it can't: appends
// are compare-and-set on the state the decision saw) would be an anomaly, never a served version.
import type { LakeLog } from "@lake/contracts";

export const POLICIES = { critical: "critical", nonCritical: "non-critical" } as const;
export const QUALITY = { pending: "pending", passed: "passed", failed: "failed" } as const;
export type QualityStatus = (typeof QUALITY)[keyof typeof QUALITY];

export interface VersionFacts {
  version: number;
  quality: QualityStatus;
}

/** What a decision needs to know about a dataset; the projection provides it. */
export interface DatasetFacts {
  name: string;
  policy: string;
  latestVersion: number;
  /** 0 when no version is current yet. */
  currentVersion: number;
  version(v: number): VersionFacts | undefined;
  /** Versions that have been current at some time, newest first. */
  formerCurrents(): number[];
  tag(name: string): number | undefined;
}

export class CommandError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

export interface Who {
  actor: string;
  reason: string;
}

export type Decision<T> = { kind: "append"; body: T } | { kind: "noop"; message: string };

export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function servable(d: DatasetFacts, v: number): VersionFacts {
  const facts = d.version(v);
  if (!facts) throw new CommandError(404, "unknown_version", `dataset ${d.name} has no version ${v} (latest is ${d.latestVersion})`);
  if (facts.quality === QUALITY.failed) throw new CommandError(409, "quality_failed", `version ${v} of ${d.name} failed its quality checks and can never be current`);
  if (d.policy === POLICIES.critical && facts.quality !== QUALITY.passed) {
    throw new CommandError(409, "quality_pending", `version ${v} of ${d.name} has not passed its quality checks yet; ${d.name} is critical, so only a passed version can be current`);
  }
  return facts;
}

/** Why a promotion can't take effect, or undefined when it can (used when projecting records too). */
export function promotionProblem(d: DatasetFacts, version: number): string | undefined {
  try {
    servable(d, version);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export function decidePromote(d: DatasetFacts, cmd: Who & { version: number }, now: number): Decision<LakeLog.VersionPromoted> {
  servable(d, cmd.version);
  if (cmd.version === d.currentVersion) return { kind: "noop", message: `version ${cmd.version} is already current` };
  if (cmd.version < d.currentVersion) {
    throw new CommandError(409, "use_rollback", `version ${cmd.version} is older than the current version ${d.currentVersion}; use rollback to move current back`);
  }
  return { kind: "append", body: { dataset: d.name, version: cmd.version, previous_version: d.currentVersion, mode: "promote", actor: cmd.actor, reason: cmd.reason, at: now } };
}

export function decideRollback(d: DatasetFacts, cmd: Who & { toVersion?: number }, now: number): Decision<LakeLog.VersionPromoted> {
  if (d.currentVersion === 0) throw new CommandError(409, "no_current_version", `dataset ${d.name} has no current version to roll back`);
  let target = cmd.toVersion;
  if (target === undefined) {
    target = d.formerCurrents().find((v) => v < d.currentVersion && promotionProblem(d, v) === undefined);
    if (target === undefined) throw new CommandError(409, "no_rollback_target", `dataset ${d.name} has no earlier version that was current and can be served`);
  }
  if (target >= d.currentVersion) throw new CommandError(409, "not_older", `rollback goes to an older version than the current ${d.currentVersion}; got ${target}`);
  servable(d, target);
  if (d.policy === POLICIES.critical && !d.formerCurrents().includes(target)) {
    throw new CommandError(409, "never_current", `version ${target} of ${d.name} was never current; rollback only returns to a version that was`);
  }
  return { kind: "append", body: { dataset: d.name, version: target, previous_version: d.currentVersion, mode: "rollback", actor: cmd.actor, reason: cmd.reason, at: now } };
}

export function decideTag(d: DatasetFacts, cmd: Who & { tag: string; version: number }, now: number): Decision<LakeLog.VersionTagged> {
  if (!TAG_PATTERN.test(cmd.tag)) throw new CommandError(400, "invalid_tag", `tag ${JSON.stringify(cmd.tag.slice(0, 80))} must match ${TAG_PATTERN.source}`);
  if (!d.version(cmd.version)) throw new CommandError(404, "unknown_version", `dataset ${d.name} has no version ${cmd.version}`);
  const existing = d.tag(cmd.tag);
  if (existing === cmd.version) return { kind: "noop", message: `tag ${cmd.tag} already names version ${cmd.version}` };
  if (existing !== undefined) throw new CommandError(409, "tag_exists", `tag ${cmd.tag} already names version ${existing} of ${d.name}; tags don't move`);
  return { kind: "append", body: { dataset: d.name, version: cmd.version, tag: cmd.tag, actor: cmd.actor, reason: cmd.reason, at: now } };
}

/** Tag problems when projecting (the same rules as the decision). */
export function tagProblem(d: DatasetFacts, tag: string, version: number): string | undefined {
  if (!TAG_PATTERN.test(tag)) return `invalid tag ${JSON.stringify(tag.slice(0, 80))}`;
  if (!d.version(version)) return `tag ${tag} names unknown version ${version}`;
  const existing = d.tag(tag);
  if (existing !== undefined && existing !== version) return `tag ${tag} already names version ${existing}`;
  return undefined;
}
