// Bearer tokens of the lake's HTTP APIs (catalog, ingest): a tokens file holding only sha256 hashes, each
// entry naming its caller, its role and, for the one role limited to a list of names, that list. Pure
// and shared: each service states its roles (TokensSpec) and decides per route what a role may do.
//
// A presented token is hashed and compared with every configured hash in constant time (no early exit,
// no map lookup keyed by a secret-derived string), so response timing tells nothing about how close a
// guess was.
import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";

/** What a service's tokens file may say. */
export interface TokensSpec<R extends string> {
  roles: readonly R[];
  /** The role whose entries are limited to a list of names (catalog: reader → datasets; ingest: producer → domains). */
  scoped: {
    role: R;
    /** The entry field holding the list: "datasets", "domains". */
    key: string;
    /** One name of that list, for messages: "dataset", "domain". */
    noun: string;
    /** What the role does with a name, for messages: "read", "send events to". */
    verb: string;
    /** Whether a name is valid, and the rule it breaks otherwise. */
    valid(name: string): boolean;
    rule: string;
    /** Why a list on another role is refused, after `"<key>" applies only to role <role>; ` (given that role). */
    unscopedNote(role: R): string;
  };
  /** Said of an empty file, after "has no entries: " (how to run without authentication instead). */
  empty: string;
}

/** An authenticated caller: the token's configured name, its role, and the names it is limited to ("all": no limit). */
export interface TokenIdentity<R extends string = string> {
  kind: "token";
  name: string;
  role: R;
  scope: ReadonlySet<string> | "all";
}

/** One entry of a tokens file, as loaded. */
export interface TokenEntry<I> {
  identity: I;
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

export class TokensFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TokensFileError";
  }
}

export function isTokensFileError(e: unknown): e is TokensFileError {
  return e instanceof TokensFileError;
}

/** Names appear in logs and audit records (the catalog records them as the actor of commands): keep them plain. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;

/**
 * Parses a tokens file: a JSON array of `{ name, sha256, role, <scoped key>? }`. Anything doubtful is
 * refused with the entry and the problem named, so a typo can't quietly widen or narrow access: unknown
 * keys, a list on a role it doesn't apply to, duplicate names or hashes, an empty file.
 */
export function parseTokens<R extends string>(text: string, spec: TokensSpec<R>): TokenEntry<TokenIdentity<R>>[] {
  const { scoped } = spec;
  const keys = new Set(["name", "sha256", "role", scoped.key]);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TokensFileError(`not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!Array.isArray(doc)) throw new TokensFileError(`expected a JSON array of { "name", "sha256", "role", "${scoped.key}"? } entries`);
  if (doc.length === 0) throw new TokensFileError(`has no entries: ${spec.empty}`);
  const names = new Set<string>();
  const hashes = new Set<string>();
  return doc.map((raw: unknown, i): TokenEntry<TokenIdentity<R>> => {
    const where = (name?: string) => `entry ${i}${name === undefined ? "" : ` (${JSON.stringify(name)})`}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new TokensFileError(`${where()}: expected an object`);
    const e = raw as Record<string, unknown>;
    const name = typeof e.name === "string" ? e.name : undefined;
    const extra = Object.keys(e).filter((k) => !keys.has(k));
    if (extra.length > 0)
      throw new TokensFileError(`${where(name)}: unknown field ${extra.map((k) => JSON.stringify(k)).join(", ")}; allowed: ${[...keys].join(", ")}`);
    if (name === undefined || !TOKEN_NAME_PATTERN.test(name)) {
      throw new TokensFileError(`${where()}: "name" must be a string matching ${TOKEN_NAME_PATTERN.source} (it names the caller in logs and audit records)`);
    }
    if (names.has(name))
      throw new TokensFileError(`${where(name)}: the name is used by an earlier entry; names must be unique (they name the caller in logs and audit records)`);
    names.add(name);
    if (typeof e.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      throw new TokensFileError(`${where(name)}: "sha256" must be the 64 hex digits of the token's SHA-256 (the file never holds tokens themselves)`);
    }
    const hex = e.sha256.toLowerCase();
    if (hashes.has(hex)) throw new TokensFileError(`${where(name)}: the same sha256 as an earlier entry; one token can have only one identity`);
    hashes.add(hex);
    if (typeof e.role !== "string" || !(spec.roles as readonly string[]).includes(e.role)) {
      throw new TokensFileError(`${where(name)}: "role" must be one of ${spec.roles.join(", ")}, got ${JSON.stringify(e.role)}`);
    }
    const role = e.role as R;
    const list = e[scoped.key];
    let scope: TokenIdentity<R>["scope"] = "all";
    if (role === scoped.role) {
      if (!Array.isArray(list) || list.length === 0) {
        throw new TokensFileError(`${where(name)}: a ${role} needs "${scoped.key}": the ${scoped.noun} names it may ${scoped.verb}, or ["*"] for all`);
      }
      if (list.includes("*")) {
        if (list.length !== 1) throw new TokensFileError(`${where(name)}: "*" grants every ${scoped.noun} and must be alone in "${scoped.key}"`);
      } else {
        const bad = list.find((d) => typeof d !== "string" || !scoped.valid(d));
        if (bad !== undefined)
          throw new TokensFileError(`${where(name)}: ${scoped.noun} ${JSON.stringify(bad)} is not a valid ${scoped.noun} name (${scoped.rule})`);
        scope = new Set(list as string[]);
      }
    } else if (list !== undefined) {
      throw new TokensFileError(`${where(name)}: "${scoped.key}" applies only to role ${scoped.role}; ${scoped.unscopedNote(role)}`);
    }
    return { identity: { kind: "token", name, role, scope }, sha256: Buffer.from(hex, "hex") };
  });
}

