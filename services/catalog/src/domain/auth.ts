// Who may do what on the catalog's HTTP API. Pure: the tokens file's text in, token entries out; a
// presented Authorization header in, an identity (or why there is none) out; an identity, the access
// rule of the route a request matched (http/routes.ts) and the request in, allow / 401 / 403 out. No
// I/O and no clock: the HTTP shell stamps and records denials.
//
// Tokens files, hashing and the constant-time comparison are the lake's one mechanism for HTTP bearer
// tokens (@lake/http tokens.ts, which ingest uses too); what each role may do here is the catalog's.
import { isValidName, NAME_PATTERN } from "@lake/contracts";
import {
  AUTH_PROBLEMS,
  authenticate as authenticateToken,
  type AuthProblem,
  isTokensFileError,
  parseTokens,
  TOKEN_NAME_PATTERN,
  TokensFileError,
  tokenSha256,
  type TokensSpec,
  type Unauthenticated,
} from "@lake/http";

export { AUTH_PROBLEMS, TOKEN_NAME_PATTERN, TokensFileError, isTokensFileError, tokenSha256, type AuthProblem, type Unauthenticated };

export const ROLES = { reader: "reader", operator: "operator", admin: "admin" } as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];

/** An authenticated caller: the token's configured name (recorded as the actor of its commands) and role. */
export interface Identity {
  kind: "token";
  name: string;
  role: Role;
  /** What a reader may read; "all" for operators, admins and readers granted `["*"]`. */
  datasets: ReadonlySet<string> | "all";
}

/** One entry of the tokens file, as loaded. */
export interface TokenEntry {
  identity: Identity;
  /** sha256 of the token (32 bytes). */
  sha256: Buffer;
}

export type Caller = Identity | Unauthenticated;

/** The catalog's tokens file (LAKE_CATALOG_TOKENS_FILE): readers are limited to datasets. */
export const CATALOG_TOKENS: TokensSpec<Role> = {
  roles: Object.values(ROLES),
  scoped: {
    role: ROLES.reader,
    key: "datasets",
    noun: "dataset",
    verb: "read",
    valid: isValidName,
    rule: NAME_PATTERN.source,
    unscopedNote: (role) => `an ${role} may read every dataset, so a list here would not restrict it`,
  },
  empty: "nobody could use the catalog (to run without authentication, unset LAKE_CATALOG_TOKENS_FILE instead)",
};

/** A loaded entry as the catalog's routes see it (its scope is the datasets a reader may read). */
export function catalogEntry(e: { identity: { name: string; role: Role; scope: ReadonlySet<string> | "all" }; sha256: Buffer }): TokenEntry {
  return { identity: { kind: "token", name: e.identity.name, role: e.identity.role, datasets: e.identity.scope }, sha256: e.sha256 };
}

/**
 * Parses the tokens file: a JSON array of `{ name, sha256, role, datasets? }`. Anything doubtful is
 * refused with the entry and the problem named (parseTokens), so a typo can't quietly widen or narrow
 * access: unknown keys, a `datasets` list on a role it doesn't apply to, duplicate names or hashes, an
 * empty file.
 */
export function parseTokensFile(text: string): TokenEntry[] {
  return parseTokens(text, CATALOG_TOKENS).map(catalogEntry);
}

/** Who presents `authorization` (the raw header), given the configured tokens. */
export function authenticate(tokens: readonly TokenEntry[], authorization: string | undefined): Caller {
  return authenticateToken(tokens, authorization);
}

/**
 * What a route asks of its caller. Every route of the HTTP API names one (http/routes.ts); a request
 * that matches no route is `unlisted`, which only an admin may reach: a route can't be served without
 * a rule, and a path nobody listed is closed, not open.
 */
export type Access =
  /** Anyone, without a token (health probes carry none). */
  | { kind: "public" }
  /** Any valid token; the handler shows each caller only what it may read (the dataset list). */
  | { kind: "token" }
  /** A token that may read the route's dataset (its `:dataset`). */
  | { kind: "read" }
  /** Role operator or admin; `verb` names the command in a refusal ("may not roll back"). */
  | { kind: "operate"; verb: string }
  /** Role admin: the admin endpoints, under /v1/admin. */
  | { kind: "admin" }
  /** Role admin: anything no route lists. */
  | { kind: "unlisted" };

export const ACCESS = {
  public: { kind: "public" },
  token: { kind: "token" },
  read: { kind: "read" },
  admin: { kind: "admin" },
  unlisted: { kind: "unlisted" },
} as const satisfies Record<string, Access>;

export function operate(verb: string): Access {
  return { kind: "operate", verb };
}

/** The request as access sees it: its method, its path's segments, and the dataset the route names. */
export interface AccessRequest {
  method: string;
  segments: readonly string[];
  dataset: string | undefined;
}

export type AuthDecision =
  { kind: "allow" } | { kind: "deny"; status: 401; code: AuthProblem; message: string } | { kind: "deny"; status: 403; code: "forbidden"; message: string };

const ALLOW: AuthDecision = { kind: "allow" };

/** May `identity` read `dataset`? (Also filters `GET /v1/datasets` for readers.) */
export function mayRead(identity: Identity, dataset: string): boolean {
  return identity.datasets === "all" || identity.datasets.has(dataset);
}

const UNAUTHENTICATED: Readonly<Record<AuthProblem, string>> = {
  missing_token: "no bearer token: send Authorization: Bearer <token> (the lake CLI reads LAKE_TOKEN)",
  malformed_authorization: "the Authorization header is not `Bearer <token>`: only bearer tokens are accepted",
  invalid_token: "unknown token: it matches no entry of the catalog's tokens file",
};

export function decide(caller: Caller, access: Access, req: AccessRequest): AuthDecision {
  if (access.kind === "public") return ALLOW;
  if (caller.kind === "unauthenticated") return { kind: "deny", status: 401, code: caller.problem, message: UNAUTHENTICATED[caller.problem] };
  if (caller.role === ROLES.admin) return ALLOW;
  const forbidden = (message: string): AuthDecision => ({
    kind: "deny",
    status: 403,
    code: "forbidden",
    message: `token ${JSON.stringify(caller.name)} (role ${caller.role}) ${message}`,
  });
  const { method } = req;
  switch (access.kind) {
    case "token":
      return ALLOW;
    case "read": {
      if (req.dataset === undefined) break; // a read rule on a route without a dataset: closed
      if (mayRead(caller, req.dataset)) return ALLOW;
      const granted = caller.datasets === "all" ? "every dataset" : [...caller.datasets].join(", ");
      return forbidden(`lacks read access to dataset ${JSON.stringify(req.dataset.slice(0, 80))}: it may read ${granted}`);
    }
    case "operate":
      return caller.role === ROLES.operator ? ALLOW : forbidden(`may not ${access.verb}: that needs role operator or admin`);
    case "admin":
      return forbidden(`may not call ${method} /v1/admin/${req.segments.slice(2).join("/").slice(0, 80)}: admin endpoints need role admin`);
    case "unlisted":
      break;
  }
  return forbidden(
    caller.role === ROLES.reader
      ? `may only GET the datasets it is granted; ${method} on this path needs role admin`
      : `may only GET datasets and promote, roll back, tag, expire or record collected files; ${method} on this path needs role admin`,
  );
}
