// Commit records the catalog's tests project: one VersionCommitted shape with the defaults they share
// (one 10-row file per version in dt=2026-06-01, offsets 10·v−9 … 10·v, a version a minute from T0),
// each test overriding what it is about.
import type { VersionCommitted } from "@lake/contracts";

/** The instant version 0 would have been committed at; version v is committed v minutes later. */
export const T0 = Date.UTC(2026, 5, 1, 12);

export function versionRecord(dataset: string, version: number, overrides: Partial<VersionCommitted> = {}): VersionCommitted {
  return {
    dataset,
    version,
    parent_version: version - 1,
    write_id: `w${version}`,
    committer_id: "committer-1",
    committed_at: T0 + version * 60_000,
    policy: "non-critical",
    schema_name: dataset,
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${dataset}/manifests/v${version}.json`, sha256: "a".repeat(64), bytes: 500 },
    added_files: [
      { key: `datasets/${dataset}/data/dt=2026-06-01/w${version}.parquet`, partition: "dt=2026-06-01", rows: 10, bytes: 1000, sha256: "b".repeat(64) },
    ],
    removed_files: [],
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: 10 * version - 9, last_seq: 10 * version },
    row_count: 10,
    total_rows: 10 * version,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
    ...overrides,
  };
}
