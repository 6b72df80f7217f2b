// Pure decisions of the catalog's commands (promote, rollback, tag, expire, and the record of collected files): given what the projection knows of
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
  /** Retention expired it: it is never served again. */
  expired?: boolean;
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
  if (facts.expired) throw new CommandError(410, "version_expired", `version ${v} of ${d.name} has expired (retention) and can never be served again`);
  if (facts.quality === QUALITY.failed)
    throw new CommandError(409, "quality_failed", `version ${v} of ${d.name} failed its quality checks and can never be current`);
  if (d.policy === POLICIES.critical && facts.quality !== QUALITY.passed) {
    throw new CommandError(
      409,
      "quality_pending",
      `version ${v} of ${d.name} has not passed its quality checks yet; ${d.name} is critical, so only a passed version can be current`,
    );
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
    throw new CommandError(
      409,
      "use_rollback",
      `version ${cmd.version} is older than the current version ${d.currentVersion}; use rollback to move current back`,
    );
  }
  return {
    kind: "append",
    body: { dataset: d.name, version: cmd.version, previous_version: d.currentVersion, mode: "promote", actor: cmd.actor, reason: cmd.reason, at: now },
  };
}

export function decideRollback(d: DatasetFacts, cmd: Who & { toVersion?: number }, now: number): Decision<LakeLog.VersionPromoted> {
  if (d.currentVersion === 0) throw new CommandError(409, "no_current_version", `dataset ${d.name} has no current version to roll back`);
  let target = cmd.toVersion;
  if (target === undefined) {
    target = d.formerCurrents().find((v) => v < d.currentVersion && promotionProblem(d, v) === undefined);
    if (target === undefined) throw new CommandError(409, "no_rollback_target", `dataset ${d.name} has no earlier version that was current and can be served`);
  }
  if (target >= d.currentVersion)
    throw new CommandError(409, "not_older", `rollback goes to an older version than the current ${d.currentVersion}; got ${target}`);
  servable(d, target);
  if (d.policy === POLICIES.critical && !d.formerCurrents().includes(target)) {
    throw new CommandError(409, "never_current", `version ${target} of ${d.name} was never current; rollback only returns to a version that was`);
  }
  return {
    kind: "append",
    body: { dataset: d.name, version: target, previous_version: d.currentVersion, mode: "rollback", actor: cmd.actor, reason: cmd.reason, at: now },
  };
}

export function decideTag(d: DatasetFacts, cmd: Who & { tag: string; version: number }, now: number): Decision<LakeLog.VersionTagged> {
  if (!TAG_PATTERN.test(cmd.tag)) throw new CommandError(400, "invalid_tag", `tag ${JSON.stringify(cmd.tag.slice(0, 80))} must match ${TAG_PATTERN.source}`);
  const facts = d.version(cmd.version);
  if (!facts) throw new CommandError(404, "unknown_version", `dataset ${d.name} has no version ${cmd.version}`);
  if (facts.expired)
    throw new CommandError(410, "version_expired", `version ${cmd.version} of ${d.name} has expired (retention); a tag must name a version that is served`);
  const existing = d.tag(cmd.tag);
  if (existing === cmd.version) return { kind: "noop", message: `tag ${cmd.tag} already names version ${cmd.version}` };
  if (existing !== undefined) throw new CommandError(409, "tag_exists", `tag ${cmd.tag} already names version ${existing} of ${d.name}; tags don't move`);
  return { kind: "append", body: { dataset: d.name, version: cmd.version, tag: cmd.tag, actor: cmd.actor, reason: cmd.reason, at: now } };
}

