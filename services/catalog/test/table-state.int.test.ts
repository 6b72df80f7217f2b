// The table state the catalog writes to the store (table-state.ts): what it says about verdicts,
// expiries and refs, read from the projection without going over the whole history for what only refs
// need, and how often it is written once it grows with the history kept.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";
import { openStore } from "@lake/storage";

import { Projection } from "../src/db/projection.ts";
import { MetadataCache } from "../src/http/iceberg.ts";
import { nextTableStateDelay, TABLE_STATE_BUSY_FACTOR, TABLE_STATE_MAX_DELAY_MS, tableState } from "../src/table-state.ts";
import { versionRecord } from "./fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "lake-table-state-"));
after(() => rmSync(root, { recursive: true, force: true }));

const DS = "orders";
const metadataKey = (v: number) => `datasets/${DS}/metadata/v${v}.metadata.json`;
const WHO = { actor: "ops", reason: "test" };

const committed = (v: number, withSnapshot = true): LogRecord => ({
  kind: "VersionCommitted",
  body: versionRecord(DS, v, {
    iceberg: withSnapshot ? { manifest_list: `datasets/${DS}/metadata/snap-${v}.avro`, metadata: metadataKey(v), schema_id: 1, total_files: v } : null,
  }),
});
const rules = (v: number): LakeLog.RuleResult[] => [
  { rule: "row_count", passed: v !== 3, measured: `${v * 10} rows`, expected: ">= 1", message: `"quoted" \\ and é in version ${v}` },
  { rule: "not_null(user_id)", passed: true, measured: String(0.1 + v / 3), expected: "<= 0.5", message: "" },
];
const verdictBody = (v: number) => ({
  dataset: DS,
  version: v,
  outcome: v === 3 ? ("failed" as const) : ("passed" as const),
  rules: rules(v),
  checked_at: 1_780_000_000_000 + v,
  checker_id: `checker-${v % 2}`,
});
const verdict = (v: number): LogRecord => ({ kind: "QualityVerdict", body: verdictBody(v) });

async function lakeWith(records: LogRecord[]) {
  const dir = mkdtempSync(join(root, "lake-"));
  const p = new Projection(join(dir, "catalog.db"));
  after(() => p.close());
  p.applyBatch(records.map((record, i) => ({ seq: i + 1, record })));
  const store = await openStore({ kind: "local", root: join(dir, "store") });
  const newest = Math.max(...records.flatMap((r) => (r.kind === "VersionCommitted" ? [r.body.version] : [])));
  const base = {
    "format-version": 2,
    schemas: [{ type: "struct", "schema-id": 1, fields: [] }],
    "current-schema-id": 1,
    "partition-specs": [{ "spec-id": 0, fields: [] }],
    "default-spec-id": 0,
  };
  await store.put(metadataKey(newest), new TextEncoder().encode(JSON.stringify({ ...base, properties: {} })));
  return { p, ic: { store, config: {}, metadata: new MetadataCache() } };
}

describe("table state", { timeout: 30_000 }, () => {
  test("verdicts of retained versions in version order, exactly as the records gave them; expired versions as ranges", async () => {
    const records: LogRecord[] = [];
    for (let v = 1; v <= 8; v++) records.push(committed(v));
    // Verdicts out of version order; version 7 has none; 1, 2 and 5 expire.
    for (const v of [2, 1, 4, 3, 6, 5, 8]) records.push(verdict(v));
    records.push({ kind: "VersionTagged", body: { dataset: DS, version: 4, tag: "audited", ...WHO, at: 1_780_000_100_000 } });
    records.push({ kind: "VersionsExpired", body: { dataset: DS, versions: [1, 2, 5], policy: "keep_last=3", ...WHO, at: 1_780_000_200_000 } });
    const { p, ic } = await lakeWith(records);
    const state = await tableState(p, DS, ic);
    assert.ok(state);
    const m = JSON.parse(new TextDecoder().decode(state.bytes)) as {
      properties: Record<string, string>;
      snapshots: { "snapshot-id": number }[];
      refs: Record<string, unknown>;
    };
    assert.equal(m.properties["lake.expired"], "1-2,5");
    const expected = [3, 4, 6, 8]
      .map(verdictBody)
      .map((b) => ({ version: b.version, outcome: b.outcome, rules: b.rules, checked_at: b.checked_at, checker_id: b.checker_id }));
    // The same text as stringifying the records' own verdicts (what restore parses back).
    assert.equal(m.properties["lake.verdicts"], JSON.stringify(expected));
    // Snapshots: only what a ref names (latest and current 8, the tag's 4), not the whole history.
    assert.deepEqual(
      m.snapshots.map((s) => s["snapshot-id"]),
      [4, 8],
    );
    assert.deepEqual(Object.keys(m.refs).sort(), ["audited", "latest", "main"]);
  });

  test("no verdict and no expiry: empty lists; a tagged version written before Iceberg metadata is no snapshot", async () => {
    const tag: LogRecord = { kind: "VersionTagged", body: { dataset: DS, version: 1, tag: "old", ...WHO, at: 1_780_000_100_000 } };
    const { p, ic } = await lakeWith([committed(1, false), committed(2), committed(3), tag]);
    const state = await tableState(p, DS, ic);
    const m = JSON.parse(new TextDecoder().decode(state!.bytes)) as { properties: Record<string, string>; snapshots: { "snapshot-id": number }[] };
    assert.equal(m.properties["lake.verdicts"], "[]");
    assert.equal(m.properties["lake.expired"], "");
    assert.deepEqual(
      m.snapshots.map((s) => s["snapshot-id"]),
      [3],
    );
  });

  test("slow table states put the next write further off, never nearer than the interval nor further than the cap", () => {
    assert.equal(nextTableStateDelay(1000, 3), 1000);
    assert.equal(nextTableStateDelay(1000, 1000 / TABLE_STATE_BUSY_FACTOR), 1000);
    assert.equal(nextTableStateDelay(1000, 200), 200 * TABLE_STATE_BUSY_FACTOR);
    assert.equal(nextTableStateDelay(1000, 1000.2), Math.ceil(1000.2 * TABLE_STATE_BUSY_FACTOR));
    assert.equal(nextTableStateDelay(1000, 10 * TABLE_STATE_MAX_DELAY_MS), TABLE_STATE_MAX_DELAY_MS);
    // An interval longer than the cap is kept as it is.
    assert.equal(nextTableStateDelay(2 * TABLE_STATE_MAX_DELAY_MS, 5), 2 * TABLE_STATE_MAX_DELAY_MS);
  });
});
