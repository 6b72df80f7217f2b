// Lineage reads on the projection: what a version was made from, and the reverse question, which
// versions hold a given source offset. Only reads of what the commit log recorded (versions' source
// ranges and lineage columns, files, tags, verdicts); nothing here writes.
//
// Statements are prepared once per database and kept beside it: a rebuild swaps in another Projection
// (another database), which gets its own.
import type Database from "better-sqlite3";

import type { Projection, VersionRow } from "./projection.ts";

/** One upstream position as the projection keeps it (VersionCommitted.lineage.upstream, JSON in `versions.upstream`). */
export interface UpstreamRow {
  dataset: string;
  stream: string;
  subject: string;
  through_seq: number;
}

function prepare(db: Database.Database) {
  return {
    tagsOf: db.prepare<[string, number], { tag: string }>("SELECT tag FROM tags WHERE dataset = ? AND version = ? ORDER BY tag"),
    // The source range holding an offset: versions' ranges of one dataset only move forward, and a version
    // without new source data (compaction, backfill) has an empty range ending where its parent's did, so
    // the first version by (last_offset, version) at or past the offset is the only one that can hold it.
    sourceCandidate: db.prepare<[string, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND last_offset >= ? ORDER BY last_offset, version LIMIT 1",
    ),
    // The first version whose recorded upstream positions reach the offset on the stream (and subject):
    // through_seq is the highest position a version names and never goes back along a dataset's history
    // (the aggregator's input position only advances), so the index on (dataset, through_seq, version)
    // finds it with a seek; the JSON check keeps a version that reaches it on another stream out.
    firstThrough: db.prepare<{ dataset: string; offset: number; stream: string; subject: string | null }, VersionRow>(
      `SELECT v.* FROM versions v WHERE v.dataset = @dataset AND v.through_seq >= @offset AND EXISTS (
         SELECT 1 FROM json_each(v.upstream) u
         WHERE json_extract(u.value, '$.stream') = @stream AND (@subject IS NULL OR json_extract(u.value, '$.subject') = @subject)
           AND json_extract(u.value, '$.through_seq') >= @offset
       ) ORDER BY v.through_seq, v.version LIMIT 1`,
    ),
    // The version recording the highest upstream positions of a dataset: which upstreams feed it.
    newestUpstream: db.prepare<[string], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND through_seq IS NOT NULL ORDER BY through_seq DESC, version DESC LIMIT 1",
    ),
    // The newest version at or before one that recorded upstream positions.
    upstreamAsOf: db.prepare<[string, number], VersionRow>(
      "SELECT * FROM versions WHERE dataset = ? AND version <= ? AND through_seq IS NOT NULL ORDER BY version DESC LIMIT 1",
    ),
    revertedBy: db.prepare<[string, number], { version: number }>(
      "SELECT version FROM versions WHERE dataset = ? AND reverted_version = ? ORDER BY version LIMIT 1",
    ),
  };
}

const prepared = new WeakMap<Database.Database, ReturnType<typeof prepare>>();

function statements(p: Projection): ReturnType<typeof prepare> {
  let s = prepared.get(p.db);
  if (!s) prepared.set(p.db, (s = prepare(p.db)));
  return s;
}

/** A version's upstream positions, parsed; an unreadable column reads as none (the projection only writes JSON arrays). */
export function upstreamOf(v: Pick<VersionRow, "upstream">): UpstreamRow[] {
  if (v.upstream === null) return [];
  try {
    const parsed = JSON.parse(v.upstream) as unknown;
    return Array.isArray(parsed) ? (parsed as UpstreamRow[]) : [];
  } catch {
    return [];
  }
}

/** Tags naming a version, by name. */
export function tagsOf(p: Projection, dataset: string, version: number): string[] {
  return statements(p)
    .tagsOf.all(dataset, version)
    .map((t) => t.tag);
}

/**
 * The version whose source range holds `offset` (the one that added the rows read at that offset), or
 * undefined if none does (yet). Another subject of the same stream may hold the offset: a range holds
 * the sequences between its ends whatever their subject.
 */
export function versionAddingOffset(p: Projection, dataset: string, offset: number): VersionRow | undefined {
  const v = statements(p).sourceCandidate.get(dataset, offset);
  return v !== undefined && v.first_offset <= offset ? v : undefined;
}

/** The first version whose upstream positions on `stream` (and `subject`, if given) reach `offset`: it and every later version reflect it. */
export function firstVersionThrough(p: Projection, dataset: string, stream: string, subject: string | null, offset: number): VersionRow | undefined {
  return statements(p).firstThrough.get({ dataset, offset, stream, subject });
}

/** The version naming the highest upstream positions of a dataset (undefined: it names none, e.g. a domain dataset). */
export function newestUpstreamVersion(p: Projection, dataset: string): VersionRow | undefined {
  return statements(p).newestUpstream.get(dataset);
}

/**
 * The version whose recorded upstream positions hold for `version`: itself if it records some, or, for a
 * version with the same rows as its parent (a compaction), the newest earlier version recording them.
 */
export function upstreamRecordedIn(p: Projection, v: VersionRow, sameRowsAsParent: boolean): VersionRow | undefined {
  if (v.through_seq !== null) return v;
  if (!sameRowsAsParent || newestUpstreamVersion(p, v.dataset) === undefined) return undefined;
  return statements(p).upstreamAsOf.get(v.dataset, v.version);
}

/** The version that took `version`'s batch out again (write-audit-publish revert), if any. */
export function revertedBy(p: Projection, dataset: string, version: number): number | undefined {
  return statements(p).revertedBy.get(dataset, version)?.version;
}
