// Given/when/then tests of the catalog's access policy (domain/auth.ts, applied to the route table in
// http/routes.ts): given a tokens file, when a request arrives with this Authorization header, method
// and path, then allow, 401 or 403. Every role against every route class, readers' dataset scoping,
// and every way a tokens file can be wrong.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { type AuthDecision, authenticate, type Caller, type Identity, mayRead, parseTokensFile, TokensFileError, tokenSha256 } from "../src/domain/auth.ts";
import { DenialLog } from "../src/http/denials.ts";
import { authorize } from "../src/http/routes.ts";

const TOKENS = {
  bi: "bi-secret-0123456789",
  everything: "reads-all-0123456789",
  alice: "alice-secret-0123456789",
  root: "root-secret-0123456789",
};
const FILE = JSON.stringify([
  { name: "bi-dashboard", sha256: tokenSha256(TOKENS.bi), role: "reader", datasets: ["domain_events", "daily_user_totals"] },
  { name: "auditor", sha256: tokenSha256(TOKENS.everything).toUpperCase(), role: "reader", datasets: ["*"] },
  { name: "alice", sha256: tokenSha256(TOKENS.alice), role: "operator" },
  { name: "root", sha256: tokenSha256(TOKENS.root), role: "admin" },
]);
const entries = parseTokensFile(FILE);

/** Given the file above, when `token` is presented: who is it? */
const as = (token: string | undefined): Caller => authenticate(entries, token === undefined ? undefined : `Bearer ${token}`);
const identity = (token: string): Identity => {
  const c = as(token);
  assert.equal(c.kind, "token");
  return c as Identity;
};

/** When `caller` sends `method path`: the decision, reduced to allow / 401 / 403. */
function outcome(caller: Caller, method: string, path: string): "allow" | 401 | 403 {
  const d = authorize(caller, method, path.split("/").filter(Boolean));
  return d.kind === "allow" ? "allow" : d.status;
}

// One request of every route class the catalog serves.
const ROUTES = {
  health: ["GET", "/healthz"],
  list: ["GET", "/v1/datasets"],
  readOwn: ["GET", "/v1/datasets/domain_events/versions/latest"],
  readOther: ["GET", "/v1/datasets/payments/versions/latest"],
  promote: ["POST", "/v1/datasets/domain_events/promote"],
  rollback: ["POST", "/v1/datasets/domain_events/rollback"],
  tag: ["POST", "/v1/datasets/domain_events/tags"],
  expire: ["POST", "/v1/datasets/domain_events/expire"],
  collected: ["POST", "/v1/datasets/domain_events/collected"],
  files: ["GET", "/v1/datasets/domain_events/files"],
  lineageOwn: ["GET", "/v1/datasets/domain_events/versions/3/lineage"],
  lineageOther: ["GET", "/v1/datasets/payments/versions/3/lineage"],
  sourceLineage: ["GET", "/v1/lineage"],
  rebuild: ["POST", "/v1/admin/rebuild"],
  dump: ["GET", "/v1/admin/dump"],
  denials: ["GET", "/v1/admin/denials"],
  other: ["DELETE", "/v1/datasets/domain_events/versions/1"],
  console: ["GET", "/console"],
  whoami: ["GET", "/v1/whoami"],
  events: ["GET", "/v1/events"],
  timelineOther: ["GET", "/v1/datasets/payments/timeline"],
  quarantine: ["GET", "/v1/domains/payments/quarantine"],
  replay: ["POST", "/v1/domains/payments/quarantine/replay"],
} as const;
type RouteName = keyof typeof ROUTES;

