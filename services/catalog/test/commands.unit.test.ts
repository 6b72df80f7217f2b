// Given/when/then tests of the pure command decisions: given what the projection knows of a dataset
// (hand-built DatasetFacts), when a command arrives, then one record to append, a no-op, or a refusal.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CommandError,
  type DatasetFacts,
  decidePromote,
  decideRollback,
  decideTag,
  promotionProblem,
  type QualityStatus,
  tagProblem,
  type Who,
} from "../src/domain/commands.ts";

const NOW = Date.UTC(2026, 5, 2, 9, 30);
const WHO: Who = { actor: "ops@lake", reason: "ticket 42" };

/**
 * A dataset's facts. `versions[i]` is the quality of version i + 1, so the latest version is
 * `versions.length`; `formerCurrents` is newest first, as the projection gives it.
 */
function given(opts: {
  policy: "critical" | "non-critical";
  current: number;
  versions: QualityStatus[];
  formerCurrents?: number[];
  tags?: Record<string, number>;
}): DatasetFacts {
  const tags = new Map(Object.entries(opts.tags ?? {}));
  return {
    name: "orders",
    policy: opts.policy,
    latestVersion: opts.versions.length,
    currentVersion: opts.current,
    version: (v) => {
      const quality = Number.isInteger(v) && v >= 1 ? opts.versions[v - 1] : undefined;
      return quality === undefined ? undefined : { version: v, quality };
    },
    formerCurrents: () => [...(opts.formerCurrents ?? [])],
    tag: (t) => tags.get(t),
  };
}

/** Then: the command is refused with this HTTP status and code (and a message naming the problem). */
function assertRefused(fn: () => unknown, status: number, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CommandError, `expected a CommandError, got ${String(e)}`);
    assert.equal(e.name, "CommandError");
    assert.deepEqual({ status: e.status, code: e.code }, { status, code });
    if (message) assert.match(e.message, message);
    return true;
  });
}

const promoted = (version: number, previous: number, mode: "promote" | "rollback") => ({
  kind: "append",
  body: { dataset: "orders", version, previous_version: previous, mode, actor: WHO.actor, reason: WHO.reason, at: NOW },
});

describe("decidePromote", () => {
  test("given a non-critical dataset, when a newer pending version is promoted, then a promote record from the current", () => {
    const d = given({ policy: "non-critical", current: 2, versions: ["passed", "pending", "pending"], formerCurrents: [2, 1] });
    assert.deepEqual(decidePromote(d, { ...WHO, version: 3 }, NOW), promoted(3, 2, "promote"));
  });

  test("given a critical dataset, when a newer passed version is promoted, then a promote record", () => {
    const d = given({ policy: "critical", current: 1, versions: ["passed", "pending", "passed"], formerCurrents: [1] });
    assert.deepEqual(decidePromote(d, { ...WHO, version: 3 }, NOW), promoted(3, 1, "promote"));
  });

  test("given a critical dataset with no current version, when a passed version is promoted, then previous_version is 0", () => {
    const d = given({ policy: "critical", current: 0, versions: ["pending", "passed"] });
    assert.deepEqual(decidePromote(d, { ...WHO, version: 2 }, NOW), promoted(2, 0, "promote"));
  });

  test("given a critical dataset, when a pending version is promoted, then 409 quality_pending", () => {
    const d = given({ policy: "critical", current: 1, versions: ["passed", "pending"], formerCurrents: [1] });
    assertRefused(() => decidePromote(d, { ...WHO, version: 2 }, NOW), 409, "quality_pending", /version 2 of orders has not passed/);
  });

  for (const policy of ["critical", "non-critical"] as const) {
    test(`given a ${policy} dataset, when a failed version is promoted, then 409 quality_failed`, () => {
      const d = given({ policy, current: 1, versions: ["passed", "failed"], formerCurrents: [1] });
      assertRefused(() => decidePromote(d, { ...WHO, version: 2 }, NOW), 409, "quality_failed", /version 2 of orders failed its quality checks/);
    });

    test(`given a ${policy} dataset, when an unknown version is promoted, then 404 unknown_version`, () => {
      const d = given({ policy, current: 1, versions: ["passed", "passed"], formerCurrents: [1] });
      for (const version of [3, 0, -1]) {
        assertRefused(() => decidePromote(d, { ...WHO, version }, NOW), 404, "unknown_version", new RegExp(`no version ${version} \\(latest is 2\\)`));
      }
    });
  }

  test("given a dataset, when its current version is promoted, then a no-op", () => {
    const d = given({ policy: "critical", current: 2, versions: ["passed", "passed"], formerCurrents: [2, 1] });
    assert.deepEqual(decidePromote(d, { ...WHO, version: 2 }, NOW), { kind: "noop", message: "version 2 is already current" });
  });

  test("given a dataset, when a servable version older than the current is promoted, then 409 use_rollback", () => {
    const d = given({ policy: "non-critical", current: 3, versions: ["pending", "pending", "pending"], formerCurrents: [3, 2, 1] });
    assertRefused(() => decidePromote(d, { ...WHO, version: 2 }, NOW), 409, "use_rollback", /use rollback/);
  });

  test("the record carries the time passed in, not the clock's", () => {
    const d = given({ policy: "non-critical", current: 1, versions: ["pending", "pending"], formerCurrents: [1] });
    const decision = decidePromote(d, { ...WHO, version: 2 }, 1234);
    assert.equal(decision.kind === "append" && decision.body.at, 1234);
  });
});

