// lake.quality parsing: absent keys switch rules off; anything malformed is refused with the key named,
// so a typo cannot silently disable a gate.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { loadAllRules, rulesFor } from "../src/dataset-rules.ts";
import { NO_RULES, parseQualityConfig, QualityConfigError } from "../src/domain/config.ts";

const ctx = { contract: "payments", columns: ["payment_id", "card_country"] };

describe("parseQualityConfig", () => {
  test("given no lake.quality, every rule is off", () => {
    assert.deepEqual(parseQualityConfig(undefined, ctx), NO_RULES);
    assert.deepEqual(parseQualityConfig(null, ctx), NO_RULES);
  });

  test("given every key, each is read; null switches a rule off", () => {
    const c = parseQualityConfig(
      { row_count_min: 1, max_row_count_drop_ratio: 0.5, max_null_ratio: { card_country: 0.5 }, max_null_ratio_increase: 0.25, freshness_max_lag_ms: null },
      ctx,
    );
    assert.deepEqual(c, {
      rowCountMin: 1,
      maxRowCountDropRatio: 0.5,
      maxNullRatio: { card_country: 0.5 },
      maxNullRatioIncrease: 0.25,
      freshnessMaxLagMs: undefined,
    });
  });

  for (const [raw, message] of [
    [[], /expected an object, got an array/],
    [{ max_nul_ratio: {} }, /unknown key "max_nul_ratio"/],
    [{ row_count_min: -1 }, /row_count_min must be a non-negative integer/],
    [{ row_count_min: 1.5 }, /row_count_min must be a non-negative integer/],
    [{ max_row_count_drop_ratio: 2 }, /max_row_count_drop_ratio must be a ratio in \[0, 1\]/],
    [{ max_null_ratio_increase: "0.1" }, /max_null_ratio_increase must be a ratio/],
    [{ freshness_max_lag_ms: -5 }, /freshness_max_lag_ms must be a non-negative integer/],
    [{ max_null_ratio: { nope: 0.1 } }, /max_null_ratio names "nope", which is not a field/],
    [{ max_null_ratio: { card_country: 1.1 } }, /max_null_ratio.card_country must be a ratio/],
    [{ max_null_ratio: [0.1] }, /max_null_ratio must be an object/],
  ] as const) {
    test(`refuses ${JSON.stringify(raw)}`, () => {
      assert.throws(
        () => parseQualityConfig(raw, ctx),
        (e: unknown) => e instanceof QualityConfigError && e.contract === "payments" && message.test(e.message),
      );
    });
  }
});

describe("rulesFor", () => {
  test("payments: its contract and the lake.quality block of its .avsc", () => {
    const r = rulesFor("payments");
    assert.equal(r.contract?.name, "payments");
    assert.equal(r.config.rowCountMin, 1);
    assert.deepEqual(r.config.maxNullRatio, { card_country: 0.5 });
  });

  test("a schema without a domain contract gets no contract and no rules, not an error", () => {
    assert.deepEqual(rulesFor("daily_revenue"), { contract: undefined, config: NO_RULES });
  });

  test("every domain contract in the repo has a valid lake.quality (or none)", () => {
    const all = loadAllRules();
    assert.ok(all.has("payments") && all.has("domain_events"));
  });
});
