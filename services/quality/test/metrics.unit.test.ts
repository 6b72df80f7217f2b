// What the quality checker's metrics say about a verdict: outcome, each failed rule, drift and latency.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createRegistry } from "@lake/telemetry";

import { driftOf, MAX_DRIFT_COLUMNS } from "../src/domain/drift.ts";
import { measured, unmeasured } from "../src/domain/stats.ts";
import { QualityMetrics } from "../src/metrics.ts";

const contract = { name: "Payment", version: 1, fields: [{ name: "payment_id" }, { name: "card_country" }] } as never;

describe("driftOf", () => {
  test("row-count drop against the previous version, null ratio of every contract column", () => {
    const d = driftOf({
      contract,
      stats: measured({ rows: 80, nulls: { payment_id: 0, card_country: 20, _offset: 0 } }),
      previous: { version: 1, stats: measured({ rows: 100, nulls: { payment_id: 0, card_country: 0 } }) },
    });
    assert.deepEqual(d, { rowCountDrop: 0.2, nullRatios: { payment_id: 0, card_country: 0.25 } });
  });

  test("growth is no drop; no baseline, no drop figure; nothing measured, nothing said", () => {
    const grown = driftOf({ contract, stats: measured({ rows: 120, nulls: {} }), previous: { version: 1, stats: measured({ rows: 100, nulls: {} }) } });
    assert.equal(grown.rowCountDrop, 0);
    assert.equal(grown.nullRatios.card_country, 1, "a column the files lack is null in every row");
    assert.equal(driftOf({ contract, stats: measured({ rows: 1, nulls: {} }), previous: undefined }).rowCountDrop, undefined);
    assert.equal(driftOf({ contract, stats: measured({ rows: 1, nulls: {} }), previous: { version: 1, stats: unmeasured("gone") } }).rowCountDrop, undefined);
    assert.deepEqual(driftOf({ contract, stats: unmeasured("gone"), previous: undefined }), { rowCountDrop: undefined, nullRatios: {} });
  });

  test("without a contract: the files' columns, system columns left out, at most MAX_DRIFT_COLUMNS", () => {
    const nulls = Object.fromEntries(Array.from({ length: MAX_DRIFT_COLUMNS + 10 }, (_, i) => [`c${i}`, 0]));
    const d = driftOf({ contract: undefined, stats: measured({ rows: 1, nulls: { ...nulls, _offset: 0 } }), previous: undefined });
    assert.equal(Object.keys(d.nullRatios).length, MAX_DRIFT_COLUMNS);
    assert.ok(!("_offset" in d.nullRatios));
  });
});

describe("QualityMetrics", () => {
  test("a failed verdict counts its outcome and every failed rule, and sets the drift gauges", async () => {
    const registry = createRegistry("quality");
    const m = new QualityMetrics(registry);
    const rules = [
      { rule: "row_count_min", passed: true, measured: "", expected: "", message: "ok" },
      { rule: "max_null_ratio(card_country)", passed: false, measured: "", expected: "", message: "" },
      { rule: "null_ratio_increase(card_country)", passed: false, measured: "", expected: "", message: "" },
    ];
    m.observe({
      dataset: "payments",
      outcome: "failed",
      rules,
      judgeMs: 40,
      sinceCommitMs: 1500,
      drift: { rowCountDrop: 0, nullRatios: { card_country: 0.5 } },
    });
    m.observe({ dataset: "payments", outcome: "passed", rules: [rules[0]!], judgeMs: 10, sinceCommitMs: undefined, drift: undefined });
    const text = await registry.metrics();
    const has = (line: RegExp, why?: string) => assert.match(text, line, why);
    has(/^lake_quality_verdicts_total\{dataset="payments",outcome="failed",service="quality"\} 1$/m);
    has(/^lake_quality_verdicts_total\{dataset="payments",outcome="passed",service="quality"\} 1$/m);
    has(/^lake_quality_rule_failures_total\{dataset="payments",rule="max_null_ratio\(card_country\)",service="quality"\} 1$/m);
    has(/^lake_quality_rule_failures_total\{dataset="payments",rule="null_ratio_increase\(card_country\)",service="quality"\} 1$/m);
    assert.doesNotMatch(text, /rule="row_count_min"/, "a passed rule is no failure");
    has(/^lake_quality_null_ratio\{dataset="payments",column="card_country",service="quality"\} 0.5$/m);
    has(/^lake_quality_row_count_drop_ratio\{dataset="payments",service="quality"\} 0$/m);
    has(/^lake_quality_judge_seconds_count\{service="quality",dataset="payments"\} 2$/m);
    has(/^lake_quality_verdict_latency_seconds_count\{service="quality",dataset="payments"\} 1$/m, "a verdict without a commit time is no latency");
    has(/^lake_quality_verdict_latency_seconds_bucket\{le="1",service="quality",dataset="payments"\} 0$/m);
    has(/^lake_quality_verdict_latency_seconds_bucket\{le="2.5",service="quality",dataset="payments"\} 1$/m);
  });
});
