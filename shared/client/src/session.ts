// A catalog client is a session: it remembers the newest state of the lake it has been answered (the
// commit-log position every read carries, and per dataset the latest and current versions and their
// row counts) and refuses an answer older than that: monotonic reads. And a reader's freshness bound:
// a version whose staleness exceeds it is refused. Both refusals are typed errors naming what failed.
import type { CatalogFreshness } from "@lake/contracts";

/** What went back, in the words of the error. */
export const WENT_BACK = {
  position: "log position",
  latest: "latest version",
  current: "current version",
  rows: "total rows",
} as const;
export type WentBack = (typeof WENT_BACK)[keyof typeof WENT_BACK];

/** One answer went back and kept doing so for the session's whole retry time. */
export class ReadWentBackError extends Error {
  readonly what: WentBack;
  readonly dataset: string | undefined;
  readonly from: number;
  readonly to: number;
  readonly retriedMs: number;
  constructor(r: Regression & { retriedMs: number; path: string }, options?: { cause?: unknown }) {
    super(
      `the catalog's answer to ${r.path} went back in time: ${r.what}${r.dataset === undefined ? "" : ` of ${r.dataset}`} ${r.from} → ${r.to}, ` +
        `after this session had been answered ${r.from} (retried for ${r.retriedMs} ms; a catalog behind the one that answered before, or one rebuilt from an older log)`,
      options,
    );
    this.name = "ReadWentBackError";
    this.what = r.what;
    this.dataset = r.dataset;
    this.from = r.from;
    this.to = r.to;
    this.retriedMs = r.retriedMs;
  }
}

export function isReadWentBack(e: unknown): e is ReadWentBackError {
  return e instanceof ReadWentBackError;
}

/** A version read did not meet the reader's max staleness (or its staleness could not be measured). */
export class StaleVersionError extends Error {
  constructor(
    readonly dataset: string,
    readonly version: number,
    /** null: the catalog could not measure it. */
    readonly stalenessMs: number | null,
    readonly maxStalenessMs: number,
    readonly freshness: CatalogFreshness | undefined,
  ) {
    super(
      stalenessMs === null
        ? `version ${version} of ${dataset}: its staleness is unknown (${freshness?.unmeasured ?? "the catalog did not say how fresh it is"}), so it can't be shown to meet the bound of ${maxStalenessMs} ms`
        : `version ${version} of ${dataset} is ${stalenessMs} ms stale, more than the bound of ${maxStalenessMs} ms: ` +
            `its source has records it does not hold, the oldest stored at ${oldestUnreflected(freshness) ?? "?"} (is the committer behind or stopped?)`,
    );
    this.name = "StaleVersionError";
  }
}

export function isStaleVersion(e: unknown): e is StaleVersionError {
  return e instanceof StaleVersionError;
}

function oldestUnreflected(f: CatalogFreshness | undefined): string | undefined {
  const times = (f?.sources ?? []).flatMap((s) => (s.oldest_unreflected ? [s.oldest_unreflected.at] : []));
  return times.sort()[0];
}

/**
 * Refuses a version read whose staleness (as the catalog measured it when it answered) exceeds
 * `maxStalenessMs`, or is unknown.
 */
export function assertFresh(v: { dataset: string; version: number; freshness?: CatalogFreshness | undefined }, maxStalenessMs: number): void {
  if (!Number.isFinite(maxStalenessMs) || maxStalenessMs < 0) throw new RangeError(`maxStalenessMs must be a number ≥ 0, got ${maxStalenessMs}`);
  const s = v.freshness?.staleness_ms ?? null;
  if (s === null || s > maxStalenessMs) throw new StaleVersionError(v.dataset, v.version, s, maxStalenessMs, v.freshness);
}

/** What an answer says about the state it reflects. */
export interface Observation {
  /** The Lake-Log-Position header; undefined when the answer has none. */
  position: number | undefined;
  reads: readonly DatasetRead[];
}

/** A dataset's latest or current version as an answer states it; `rows` its total rows, when stated. */
export interface DatasetRead {
  dataset: string;
  which: "latest" | "current";
  version: number;
  rows: number | undefined;
}

export interface Regression {
  what: WentBack;
  dataset: string | undefined;
  from: number;
  to: number;
}

interface Seen {
  version: number;
  rows: number | undefined;
  position: number | undefined;
}

/** The newest state a session has been answered, and the check of the next answer against it. Pure. */
export class ReadSession {
  /** The highest log position answered so far (0: none yet). */
  position = 0;
  private readonly seen = new Map<string, { latest?: Seen; current?: Seen }>();

  /** What in `o` is older than what this session has been answered; undefined if nothing. */
  check(o: Observation): Regression | undefined {
    if (o.position !== undefined && o.position < this.position) return { what: WENT_BACK.position, dataset: undefined, from: this.position, to: o.position };
    for (const r of o.reads) {
      const s = this.seen.get(r.dataset)?.[r.which];
      if (!s) continue;
      // A version is immutable: the same version with fewer rows is an older (or wrong) answer.
      if (r.version === s.version && r.rows !== undefined && s.rows !== undefined && r.rows < s.rows)
        return { what: WENT_BACK.rows, dataset: r.dataset, from: s.rows, to: r.rows };
      if (r.version >= s.version) continue;
      // The latest version only grows (every change, a revert included, is a new version). The current one
      // may move back, by a rollback: a record later in the log than the answer that named the newer one.
      const rolledBack = r.which === "current" && o.position !== undefined && s.position !== undefined && o.position > s.position;
      if (!rolledBack) return { what: r.which === "latest" ? WENT_BACK.latest : WENT_BACK.current, dataset: r.dataset, from: s.version, to: r.version };
    }
    return undefined;
  }

  /** Takes in an answer that passed check(). */
  record(o: Observation): void {
    if (o.position !== undefined) this.position = Math.max(this.position, o.position);
    for (const r of o.reads) {
      let d = this.seen.get(r.dataset);
      if (!d) this.seen.set(r.dataset, (d = {}));
      const s = d[r.which];
      if (s && r.which === "latest" && r.version < s.version) continue;
      d[r.which] = { version: r.version, rows: r.rows ?? (s?.version === r.version ? s.rows : undefined), position: o.position };
    }
  }

  /** Forgets everything (e.g. a client pointed at a lake restored from its store: a new log). */
  reset(): void {
    this.position = 0;
    this.seen.clear();
  }
}