const EXPECTED: Record<string, Record<RouteName, "allow" | 401 | 403>> = {
  anonymous: {
    health: "allow",
    list: 401,
    readOwn: 401,
    readOther: 401,
    promote: 401,
    rollback: 401,
    tag: 401,
    expire: 401,
    collected: 401,
    files: 401,
    lineageOwn: 401,
    lineageOther: 401,
    sourceLineage: 401,
    rebuild: 401,
    dump: 401,
    denials: 401,
    other: 401,
    console: "allow",
    whoami: 401,
    events: 401,
    timelineOther: 401,
    quarantine: 401,
    replay: 401,
  },
  unknown: {
    health: "allow",
    list: 401,
    readOwn: 401,
    readOther: 401,
    promote: 401,
    rollback: 401,
    tag: 401,
    expire: 401,
    collected: 401,
    files: 401,
    lineageOwn: 401,
    lineageOther: 401,
    sourceLineage: 401,
    rebuild: 401,
    dump: 401,
    denials: 401,
    other: 401,
    console: "allow",
    whoami: 401,
    events: 401,
    timelineOther: 401,
    quarantine: 401,
    replay: 401,
  },
  reader: {
    health: "allow",
    list: "allow",
    readOwn: "allow",
    readOther: 403,
    promote: 403,
    rollback: 403,
    tag: 403,
    expire: 403,
    collected: 403,
    files: "allow",
    lineageOwn: "allow",
    lineageOther: 403,
    sourceLineage: "allow",
    rebuild: 403,
    dump: 403,
    denials: 403,
    other: 403,
    console: "allow",
    whoami: "allow",
    events: "allow",
    timelineOther: 403,
    quarantine: 403,
    replay: 403,
  },
  readerAll: {
    health: "allow",
    list: "allow",
    readOwn: "allow",
    readOther: "allow",
    promote: 403,
    rollback: 403,
    tag: 403,
    expire: 403,
    collected: 403,
    files: "allow",
    lineageOwn: "allow",
    lineageOther: "allow",
    sourceLineage: "allow",
    rebuild: 403,
    dump: 403,
    denials: 403,
    other: 403,
    console: "allow",
    whoami: "allow",
    events: "allow",
    timelineOther: "allow",
    quarantine: 403,
    replay: 403,
  },
  operator: {
    health: "allow",
    list: "allow",
    readOwn: "allow",
    readOther: "allow",
    promote: "allow",
    rollback: "allow",
    tag: "allow",
    expire: "allow",
    collected: "allow",
    files: "allow",
    lineageOwn: "allow",
    lineageOther: "allow",
    sourceLineage: "allow",
    rebuild: 403,
    dump: 403,
    denials: 403,
    other: 403,
    console: "allow",
    whoami: "allow",
    events: "allow",
    timelineOther: "allow",
    quarantine: "allow",
    replay: "allow",
  },
  admin: {
    health: "allow",
    list: "allow",
    readOwn: "allow",
    readOther: "allow",
    promote: "allow",
    rollback: "allow",
    tag: "allow",
    expire: "allow",
    collected: "allow",
    files: "allow",
    lineageOwn: "allow",
    lineageOther: "allow",
    sourceLineage: "allow",
    rebuild: "allow",
    dump: "allow",
    denials: "allow",
    other: "allow",
    console: "allow",
    whoami: "allow",
    events: "allow",
    timelineOther: "allow",
    quarantine: "allow",
    replay: "allow",
  },
};
const CALLERS: Record<keyof typeof EXPECTED, Caller> = {
  anonymous: as(undefined),
  unknown: as("not-a-configured-token"),
  reader: as(TOKENS.bi),
  readerAll: as(TOKENS.everything),
  operator: as(TOKENS.alice),
  admin: as(TOKENS.root),
};

