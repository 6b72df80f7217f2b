// The verdict as a pure function, tested given/when/then: given what was measured about a version
// (and its parent), when it is judged, then these rules pass or fail with these measurements.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { rulesFor } from "../src/dataset-rules.ts";
import { NO_RULES, type QualityConfig } from "../src/domain/config.ts";
import { cleanField, type ContractView, type FieldMeasure, judge, type JudgeInput, type RuleResult } from "../src/domain/rules.ts";
import { type ColumnStats, measured, unmeasured } from "../src/domain/stats.ts";

const payments = rulesFor("payments").contract!;
const NOW = Date.UTC(2026, 5, 1, 12);
const COLUMNS = [
  { name: "payment_id", type: "VARCHAR" },
  { name: "user_id", type: "VARCHAR" },
  { name: "timestamp", type: "TIMESTAMP WITH TIME ZONE" },
  { name: "amount", type: "DOUBLE" },
  { name: "currency", type: "VARCHAR" },
  { name: "card_country", type: "VARCHAR" },
  { name: "_offset", type: "BIGINT" },
];

const stats = (rows: number, nulls: Record<string, number> = {}): ColumnStats => ({ rows, nulls: { card_country: 0, ...nulls } });
const clean = (): Record<string, FieldMeasure> => Object.fromEntries(payments.fields.map((f) => [f.name, cleanField()]));

/** Given: version 2 of payments adding 100 clean rows on top of 100, with no rules configured. */
function given(over: Partial<JudgeInput> = {}, config: Partial<QualityConfig> = {}): JudgeInput {
  return {
    dataset: "payments",
    version: 2,
    schemaName: "payments",
    recordedTotalRows: 200,
    maxEventTime: NOW - 1000,
    contract: payments,
    config: { ...NO_RULES, ...config },
    files: [{ key: "datasets/payments/data/dt=2026-06-01/w2-000.parquet", problem: undefined, columns: COLUMNS }],
    addedRows: measured(100),
    fields: clean(),
    stats: measured(stats(200)),
    previous: { version: 1, stats: measured(stats(100)) },
    now: NOW,
    ...over,
  };
}

function ruleOf(rules: RuleResult[], name: string): RuleResult {
  const r = rules.find((x) => x.rule === name);
  assert.ok(r, `rule ${name} ran (ran: ${rules.map((x) => x.rule).join(", ")})`);
  return r;
}

const failedRules = (rules: RuleResult[]) => rules.filter((r) => !r.passed).map((r) => r.rule);

describe("judge: a clean version", () => {
  test("passes every rule, and each rule says what it measured and expected", () => {
    const { outcome, rules } = judge(given());
    assert.equal(outcome, "passed");
    assert.deepEqual(failedRules(rules), []);
    for (const r of rules) {
      assert.ok(r.measured.length > 0 && r.expected.length > 0, `${r.rule} has measured and expected`);
    }
  });

  test("runs the contract-derived rules: files, schema, not_null per required field, range, length, pattern, enum", () => {
    const names = judge(given()).rules.map((r) => r.rule);
    assert.deepEqual(names, [
      "files",
      "schema",
      "not_null(payment_id)",
      "length(payment_id)",
      "pattern(payment_id)",
      "not_null(user_id)",
      "length(user_id)",
      "not_null(timestamp)",
      "range(timestamp)",
      "not_null(amount)",
      "range(amount)",
      "not_null(currency)",
      "enum(currency)",
      "length(card_country)",
      "total_rows",
    ]);
  });

  test("rules switched off in lake.quality do not run", () => {
    const names = judge(given()).rules.map((r) => r.rule);
    for (const off of ["row_count_min", "row_count_drift", "freshness"]) assert.ok(!names.includes(off), off);
    assert.ok(!names.some((n) => n.startsWith("max_null_ratio") || n.startsWith("null_ratio_increase")));
  });
});

