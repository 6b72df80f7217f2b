// Who may do what on ingest's HTTP API. Pure: an identity (from the shared bearer-token mechanism,
// @lake/http tokens.ts, also the catalog's), a method and a route in, allow / 401 / 403 out.
//
// - producer: sends events to the domains its entry lists (`"domains": ["payments"]`, or ["*"]);
// - operator: reads and replays the quarantine of every domain (raw records as producers sent them,
//   refused ones included: not for producers), and reads /v1/stats;
// - admin: everything.
// /healthz and /metrics stay open (probes and scrapers carry no token). Any route not named here is
// admin only: a route added to the server but not to this table is closed, not open.
import { isValidName, NAME_PATTERN } from "@lake/contracts";
import { type AuthProblem, type TokenIdentity, type TokensSpec, type Unauthenticated } from "@lake/http";

export const INGEST_ROLES = { producer: "producer", operator: "operator", admin: "admin" } as const;
export type IngestRole = (typeof INGEST_ROLES)[keyof typeof INGEST_ROLES];

export type IngestIdentity = TokenIdentity<IngestRole>;
export type IngestCaller = IngestIdentity | Unauthenticated;

/** Ingest's tokens file (LAKE_INGEST_TOKENS_FILE): producers are limited to domains. */
export const INGEST_TOKENS: TokensSpec<IngestRole> = {
  roles: Object.values(INGEST_ROLES),
  scoped: {
    role: INGEST_ROLES.producer,
    key: "domains",
    noun: "domain",
    verb: "send events to",
    valid: isValidName,
    rule: NAME_PATTERN.source,
    unscopedNote: (role) =>
      role === INGEST_ROLES.admin
        ? "an admin may do everything, so a list here would not restrict it"
        : "an operator sends no events, so a list here would mean nothing",
  },
  empty: "nobody could use ingest's HTTP API (to run without authentication, unset LAKE_INGEST_TOKENS_FILE instead)",
};

export type IngestRoute =
  { kind: "open" } | { kind: "events"; domain: string } | { kind: "quarantine"; domain: string } | { kind: "stats" } | { kind: "other" };

/**
 * The route as far as access is concerned, from the path only (the method is the decision's other
 * input). A domain's `events` and `quarantine` paths are areas: whoever may use one gets the server's
 * own 404 / 405 for a path or method in it that doesn't exist.
 */
export function ingestRouteOf(segments: readonly string[]): IngestRoute {
  if (segments.length === 1 && (segments[0] === "healthz" || segments[0] === "metrics")) return { kind: "open" };
  if (segments.length === 2 && segments[0] === "v1" && segments[1] === "stats") return { kind: "stats" };
  if (segments[0] === "v1" && segments[1] === "domains" && segments.length >= 4) {
    const domain = segments[2]!;
    if (segments[3] === "events") return { kind: "events", domain };
    if (segments[3] === "quarantine") return { kind: "quarantine", domain };
  }
  return { kind: "other" };
}

export type IngestAuthDecision =
  { kind: "allow" } | { kind: "deny"; status: 401; code: AuthProblem; message: string } | { kind: "deny"; status: 403; code: "forbidden"; message: string };

const ALLOW: IngestAuthDecision = { kind: "allow" };

const UNAUTHENTICATED: Readonly<Record<AuthProblem, string>> = {
  missing_token: "no bearer token: send Authorization: Bearer <token> (the lake CLI reads LAKE_INGEST_TOKEN, or the data dir's tokens)",
  malformed_authorization: "the Authorization header is not `Bearer <token>`: only bearer tokens are accepted",
  invalid_token: "unknown token: it matches no entry of ingest's tokens file",
};

/** May `identity` send events to `domain`? */
export function mayProduce(identity: IngestIdentity, domain: string): boolean {
  return identity.role === INGEST_ROLES.admin || (identity.role === INGEST_ROLES.producer && (identity.scope === "all" || identity.scope.has(domain)));
}

export function decideIngest(caller: IngestCaller, method: string, route: IngestRoute): IngestAuthDecision {
  if (route.kind === "open") return ALLOW;
  if (caller.kind === "unauthenticated") return { kind: "deny", status: 401, code: caller.problem, message: UNAUTHENTICATED[caller.problem] };
  if (caller.role === INGEST_ROLES.admin) return ALLOW;
  const forbidden = (message: string): IngestAuthDecision => ({
    kind: "deny",
    status: 403,
    code: "forbidden",
    message: `token ${JSON.stringify(caller.name)} (role ${caller.role}) ${message}`,
  });
  switch (route.kind) {
    case "events": {
      if (mayProduce(caller, route.domain)) return ALLOW;
      if (caller.role !== INGEST_ROLES.producer) return forbidden("may not send events: that needs role producer or admin");
      const granted = caller.scope === "all" ? "every domain" : [...caller.scope].join(", ");
      return forbidden(`may not send events to domain ${JSON.stringify(route.domain.slice(0, 80))}: it may send to ${granted}`);
    }
    case "quarantine":
    case "stats":
      return caller.role === INGEST_ROLES.operator
        ? ALLOW
        : forbidden("may not read or replay the quarantine or read stats: that needs role operator or admin");
    case "other":
      return forbidden(`may not call ${method.slice(0, 16)} on this path: it needs role admin`);
  }
}