describe("authorize: every role against every route class", () => {
  for (const [who, row] of Object.entries(EXPECTED)) {
    test(`given ${who}, when each route class is called, then ${JSON.stringify(row)}`, () => {
      const got = Object.fromEntries(Object.entries(ROUTES).map(([name, [method, path]]) => [name, outcome(CALLERS[who]!, method, path)]));
      assert.deepEqual(got, row);
    });
  }

  test("given a reader, when it reads any sub-resource of its dataset, then allow; of another dataset, then 403", () => {
    const reader = CALLERS.reader!;
    for (const sub of [
      "",
      "/versions",
      "/versions/3",
      "/versions/current",
      "/versions/3/quality",
      "/tags",
      "/tags/v1",
      "/audit",
      "/covering",
      "/files",
      "/versions/3/lineage",
    ]) {
      assert.equal(outcome(reader, "GET", `/v1/datasets/daily_user_totals${sub}`), "allow", sub);
      assert.equal(outcome(reader, "GET", `/v1/datasets/customers${sub}`), 403, sub);
    }
  });

  test("given an operator, when it POSTs anything but promote/rollback/tags, or HEADs, then 403 (only admins reach unlisted routes)", () => {
    const op = CALLERS.operator!;
    assert.equal(outcome(op, "POST", "/v1/datasets/domain_events"), 403);
    assert.equal(outcome(op, "POST", "/v1/datasets/domain_events/promote/now"), 403);
    assert.equal(outcome(op, "POST", "/v1/datasets"), 403);
    assert.equal(outcome(op, "GET", "/v1/nothing"), 403);
    assert.equal(outcome(op, "GET", "/"), 403);
    assert.equal(outcome(op, "PUT", "/v1/datasets/domain_events/tags"), 403);
    assert.equal(outcome(op, "HEAD", "/v1/datasets/domain_events"), 403);
  });

  test("given nobody, when /healthz is called, then allow (probes need no token)", () => {
    assert.equal(outcome(as(undefined), "GET", "/healthz"), "allow");
  });

  test("given nobody or a reader, when /metrics is called on the API port, then refused like any unnamed route (metrics name every dataset; they have their own listener)", () => {
    assert.equal(outcome(as(undefined), "GET", "/metrics"), 401);
    assert.equal(outcome(as(TOKENS.bi), "GET", "/metrics"), 403);
    assert.equal(outcome(as(TOKENS.alice), "GET", "/metrics"), 403);
  });
});

describe("authorize: what a refusal says", () => {
  const deny = (caller: Caller, method: string, path: string) => {
    const d = authorize(caller, method, path.split("/").filter(Boolean));
    assert.equal(d.kind, "deny");
    return d as Extract<AuthDecision, { kind: "deny" }>;
  };

  test("given no token, then 401 missing_token pointing at the header and LAKE_TOKEN", () => {
    const d = deny(as(undefined), "GET", "/v1/datasets");
    assert.deepEqual([d.status, d.code], [401, "missing_token"]);
    assert.match(d.message, /Authorization: Bearer/);
    assert.match(d.message, /LAKE_TOKEN/);
  });

  test("given an unknown token, then 401 invalid_token", () => {
    const d = deny(as("guess"), "GET", "/v1/datasets");
    assert.deepEqual([d.status, d.code], [401, "invalid_token"]);
  });

  test("given a reader on another dataset, then 403 naming the token, its role, the dataset and what it may read", () => {
    const d = deny(CALLERS.reader!, "GET", "/v1/datasets/payments/versions/latest");
    assert.deepEqual([d.status, d.code], [403, "forbidden"]);
    assert.equal(d.message, 'token "bi-dashboard" (role reader) lacks read access to dataset "payments": it may read domain_events, daily_user_totals');
  });

  test("given a reader promoting, then 403 naming the role needed", () => {
    assert.equal(
      deny(CALLERS.reader!, "POST", "/v1/datasets/domain_events/promote").message,
      'token "bi-dashboard" (role reader) may not promote: that needs role operator or admin',
    );
    assert.match(deny(CALLERS.reader!, "POST", "/v1/datasets/domain_events/rollback").message, /may not roll back: that needs role operator/);
    assert.match(deny(CALLERS.reader!, "POST", "/v1/datasets/domain_events/tags").message, /may not tag: that needs role operator/);
    assert.match(deny(CALLERS.reader!, "POST", "/v1/datasets/domain_events/expire").message, /may not expire versions: that needs role operator/);
    assert.match(deny(CALLERS.reader!, "POST", "/v1/datasets/domain_events/collected").message, /may not record collected files: that needs role operator/);
  });

  test("given an operator rebuilding, then 403 saying admin endpoints need role admin", () => {
    assert.equal(
      deny(CALLERS.operator!, "POST", "/v1/admin/rebuild").message,
      'token "alice" (role operator) may not call POST /v1/admin/rebuild: admin endpoints need role admin',
    );
  });
});

