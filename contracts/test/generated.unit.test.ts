import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { generate } from "../scripts/gen.ts";

test("src/generated.ts is up to date with avro/**/*.avsc (run npm run gen:contracts if this fails)", () => {
  const committed = readFileSync(join(import.meta.dirname, "..", "src", "generated.ts"), "utf8");
  const fresh = generate();
  assert.ok(fresh.startsWith("// DO NOT EDIT"), "generator output carries the DO NOT EDIT marker");
  assert.equal(committed, fresh);
});
