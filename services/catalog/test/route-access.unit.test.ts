// Who may call what, request by request: for a list of representative requests (every route, unknown
// paths under each prefix, wrong methods, odd dataset names), the access answer the catalog gives each
// kind of caller. The expectations were taken from the access table the catalog had before its routes
// and their access rules became one table (http/routes.ts), so any change in who may do what shows up
// here. Also: every route of that table carries a rule that fits it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { authenticate, type Caller, type Identity, parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { authorize, matchRoute, ROUTES } from "../src/http/routes.ts";

const TOKENS = { reader: "r-0123456789", readerAll: "ra-0123456789", operator: "o-0123456789", admin: "a-0123456789" };
const entries = parseTokensFile(
  JSON.stringify([
    { name: "bi-dashboard", sha256: tokenSha256(TOKENS.reader), role: "reader", datasets: ["domain_events", "daily_user_totals"] },
    { name: "auditor", sha256: tokenSha256(TOKENS.readerAll), role: "reader", datasets: ["*"] },
    { name: "alice", sha256: tokenSha256(TOKENS.operator), role: "operator" },
    { name: "root", sha256: tokenSha256(TOKENS.admin), role: "admin" },
  ]),
);
const identity = (token: string): Identity => authenticate(entries, `Bearer ${token}`) as Identity;
const CALLERS = { reader: identity(TOKENS.reader), readerAll: identity(TOKENS.readerAll), operator: identity(TOKENS.operator), admin: identity(TOKENS.admin) };
const UNAUTHENTICATED: [string | undefined, Caller, string][] = [
  [undefined, authenticate(entries, undefined), "missing_token"],
  ["Bearer nope", authenticate(entries, "Bearer nope"), "invalid_token"],
  ["Basic YTpi", authenticate(entries, "Basic YTpi"), "malformed_authorization"],
];

/** The access answer for `method path`, as allow or { status, code, message }. */
function answer(caller: Caller, method: string, path: string) {
  const d = authorize(caller, method, path.split("/").filter(Boolean));
  return d.kind === "allow" ? "allow" : { status: d.status, code: d.code, message: d.message };
}

// A refusal's message after `token "<name>" (role <role>) `, by kind of refusal.
type Refusal = (caller: Identity, method: string, segments: readonly string[]) => string;
/** No route a non-admin may call: only admins reach unlisted routes. */
const ADMIN: Refusal = (c, m) =>
  c.role === "reader"
    ? `may only GET the datasets it is granted; ${m} on this path needs role admin`
    : `may only GET datasets and promote, roll back, tag, expire or record collected files; ${m} on this path needs role admin`;
const ADMIN_ENDPOINT: Refusal = (_c, m, s) => `may not call ${m} /v1/admin/${s.slice(2).join("/").slice(0, 80)}: admin endpoints need role admin`;
const NOT_GRANTED: Refusal = (_c, _m, s) => `lacks read access to dataset ${JSON.stringify(s[2])}: it may read domain_events, daily_user_totals`;
const VERBS: Record<string, string> = {
  promote: "promote",
  rollback: "roll back",
  tags: "tag",
  expire: "expire versions",
  collected: "record collected files",
};
const OPERATOR: Refusal = (_c, _m, s) => `may not ${VERBS[s[3]!]}: that needs role operator or admin`;
const QUARANTINE: Refusal = (_c, _m, s) =>
  `may not ${s.length === 5 ? "replay quarantined records" : "browse the quarantine"}: that needs role operator or admin`;