/** Tag problems when projecting (the same rules as the decision). */
export function tagProblem(d: DatasetFacts, tag: string, version: number): string | undefined {
  if (!TAG_PATTERN.test(tag)) return `invalid tag ${JSON.stringify(tag.slice(0, 80))}`;
  const facts = d.version(version);
  if (!facts) return `tag ${tag} names unknown version ${version}`;
  if (facts.expired) return `tag ${tag} names expired version ${version}`;
  const existing = d.tag(tag);
  if (existing !== undefined && existing !== version) return `tag ${tag} already names version ${existing}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Retention: which versions stop being served. Expired versions stay in the history (the log, the
// catalog's dump, the audit trail) but are never read, promoted, rolled back to or tagged again; their
// files become garbage unless a live version still references them (`lake gc` deletes them).

/** One version as retention sees it. */
export interface RetainedVersion {
  version: number;
  committedAt: number;
  quality: QualityStatus;
}

/** What a retention decision needs to know about a dataset; the projection provides it. */
export interface RetentionFacts {
  name: string;
  latestVersion: number;
  /** 0 when no version is current yet. */
  currentVersion: number;
  /** Versions not expired yet, ascending. */
  unexpired: readonly RetainedVersion[];
  /** Versions some tag names. */
  tagged: ReadonlySet<number>;
}

/** keep_last: the N newest versions are kept; keep_ms: versions committed less than T ago are kept. A version either keeps is kept. */
export interface RetentionPolicy {
  keepLast?: number;
  keepMs?: number;
}

/**
 * One record carries at most this many versions: the commit stream's messages are capped at 1 MiB,
 * and a larger backlog simply expires in several records (the HTTP command repeats until done).
 */
export const MAX_EXPIRE_PER_RECORD = 10_000;

export function policyText(p: RetentionPolicy): string {
  return [p.keepLast !== undefined ? `keep_last=${p.keepLast}` : undefined, p.keepMs !== undefined ? `keep_ms=${p.keepMs}` : undefined]
    .filter(Boolean)
    .join(",");
}

export function validatePolicy(p: RetentionPolicy): void {
  if (p.keepLast === undefined && p.keepMs === undefined) {
    throw new CommandError(
      400,
      "invalid_policy",
      "give a retention policy: keep_last (keep the N newest versions) and/or keep_ms (keep versions younger than this)",
    );
  }
  if (p.keepLast !== undefined && (!Number.isSafeInteger(p.keepLast) || p.keepLast < 1))
    throw new CommandError(400, "invalid_policy", `keep_last must be an integer ≥ 1, got ${p.keepLast}`);
  if (p.keepMs !== undefined && (!Number.isSafeInteger(p.keepMs) || p.keepMs < 0))
    throw new CommandError(400, "invalid_policy", `keep_ms must be an integer ≥ 0, got ${p.keepMs}`);
}

/** Versions waiting for their quality verdict. */
export function pendingVersions(d: RetentionFacts): Set<number> {
  return new Set(d.unexpired.filter((v) => v.quality === QUALITY.pending).map((v) => v.version));
}

/**
 * Why version `v` must not expire whatever the policy says, or undefined if it may. The latest version
 * is what committers build on; the current one is what readers are served; a tag is a promise to
 * keep; a version still waiting for its quality verdict must keep its files for the checker (and a
 * critical dataset may yet make it current), and so must its parent (drift is measured against it).
 */
export function protectedReason(d: RetentionFacts, v: RetainedVersion, pending: ReadonlySet<number>): string | undefined {
  if (v.version === d.latestVersion) return "it is the latest version";
  if (v.version === d.currentVersion) return "it is the current version";
  if (d.tagged.has(v.version)) return "a tag names it";
  if (pending.has(v.version)) return "it is waiting for its quality verdict";
  if (pending.has(v.version + 1)) return `version ${v.version + 1} is waiting for its quality verdict, which compares it with this one`;
  return undefined;
}

export function decideExpire(d: RetentionFacts, cmd: Who & RetentionPolicy, now: number): Decision<LakeLog.VersionsExpired> {
  validatePolicy(cmd);
  const pending = pendingVersions(d);
  const expire: number[] = [];
  for (const v of d.unexpired) {
    if (expire.length >= MAX_EXPIRE_PER_RECORD) break;
    if (protectedReason(d, v, pending) !== undefined) continue;
    if (cmd.keepLast !== undefined && v.version > d.latestVersion - cmd.keepLast) continue;
    if (cmd.keepMs !== undefined && now - v.committedAt < cmd.keepMs) continue;
    expire.push(v.version);
  }
  if (expire.length === 0) {
    return {
      kind: "noop",
      message: `nothing to expire in ${d.name} under ${policyText(cmd)}: ${d.unexpired.length} version(s) served (latest, current, tagged, awaiting a verdict, or within the policy)`,
    };
  }
  return { kind: "append", body: { dataset: d.name, versions: expire, policy: policyText(cmd), actor: cmd.actor, reason: cmd.reason, at: now } };
}

/** Expiry problems when projecting a VersionsExpired record (the same rules as the decision). */
export function expireProblem(d: RetentionFacts, versions: readonly number[]): string | undefined {
  if (versions.length === 0) return "expires no version";
  const unexpired = new Map(d.unexpired.map((v) => [v.version, v]));
  const pending = pendingVersions(d);
  let previous = 0;
  for (const n of versions) {
    if (n <= previous) return `versions are not strictly ascending (${n} after ${previous})`;
    previous = n;
    const v = unexpired.get(n);
    if (!v) return n >= 1 && n <= d.latestVersion ? `version ${n} is already expired` : `expires unknown version ${n}`;
    const why = protectedReason(d, v, pending);
    if (why) return `version ${n} cannot expire: ${why}`;
  }
  return undefined;
}

/** Versions as compact ranges for messages and the audit trail: 1-5,7,9-12. */
export function versionRanges(versions: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < versions.length;) {
    let j = i;
    while (j + 1 < versions.length && versions[j + 1] === versions[j]! + 1) j++;
    out.push(i === j ? String(versions[i]) : `${versions[i]}-${versions[j]}`);
    i = j + 1;
  }
  return out.join(",");
}

/**
 * Is some live version in [from, until)? `live` is ascending; `until` undefined means unbounded. A
 * file added at `from` and removed at `until` is referenced by exactly the versions in that range.
 */
export function liveVersionIn(live: readonly number[], from: number, until: number | null | undefined): number | undefined {
  let lo = 0;
  let hi = live.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (live[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  const v = live[lo];
  return v !== undefined && (until === null || until === undefined || v < until) ? v : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Garbage collection: `lake gc` deletes objects, then records what it deleted. The record is a fact
// about the store, not a request: it is checked for shape here, and the projection notes an anomaly
// if it names a file a live version references (which GC never does; fsck would report the loss).

export const MAX_COLLECTED_KEYS = 2000;

export interface CollectedFiles {
  keys: readonly string[];
  bytes: number;
  orphans: number;
}

export function decideCollected(d: Pick<DatasetFacts, "name">, cmd: CollectedFiles & { actor: string }, now: number): Decision<LakeLog.FilesCollected> {
  const prefix = `datasets/${d.name}/`;
  if (!Array.isArray(cmd.keys) || cmd.keys.length === 0)
    throw new CommandError(400, "invalid_keys", "keys must be a non-empty array of the deleted object keys");
  if (cmd.keys.length > MAX_COLLECTED_KEYS)
    throw new CommandError(400, "invalid_keys", `at most ${MAX_COLLECTED_KEYS} keys per record, got ${cmd.keys.length}`);
  for (const k of cmd.keys) {
    if (typeof k !== "string" || !k.startsWith(prefix) || k.length > 1024 || k.includes("..") || k.includes("//")) {
      throw new CommandError(400, "invalid_keys", `key ${JSON.stringify(String(k).slice(0, 120))} is not an object of dataset ${d.name} (expected ${prefix}…)`);
    }
  }
  if (new Set(cmd.keys).size !== cmd.keys.length) throw new CommandError(400, "invalid_keys", "keys must not repeat");
  if (!Number.isSafeInteger(cmd.bytes) || cmd.bytes < 0) throw new CommandError(400, "invalid_bytes", "bytes must be an integer ≥ 0");
  if (!Number.isSafeInteger(cmd.orphans) || cmd.orphans < 0 || cmd.orphans > cmd.keys.length)
    throw new CommandError(400, "invalid_orphans", "orphans must be an integer between 0 and the number of keys");
  return { kind: "append", body: { dataset: d.name, keys: [...cmd.keys], bytes: cmd.bytes, orphans: cmd.orphans, actor: cmd.actor, at: now } };
}