describe("judge: row-level rules over the added rows", () => {
  test("given nulls in a required field, not_null fails with the count", () => {
    const fields = clean();
    fields.user_id = cleanField(3);
    const { outcome, rules } = judge(given({ fields }));
    assert.equal(outcome, "failed");
    assert.deepEqual(failedRules(rules), ["not_null(user_id)"]);
    assert.equal(ruleOf(rules, "not_null(user_id)").measured, "3 nulls in 100 rows");
  });

  test("given amounts out of range, range fails with the observed extremes and an example", () => {
    const fields = clean();
    fields.amount = { ...cleanField(), min: -5, max: 20, belowMin: 2, examples: { range: -5 } };
    const r = ruleOf(judge(given({ fields })).rules, "range(amount)");
    assert.equal(r.passed, false);
    assert.equal(r.measured, "2 of 100 outside; observed [-5, 20]");
    assert.equal(r.expected, "[0, 1000000000]");
    assert.match(r.message, /e\.g\. -5/);
  });

  test("timestamp ranges are shown as ISO instants", () => {
    const r = ruleOf(judge(given()).rules, "range(timestamp)");
    assert.equal(r.expected, "[2000-01-01T00:00:00.000Z, 2100-01-01T00:00:00.000Z]");
  });

  test("given a value outside the enum, enum fails naming it", () => {
    const fields = clean();
    fields.currency = { ...cleanField(), notInEnum: 1, examples: { enum: "JPY" } };
    const r = ruleOf(judge(given({ fields })).rules, "enum(currency)");
    assert.equal(r.passed, false);
    assert.equal(r.expected, "one of EUR, USD, GBP");
    assert.match(r.message, /"JPY"/);
  });

  test("given too-long and mismatching strings, length and pattern fail", () => {
    const fields = clean();
    fields.card_country = { ...cleanField(), tooLong: 4, examples: { length: "DEU" } };
    fields.payment_id = { ...cleanField(), patternMismatch: 1, examples: { pattern: "a b" } };
    const { rules } = judge(given({ fields }));
    assert.deepEqual(failedRules(rules), ["pattern(payment_id)", "length(card_country)"]);
    assert.equal(ruleOf(rules, "length(card_country)").expected, "length in [0, 2]");
  });

  test("given a file whose columns differ, schema fails and row-level rules are skipped", () => {
    const columns = COLUMNS.map((c) => (c.name === "amount" ? { name: "amount", type: "DECIMAL(21,1)" } : c)).concat([{ name: "extra", type: "INTEGER" }]);
    const files = [{ key: "f1", problem: undefined, columns }];
    const { outcome, rules } = judge(given({ files, fields: undefined }));
    assert.equal(outcome, "failed");
    const r = ruleOf(rules, "schema");
    assert.equal(r.passed, false);
    assert.match(r.message, /amount is DECIMAL\(21,1\), not DOUBLE/);
    assert.match(r.message, /unexpected column extra/);
    assert.ok(!rules.some((x) => x.rule.startsWith("not_null")), "row-level rules skipped");
  });

  test("given a missing or altered file, files fails naming it", () => {
    const files = [
      { key: "ok", problem: undefined, columns: COLUMNS },
      { key: "gone", problem: "missing from the store", columns: undefined },
    ];
    const { outcome, rules } = judge(given({ files, fields: undefined, addedRows: unmeasured("gone: missing from the store") }));
    assert.equal(outcome, "failed");
    const r = ruleOf(rules, "files");
    assert.equal(r.measured, "1 of 2 added files bad");
    assert.match(r.message, /gone: missing from the store/);
  });
});

