// The catalog's work as the history kept grows: a projection of N versions, each with a quality verdict
// (applied in process, as the catalog applies the commit log), then the time to apply one more version
// and its verdict, and to make the dataset's table state (what the catalog writes to the store after
// applying records, at most once a second while records keep coming). Applying should stay flat; the
// table state holds every retained version's verdict, so it grows, and the catalog writes it less often
// once it is slow (TABLE_STATE_BUSY_FACTOR).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { icebergStore, Projection, tableState } from "@lake/catalog";
import type { LakeLog, LogRecord, VersionCommitted } from "@lake/contracts";
import { openStore, type StoreConfig } from "@lake/storage";

import { round, type Row } from "./lib.ts";

const SECTION = "5b catalog work vs history";
const DS = "domain_events";
const metadataKey = (v: number) => `datasets/${DS}/metadata/v${v}.metadata.json`;

function version(v: number): VersionCommitted {
  return {
    dataset: DS,
    version: v,
    parent_version: v - 1,
    write_id: `w${v}`,
    committer_id: "bench",
    committed_at: 1_780_000_000_000 + v * 250,
    policy: "non-critical",
    schema_name: DS,
    schema_version: 1,
    schema_fingerprint: "f".repeat(64),
    manifest: { key: `datasets/${DS}/manifests/v${v}.json`, sha256: "a".repeat(64), bytes: 500 },
    added_files: [{ key: `datasets/${DS}/data/dt=2026-06-01/w${v}.parquet`, partition: "dt=2026-06-01", rows: 1000, bytes: 50_000, sha256: "b".repeat(64) }],
    removed_files: [],
    source: { stream: "EVENTS", subject: `lake.events.${DS}`, first_seq: 1000 * v - 999, last_seq: 1000 * v },
    row_count: 1000,
    total_rows: 1000 * v,
    min_event_time: null,
    max_event_time: null,
    max_source_position: null,
    iceberg: { manifest_list: `datasets/${DS}/metadata/snap-${v}.avro`, metadata: metadataKey(v), schema_id: 1, total_files: v },
    lineage: null,
    operation: null,
  };
}

/** A verdict like quality's on a domain_events version (its rules, measured values as text). */
function verdict(v: number): LakeLog.QualityVerdict {
  const rule = (name: string, measured: string, expected: string) => ({ rule: name, passed: true, measured, expected, message: "" });
  return {
    dataset: DS,
    version: v,
    outcome: "passed",
    rules: [
      rule("schema", "fingerprint matches", "the contract's"),
      rule("row_count", "1000", ">= 1"),
      rule("not_null(event_id)", "0", "0"),
      rule("not_null(user_id)", "0", "0"),
      rule("range(amount)", "0 outside", "[0, 1000000]"),
    ],
    checked_at: 1_780_000_000_000 + v * 250 + 100,
    checker_id: "quality-bench",
  };
}

export async function tableStateCost(o: { sizes: number[]; repeats: number }): Promise<Row[]> {
  const rows: Row[] = [];
  const root = mkdtempSync(join(tmpdir(), "lake-bench-table-state-"));
  try {
    for (const n of o.sizes) {
      const dir = join(root, String(n));
      mkdirSync(dir);
      const p = new Projection(join(dir, "catalog.db"));
      try {
        const config: StoreConfig = { kind: "local", root: join(dir, "store") };
        const ic = icebergStore(await openStore(config), config);
        let seq = 0;
        const records = (v: number): { seq: number; record: LogRecord }[] => [
          { seq: ++seq, record: { kind: "VersionCommitted", body: version(v) } },
          { seq: ++seq, record: { kind: "QualityVerdict", body: verdict(v) } },
        ];
        for (let from = 1; from <= n; from += 1000) {
          const batch: { seq: number; record: LogRecord }[] = [];
          for (let v = from; v <= Math.min(n, from + 999); v++) batch.push(...records(v));
          p.applyBatch(batch);
        }
        // One more version and its verdict at a time, as a live catalog applies them.
        const applied = 200;
        let t = performance.now();
        for (let v = n + 1; v <= n + applied; v++) p.applyBatch(records(v));
        const applyMs = (performance.now() - t) / applied;
        const newest = n + applied;
        const base = { "format-version": 2, schemas: [{ type: "struct", "schema-id": 1, fields: [] }], "current-schema-id": 1 };
        await ic.store.put(
          metadataKey(newest),
          new TextEncoder().encode(JSON.stringify({ ...base, "partition-specs": [{ "spec-id": 0, fields: [] }], "default-spec-id": 0, properties: {} })),
        );
        await tableState(p, DS, ic); // the metadata JSON read and cached, as after the first write
        let bytes = 0;
        t = performance.now();
        for (let r = 0; r < o.repeats; r++) bytes = (await tableState(p, DS, ic))!.bytes.byteLength;
        const stateMs = (performance.now() - t) / o.repeats;
        const label = `${n.toLocaleString("en-US")} versions with verdicts`;
        rows.push({
          key: `catalog_apply_ms_at_${n}`,
          section: SECTION,
          figure: `${label}: apply a version and its verdict`,
          value: round(applyMs, 3),
          unit: "ms",
        });
        rows.push({
          key: `catalog_table_state_ms_at_${n}`,
          section: SECTION,
          figure: `  make the table state`,
          value: round(stateMs, 1),
          unit: "ms",
          note: `${round(bytes / 1024)} kB; written at most every max(1 s, 20 × this), at least once a minute`,
        });
      } finally {
        p.close();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}
