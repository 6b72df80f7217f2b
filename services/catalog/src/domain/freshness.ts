// How fresh a version is: pure. The sources a version is made from (its source range, and the upstream
// positions a derived version records in its lineage), and, given the oldest record of each that the
// version does not hold (looked up by the shell, nats/freshness.ts), its staleness at a given time.
import type { CatalogFreshness, CatalogFreshnessSource } from "@lake/contracts";
import { isoInstant } from "@lake/contracts";
import { STREAMS } from "@lake/messaging";

/** A source to look up: the first record on `subject` of `stream` after sequence `through`. */
export interface FreshnessTarget {
  stream: string;
  subject: string;
  through: number;
}

/** What the lookup of one target found. */
export type TargetOutcome = { kind: "none" } | { kind: "found"; seq: number; at: number } | { kind: "unmeasured"; why: string };

/** The version's columns freshness is made of (a projection VersionRow has them). */
export interface FreshnessFacts {
  version: number;
  committed_at: number;
  source_stream: string;
  source_subject: string;
  last_offset: number;
  /** Lineage: JSON [{dataset, stream, subject, through_seq}] of a derived version, or null. */
  upstream: string | null;
  through_seq: number | null;
  watermark: number | null;
}

/**
 * The streams whose records a version can be made from, and the subject prefix each carries. A version
 * naming anything else (a forged or future record) is not measured: the catalog never reads a stream
 * it does not know on a record's say-so.
 */
const MEASURED: Readonly<Record<string, string>> = { [STREAMS.events]: "lake.events.", [STREAMS.windows]: "lake.windows." };
const SUBJECT_TOKEN = /^[a-z][a-z0-9_]{0,62}$/;
const MAX_UPSTREAMS = 8;

/** Why a target can't be measured, or undefined if it can. */
function unmeasurable(t: FreshnessTarget): string | undefined {
  const prefix = Object.hasOwn(MEASURED, t.stream) ? MEASURED[t.stream] : undefined;
  if (prefix === undefined) return `source stream ${JSON.stringify(t.stream.slice(0, 40))} is not one the catalog measures`;
  if (!t.subject.startsWith(prefix) || !SUBJECT_TOKEN.test(t.subject.slice(prefix.length)))
    return `source subject ${JSON.stringify(t.subject.slice(0, 80))} is not a subject of ${t.stream}`;
  if (!Number.isSafeInteger(t.through) || t.through < 0) return `source position ${t.through} is not a sequence`;
  return undefined;
}

/** The version's source range, then each upstream position of its lineage (derived datasets). */
export function freshnessTargets(v: FreshnessFacts): FreshnessTarget[] {
  const targets: FreshnessTarget[] = [{ stream: v.source_stream, subject: v.source_subject, through: v.last_offset }];
  if (v.upstream === null) return targets;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v.upstream);
  } catch {
    return targets;
  }
  if (!Array.isArray(parsed)) return targets;
  for (const u of parsed.slice(0, MAX_UPSTREAMS) as unknown[]) {
    const { stream, subject, through_seq } = (u ?? {}) as { stream?: unknown; subject?: unknown; through_seq?: unknown };
    if (typeof stream === "string" && typeof subject === "string" && typeof through_seq === "number") targets.push({ stream, subject, through: through_seq });
  }
  return targets;
}

/** The targets the shell may look up (the others are answered unmeasured without a lookup). */
export function measurable(t: FreshnessTarget): boolean {
  return unmeasurable(t) === undefined;
}

/**
 * The version's freshness at `now`: 0 if every source is fully reflected, else now − the time the
 * oldest unreflected record was stored (the largest over the sources); null if any source could not be
 * measured, since a bound can't be checked against a part of the answer.
 */
export function freshnessOf(v: FreshnessFacts, targets: readonly FreshnessTarget[], outcomes: readonly TargetOutcome[], now: number): CatalogFreshness {
  const sources: CatalogFreshnessSource[] = [];
  let staleness: number | null = 0;
  let unmeasured: string | undefined;
  targets.forEach((t, i) => {
    const why = unmeasurable(t);
    const o: TargetOutcome = why !== undefined ? { kind: "unmeasured", why } : (outcomes[i] ?? { kind: "unmeasured", why: "not looked up" });
    sources.push({
      stream: t.stream,
      subject: t.subject,
      through: t.through,
      oldest_unreflected: o.kind === "found" ? { seq: o.seq, at: isoInstant(o.at) } : null,
    });
    if (o.kind === "unmeasured") {
      unmeasured ??= o.why;
      staleness = null;
    } else if (o.kind === "found" && staleness !== null) {
      // A record stored "after" now (clocks of the server and the catalog apart) is not negative staleness.
      staleness = Math.max(staleness, now - o.at, 0);
    }
  });
  return {
    version: v.version,
    source_position: v.last_offset,
    through_seq: v.through_seq,
    watermark: v.watermark === null ? null : isoInstant(v.watermark),
    committed_at: isoInstant(v.committed_at),
    staleness_ms: staleness,
    measured_at: isoInstant(now),
    sources,
    ...(unmeasured === undefined ? {} : { unmeasured }),
  };
}
