// Measuring a version against real Parquet files on a real local store, read by DuckDB: integrity,
// schema, row-level measurements, and version stats computed incrementally from per-file stats.
import assert from "node:assert/strict";
import { readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";
import { IcebergHistory } from "@lake/iceberg/history";
import { type LocalDiskStore, openLocalStore } from "@lake/storage";

import { rulesFor } from "../src/dataset-rules.ts";
import { QualityState } from "../src/db/state.ts";
import { judge } from "../src/domain/rules.ts";
import { VersionMeasurer } from "../src/parquet/measure.ts";
import { duckFixture, putParquet, versionCommitted } from "./fixtures.ts";

const rules = rulesFor("payments");
const NOW = Date.UTC(2026, 5, 1, 12);
const fx = duckFixture("lake-quality-measure-");
let opened: LocalDiskStore | undefined;
// Opened on first use: the fixture's temp dir exists once its (async) before hook is done.
const store = () => (opened ??= openLocalStore(join(fx.dir, "store")));

const put = (rows: number, nulls: number, columns: Record<string, string> = {}) => putParquet(fx.con, store(), fx.dir, "payments", rows, { nulls, columns });

function vc(version: number, added: LakeLog.DataFile[], totalRows: number, removed: string[] = []): LogRecord {
  return { kind: "VersionCommitted", body: versionCommitted("payments", version, added, totalRows, { removed, maxEventTime: NOW - 1000 }) };
}

let stateNo = 0;
function freshState(...log: LogRecord[]): QualityState {
  const s = new QualityState(join(fx.dir, `state-${stateNo++}.db`));
  s.applyBatch(log.map((record, i) => ({ seq: i + 1, subject: "lake.commits.payments", record })));
  return s;
}

describe("VersionMeasurer", () => {
  test("given clean files, every rule passes and the stats add up across versions", async () => {
    const a = await put(20, 0);
    const b = await put(30, 6);
    const state = freshState(vc(1, [a], 20), vc(2, [b], 50));
    const m = new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache"));
    const v1 = judge(await m.inputFor(state.version("payments", 1)!, rules, NOW));
    assert.equal(v1.outcome, "passed", JSON.stringify(v1.rules.filter((r) => !r.passed)));
    const input = await m.inputFor(state.version("payments", 2)!, rules, NOW);
    assert.deepEqual(input.addedRows, { ok: true, value: 30 });
    assert.equal(input.fields?.card_country?.nulls, 6);
    assert.deepEqual(input.previous, {
      version: 1,
      stats: { ok: true, value: { rows: 20, nulls: { payment_id: 0, user_id: 0, timestamp: 0, amount: 0, currency: 0, card_country: 0, _offset: 0 } } },
    });
    assert.ok(input.stats.ok);
    assert.equal(input.stats.value.rows, 50);
    assert.equal(input.stats.value.nulls.card_country, 6);
    const v2 = judge(input);
    assert.equal(v2.outcome, "passed");
    assert.equal(v2.rules.find((r) => r.rule === "max_null_ratio(card_country)")?.measured, "0.1200 (6 of 50 rows null)");
    state.close();
  });

  test("given bad rows, the row-level rules count them (lengths and patterns with JS semantics)", async () => {
    const f = await put(10, 0, {
      payment_id: "CASE WHEN i = 0 THEN 'has space' ELSE 'p-x-' || i END",
      amount: "CASE WHEN i = 1 THEN -1.0 ELSE 2.0 END::DOUBLE",
      currency: "CASE WHEN i = 2 THEN 'JPY' ELSE 'EUR' END",
      card_country: "CASE WHEN i = 3 THEN 'DEU' ELSE 'DE' END",
    });
    const state = freshState(vc(1, [f], 10));
    const { outcome, rules: results } = judge(
      await new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache")).inputFor(state.version("payments", 1)!, rules, NOW),
    );
    assert.equal(outcome, "failed");
    assert.deepEqual(
      results.filter((r) => !r.passed).map((r) => [r.rule, r.measured]),
      [
        ["pattern(payment_id)", "1 of 10 not matching"],
        ["range(amount)", "1 of 10 outside; observed [-1, 2]"],
        ["enum(currency)", "1 of 10 not a symbol"],
        ["length(card_country)", "1 of 10 outside"],
      ],
    );
    state.close();
  });

  test("given a file of the wrong types, schema fails and row-level rules are skipped", async () => {
    const f = await put(5, 0, { amount: "(i * 1.5)" }); // DECIMAL, not DOUBLE
    const state = freshState(vc(1, [f], 5));
    const input = await new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache")).inputFor(state.version("payments", 1)!, rules, NOW);
    assert.equal(input.fields, undefined);
    const r = judge(input);
    assert.deepEqual(
      r.rules.filter((x) => !x.passed).map((x) => x.rule),
      ["schema"],
    );
    state.close();
  });

  test("given a missing file and an altered one, files fails naming both and counts are unknown", async () => {
    const gone = await put(5, 0);
    const altered = await put(5, 0);
    await unlink(store().localPath(gone.key));
    const bytes = await readFile(store().localPath(altered.key));
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    await writeFile(store().localPath(altered.key), bytes);
    const state = freshState(vc(1, [gone, altered], 10));
    const input = await new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache")).inputFor(state.version("payments", 1)!, rules, NOW);
    const r = judge(input);
    assert.equal(r.outcome, "failed");
    const files = r.rules.find((x) => x.rule === "files")!;
    assert.equal(files.measured, "2 of 2 added files bad");
    assert.match(files.message, /missing from the store/);
    assert.match(files.message, /sha256 differs/);
    assert.equal(r.rules.find((x) => x.rule === "max_null_ratio(card_country)")?.passed, false, "unknown stats never pass a gate");
    state.close();
  });

  test("a fresh instance computes the parent's stats from its full file set, even when removed files are gone", async () => {
    const a = await put(10, 10);
    const b = await put(10, 0);
    const c = await put(20, 0);
    // v2 compacts away a (all nulls); v3 adds c. Then a is deleted from the store, as GC would.
    const state = freshState(vc(1, [a], 10), vc(2, [b], 10, [a.key]), vc(3, [c], 30));
    await unlink(store().localPath(a.key));
    const input = await new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache")).inputFor(state.version("payments", 3)!, rules, NOW);
    assert.deepEqual(input.previous?.stats.ok && input.previous.stats.value.rows, 10);
    assert.ok(input.stats.ok);
    assert.deepEqual([input.stats.value.rows, input.stats.value.nulls.card_country], [30, 0]);
    assert.equal(judge(input).outcome, "passed");
    state.close();
  });

  test("a fresh instance reads a version's whole file set from its Iceberg snapshot (immutable manifests), not from a fold of the log", async () => {
    const a = await put(10, 10);
    const b = await put(10, 0);
    const c = await put(20, 0);
    const h = new IcebergHistory(store(), "payments");
    const r1 = await h.next({ added: [a] });
    const r2 = await h.next({ added: [b], removed: [a.key], operation: "compaction" });
    const r3 = await h.next({ added: [c] });
    // As the state is given it, version 2 doesn't say it removed a: only its snapshot knows its file set.
    const state = freshState(
      { kind: "VersionCommitted", body: r1 },
      { kind: "VersionCommitted", body: { ...r2, removed_files: [] } },
      { kind: "VersionCommitted", body: r3 },
    );
    assert.ok(state.version("payments", 2)!.icebergManifestList, "the state keeps the version's manifest list");
    const input = await new VersionMeasurer(state, store(), fx.parquet, join(fx.dir, "cache")).inputFor(state.version("payments", 3)!, rules, NOW);
    assert.deepEqual(input.previous?.stats.ok && input.previous.stats.value.rows, 10, "version 2 is b alone, as its snapshot says");
    assert.ok(input.stats.ok);
    assert.deepEqual([input.stats.value.rows, input.stats.value.nulls.card_country], [30, 0]);
    state.close();
  });
});