const D = "/v1/datasets/domain_events";
const O = "/v1/datasets/payments";
// method, path, then the answer for a reader of domain_events and daily_user_totals, a reader of every
// dataset, and an operator. An admin may do everything; without a valid token only /healthz answers.
const REQUESTS: [string, string, "allow" | Refusal, "allow" | Refusal, "allow" | Refusal][] = [
  ["GET", `/healthz`, "allow", "allow", "allow"],
  ["POST", `/healthz`, "allow", "allow", "allow"],
  ["GET", `/healthz/x`, ADMIN, ADMIN, ADMIN],
  ["GET", `/`, ADMIN, ADMIN, ADMIN],
  ["GET", `/metrics`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/nothing`, ADMIN, ADMIN, ADMIN],
  ["POST", `/v1/nothing`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v2/datasets`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/datasets`, "allow", "allow", "allow"],
  ["POST", `/v1/datasets`, ADMIN, ADMIN, ADMIN],
  ["DELETE", `/v1/datasets`, ADMIN, ADMIN, ADMIN],
  ["HEAD", `/v1/datasets`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}`, "allow", "allow", "allow"],
  ["POST", `${D}`, ADMIN, ADMIN, ADMIN],
  ["HEAD", `${D}`, ADMIN, ADMIN, ADMIN],
  ["GET", `${O}`, NOT_GRANTED, "allow", "allow"],
  ["GET", `/v1/datasets/Bad`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions`, "allow", "allow", "allow"],
  ["GET", `${O}/versions`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/latest`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/latest`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/current`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/current`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/3`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/3`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/3/quality`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/3/quality`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/3/lineage`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/3/lineage`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/latest/lineage`, "allow", "allow", "allow"],
  ["POST", `${D}/versions/3/lineage`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/lineage`, "allow", "allow", "allow"],
  ["POST", `/v1/lineage`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/lineage/x`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}/files`, "allow", "allow", "allow"],
  ["GET", `${O}/files`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/tags`, "allow", "allow", "allow"],
  ["GET", `${O}/tags`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/tags/v1`, "allow", "allow", "allow"],
  ["GET", `${O}/tags/v1`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/audit`, "allow", "allow", "allow"],
  ["GET", `${O}/audit`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/covering`, "allow", "allow", "allow"],
  ["GET", `${O}/covering`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/nonsense`, "allow", "allow", "allow"],
  ["GET", `${O}/nonsense`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/promote`, "allow", "allow", "allow"],
  ["GET", `${O}/promote`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/versions/1/other`, "allow", "allow", "allow"],
  ["GET", `${O}/versions/1/other`, NOT_GRANTED, "allow", "allow"],
  ["GET", `/v1/datasets/Bad/versions`, NOT_GRANTED, "allow", "allow"],
  ["POST", `${D}/promote`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${O}/promote`, OPERATOR, OPERATOR, "allow"],
  ["PUT", `${D}/promote`, ADMIN, ADMIN, ADMIN],
  ["POST", `${D}/rollback`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${O}/rollback`, OPERATOR, OPERATOR, "allow"],
  ["PUT", `${D}/rollback`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}/rollback`, "allow", "allow", "allow"],
  ["POST", `${D}/tags`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${O}/tags`, OPERATOR, OPERATOR, "allow"],
  ["PUT", `${D}/tags`, ADMIN, ADMIN, ADMIN],
  ["POST", `${D}/expire`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${O}/expire`, OPERATOR, OPERATOR, "allow"],
  ["PUT", `${D}/expire`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}/expire`, "allow", "allow", "allow"],
  ["POST", `${D}/collected`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${O}/collected`, OPERATOR, OPERATOR, "allow"],
  ["PUT", `${D}/collected`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}/collected`, "allow", "allow", "allow"],
  ["POST", `/v1/datasets/Bad/promote`, OPERATOR, OPERATOR, "allow"],
  ["POST", `${D}/nonsense`, ADMIN, ADMIN, ADMIN],
  ["POST", `${D}/versions`, ADMIN, ADMIN, ADMIN],
  ["POST", `${D}/promote/now`, ADMIN, ADMIN, ADMIN],
  ["POST", `${D}/versions/1`, ADMIN, ADMIN, ADMIN],
  ["DELETE", `${D}/versions/1`, ADMIN, ADMIN, ADMIN],
  ["PATCH", `${D}/tags/v1`, ADMIN, ADMIN, ADMIN],
  ["PUT", `${D}/nonsense/x`, ADMIN, ADMIN, ADMIN],
  // The web console: its files for anyone, who-am-I, alerts and live updates for any token, a dataset's
  // timeline and diffs for its readers, and ingest's quarantine (through the catalog) for operators.
  ["GET", `/console`, "allow", "allow", "allow"],
  ["GET", `/console/console.js`, "allow", "allow", "allow"],
  ["POST", `/console`, ADMIN, ADMIN, ADMIN],
  ["GET", `/console/a/b`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/whoami`, "allow", "allow", "allow"],
  ["GET", `/v1/alerts`, "allow", "allow", "allow"],
  ["GET", `/v1/events`, "allow", "allow", "allow"],
  ["POST", `/v1/events`, ADMIN, ADMIN, ADMIN],
  ["GET", `${D}/timeline`, "allow", "allow", "allow"],
  ["GET", `${O}/timeline`, NOT_GRANTED, "allow", "allow"],
  ["GET", `${D}/diff`, "allow", "allow", "allow"],
  ["GET", `${O}/diff`, NOT_GRANTED, "allow", "allow"],
  ["GET", `/v1/domains/payments/quarantine`, QUARANTINE, QUARANTINE, "allow"],
  ["POST", `/v1/domains/payments/quarantine/replay`, QUARANTINE, QUARANTINE, "allow"],
  ["POST", `/v1/domains/payments/quarantine`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/domains/payments/quarantine/replay`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/domains`, ADMIN, ADMIN, ADMIN],
  ["GET", `/v1/admin`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/denials`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["POST", `/v1/admin/denials`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/denials/x`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/dump`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["POST", `/v1/admin/dump`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/dump/x`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["POST", `/v1/admin/rebuild`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/rebuild`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["POST", `/v1/admin/rebuild/x`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["DELETE", `/v1/admin/nothing`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
  ["GET", `/v1/admin/${"a".repeat(100)}`, ADMIN_ENDPOINT, ADMIN_ENDPOINT, ADMIN_ENDPOINT],
];

describe("route access: the answers the catalog gave before its routes and access rules became one table", { timeout: 30_000 }, () => {
  for (const [who, caller] of Object.entries(CALLERS)) {
    test(`given ${who}, when each representative request arrives, then the same allow or 403 as before`, () => {
      for (const [method, path, ...expected] of REQUESTS) {
        const segments = path.split("/").filter(Boolean);
        const want = who === "admin" ? "allow" : expected[["reader", "readerAll", "operator"].indexOf(who)]!;
        const got = answer(caller, method, path);
        if (want === "allow") assert.equal(got, "allow", `${method} ${path}`);
        else
          assert.deepEqual(
            got,
            { status: 403, code: "forbidden", message: `token ${JSON.stringify(caller.name)} (role ${caller.role}) ${want(caller, method, segments)}` },
            `${method} ${path}`,
          );
      }
    });
  }

  test("given no token, an unknown one or another scheme, then 401 with the problem named everywhere but /healthz and the console's files", () => {
    for (const [header, caller, code] of UNAUTHENTICATED) {
      for (const [method, path] of REQUESTS) {
        const got = answer(caller, method, path);
        if (path === "/healthz" || (method === "GET" && /^\/console(\/[^/]+)?$/.test(path))) assert.equal(got, "allow", `${header} ${method} ${path}`);
        else assert.deepEqual([typeof got === "object" && got.status, typeof got === "object" && got.code], [401, code], `${header} ${method} ${path}`);
      }
    }
  });
});

describe("route table: every route carries an access rule that fits it", { timeout: 30_000 }, () => {
  const KINDS = ["public", "token", "read", "operate", "admin", "unlisted"];

  test("every route has a method, a pattern and a handler, and an access rule of a known kind", () => {
    assert.ok(ROUTES.length > 0);
    for (const r of ROUTES) {
      const name = `${r.method} ${r.pattern}`;
      assert.ok(r.method === "*" || /^[A-Z]+$/.test(r.method), name);
      assert.ok(r.pattern.startsWith("/"), name);
      assert.equal(typeof r.handler, "function", name);
      assert.ok(r.access !== undefined && KINDS.includes(r.access.kind), name);
    }
  });

  test("a read rule names a dataset; commands are POSTs with a verb for refusals (and the quarantine listing, a GET for operators); admin endpoints are under /v1/admin; only /healthz and the console's files are public", () => {
    for (const r of ROUTES) {
      const name = `${r.method} ${r.pattern}`;
      const segments = r.pattern.split("/").filter(Boolean);
      if (r.access.kind === "read") assert.ok(segments.includes(":dataset"), name);
      if (r.access.kind === "operate") {
        if (r.pattern !== "/v1/domains/:domain/quarantine") assert.equal(r.method, "POST", name);
        assert.ok(r.access.verb.length > 0, name);
      }
      if (r.access.kind === "admin") assert.deepEqual(segments.slice(0, 2), ["v1", "admin"], name);
      if (r.access.kind === "public") assert.ok(["/healthz", "/console", "/console/:file"].includes(r.pattern), name);
    }
  });

  test("each representative request finds the route an admin would be served by, and its rule is that route's", () => {
    for (const [method, path] of REQUESTS) {
      const m = matchRoute(method, path.split("/").filter(Boolean));
      if (m) assert.ok(ROUTES.includes(m.route), `${method} ${path}`);
    }
    assert.equal(matchRoute("GET", ["v1", "datasets", "domain_events", "versions", "3"])?.route.pattern, "/v1/datasets/:dataset/versions/:version");
    assert.deepEqual(matchRoute("GET", ["v1", "datasets", "domain_events", "tags", "v1"])?.params, { dataset: "domain_events", tag: "v1" });
    assert.equal(matchRoute("DELETE", ["v1", "datasets"]), undefined);
  });

  test("a command is only what the table lists: names every object inherits (constructor, toString) are no command", () => {
    // The access table before this one looked commands up in a plain object, so these two were taken
    // for commands: an operator passed (then 404), a reader's refusal quoted a function's source.
    for (const [who, caller] of Object.entries(CALLERS)) {
      for (const name of ["constructor", "toString", "__proto__"]) {
        const got = answer(caller, "POST", `${D}/${name}`);
        if (who === "admin") assert.equal(got, "allow");
        else
          assert.deepEqual(
            got,
            { status: 403, code: "forbidden", message: `token ${JSON.stringify(caller.name)} (role ${caller.role}) ${ADMIN(caller, "POST", [])}` },
            `${who} ${name}`,
          );
      }
    }
  });
});
