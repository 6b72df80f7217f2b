import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { assertValidName, InvalidNameError, isValidName, NAME_PATTERN } from "../src/names.ts";

describe("names", () => {
  test("accepts lower-case names of 1 to 63 characters starting with a letter", () => {
    for (const name of ["a", "domain_events", "orders2", "a_1_b", "z".repeat(63), `a${"0".repeat(62)}`]) {
      assert.equal(isValidName(name), true, name);
      assert.equal(assertValidName("dataset", name), name);
    }
  });

  const invalid = [
    "",
    "z".repeat(64),
    "Orders",
    "ORDERS",
    "1orders",
    "_orders",
    "orders.eu",
    "orders-eu",
    "orders/eu",
    "../x",
    "..",
    "a b",
    "orders\n",
    "\norders",
    "orders*",
    "orders>",
    "ördërs",
  ];
  for (const name of invalid) {
    test(`refuses ${JSON.stringify(name)}`, () => {
      assert.equal(isValidName(name), false);
      assert.throws(
        () => assertValidName("dataset", name),
        (e: unknown) => e instanceof InvalidNameError && e.name === "InvalidNameError" && e.what === "dataset" && e.value === name,
      );
    });
  }

  test("isValidName is false for non-strings", () => {
    for (const v of [undefined, null, 1, ["orders"], { toString: () => "orders" }]) assert.equal(isValidName(v), false);
  });

  test("the error message names the kind, the value and the rule", () => {
    const e = new InvalidNameError("domain", "Bad.Name");
    assert.equal(e.message, `invalid domain name "Bad.Name": must match ${NAME_PATTERN.source} (lower-case letter, then up to 62 of a-z, 0-9, _)`);
  });

  test("the error message clips a giant value to 80 characters", () => {
    const e = new InvalidNameError("dataset", "X".repeat(10_000));
    assert.ok(e.message.includes(`"${"X".repeat(80)}…"`));
    assert.ok(e.message.length < 250, `message is ${e.message.length} characters`);
    assert.equal(e.value.length, 10_000, "the full value stays available to code");
  });
});
