import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { failpointHook, FAILPOINTS, parseFailpoints } from "../src/failpoints.ts";

describe("parseFailpoints", () => {
  test("an empty spec arms nothing", () => {
    assert.equal(parseFailpoints("").size, 0);
    assert.equal(parseFailpoints(" , ,").size, 0);
  });

  test("point@N kills on the N-th hit", () => {
    assert.deepEqual([...parseFailpoints("after_parquet@2")], [["after_parquet", { nth: 2, kind: "kill" }]]);
  });

  test("point@N=pause:MS pauses on the N-th hit", () => {
    assert.deepEqual([...parseFailpoints("before_commit@1=pause:1500")], [["before_commit", { nth: 1, kind: "pause", ms: 1500 }]]);
  });

  test("a bare point means the first hit", () => {
    assert.deepEqual([...parseFailpoints("after_commit")], [["after_commit", { nth: 1, kind: "kill" }]]);
    assert.deepEqual([...parseFailpoints("after_manifest=pause:5")], [["after_manifest", { nth: 1, kind: "pause", ms: 5 }]]);
  });

  test("a comma list arms several points; spaces around entries are ignored", () => {
    const m = parseFailpoints(" after_parquet@3 , before_commit@2=pause:100,after_commit ");
    assert.deepEqual(Object.fromEntries(m), {
      after_parquet: { nth: 3, kind: "kill" },
      before_commit: { nth: 2, kind: "pause", ms: 100 },
      after_commit: { nth: 1, kind: "kill" },
    });
  });

  test("every known point parses", () => {
    for (const p of FAILPOINTS) assert.deepEqual(parseFailpoints(`${p}@4`).get(p), { nth: 4, kind: "kill" });
  });

  test("an unknown point is refused, naming it and listing the known ones", () => {
    assert.throws(() => parseFailpoints("after_parquet@1,before_lunch@1"), {
      message: `LAKE_FAILPOINTS: unknown failpoint "before_lunch"; known: ${FAILPOINTS.join(", ")}`,
    });
  });

  for (const bad of [
    "after_parquet@",
    "after_parquet@x",
    "after_parquet@-1",
    "after_parquet@1.5",
    "after_parquet@1=pause",
    "after_parquet@1=pause:",
    "after_parquet@1=kill",
    "after_parquet@1=pause:1s",
    "AFTER_PARQUET@1",
    "after-parquet@1",
    "@1",
    "after_parquet@1 =pause:5",
  ]) {
    test(`malformed ${JSON.stringify(bad)} is refused, quoting the entry and the expected shape`, () => {
      assert.throws(() => parseFailpoints(bad), {
        message: `LAKE_FAILPOINTS: cannot parse ${JSON.stringify(bad)}; expected point@N, point@N=pause:MS or point@N=wait`,
      });
    });
  }

  test("a zero count is refused as not positive", () => {
    assert.throws(() => parseFailpoints("after_manifest@0"), { message: `LAKE_FAILPOINTS: "after_manifest@0": count must be a positive integer` });
  });
});

describe("failpointHook", () => {
  test("with nothing armed, every point is a no-op", () => {
    const hook = failpointHook("");
    for (const p of FAILPOINTS) assert.equal(hook(p), undefined);
  });

  test("a pause fires only on the N-th hit of its point, and resolves", async () => {
    const hook = failpointHook("before_commit@2=pause:1");
    assert.equal(hook("after_commit"), undefined, "other points are not affected");
    assert.equal(hook("before_commit"), undefined, "first hit passes");
    const second = hook("before_commit");
    assert.ok(second instanceof Promise, "second hit pauses");
    await second;
    assert.equal(hook("before_commit"), undefined, "third hit passes again");
  });
});

describe("wait failpoints", () => {
  test("parse as wait, and a hook that reaches one stalls until SIGUSR2", async () => {
    assert.deepEqual(parseFailpoints("before_commit@1=wait").get("before_commit"), { nth: 1, kind: "wait" });
    const keepAlive = setInterval(() => {}, 50); // a service has its NATS connection; a test needs a timer
    const hook = failpointHook("before_commit@1=wait");
    const stalled = hook("before_commit");
    assert.ok(stalled instanceof Promise);
    let done = false;
    void stalled.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done, false, "still waiting");
    process.kill(process.pid, "SIGUSR2");
    await stalled;
    clearInterval(keepAlive);
    assert.equal(done, true);
  });
});
