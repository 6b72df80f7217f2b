// What a catalog answer says about how current it is: the commit-log position every read reflects (a
// response header), and, on a version read, what a freshness bound is checked against. Documented in
// docs/http-api.md ("Log position and freshness").

/**
 * The response header on every catalog read (GET): the commit-log sequence through which the catalog's
 * projection had applied the log when it made the answer. A client that remembers the highest one it
 * was answered can tell a catalog that went back in time (a replica behind, a catalog rebuilt on an
 * empty database) from one that moved on.
 */
export const LOG_POSITION_HEADER = "lake-log-position";

/** One source a version is made from, and the oldest record of it the version does not hold yet. */
export interface CatalogFreshnessSource {
  stream: string;
  subject: string;
  /** The last sequence of this source the version holds (source.last_offset; an upstream's through_seq). */
  through: number;
  /**
   * The first record on `subject` after `through` (one the version does not reflect): its sequence and
   * when the stream stored it. Null when the version holds everything the stream has on the subject.
   */
  oldest_unreflected: { seq: number; at: string } | null;
}

/**
 * How fresh a version is, measured by the catalog when it answered (GET …/versions/<v>, tags, covering):
 * what a reader's `max_staleness` bound is checked against.
 */
export interface CatalogFreshness {
  version: number;
  /** The version's source position: source.last_offset. */
  source_position: number;
  /** Derived datasets: the highest upstream position the version covers (lineage); null otherwise. */
  through_seq: number | null;
  /** Derived datasets: the event-time watermark of the newest result in the version (lineage); null otherwise. */
  watermark: string | null;
  committed_at: string;
  /**
   * 0 when the version holds every record its sources have; otherwise how long ago (milliseconds,
   * at `measured_at`) the oldest record it does not hold was stored. Null when it could not be
   * measured (`unmeasured` says why): a bound can't be met by an unknown.
   */
  staleness_ms: number | null;
  measured_at: string;
  /** The version's source, and the upstream positions of a derived version. */
  sources: CatalogFreshnessSource[];
  /** Why staleness_ms is null. */
  unmeasured?: string;
}
