import { readFileSync } from "node:fs";

import { type ConnectionOptions, createInbox, credsAuthenticator, type NatsConnection, type TlsOptions } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

import { patchNatsHeaders, patchNatsRequests } from "./nats-patches.ts";

/**
 * How a connection proves who it is, and over what. At most one of user/pass, token, creds; TLS
 * combines with any of them (or with none, for a server that authenticates by client certificate).
 */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  /** Contents of a `.creds` file (JWT + nkey seed), read once at start. */
  creds?: Uint8Array;
  /** Where `creds` came from, for messages. */
  credsFile?: string;
  /** File paths, handed to nats.js as they are (it reads them when it connects). */
  tls?: Pick<TlsOptions, "caFile" | "certFile" | "keyFile">;
  /**
   * Prefix of this connection's reply subjects (request replies, JetStream API answers, pull consumer
   * deliveries). Per-user prefixes let the server's permissions keep one service from reading what is
   * delivered to another (deploy/nats/permissions.ts grants each user only `_INBOX.<user>.>`).
   */
  inboxPrefix?: string;
}

export interface NatsOptions {
  url: string;
  name: string;
  /** Defaults to `natsAuthFromEnv(process.env)`; pass `{}` to connect without credentials whatever the environment says. */
  auth?: NatsAuth;
}

/** A NATS_* variable is set to something unusable; the message names the variable. */
export class NatsConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "NatsConfigError";
  }
}

export function isNatsConfigError(e: unknown): e is NatsConfigError {
  return e instanceof NatsConfigError;
}

/**
 * A new reply subject of `nc`'s own, under its inbox prefix (`_INBOX.<user>` under the lake's
 * permissions), as nats.js's own requests make them.
 */
export function newInbox(nc: NatsConnection): string {
  return createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix || "_INBOX");
}

/**
 * Calls `fn` each time `nc` comes back after losing its connection (with the server it reconnected
 * to), until the returned stop is called. Stopping takes the listener off the connection at once (an
 * iterator's return() would wait for the connection's next status, and a healthy one may have none).
 */
export function onReconnect(nc: NatsConnection, fn: (server: string | undefined) => void): () => void {
  const statuses = nc.status() as AsyncIterable<{ type: string; server?: string }> & { stop?: () => void };
  let stopped = false;
  void (async () => {
    for await (const s of statuses) {
      if (stopped) return;
      if (s.type === "reconnect") fn(s.server);
    }
  })().catch(() => {});
  return () => {
    stopped = true;
    statuses.stop?.();
  };
}

// A NATS subject token: no whitespace, no wildcards, no empty tokens.
const INBOX_PREFIX = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
// `_INBOX.` and at least one more such token.
const INBOX_SUBJECT = /^_INBOX(\.[^\s.*>]+)+$/;

/**
 * Whether `subject` is a reply inbox (`_INBOX.…`, as nats.js and connectNats make them). A service that
 * answers requests answers only there: a reply subject is chosen by the requester, and an answer
 * published to `lake.commits.x` or `$JS.API.STREAM.PURGE.EVENTS` would be the requester writing to a
 * stream, or managing one, with the service's permissions (deploy/nats/permissions.ts lets services
 * publish replies to `_INBOX.>` only, so the server refuses it too).
 */
export function isInboxSubject(subject: string): boolean {
  return INBOX_SUBJECT.test(subject);
}
// User names that can stand as a subject token in the default inbox prefix.
const PLAIN_USER = /^[A-Za-z0-9_-]+$/;

