// Given/when/then tests of ingest's access policy (domain/auth.ts) over the shared bearer-token
// mechanism (@lake/http): given a tokens file, when a request arrives with this Authorization header,
// method and path, then allow, 401 or 403. Producers are limited to their domains; the quarantine (raw
// producer input) and stats need an operator; unknown routes need an admin.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { authenticate, parseTokens, TokensFileError, tokenSha256 } from "@lake/http";

import { decideIngest, INGEST_TOKENS, type IngestCaller, ingestRouteOf } from "../src/domain/auth.ts";

const TOKENS = { payments: "pay-secret-0123456789", all: "all-secret-0123456789", ops: "ops-secret-0123456789", root: "root-secret-0123456789" };
const entries = parseTokens(
  JSON.stringify([
    { name: "shop", sha256: tokenSha256(TOKENS.payments), role: "producer", domains: ["payments"] },
    { name: "firehose", sha256: tokenSha256(TOKENS.all), role: "producer", domains: ["*"] },
    { name: "oncall", sha256: tokenSha256(TOKENS.ops), role: "operator" },
    { name: "root", sha256: tokenSha256(TOKENS.root), role: "admin" },
  ]),
  INGEST_TOKENS,
);
const as = (token: string | undefined): IngestCaller => authenticate(entries, token === undefined ? undefined : `Bearer ${token}`);
function outcome(caller: IngestCaller, method: string, path: string): "allow" | 401 | 403 {
  const d = decideIngest(caller, method, ingestRouteOf(path.split("/").filter(Boolean)));
  return d.kind === "allow" ? "allow" : d.status;
}

const ROUTES = {
  health: ["GET", "/healthz"],
  metrics: ["GET", "/metrics"],
  eventsPayments: ["POST", "/v1/domains/payments/events"],
  eventsOther: ["POST", "/v1/domains/domain_events/events"],
  list: ["GET", "/v1/domains/payments/quarantine"],
  replay: ["POST", "/v1/domains/payments/quarantine/replay"],
  stats: ["GET", "/v1/stats"],
  quarantineTypo: ["GET", "/v1/domains/payments/quarantine/other"],
  other: ["DELETE", "/v1/domains/payments"],
} as const;
type RouteName = keyof typeof ROUTES;

const EXPECTED: Record<string, Record<RouteName, "allow" | 401 | 403>> = {
  anonymous: { health: "allow", metrics: "allow", eventsPayments: 401, eventsOther: 401, list: 401, replay: 401, stats: 401, quarantineTypo: 401, other: 401 },
  unknown: { health: "allow", metrics: "allow", eventsPayments: 401, eventsOther: 401, list: 401, replay: 401, stats: 401, quarantineTypo: 401, other: 401 },
  producerOne: {
    health: "allow",
    metrics: "allow",
    eventsPayments: "allow",
    eventsOther: 403,
    list: 403,
    replay: 403,
    stats: 403,
    quarantineTypo: 403,
    other: 403,
  },
  producerAll: {
    health: "allow",
    metrics: "allow",
    eventsPayments: "allow",
    eventsOther: "allow",
    list: 403,
    replay: 403,
    stats: 403,
    quarantineTypo: 403,
    other: 403,
  },
  operator: {
    health: "allow",
    metrics: "allow",
    eventsPayments: 403,
    eventsOther: 403,
    list: "allow",
    replay: "allow",
    stats: "allow",
    quarantineTypo: "allow",
    other: 403,
  },
  admin: {
    health: "allow",
    metrics: "allow",
    eventsPayments: "allow",
    eventsOther: "allow",
    list: "allow",
    replay: "allow",
    stats: "allow",
    quarantineTypo: "allow",
    other: "allow",
  },
};
const CALLERS: Record<keyof typeof EXPECTED, IngestCaller> = {
  anonymous: as(undefined),
  unknown: as("not-a-configured-token"),
  producerOne: as(TOKENS.payments),
  producerAll: as(TOKENS.all),
  operator: as(TOKENS.ops),
  admin: as(TOKENS.root),
};

describe("decideIngest: every role against every route", () => {
  for (const [who, expected] of Object.entries(EXPECTED)) {
    test(`given ${who}, then ${JSON.stringify(expected)}`, () => {
      const got = Object.fromEntries(Object.entries(ROUTES).map(([name, [method, path]]) => [name, outcome(CALLERS[who]!, method, path)]));
      assert.deepEqual(got, expected);
    });
  }

  test("a refusal says who was refused what, never the token", () => {
    const d = decideIngest(as(TOKENS.payments), "POST", ingestRouteOf(["v1", "domains", "domain_events", "events"]));
    assert.equal(d.kind, "deny");
    assert.match((d as { message: string }).message, /token "shop" \(role producer\) may not send events to domain "domain_events": it may send to payments/);
    const q = decideIngest(as(TOKENS.all), "GET", ingestRouteOf(["v1", "domains", "payments", "quarantine"]));
    assert.match((q as { message: string }).message, /needs role operator or admin/);
    const anon = decideIngest(as(undefined), "POST", ingestRouteOf(["v1", "domains", "payments", "events"]));
    assert.deepEqual([anon.kind, (anon as { code: string }).code], ["deny", "missing_token"]);
    assert.equal((decideIngest(as("Bearer"), "GET", { kind: "stats" }) as { code: string }).code, "invalid_token");
  });
});

describe("ingest's tokens file", () => {
  const h = tokenSha256("x");
  const refused = (doc: unknown, message: RegExp) =>
    assert.throws(
      () => parseTokens(JSON.stringify(doc), INGEST_TOKENS),
      (e: unknown) => e instanceof TokensFileError && message.test(e.message),
    );

  test('producers need valid domains or ["*"]; other roles may not list any; unknown roles and fields are refused', () => {
    refused([], /has no entries.*unset LAKE_INGEST_TOKENS_FILE/);
    refused([{ name: "a", sha256: h, role: "producer" }], /a producer needs "domains": the domain names it may send events to/);
    refused([{ name: "a", sha256: h, role: "producer", domains: ["../x"] }], /domain "\.\.\/x" is not a valid domain name/);
    refused([{ name: "a", sha256: h, role: "operator", domains: ["payments"] }], /"domains" applies only to role producer; an operator sends no events/);
    refused([{ name: "a", sha256: h, role: "reader" }], /"role" must be one of producer, operator, admin, got "reader"/);
    refused([{ name: "a", sha256: h, role: "admin", datasets: ["*"] }], /unknown field "datasets"; allowed: name, sha256, role, domains/);
  });

  test("a good file: identities with their domains", () => {
    assert.deepEqual(
      entries.map((e) => ({ ...e.identity, scope: e.identity.scope === "all" ? "all" : [...e.identity.scope] })),
      [
        { kind: "token", name: "shop", role: "producer", scope: ["payments"] },
        { kind: "token", name: "firehose", role: "producer", scope: "all" },
        { kind: "token", name: "oncall", role: "operator", scope: "all" },
        { kind: "token", name: "root", role: "admin", scope: "all" },
      ],
    );
  });
});
