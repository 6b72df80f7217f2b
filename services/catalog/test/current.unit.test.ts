// Given/when/then tests of which version is current (domain/current.ts), without a database: given
// what the projection knows of a dataset, when a commit, a verdict or a promotion record arrives, then
// the current version, whether the verdict promotes, the rollback floor, or why the record is void.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { DatasetFacts, QualityStatus } from "../src/domain/commands.ts";
import { autoPromotes, type CurrentFacts, currentOnCommit, promotionRecordProblem, rollbackFloorAfter, verdictProblem } from "../src/domain/current.ts";

const critical = (currentVersion: number, rollbackFloor = 0): CurrentFacts => ({ policy: "critical", currentVersion, rollbackFloor });
const passed = (version: number) => ({ version, outcome: "passed" });
const failed = (version: number) => ({ version, outcome: "failed" });

describe("currentOnCommit", { timeout: 30_000 }, () => {
  test("given a non-critical dataset, when a version is committed, then it is current at once", () => {
    assert.equal(currentOnCommit("non-critical", 4, 3), 4);
    assert.equal(currentOnCommit("non-critical", 1, 0), 1);
  });

  test("given a critical dataset, when a version is committed, then current stays where it was (none stays none)", () => {
    assert.equal(currentOnCommit("critical", 4, 3), 3);
    assert.equal(currentOnCommit("critical", 1, 0), 0);
  });
});

describe("verdictProblem", { timeout: 30_000 }, () => {
  test("given a pending version, when its verdict arrives, then it stands", () => {
    assert.equal(verdictProblem(3, "pending"), undefined);
  });

  test("given no such version, or one already judged, then the verdict is void, with why", () => {
    assert.equal(verdictProblem(99, undefined), "verdict for unknown version 99");
    assert.equal(verdictProblem(3, "passed"), "second verdict for version 3 (first: passed)");
    assert.equal(verdictProblem(3, "failed"), "second verdict for version 3 (first: failed)");
  });
});

describe("autoPromotes: a passed verdict opens the gate of a critical dataset", { timeout: 30_000 }, () => {
  test("given a critical dataset with nothing current, when v1 passes, then v1 becomes current", () => {
    assert.equal(autoPromotes(critical(0), passed(1), false), true);
  });

  test("given current 1, when v4 passes (v2, v3 still pending), then v4 becomes current", () => {
    assert.equal(autoPromotes(critical(1), passed(4), false), true);
  });

  test("given current 4, when the older v3 passes late, then current stays 4", () => {
    assert.equal(autoPromotes(critical(4), passed(3), false), false);
    assert.equal(autoPromotes(critical(4), passed(4), false), false);
  });

  test("given a failed verdict, then nothing moves", () => {
    assert.equal(autoPromotes(critical(1), failed(2), false), false);
  });

  test("given a non-critical dataset (current on commit), when a version passes, then the verdict moves nothing", () => {
    assert.equal(autoPromotes({ policy: "non-critical", currentVersion: 1, rollbackFloor: 0 }, passed(2), false), false);
  });

  test("given an operator rolled back from v4 to v1, when v3 or v4 passes late, then current stays 1; v5 past the floor promotes", () => {
    assert.equal(autoPromotes(critical(1, 4), passed(3), false), false);
    assert.equal(autoPromotes(critical(1, 4), passed(4), false), false);
    assert.equal(autoPromotes(critical(1, 4), passed(5), false), true);
  });

  test("given the version has expired, when it passes, then it is never made current", () => {
    assert.equal(autoPromotes(critical(1), passed(2), true), false);
  });
});

describe("rollbackFloorAfter", { timeout: 30_000 }, () => {
  test("given floor 0, when current is rolled back from 4, then the floor is 4", () => {
    assert.equal(rollbackFloorAfter(0, { mode: "rollback", previous_version: 4 }), 4);
  });

  test("given floor 4, when a rollback comes from below it (current 2 after a promotion), then the floor stays 4", () => {
    assert.equal(rollbackFloorAfter(4, { mode: "rollback", previous_version: 2 }), 4);
  });

  test("given floor 4, when an operator promotes, then the floor stays 4", () => {
    assert.equal(rollbackFloorAfter(4, { mode: "promote", previous_version: 7 }), 4);
  });
});

describe("promotionRecordProblem: a VersionPromoted record checked again when projected", { timeout: 30_000 }, () => {
  /** Given a dataset whose versions have these verdicts (1-based), with `current` and these former currents. */
  function given(policy: string, current: number, qualities: QualityStatus[], formerCurrents: number[], expired: number[] = []): DatasetFacts {
    return {
      name: "orders",
      policy,
      latestVersion: qualities.length,
      currentVersion: current,
      version: (v) => (v >= 1 && v <= qualities.length ? { version: v, quality: qualities[v - 1]!, expired: expired.includes(v) } : undefined),
      formerCurrents: () => formerCurrents,
      tag: () => undefined,
    };
  }
  const promote = (version: number, previous: number) => ({ mode: "promote" as const, version, previous_version: previous });
  const rollback = (version: number, previous: number) => ({ mode: "rollback" as const, version, previous_version: previous });
  const d = given("critical", 3, ["passed", "failed", "passed", "passed", "pending"], [3, 1]);

  test("given current 3, when a promotion to the passed v4 decided on current 3 arrives, then it stands", () => {
    assert.equal(promotionRecordProblem(d, promote(4, 3)), undefined);
  });

  test("given current 3, when a record decided on another current arrives, then it is void (a stale decision)", () => {
    assert.equal(promotionRecordProblem(d, promote(4, 1)), "promote of version 4 expected current 1, found 3");
  });

  test("when it names a version that can't be current, then the command's own reason", () => {
    assert.equal(promotionRecordProblem(d, promote(2, 3)), "version 2 of orders failed its quality checks and can never be current");
    assert.equal(
      promotionRecordProblem(d, promote(5, 3)),
      "version 5 of orders has not passed its quality checks yet; orders is critical, so only a passed version can be current",
    );
    assert.equal(promotionRecordProblem(d, promote(9, 3)), "dataset orders has no version 9 (latest is 5)");
    assert.equal(
      promotionRecordProblem(given("critical", 3, ["passed", "failed", "passed", "passed"], [3, 1], [4]), promote(4, 3)),
      "version 4 of orders has expired (retention) and can never be served again",
    );
  });

  test("when a promotion doesn't move current forward, or a rollback doesn't move it back, then it is void", () => {
    assert.equal(promotionRecordProblem(d, promote(1, 3)), "promote to version 1 does not move current (3) forward");
    assert.equal(promotionRecordProblem(d, rollback(4, 3)), "rollback to version 4 does not move current (3) back");
  });

  test("given a critical dataset, when a rollback goes to a version that was never current, then it is void; to a former current, it stands", () => {
    const passedAll = given("critical", 3, ["passed", "passed", "passed"], [3, 1]);
    assert.equal(promotionRecordProblem(passedAll, rollback(2, 3)), "rollback to version 2, which was never current");
    assert.equal(promotionRecordProblem(passedAll, rollback(1, 3)), undefined);
  });

  test("given a non-critical dataset, when a rollback goes to any earlier servable version, then it stands", () => {
    assert.equal(promotionRecordProblem(given("non-critical", 3, ["pending", "pending", "pending"], [3, 2, 1]), rollback(2, 3)), undefined);
  });
});