describe("authenticate", () => {
  test("given a configured token, then its identity; the hash in the file may be upper-case", () => {
    assert.deepEqual({ name: identity(TOKENS.bi).name, role: identity(TOKENS.bi).role }, { name: "bi-dashboard", role: "reader" });
    assert.equal(identity(TOKENS.everything).name, "auditor");
    assert.equal(identity(TOKENS.root).role, "admin");
  });

  test("the scheme is case-insensitive and surrounding blanks are ignored", () => {
    assert.equal((authenticate(entries, `bearer ${TOKENS.alice}`) as Identity).name, "alice");
    assert.equal((authenticate(entries, `BEARER \t${TOKENS.alice}  `) as Identity).name, "alice");
  });

  test("given no header or an empty one, then missing_token", () => {
    assert.deepEqual(authenticate(entries, undefined), { kind: "unauthenticated", problem: "missing_token" });
    assert.deepEqual(authenticate(entries, ""), { kind: "unauthenticated", problem: "missing_token" });
  });

  test("given another scheme, no token, a token with blanks or a huge header, then malformed_authorization", () => {
    for (const h of [
      `Basic ${Buffer.from("a:b").toString("base64")}`,
      "Bearer",
      "Bearer ",
      `Bearer ${TOKENS.alice} extra`,
      TOKENS.alice,
      `Bearer ${"x".repeat(10_000)}`,
    ]) {
      assert.deepEqual(authenticate(entries, h), { kind: "unauthenticated", problem: "malformed_authorization" }, h.slice(0, 40));
    }
  });

  test("given an unknown token, a prefix of a known one, or the hash itself as token, then invalid_token with the presented token's hash prefix", () => {
    for (const t of ["nope", TOKENS.alice.slice(0, -1), `${TOKENS.alice}x`, tokenSha256(TOKENS.alice)]) {
      const c = authenticate(entries, `Bearer ${t}`);
      assert.deepEqual(c, { kind: "unauthenticated", problem: "invalid_token", sha256Prefix: tokenSha256(t).slice(0, 12) }, t);
    }
  });

  test("mayRead: a reader's list, or everything", () => {
    assert.equal(mayRead(identity(TOKENS.bi), "domain_events"), true);
    assert.equal(mayRead(identity(TOKENS.bi), "payments"), false);
    assert.equal(mayRead(identity(TOKENS.everything), "payments"), true);
    assert.equal(mayRead(identity(TOKENS.alice), "payments"), true);
  });
});