describe("decideRollback", () => {
  test("given a dataset with no current version, when rolled back (with or without a target), then 409 no_current_version", () => {
    const d = given({ policy: "critical", current: 0, versions: ["pending", "failed"] });
    assertRefused(() => decideRollback(d, WHO, NOW), 409, "no_current_version");
    assertRefused(() => decideRollback(d, { ...WHO, toVersion: 1 }, NOW), 409, "no_current_version");
  });

  describe("with no target: the newest former current below the current that can be served", () => {
    test("given a non-critical dataset current at 5, then version 4", () => {
      const d = given({
        policy: "non-critical",
        current: 5,
        versions: ["pending", "pending", "pending", "pending", "pending"],
        formerCurrents: [5, 4, 3, 2, 1],
      });
      assert.deepEqual(decideRollback(d, WHO, NOW), promoted(4, 5, "rollback"));
    });

    test("newest means first in formerCurrents (most recently current), not the highest number", () => {
      // History: 3 current, rolled back to 1, then 4 promoted. Undoing 4 returns to 1, not to 3.
      const d = given({ policy: "critical", current: 4, versions: ["passed", "passed", "passed", "passed"], formerCurrents: [4, 1, 3] });
      assert.deepEqual(decideRollback(d, WHO, NOW), promoted(1, 4, "rollback"));
    });

    test("former currents above the current are skipped", () => {
      // History: 1, 3, 4, then rolled back to 3: the newest former current below 3 is 1.
      const d = given({ policy: "critical", current: 3, versions: ["passed", "passed", "passed", "passed"], formerCurrents: [3, 4, 1] });
      assert.deepEqual(decideRollback(d, WHO, NOW), promoted(1, 3, "rollback"));
    });

    test("former currents that can no longer be served (failed since) are skipped", () => {
      const d = given({ policy: "non-critical", current: 4, versions: ["pending", "pending", "failed", "passed"], formerCurrents: [4, 3, 2, 1] });
      assert.deepEqual(decideRollback(d, WHO, NOW), promoted(2, 4, "rollback"));
    });

    test("given a critical dataset, former currents that have not passed are skipped", () => {
      const d = given({ policy: "critical", current: 3, versions: ["passed", "pending", "passed"], formerCurrents: [3, 2, 1] });
      assert.deepEqual(decideRollback(d, WHO, NOW), promoted(1, 3, "rollback"));
    });

    test("given no earlier former current that can be served, then 409 no_rollback_target", () => {
      assertRefused(
        () => decideRollback(given({ policy: "critical", current: 1, versions: ["passed", "passed"], formerCurrents: [1] }), WHO, NOW),
        409,
        "no_rollback_target",
      );
      assertRefused(
        () => decideRollback(given({ policy: "non-critical", current: 3, versions: ["failed", "failed", "pending"], formerCurrents: [3, 2, 1] }), WHO, NOW),
        409,
        "no_rollback_target",
      );
      // A passed older version that was never current is not a default target either.
      assertRefused(
        () => decideRollback(given({ policy: "critical", current: 3, versions: ["passed", "passed", "passed"], formerCurrents: [3] }), WHO, NOW),
        409,
        "no_rollback_target",
      );
    });
  });

  describe("with a target", () => {
    test("given a critical dataset, when rolled back to a passed former current, then a rollback record", () => {
      const d = given({ policy: "critical", current: 3, versions: ["passed", "passed", "passed"], formerCurrents: [3, 2, 1] });
      assert.deepEqual(decideRollback(d, { ...WHO, toVersion: 1 }, NOW), promoted(1, 3, "rollback"));
    });

    test("given a critical dataset, when rolled back to a passed version that was never current, then 409 never_current", () => {
      const d = given({ policy: "critical", current: 3, versions: ["passed", "passed", "passed"], formerCurrents: [3, 1] });
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 2 }, NOW), 409, "never_current", /version 2 of orders was never current/);
    });

    test("given a non-critical dataset, a version missing from formerCurrents is still a valid target", () => {
      const d = given({ policy: "non-critical", current: 3, versions: ["pending", "pending", "pending"], formerCurrents: [3] });
      assert.deepEqual(decideRollback(d, { ...WHO, toVersion: 2 }, NOW), promoted(2, 3, "rollback"));
    });

    test("when the target is the current or a newer version, then 409 not_older", () => {
      const d = given({ policy: "non-critical", current: 2, versions: ["pending", "pending", "pending"], formerCurrents: [2, 1] });
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 2 }, NOW), 409, "not_older");
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 3 }, NOW), 409, "not_older");
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 9 }, NOW), 409, "not_older");
    });

    test("when the target does not exist, then 404 unknown_version", () => {
      const d = given({ policy: "non-critical", current: 2, versions: ["pending", "pending"], formerCurrents: [2, 1] });
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 0 }, NOW), 404, "unknown_version");
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: -3 }, NOW), 404, "unknown_version");
    });

    test("when the target failed its quality checks, then 409 quality_failed, whatever the policy", () => {
      for (const policy of ["critical", "non-critical"] as const) {
        const d = given({ policy, current: 2, versions: ["failed", "passed"], formerCurrents: [2, 1] });
        assertRefused(() => decideRollback(d, { ...WHO, toVersion: 1 }, NOW), 409, "quality_failed");
      }
    });

    test("given a critical dataset, when the target is pending, then 409 quality_pending", () => {
      const d = given({ policy: "critical", current: 2, versions: ["pending", "passed"], formerCurrents: [2, 1] });
      assertRefused(() => decideRollback(d, { ...WHO, toVersion: 1 }, NOW), 409, "quality_pending");
    });
  });
});

