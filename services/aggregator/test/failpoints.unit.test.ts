import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { failpointHook, FAILPOINTS, parseFailpoints } from "../src/failpoints.ts";

describe("failpoints", () => {
  test("the aggregator's points parse; unknown ones are refused, listing the known ones", () => {
    assert.deepEqual(Object.fromEntries(parseFailpoints("after_state_commit@3, mid_publish=pause:20")), {
      after_state_commit: { nth: 3, kind: "kill" },
      mid_publish: { nth: 1, kind: "pause", ms: 20 },
    });
    assert.throws(() => parseFailpoints("after_parquet@1"), { message: `LAKE_FAILPOINTS: unknown failpoint "after_parquet"; known: ${FAILPOINTS.join(", ")}` });
    assert.throws(() => parseFailpoints("mid_publish@0"), /count must be a positive integer/);
  });

  test("with nothing armed every point is a no-op; a pause resolves on its N-th hit only", async () => {
    const none = failpointHook("");
    for (const p of FAILPOINTS) assert.equal(none(p), undefined);
    const hook = failpointHook("mid_publish@2=pause:5");
    assert.equal(hook("mid_publish"), undefined);
    assert.ok(hook("mid_publish") instanceof Promise);
    assert.equal(hook("mid_publish"), undefined);
  });
});
