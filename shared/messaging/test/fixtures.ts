// Commit-log records for the package's tests, and a way to store one as a writer that skipped the
// compare-and-set would (a clustered nats-server 2.9 lets such appends land; so can a hostile client).
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import { logCodecs, type LogRecord, type VersionCommitted } from "@lake/contracts";

import { HEADERS } from "../src/index.ts";

export function version(dataset: string, v: number, writeId = `w${v}`): VersionCommitted {
  return {
    dataset,
    version: v,
    parent_version: v - 1,
    write_id: writeId,
    committer_id: "test",
    committed_at: Date.UTC(2026, 10, 25, 12),
    schema_name: dataset,
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${dataset}/manifests/v${v}-${writeId}.json`, sha256: "0".repeat(64), bytes: 1 },
    added_files: [
      { key: `datasets/${dataset}/data/dt=2026-11-25/${writeId}.parquet`, partition: "dt=2026-11-25", rows: 10, bytes: 100, sha256: "1".repeat(64) },
    ],
    removed_files: [],
    source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: v * 10 - 9, last_seq: v * 10 },
    row_count: 10,
    total_rows: v * 10,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: null,
    lineage: null,
    operation: null,
    policy: "default",
  };
}

export const verdict = (dataset: string, v: number): LogRecord => ({
  kind: "QualityVerdict",
  body: { dataset, version: v, outcome: "passed", rules: [], checked_at: 0, checker_id: "test" },
});

/**
 * Stores `body` (a record, or raw bytes) on `subject` with exactly the headers given, no compare-and-set:
 * what a server that let a racing append land, or a hostile client, leaves in the log.
 */
export async function land(nc: NatsConnection, subject: string, body: LogRecord | Uint8Array, hdrs: Record<string, string>): Promise<number> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  const data = body instanceof Uint8Array ? body : (logCodecs[body.kind] as { encode(v: unknown): Uint8Array }).encode(body.body);
  return (await jetstream(nc).publish(subject, data, Object.keys(hdrs).length > 0 ? { headers: h } : {})).seq;
}

/** The headers a lake writer gives a record appended against `expected`, pointing at the version at `versionSeq`. */
export function lakeHeaders(kind: LogRecord["kind"], expected: number, versionSeq: number): Record<string, string> {
  return {
    [HEADERS.record]: kind,
    [HEADERS.schema]: logCodecs[kind].fingerprint,
    [HEADERS.expectedSeq]: String(expected),
    [HEADERS.versionSeq]: String(versionSeq),
  };
}
