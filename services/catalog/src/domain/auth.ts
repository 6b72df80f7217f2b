// Who may do what on the catalog's HTTP API. Pure: the tokens file's text in, token entries out; a
// presented Authorization header in, an identity (or why there is none) out; an identity, a method and
// a route in, allow / 401 / 403 out. No I/O and no clock: the HTTP shell stamps and records denials.
//
// Only sha256 hashes of tokens are configured. A presented token is hashed and compared with every
// configured hash in constant time (no early exit, no map lookup keyed by a secret-derived string), so
// response timing tells nothing about how close a guess was.
import * as crypto from "node:crypto";
import { isValidName } from "@lake/contracts";

export const ROLES = { reader: "reader", operator: "operator", admin: "admin" } as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];
const ROLE_NAMES: readonly string[] = Object.values(ROLES);

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

/** Why a request carries no identity. */
export const AUTH_PROBLEMS = {
  missing: "missing_token",
  malformed: "malformed_authorization",
  unknown: "invalid_token",
} as const;
export type AuthProblem = (typeof AUTH_PROBLEMS)[keyof typeof AUTH_PROBLEMS];

export interface Unauthenticated {
  kind: "unauthenticated";
  problem: AuthProblem;
  /** For an unknown token: the first 12 hex digits of its sha256, so an admin can match it to a new entry. */
  sha256Prefix?: string;
}

export type Caller = Identity | Unauthenticated;

export class TokensFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TokensFileError";
  }
}

export function isTokensFileError(e: unknown): e is TokensFileError {
  return e instanceof TokensFileError;
}

/** Names become the actor of commands and appear in logs: keep them plain. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;
const ENTRY_KEYS = new Set(["name", "sha256", "role", "datasets"]);

/**
 * Parses the tokens file: a JSON array of `{ name, sha256, role, datasets? }`. Anything doubtful is
 * refused with the entry and the problem named, so a typo can't quietly widen or narrow access: unknown
 * keys, a `datasets` list on a role it doesn't apply to, duplicate names or hashes, an empty file.
 */
export function parseTokensFile(text: string): TokenEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TokensFileError(`not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!Array.isArray(doc)) throw new TokensFileError('expected a JSON array of { "name", "sha256", "role", "datasets"? } entries');
  if (doc.length === 0) throw new TokensFileError("has no entries: nobody could use the catalog (to run without authentication, unset LAKE_CATALOG_TOKENS_FILE instead)");
  const names = new Set<string>();
  const hashes = new Set<string>();
  return doc.map((raw: unknown, i): TokenEntry => {
    const where = (name?: string) => `entry ${i}${name === undefined ? "" : ` (${JSON.stringify(name)})`}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new TokensFileError(`${where()}: expected an object`);
    const e = raw as Record<string, unknown>;
    const name = typeof e.name === "string" ? e.name : undefined;
    const extra = Object.keys(e).filter((k) => !ENTRY_KEYS.has(k));
    if (extra.length > 0) throw new TokensFileError(`${where(name)}: unknown field ${extra.map((k) => JSON.stringify(k)).join(", ")}; allowed: ${[...ENTRY_KEYS].join(", ")}`);
    if (name === undefined || !TOKEN_NAME_PATTERN.test(name)) {
      throw new TokensFileError(`${where()}: "name" must be a string matching ${TOKEN_NAME_PATTERN.source} (it is recorded as the actor of this token's commands)`);
    }
    if (names.has(name)) throw new TokensFileError(`${where(name)}: the name is used by an earlier entry; names must be unique (they are the actor in the audit trail)`);
    names.add(name);
    if (typeof e.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      throw new TokensFileError(`${where(name)}: "sha256" must be the 64 hex digits of the token's SHA-256 (the file never holds tokens themselves)`);
    }
    const hex = e.sha256.toLowerCase();
    if (hashes.has(hex)) throw new TokensFileError(`${where(name)}: the same sha256 as an earlier entry; one token can have only one identity`);
    hashes.add(hex);
    if (typeof e.role !== "string" || !ROLE_NAMES.includes(e.role)) {
      throw new TokensFileError(`${where(name)}: "role" must be one of ${ROLE_NAMES.join(", ")}, got ${JSON.stringify(e.role)}`);
    }
    const role = e.role as Role;
    let datasets: Identity["datasets"] = "all";
    if (role === ROLES.reader) {
      if (!Array.isArray(e.datasets) || e.datasets.length === 0) {
        throw new TokensFileError(`${where(name)}: a reader needs "datasets": the dataset names it may read, or ["*"] for all`);
      }
      if (e.datasets.includes("*")) {
        if (e.datasets.length !== 1) throw new TokensFileError(`${where(name)}: "*" grants every dataset and must be alone in "datasets"`);
      } else {
        const bad = e.datasets.find((d) => typeof d !== "string" || !isValidName(d));
        if (bad !== undefined) throw new TokensFileError(`${where(name)}: dataset ${JSON.stringify(bad)} is not a valid dataset name (^[a-z][a-z0-9_]{0,62}$)`);
        datasets = new Set(e.datasets as string[]);
      }
    } else if (e.datasets !== undefined) {
      throw new TokensFileError(`${where(name)}: "datasets" applies only to role reader; an ${role} may read every dataset, so a list here would not restrict it`);
    }
    return { identity: { kind: "token", name, role, datasets }, sha256: Buffer.from(hex, "hex") };
  });
}