/**
 * Reads the connection's credentials and TLS files from the environment (once, at start):
 *
 * - `NATS_USER` + `NATS_PASSWORD`, or `NATS_TOKEN`, or `NATS_CREDS` (path of a `.creds` file): at most one;
 * - `NATS_TLS_CA` (CA bundle that signs the server's certificate), `NATS_TLS_CERT` + `NATS_TLS_KEY`
 *   (client certificate, for servers that verify clients): files, checked to be readable here;
 * - `NATS_INBOX_PREFIX`: reply-subject prefix; defaults to `_INBOX.<NATS_USER>` when a plain user name is
 *   given (what the lake's server permissions expect), otherwise nats.js's `_INBOX`.
 *
 * Nothing set means no credentials and no TLS beyond what a `tls://` URL asks for. Every problem is a
 * NatsConfigError naming the variable.
 */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const auth: NatsAuth = {};
  // Set but empty counts as unset (a blank line in an env file must not mean "the empty password").
  const user = nonEmpty(env.NATS_USER);
  const pass = nonEmpty(env.NATS_PASSWORD);
  const token = nonEmpty(env.NATS_TOKEN);
  const creds = nonEmpty(env.NATS_CREDS);

  const chosen: string[] = [];
  if (user !== undefined || pass !== undefined) chosen.push("NATS_USER/NATS_PASSWORD");
  if (token !== undefined) chosen.push("NATS_TOKEN");
  if (creds !== undefined) chosen.push("NATS_CREDS");
  if (chosen.length > 1) throw new NatsConfigError(chosen.at(-1)!, `${chosen.join(" and ")} are set together: choose one way to authenticate to NATS`);
  if (user !== undefined || pass !== undefined) {
    if (user === undefined) throw new NatsConfigError("NATS_USER", "NATS_PASSWORD is set but NATS_USER is not: give the user name too");
    if (pass === undefined) throw new NatsConfigError("NATS_PASSWORD", `NATS_USER=${user} is set but NATS_PASSWORD is not: give the user's password`);
    auth.user = user;
    auth.pass = pass;
  }
  if (token !== undefined) auth.token = token;
  if (creds !== undefined) {
    auth.creds = readConfigFile("NATS_CREDS", creds, "the NATS credentials (.creds) file");
    auth.credsFile = creds;
  }

  const ca = nonEmpty(env.NATS_TLS_CA);
  const cert = nonEmpty(env.NATS_TLS_CERT);
  const key = nonEmpty(env.NATS_TLS_KEY);
  if (cert !== undefined && key === undefined)
    throw new NatsConfigError("NATS_TLS_KEY", `NATS_TLS_CERT=${cert} is set but NATS_TLS_KEY is not: a client certificate needs its private key`);
  if (key !== undefined && cert === undefined)
    throw new NatsConfigError("NATS_TLS_CERT", `NATS_TLS_KEY=${key} is set but NATS_TLS_CERT is not: give the client certificate too`);
  if (ca !== undefined || cert !== undefined) {
    const tls: NonNullable<NatsAuth["tls"]> = {};
    if (ca !== undefined) {
      readConfigFile("NATS_TLS_CA", ca, "the CA certificate(s) the NATS server's certificate is checked against");
      tls.caFile = ca;
    }
    if (cert !== undefined && key !== undefined) {
      readConfigFile("NATS_TLS_CERT", cert, "the client certificate");
      readConfigFile("NATS_TLS_KEY", key, "the client certificate's private key");
      tls.certFile = cert;
      tls.keyFile = key;
    }
    auth.tls = tls;
  }

  const prefix = nonEmpty(env.NATS_INBOX_PREFIX);
  if (prefix !== undefined) {
    if (!INBOX_PREFIX.test(prefix))
      throw new NatsConfigError(
        "NATS_INBOX_PREFIX",
        `NATS_INBOX_PREFIX=${JSON.stringify(prefix)} is not a subject prefix (dot-separated tokens, no spaces or wildcards)`,
      );
    auth.inboxPrefix = prefix;
  } else if (user !== undefined && PLAIN_USER.test(user)) {
    auth.inboxPrefix = `_INBOX.${user}`;
  }
  return auth;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function readConfigFile(variable: string, path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new NatsConfigError(variable, `${variable}=${path}: cannot read ${what}: ${(cause as Error).message}`, { cause });
  }
}

/** The nats.js connection options for `auth` (exported for tests; connectNats is what services call). */
export function natsConnectionOptions(opts: NatsOptions): ConnectionOptions {
  const auth = opts.auth ?? natsAuthFromEnv();
  return {
    // "nats://a:4222,nats://b:4222": a cluster's seed list, so a service can start while one node is down.
    servers: opts.url
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
    name: opts.name,
    // Services outlive NATS restarts: keep trying instead of dying, so a broker bounce heals by itself.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    // nats.js otherwise builds an Error (a stack trace) per request and publish, to report where an
    // async failure came from: ~30% of ingest's CPU under load. Our errors carry their own context.
    noAsyncTraces: true,
    ...(auth.user !== undefined ? { user: auth.user, pass: auth.pass } : {}),
    ...(auth.token !== undefined ? { token: auth.token } : {}),
    ...(auth.creds !== undefined ? { authenticator: credsAuthenticator(auth.creds) } : {}),
    ...(auth.tls !== undefined ? { tls: { ...auth.tls } } : {}),
    ...(auth.inboxPrefix !== undefined ? { inboxPrefix: auth.inboxPrefix } : {}),
  };
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  patchNatsRequests();
  patchNatsHeaders();
  return connect(natsConnectionOptions(opts));
}