describe("decideTag", () => {
  const d = () => given({ policy: "critical", current: 1, versions: ["passed", "pending", "failed"], formerCurrents: [1], tags: { gold: 1 } });
  const tagged = (tag: string, version: number) => ({
    kind: "append",
    body: { dataset: "orders", version, tag, actor: WHO.actor, reason: WHO.reason, at: NOW },
  });

  test("given an untagged name, when a version is tagged, then a tag record", () => {
    assert.deepEqual(decideTag(d(), { ...WHO, tag: "v20260601", version: 1 }, NOW), tagged("v20260601", 1));
  });

  test("a tag may name any committed version, whatever its quality or whether it is current", () => {
    assert.deepEqual(decideTag(d(), { ...WHO, tag: "pending-one", version: 2 }, NOW), tagged("pending-one", 2));
    assert.deepEqual(decideTag(d(), { ...WHO, tag: "bad-one", version: 3 }, NOW), tagged("bad-one", 3));
  });

  test("names of 1 to 64 characters from [A-Za-z0-9._-], starting with a letter or digit, are valid", () => {
    for (const tag of ["a", "7", "v1.2_3-rc", "A".repeat(64)]) assert.deepEqual(decideTag(d(), { ...WHO, tag, version: 1 }, NOW), tagged(tag, 1), tag);
  });

  test("when the name is invalid, then 400 invalid_tag (before the version is even looked at)", () => {
    for (const tag of ["", "-x", ".x", "_x", "a/b", "a b", "a\n", "é", "A".repeat(65)]) {
      assertRefused(() => decideTag(d(), { ...WHO, tag, version: 1 }, NOW), 400, "invalid_tag");
      assertRefused(() => decideTag(d(), { ...WHO, tag, version: 99 }, NOW), 400, "invalid_tag");
    }
  });

  test("a very long invalid name is cut short in the message", () => {
    const tag = `${"x".repeat(200)}/`;
    assert.throws(
      () => decideTag(d(), { ...WHO, tag, version: 1 }, NOW),
      (e: unknown) => e instanceof CommandError && e.message.includes("x".repeat(80)) && !e.message.includes("x".repeat(81)),
    );
  });

  test("when the version does not exist, then 404 unknown_version", () => {
    assertRefused(() => decideTag(d(), { ...WHO, tag: "new", version: 4 }, NOW), 404, "unknown_version");
    assertRefused(() => decideTag(d(), { ...WHO, tag: "new", version: 0 }, NOW), 404, "unknown_version");
  });

  test("when the tag already names the same version, then a no-op", () => {
    assert.deepEqual(decideTag(d(), { ...WHO, tag: "gold", version: 1 }, NOW), { kind: "noop", message: "tag gold already names version 1" });
  });

  test("tags are immutable: when the tag names another version, then 409 tag_exists", () => {
    assertRefused(() => decideTag(d(), { ...WHO, tag: "gold", version: 2 }, NOW), 409, "tag_exists", /already names version 1 of orders; tags don't move/);
  });

  test("tag names are case-sensitive", () => {
    assert.deepEqual(decideTag(d(), { ...WHO, tag: "GOLD", version: 2 }, NOW), tagged("GOLD", 2));
  });
});

describe("promotionProblem (the check re-run when a promotion record is projected)", () => {
  test("undefined when the version can be served", () => {
    assert.equal(promotionProblem(given({ policy: "critical", current: 0, versions: ["passed"] }), 1), undefined);
    assert.equal(promotionProblem(given({ policy: "non-critical", current: 0, versions: ["pending"] }), 1), undefined);
    assert.equal(promotionProblem(given({ policy: "non-critical", current: 0, versions: ["passed"] }), 1), undefined);
  });

  test("the refusal's message, without throwing, when it can't", () => {
    const critical = given({ policy: "critical", current: 1, versions: ["passed", "pending", "failed"], formerCurrents: [1] });
    assert.equal(promotionProblem(critical, 4), "dataset orders has no version 4 (latest is 3)");
    assert.equal(promotionProblem(critical, 3), "version 3 of orders failed its quality checks and can never be current");
    assert.match(promotionProblem(critical, 2)!, /^version 2 of orders has not passed its quality checks yet; orders is critical/);
    const nonCritical = given({ policy: "non-critical", current: 1, versions: ["passed", "failed"], formerCurrents: [1] });
    assert.equal(promotionProblem(nonCritical, 2), "version 2 of orders failed its quality checks and can never be current");
  });

  test("it agrees with decidePromote on every version of a dataset", () => {
    const d = given({ policy: "critical", current: 0, versions: ["passed", "pending", "failed"] });
    for (const v of [0, 1, 2, 3, 4]) {
      let refusal: string | undefined;
      try {
        decidePromote(d, { ...WHO, version: v }, NOW);
      } catch (e) {
        refusal = (e as Error).message;
      }
      assert.equal(promotionProblem(d, v), refusal, `version ${v}`);
    }
  });
});

describe("tagProblem (the check re-run when a tag record is projected)", () => {
  const d = () => given({ policy: "non-critical", current: 2, versions: ["pending", "failed"], formerCurrents: [2, 1], tags: { gold: 1 } });

  test("undefined for a new tag on a known version", () => {
    assert.equal(tagProblem(d(), "silver", 2), undefined);
  });

  test("undefined for a tag re-stating the version it already names (replaying it is harmless)", () => {
    assert.equal(tagProblem(d(), "gold", 1), undefined);
  });

  test("a problem when the tag would move, the version is unknown, or the name is invalid", () => {
    assert.equal(tagProblem(d(), "gold", 2), "tag gold already names version 1");
    assert.equal(tagProblem(d(), "silver", 3), "tag silver names unknown version 3");
    assert.equal(tagProblem(d(), "no such", 1), 'invalid tag "no such"');
  });

  test("it refuses exactly what decideTag refuses", () => {
    const cases: [string, number][] = [
      ["gold", 1],
      ["gold", 2],
      ["silver", 2],
      ["silver", 3],
      ["", 1],
      ["a/b", 1],
      ["A".repeat(65), 1],
    ];
    for (const [tag, version] of cases) {
      let refused = false;
      try {
        decideTag(d(), { ...WHO, tag, version }, NOW);
      } catch (e) {
        assert.ok(e instanceof CommandError);
        refused = true;
      }
      assert.equal(tagProblem(d(), tag, version) !== undefined, refused, `${tag} -> ${version}`);
    }
  });
});