describe("judge: table-level rules", () => {
  test("total_rows fails when the files hold a different count than the record", () => {
    const r = ruleOf(judge(given({ recordedTotalRows: 201 })).rules, "total_rows");
    assert.equal(r.passed, false);
    assert.equal(r.measured, "200 rows in the version's files");
  });

  test("row_count_min: rows added below the minimum fail", () => {
    assert.equal(ruleOf(judge(given({}, { rowCountMin: 100 })).rules, "row_count_min").passed, true);
    const r = ruleOf(judge(given({ addedRows: measured(0) }, { rowCountMin: 1 })).rules, "row_count_min");
    assert.equal(r.passed, false);
    assert.equal(r.measured, "0 rows added");
    assert.equal(r.expected, ">= 1");
  });

  test("row_count_drift: a drop beyond the ratio fails; growth and the first version pass", () => {
    const cfg = { maxRowCountDropRatio: 0.5 };
    const dropped = ruleOf(
      judge(given({ stats: measured(stats(40)), previous: { version: 1, stats: measured(stats(100)) }, recordedTotalRows: 40 }, cfg)).rules,
      "row_count_drift",
    );
    assert.equal(dropped.passed, false);
    assert.equal(dropped.measured, "0.6000 (40 rows, 100 in version 1)");
    const half = ruleOf(judge(given({ stats: measured(stats(50)), recordedTotalRows: 50 }, cfg)).rules, "row_count_drift");
    assert.equal(half.passed, true, "exactly the allowed drop passes");
    assert.equal(ruleOf(judge(given({}, cfg)).rules, "row_count_drift").measured, "0.0000 (200 rows, 100 in version 1)");
    const first = ruleOf(judge(given({ version: 1, previous: undefined }, cfg)).rules, "row_count_drift");
    assert.equal(first.passed, true);
    assert.equal(first.message, "first version: no baseline");
  });

  test("a baseline that cannot be computed does not block the dataset, and says so", () => {
    const r = ruleOf(
      judge(given({ previous: { version: 1, stats: unmeasured("file x is missing from the store") } }, { maxRowCountDropRatio: 0.1 })).rules,
      "row_count_drift",
    );
    assert.equal(r.passed, true);
    assert.match(r.message, /no baseline: file x is missing/);
  });

  test("max_null_ratio: the whole version's null ratio above the limit fails, with the measured ratio", () => {
    const cfg = { maxNullRatio: { card_country: 0.5 } };
    const ok = ruleOf(judge(given({ stats: measured(stats(200, { card_country: 100 })) }, cfg)).rules, "max_null_ratio(card_country)");
    assert.equal(ok.passed, true, "exactly at the limit passes");
    const { outcome, rules } = judge(given({ stats: measured(stats(200, { card_country: 181 })) }, cfg));
    assert.equal(outcome, "failed");
    const r = ruleOf(rules, "max_null_ratio(card_country)");
    assert.equal(r.passed, false);
    assert.equal(r.measured, "0.9050 (181 of 200 rows null)");
    assert.equal(r.expected, "<= 0.5");
  });

  test("max_null_ratio: unknown stats fail the rule rather than pass it", () => {
    const r = ruleOf(
      judge(given({ stats: unmeasured("file y is missing from the store") }, { maxNullRatio: { card_country: 0.5 } })).rules,
      "max_null_ratio(card_country)",
    );
    assert.equal(r.passed, false);
    assert.match(r.message, /file y is missing/);
  });

  test("null_ratio_increase: runs for every nullable column and fails on a rise beyond the limit", () => {
    const cfg = { maxNullRatioIncrease: 0.25 };
    const rise = judge(
      given({ stats: measured(stats(200, { card_country: 80 })), previous: { version: 1, stats: measured(stats(100, { card_country: 10 })) } }, cfg),
    );
    const r = ruleOf(rise.rules, "null_ratio_increase(card_country)");
    assert.equal(r.passed, false);
    assert.equal(r.measured, "+0.3000 (0.4000 vs 0.1000 in version 1)");
    const exact = judge(
      given({ stats: measured(stats(200, { card_country: 70 })), previous: { version: 1, stats: measured(stats(100, { card_country: 10 })) } }, cfg),
    );
    assert.equal(ruleOf(exact.rules, "null_ratio_increase(card_country)").passed, true, "exactly the allowed rise passes");
    assert.deepEqual(
      rise.rules.filter((x) => x.rule.startsWith("null_ratio_increase")).map((x) => x.rule),
      ["null_ratio_increase(card_country)"],
      "only nullable columns",
    );
  });

  test("freshness: the clock is passed in; a lag beyond the limit fails, no event time fails", () => {
    const cfg = { freshnessMaxLagMs: 60_000 };
    assert.equal(ruleOf(judge(given({ maxEventTime: NOW - 60_000 }, cfg)).rules, "freshness").passed, true);
    const late = ruleOf(judge(given({ maxEventTime: NOW - 60_001 }, cfg)).rules, "freshness");
    assert.equal(late.passed, false);
    assert.match(late.measured, /^lag 60001 ms/);
    assert.equal(ruleOf(judge(given({ maxEventTime: NOW - 60_001, now: NOW - 1 }, cfg)).rules, "freshness").passed, true, "same version, earlier clock");
    assert.equal(ruleOf(judge(given({ maxEventTime: null }, cfg)).rules, "freshness").passed, false);
  });
});

describe("judge: a dataset without a domain contract (derived)", () => {
  test("runs only the generic rules, says so, and passes when they pass", () => {
    const { outcome, rules } = judge(
      given({
        schemaName: "daily_revenue",
        contract: undefined,
        fields: undefined,
        files: [{ key: "f", problem: undefined, columns: [{ name: "x", type: "BIGINT" }] }],
      }),
    );
    assert.equal(outcome, "passed");
    assert.deepEqual(
      rules.map((r) => r.rule),
      ["contract", "files", "total_rows"],
    );
    const c = ruleOf(rules, "contract");
    assert.equal(c.passed, true, "a missing contract is not a failure");
    assert.match(c.message, /only generic rules run/);
  });
});

describe("contractView", () => {
  test("carries enum symbols and constraints of the payments contract", () => {
    const view: ContractView = payments;
    assert.deepEqual(view.fields.find((f) => f.name === "currency")?.symbols, ["EUR", "USD", "GBP"]);
    assert.deepEqual(view.fields.find((f) => f.name === "card_country")?.constraints, { maxLength: 2 });
    assert.equal(view.fields.find((f) => f.name === "card_country")?.nullable, true);
    const events = rulesFor("domain_events").contract!;
    assert.deepEqual(events.fields.find((f) => f.name === "event_type")?.symbols, ["view", "click", "purchase", "refund", "signup"]);
  });
});