/**
 * Reads and parses the tokens file `path` named by the environment variable `variable`. Every problem is
 * a TokensFileError whose message starts with `<variable>=<path>: ` (or says the variable is set but
 * empty, which is refused rather than read as "off": a blank in a deployment template must not open an API).
 */
export function readTokensFile<R extends string>(variable: string, path: string, spec: TokensSpec<R>): TokenEntry<TokenIdentity<R>>[] {
  if (path === "") throw new TokensFileError(`${variable} is set but empty: give the tokens file's path, or unset it to run without authentication`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new TokensFileError(`${variable}=${path}: cannot read it: ${(e as Error).message}`, { cause: e });
  }
  try {
    return parseTokens(text, spec);
  } catch (e) {
    if (isTokensFileError(e)) throw new TokensFileError(`${variable}=${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

// One-shot crypto.hash is about twice as fast as createHash (it is on every request); Node < 20.12 lacks it.
const sha256 = (s: string): Buffer =>
  typeof crypto.hash === "function" ? crypto.hash("sha256", s, "buffer") : crypto.createHash("sha256").update(s, "utf8").digest();

const MAX_TOKEN_CHARS = 4096;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)$/i;

/** Who presents `authorization` (the raw header), given the configured tokens. */
export function authenticate<I>(tokens: readonly TokenEntry<I>[], authorization: string | undefined): I | Unauthenticated {
  if (authorization === undefined || authorization === "") return { kind: "unauthenticated", problem: AUTH_PROBLEMS.missing };
  const m = authorization.length <= MAX_TOKEN_CHARS + 16 ? BEARER.exec(authorization.trim()) : null;
  if (!m) return { kind: "unauthenticated", problem: AUTH_PROBLEMS.malformed };
  const digest = sha256(m[1]!);
  let found: I | undefined;
  // Every entry is compared, whatever matched before: the time taken doesn't depend on which one did.
  for (const t of tokens) {
    const same = crypto.timingSafeEqual(t.sha256, digest);
    found = same ? t.identity : found;
  }
  return found ?? { kind: "unauthenticated", problem: AUTH_PROBLEMS.unknown, sha256Prefix: digest.toString("hex").slice(0, 12) };
}

/** The token's sha256, hex: what goes into a tokens file (used by `lake up`, docs, tests and the benchmark). */
export function tokenSha256(token: string): string {
  return sha256(token).toString("hex");
}

/** The WWW-Authenticate header of a 401 or 403 answer (RFC 6750) for `realm`. */
export function bearerChallenge(realm: string, status: 401 | 403, code: string): string {
  const base = `Bearer realm="${realm}"`;
  if (status === 403) return `${base}, error="insufficient_scope"`;
  return code === AUTH_PROBLEMS.missing ? base : `${base}, error="${code === AUTH_PROBLEMS.unknown ? "invalid_token" : "invalid_request"}"`;
}
