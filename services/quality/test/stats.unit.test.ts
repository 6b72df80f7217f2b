// Version stats are additive over files: parent + added − removed equals the sum over the full set.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { addStats, EMPTY_STATS, nullRatio, subtractStats, sumStats } from "../src/domain/stats.ts";

const f1 = { rows: 10, nulls: { a: 2, b: 0 } };
const f2 = { rows: 5, nulls: { a: 5, b: 1 } };
const f3 = { rows: 4, nulls: { a: 0 } }; // a file without column b: b is null in all its rows

describe("stats", () => {
  test("given files, their sum adds rows and nulls per column", () => {
    assert.deepEqual(sumStats([f1, f2]), { rows: 15, nulls: { a: 7, b: 1 } });
  });

  test("a column a file lacks counts as null in every row of that file", () => {
    assert.deepEqual(sumStats([f1, f3]), { rows: 14, nulls: { a: 2, b: 4 } });
  });

  test("parent + added − removed equals the sum over the resulting file set", () => {
    const v1 = sumStats([f1, f2]);
    const v2 = subtractStats(addStats(v1, f3), f1);
    assert.deepEqual(v2, sumStats([f2, f3]));
  });

  test("null ratio: nulls over rows; an empty table has none", () => {
    assert.equal(nullRatio(sumStats([f1, f2]), "a"), 7 / 15);
    assert.equal(nullRatio(EMPTY_STATS, "a"), 0);
    assert.equal(nullRatio(f1, "unknown"), 1, "a column no file has is null everywhere");
  });
});
