import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { InvalidKeyError, StorageError, validateKey } from "../src/index.ts";

describe("validateKey", () => {
  test("accepts keys made of valid segments", () => {
    for (const key of ["a", "tables/t1/data/part-00001.parquet", "x/dt=2024-01-01/f_1.json", "A9", "a".repeat(200)]) {
      assert.equal(validateKey(key), key);
    }
    const longest = Array.from({ length: 8 }, () => "s".repeat(127)).join("/");
    assert.equal(longest.length, 1023);
    assert.equal(validateKey(longest), longest);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["parent escape", "../x", /'\.\.'/],
    ["empty segment", "a//b", /segment 2 is empty/],
    ["absolute", "/abs", /must not start with '\/'/],
    ["dot-dot in the middle", "a/../b", /'\.\.'/],
    ["space in a segment", "a/b c", /segment "b c" must match/],
    ["backslash in a segment", "a\\b", /segment "a\\\\b" must match/],
    ["trailing slash", "a/", /segment 2 is empty/],
    ["empty", "", /empty/],
    ["leading dot (temp-file namespace)", "a/.tmp-x", /segment "\.tmp-x" must match/],
    ["segment over 200 chars", "a".repeat(201), /must match/],
    ["key over 1024 chars", Array.from({ length: 11 }, () => "s".repeat(100)).join("/"), /limit is 1024/],
    ["non-ASCII", "caf\u00e9", /must match/],
  ];
  for (const [what, key, reason] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(
        () => validateKey(key),
        (e: unknown) => {
          assert.ok(e instanceof InvalidKeyError);
          assert.ok(e instanceof StorageError);
          assert.equal(e.key, key);
          assert.match(e.message, reason);
          if (key.length <= 120) assert.ok(e.message.includes(JSON.stringify(key)), "message names the key");
          return true;
        },
      );
    });
  }
});