describe("parseTokensFile: a malformed file is refused with the problem named", () => {
  const h = tokenSha256("x");
  const refused = (doc: unknown, message: RegExp) =>
    assert.throws(
      () => parseTokensFile(typeof doc === "string" ? doc : JSON.stringify(doc)),
      (e: unknown) => {
        assert.ok(e instanceof TokensFileError, String(e));
        assert.match(e.message, message);
        return true;
      },
    );

  test("not JSON, not an array, empty", () => {
    refused("[{", /not valid JSON/);
    refused({ tokens: [] }, /expected a JSON array/);
    refused([], /has no entries.*unset LAKE_CATALOG_TOKENS_FILE/);
    refused(["alice"], /entry 0: expected an object/);
  });

  test("names: missing, odd characters, duplicated", () => {
    refused([{ sha256: h, role: "admin" }], /entry 0: "name" must be a string/);
    refused([{ name: "a b", sha256: h, role: "admin" }], /"name" must be a string matching/);
    refused([{ name: "x".repeat(129), sha256: h, role: "admin" }], /"name" must be a string matching/);
    refused(
      [
        { name: "a", sha256: h, role: "admin" },
        { name: "a", sha256: tokenSha256("y"), role: "admin" },
      ],
      /entry 1 \("a"\): the name is used by an earlier entry/,
    );
  });

  test("hashes: missing, not 64 hex digits, a token in place of its hash, duplicated", () => {
    refused([{ name: "a", role: "admin" }], /entry 0 \("a"\): "sha256" must be the 64 hex digits/);
    refused([{ name: "a", sha256: "abc", role: "admin" }], /"sha256" must be the 64 hex digits/);
    refused([{ name: "a", sha256: "z".repeat(64), role: "admin" }], /"sha256" must be the 64 hex digits/);
    refused(
      [
        { name: "a", sha256: h, role: "admin" },
        { name: "b", sha256: h.toUpperCase(), role: "reader", datasets: ["*"] },
      ],
      /entry 1 \("b"\): the same sha256 as an earlier entry/,
    );
  });

  test("roles: missing or unknown", () => {
    refused([{ name: "a", sha256: h }], /"role" must be one of reader, operator, admin, got undefined/);
    refused([{ name: "a", sha256: h, role: "opertor" }], /"role" must be one of reader, operator, admin, got "opertor"/);
  });

  test('datasets: a reader needs valid names or ["*"]; other roles may not have a list', () => {
    refused([{ name: "a", sha256: h, role: "reader" }], /a reader needs "datasets"/);
    refused([{ name: "a", sha256: h, role: "reader", datasets: [] }], /a reader needs "datasets"/);
    refused([{ name: "a", sha256: h, role: "reader", datasets: "domain_events" }], /a reader needs "datasets"/);
    refused([{ name: "a", sha256: h, role: "reader", datasets: ["domain_events", "../x"] }], /dataset "\.\.\/x" is not a valid dataset name/);
    refused([{ name: "a", sha256: h, role: "reader", datasets: [7] }], /dataset 7 is not a valid dataset name/);
    refused([{ name: "a", sha256: h, role: "reader", datasets: ["*", "payments"] }], /"\*" grants every dataset and must be alone/);
    refused([{ name: "a", sha256: h, role: "operator", datasets: ["payments"] }], /"datasets" applies only to role reader; an operator may read every dataset/);
  });

  test("unknown fields (a typo must not pass silently)", () => {
    refused(
      [{ name: "a", sha256: h, role: "reader", dataset: ["payments"] }],
      /entry 0 \("a"\): unknown field "dataset"; allowed: name, sha256, role, datasets/,
    );
    refused([{ name: "a", token: "plain", sha256: h, role: "admin" }], /unknown field "token"/);
  });

  test("a good file: identities with their scopes", () => {
    const got = entries.map((e) => ({ ...e.identity, datasets: e.identity.datasets === "all" ? "all" : [...e.identity.datasets], sha256: e.sha256.length }));
    assert.deepEqual(got, [
      { kind: "token", name: "bi-dashboard", role: "reader", datasets: ["domain_events", "daily_user_totals"], sha256: 32 },
      { kind: "token", name: "auditor", role: "reader", datasets: "all", sha256: 32 },
      { kind: "token", name: "alice", role: "operator", datasets: "all", sha256: 32 },
      { kind: "token", name: "root", role: "admin", datasets: "all", sha256: 32 },
    ]);
  });
});

describe("DenialLog: a bounded ring", () => {
  const denial = (path: string) => ({
    at: "2026-06-01T00:00:00.000Z",
    status: 401 as const,
    error: "missing_token",
    message: "m",
    method: "GET",
    path,
    token: null,
    role: null,
    presented_sha256_prefix: null,
    remote: null,
  });

  test("given fewer denials than its capacity, then all of them, oldest first, paged by seq", () => {
    const log = new DenialLog(5);
    for (let i = 1; i <= 3; i++) log.add(denial(`/p${i}`));
    assert.deepEqual(
      log.list(0, 2).denials.map((d) => [d.seq, d.path]),
      [
        [1, "/p1"],
        [2, "/p2"],
      ],
    );
    assert.equal(log.list(0, 2).next_after, 2);
    assert.deepEqual(log.list(2, 10), { denials: [{ seq: 3, ...denial("/p3") }], next_after: null, total: 3, dropped: 0 });
  });

  test("given more denials than its capacity, then the newest `capacity`, and the count of those dropped", () => {
    const log = new DenialLog(3);
    for (let i = 1; i <= 8; i++) log.add(denial(`/p${i}`));
    const page = log.list(0, 100);
    assert.deepEqual(
      page.denials.map((d) => d.seq),
      [6, 7, 8],
    );
    assert.deepEqual([page.total, page.dropped, page.next_after], [8, 5, null]);
    assert.deepEqual(
      log.list(7, 100).denials.map((d) => d.seq),
      [8],
    );
    assert.deepEqual(log.list(8, 100).denials, []);
  });
});
