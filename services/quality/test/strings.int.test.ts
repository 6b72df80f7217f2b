// String constraints are decided with JS semantics (UTF-16 lengths, JS regular expressions) even though
// DuckDB filters the values first: whatever the filter lets through or holds back, the counts equal a
// check of every value in JS. Real Parquet files written and read by DuckDB.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";

import type { ContractView, FieldView } from "../src/domain/rules.ts";
import { simpleClassPattern, sqlString } from "../src/parquet/inspect.ts";
import { duckFixture } from "./fixtures.ts";

type FieldConstraints = NonNullable<FieldView["constraints"]>;

const fx = duckFixture("lake-quality-strings-");

// Values where UTF-16 units, code points and UTF-8 bytes disagree, line ends, edges of every bound.
const VALUES = [
  "",
  "a",
  "ab",
  "abc",
  "abcd",
  "ABC",
  "a-b",
  "a b",
  "abc\n",
  "\nabc",
  "ab\u0000",
  "é",
  "éé",
  "ééé",
  "e\u0301",
  "👍",
  "a👍",
  "👍👍",
  "\u{10FFFF}",
  "日本",
  "x".repeat(7),
  "x".repeat(8),
  "x".repeat(9),
  "p-1._:z",
  "p/1",
  "A~z{}",
  "$",
  "^",
  "[",
  "\\",
  "]",
];

async function fileOf(values: readonly string[], n: number): Promise<string> {
  const path = join(fx.dir, `strings-${n}.parquet`);
  // Every value as code points (chr), so NUL and line ends reach the file as they are.
  const sql = (v: string) => (v === "" ? "''" : `concat(${[...v].map((ch) => `chr(${ch.codePointAt(0)})`).join(", ")})`);
  const rows = values.map((v, i) => `(${i}, ${sql(v)})`).join(", ");
  await fx.con.run(`COPY (SELECT s FROM (VALUES ${rows}) t(i, s) ORDER BY i) TO ${sqlString(path)} (FORMAT parquet)`);
  return path;
}

const field = (constraints: FieldConstraints): FieldView => ({
  name: "s",
  avroType: "string",
  timestampMillis: false,
  nullable: false,
  constraints,
  symbols: undefined,
});

function expected(values: readonly string[], c: FieldConstraints) {
  const re = c.pattern === undefined ? undefined : new RegExp(c.pattern);
  return {
    tooShort: values.filter((v) => c.minLength !== undefined && v.length < c.minLength).length,
    tooLong: values.filter((v) => c.maxLength !== undefined && v.length > c.maxLength).length,
    patternMismatch: values.filter((v) => re !== undefined && !re.test(v)).length,
  };
}

describe("string constraints over Parquet", () => {
  const cases: FieldConstraints[] = [
    { minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" },
    { minLength: 2, maxLength: 3 },
    { minLength: 3 },
    { maxLength: 1 },
    { maxLength: 8, pattern: "^[a-z]{2,3}$" },
    { pattern: "^[a-z]*$" },
    { pattern: "^[ -~]{1,}$" },
    { pattern: "^[$^]+$" }, // a caret in the class: not the simple form, every value goes to JS
    { pattern: "^\\w+$" }, // an escape: not the simple form
    { pattern: "b" }, // unanchored: not the simple form
    { pattern: "^[a-z]+$", minLength: 2 },
  ];
  let n = 0;
  for (const c of cases) {
    test(`${JSON.stringify(c)}: the counts equal a check of every value in JS`, async () => {
      const path = await fileOf(VALUES, n++);
      const contract: ContractView = { name: "t", version: 1, fields: [field(c)] };
      const m = (await fx.parquet.measureFields([path], contract)).s!;
      assert.deepEqual({ tooShort: m.tooShort, tooLong: m.tooLong, patternMismatch: m.patternMismatch }, expected(VALUES, c));
      // Each example breaks the rule it is given for.
      if (m.examples.pattern !== undefined) assert.equal(new RegExp(c.pattern!).test(m.examples.pattern), false);
      if (m.examples.length !== undefined) {
        const l = m.examples.length.length;
        assert.ok((c.minLength !== undefined && l < c.minLength) || (c.maxLength !== undefined && l > c.maxLength), m.examples.length);
      }
    });
  }

  test("only ^[ASCII class]quantifier$ patterns are handed to DuckDB", () => {
    assert.equal(simpleClassPattern("^[A-Za-z0-9._:-]+$"), "[A-Za-z0-9._:-]+");
    assert.equal(simpleClassPattern("^[a-z]{2,3}$"), "[a-z]{2,3}");
    assert.equal(simpleClassPattern("^[a-z]{2,}$"), "[a-z]{2,}");
    assert.equal(simpleClassPattern("^[a-z]*$"), "[a-z]*");
    for (const p of [
      "^[^a-z]+$", // negated
      "^[a\\]b]+$", // escape
      "^[a-z]+", // not anchored at the end
      "[a-z]+$", // not at the start
      "^[a-z]+$|^x$", // alternation
      "^[z-a]+$", // invalid in JS
      "^[a-z]{1,2000}$", // RE2 refuses counts above 1000
      "^[a-z]{3,2}$", // out of order
      "^[é]+$", // not ASCII
      "^[a-z]+?$", // lazy
      "^[[:alpha:]]+$", // a POSIX class means something else in RE2
    ])
      assert.equal(simpleClassPattern(p), undefined, p);
  });
});