// One-shot crypto.hash is about twice as fast as createHash (it is on every request); Node < 20.12 lacks it.
const sha256 = (s: string): Buffer =>
  typeof crypto.hash === "function" ? crypto.hash("sha256", s, "buffer") : crypto.createHash("sha256").update(s, "utf8").digest();

const MAX_TOKEN_CHARS = 4096;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)$/i;

/** Who presents `authorization` (the raw header), given the configured tokens. */
export function authenticate(tokens: readonly TokenEntry[], authorization: string | undefined): Caller {
  if (authorization === undefined || authorization === "") return { kind: "unauthenticated", problem: AUTH_PROBLEMS.missing };
  const m = authorization.length <= MAX_TOKEN_CHARS + 16 ? BEARER.exec(authorization.trim()) : null;
  if (!m) return { kind: "unauthenticated", problem: AUTH_PROBLEMS.malformed };
  const digest = sha256(m[1]!);
  let found: Identity | undefined;
  // Every entry is compared, whatever matched before: the time taken doesn't depend on which one did.
  for (const t of tokens) {
    const same = crypto.timingSafeEqual(t.sha256, digest);
    found = same ? t.identity : found;
  }
  return found ?? { kind: "unauthenticated", problem: AUTH_PROBLEMS.unknown, sha256Prefix: digest.toString("hex").slice(0, 12) };
}

/**
 * Routes as far as access is concerned (from the path only; the method is the decision's other input).
 * Anything not recognised here is `other`, which only an admin may reach: a route added to the handler
 * but not to this table is closed, not open.
 */
export type Route =
  | { kind: "health" }
  | { kind: "datasets" }
  | { kind: "dataset"; dataset: string; rest: readonly string[] }
  | { kind: "admin"; action: string }
  | { kind: "other" };

export function routeOf(segments: readonly string[]): Route {
  // Health stays open (probes carry no token). Prometheus metrics are not on this port at all: they
  // name every dataset with its rows and versions, so they have a listener of their own (loopback by
  // default); /metrics here is just another unknown route, closed to all but admins.
  if (segments.length === 1 && segments[0] === "healthz") return { kind: "health" };
  if (segments[0] !== "v1") return { kind: "other" };
  if (segments[1] === "datasets") {
    if (segments.length === 2) return { kind: "datasets" };
    return { kind: "dataset", dataset: segments[2]!, rest: segments.slice(3) };
  }
  if (segments[1] === "admin") return { kind: "admin", action: segments.slice(2).join("/") };
  return { kind: "other" };
}

/** The commands (POST /v1/datasets/<d>/<command>) and the word for each in refusals. */
const COMMANDS: Readonly<Record<string, string>> = { promote: "promote", rollback: "roll back", tags: "tag", expire: "expire versions", collected: "record collected files" };

export type AuthDecision =
  | { kind: "allow" }
  | { kind: "deny"; status: 401; code: AuthProblem; message: string }
  | { kind: "deny"; status: 403; code: "forbidden"; message: string };

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

export function decide(caller: Caller, method: string, route: Route): AuthDecision {
  if (route.kind === "health") return ALLOW;
  if (caller.kind === "unauthenticated") return { kind: "deny", status: 401, code: caller.problem, message: UNAUTHENTICATED[caller.problem] };
  if (caller.role === ROLES.admin) return ALLOW;
  const forbidden = (message: string): AuthDecision => ({ kind: "deny", status: 403, code: "forbidden", message: `token ${JSON.stringify(caller.name)} (role ${caller.role}) ${message}` });

  if (route.kind === "datasets" && method === "GET") return ALLOW; // the listing is filtered per identity
  if (route.kind === "dataset") {
    if (method === "GET") {
      if (mayRead(caller, route.dataset)) return ALLOW;
      const granted = caller.datasets === "all" ? "every dataset" : [...caller.datasets].join(", ");
      return forbidden(`lacks read access to dataset ${JSON.stringify(route.dataset.slice(0, 80))}: it may read ${granted}`);
    }
    const command = method === "POST" && route.rest.length === 1 ? COMMANDS[route.rest[0]!] : undefined;
    if (command !== undefined) return caller.role === ROLES.operator ? ALLOW : forbidden(`may not ${command}: that needs role operator or admin`);
  }
  if (route.kind === "admin") return forbidden(`may not call ${method} /v1/admin/${route.action.slice(0, 80)}: admin endpoints need role admin`);
  return forbidden(
    caller.role === ROLES.reader
      ? `may only GET the datasets it is granted; ${method} on this path needs role admin`
      : `may only GET datasets and promote, roll back, tag, expire or record collected files; ${method} on this path needs role admin`,
  );
}

/** The token's sha256, hex: what goes into the tokens file (used by docs, tests and the benchmark). */
export function tokenSha256(token: string): string {
  return sha256(token).toString("hex");
}
