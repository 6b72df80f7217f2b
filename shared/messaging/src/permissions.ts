// The NATS users of the lake and what each may publish and subscribe to. This module is the one source of
// truth: deploy/nats/render.ts writes deploy/nats/accounts.conf from it (passwords as references to
// environment variables, which docker compose fills in), and `lake up` and the tests run their local
// nats-server with the same users and random passwords (writeLocalNatsConfig), so every lake, local or
// deployed, runs under these permissions.
//
// Grants are derived from what the code does (subject builders come from @lake/messaging, so a renamed
// subject moves here too):
// - every service, at start: JetStream account info (jetstreamManager), STREAM.INFO on every lake stream
//   (ensureStreams; SchemaRegistry.open calls it too);
// - readers use ephemeral pull consumers, nats.js's ordered ones or follow's lingering pulls (AckPolicy.None,
//   so no `$JS.ACK` grants): CONSUMER.CREATE with the filter subject in the API subject (nats.js's
//   named-consumer API), so the grant pins *what* a user may read; MSG.NEXT to pull, INFO for lag, DELETE
//   when nats.js recreates a consumer after a gap or a lingering pull stops;
// - STREAM.MSG.GET where the code reads single messages (commit-log head reads, quarantine pages);
// - replies come to `_INBOX.<user>.>`: connectNats uses that prefix when NATS_USER is set, so one
//   service can't read what is delivered to another;
// - nobody has `allow_responses`: it lets a user publish to whatever reply subject a requester names,
//   overriding its deny list, so a producer could make ingest write `lake.commits.*` or call the
//   JetStream API (`$JS.API.STREAM.PURGE.EVENTS`). The one service that answers requests (ingest; the
//   catalog and the registry answer none) may publish replies to `_INBOX.>` only, and never into a
//   service's inbox; it also refuses other reply subjects itself (services/ingest/src/nats/endpoint.ts).
// Stream management (create, update, purge, delete) and schema registration are not granted to
// services: the compose `nats-setup` job (deploy/nats-setup.ts, as `admin`; `lake up` does the same)
// creates and updates the streams with the deployment's replica count and dedupe window and registers the
// repo's contracts before any service starts. A service that finds a stream missing stops with a
// permissions error instead of creating it with defaults (1 replica).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import type { NatsAuth } from "./connect.ts";
import { STREAMS, subjects } from "./streams.ts";

export interface UserPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  // No allow_responses, on purpose: see the top of this file.
}

export interface NatsUser {
  /** The NATS user name; services get it as NATS_USER. */
  user: string;
  /** Environment variable holding the password, in compose and on the NATS servers. */
  passwordEnv: string;
  /** Why this user exists, rendered as a comment above it. */
  role: string;
  permissions: UserPermissions;
}

export const LAKE_ACCOUNT = "LAKE";
export const SYSTEM_ACCOUNT = "SYS";

const API = "$JS.API";
const ALL_STREAMS: readonly string[] = Object.values(STREAMS);

const inbox = (user: string) => `_INBOX.${user}.>`;

/** Users whose inboxes receive JetStream API answers and deliveries; nobody else may publish there. */
const SERVICE_INBOXES = ["ingest", "committer", "aggregator", "catalog", "quality"].map(inbox);

/** What every service does at start: ensureStreams finds each lake stream (and JetStream itself). */
const START_UP = [`${API}.INFO`, ...ALL_STREAMS.map((s) => `${API}.STREAM.INFO.${s}`)];

/** Reading `stream` through ordered consumers whose filter matches `filter`. */
function reads(stream: string, filter: string): string[] {
  return [
    `${API}.CONSUMER.CREATE.${stream}.*.${filter}`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
    `${API}.CONSUMER.INFO.${stream}.*`,
    `${API}.CONSUMER.DELETE.${stream}.*`,
  ];
}

const msgGet = (stream: string) => `${API}.STREAM.MSG.GET.${stream}`;

/**
 * Following the schema registry (SchemaRegistry.open). No service may register schemas: SchemaRegistry.open
 * also seeds the registry with the repo's .avsc files, but the setup job (deploy/nats-setup.ts, as admin)
 * has registered them before any service starts, so a service's seeding finds them known and writes
 * nothing. New versions are registered by operators (`lake schema register`, as admin).
 */
const REGISTRY_READ = reads(STREAMS.schemas, subjects.allSchemas);

/** The ledger beside a quarantined record (services/ingest/src/nats/quarantine.ts replayLedgerSubject). */
const QUARANTINE_LEDGER = `${subjects.quarantine("*")}.replayed.*`;

/** The ledger of a failed audit's quarantined batch (services/committer/src/nats/audit.ts auditLedgerSubject). */
const AUDIT_LEDGER = `${subjects.quarantine("*")}.audited.*`;

const serviceUsers: NatsUser[] = [
  {
    user: "ingest",
    passwordEnv: "NATS_INGEST_PASSWORD",
    role: "validates events: publishes them, quarantines the rest, answers lake.ingest.* requests; never writes the commit log",
    permissions: {
      publish: {
        allow: [
          subjects.events("*"),
          subjects.quarantine("*"),
          QUARANTINE_LEDGER,
          ...START_UP,
          msgGet(STREAMS.quarantine),
          ...REGISTRY_READ,
          // Answers to lake.ingest.* requests: to a requester's inbox, nowhere else.
          "_INBOX.>",
        ],
        deny: [subjects.allCommits, ...SERVICE_INBOXES],
      },
      subscribe: { allow: [subjects.allIngest, inbox("ingest")] },
    },
  },
  {
    user: "committer",
    passwordEnv: "NATS_COMMITTER_PASSWORD",
    role: "turns lake.events.<domain> / lake.windows.<dataset> into versions; appends VersionCommitted to lake.commits.<dataset>",
    permissions: {
      publish: {
        allow: [
          subjects.commits("*"),
          // Undecodable source messages are quarantined and skipped; so is the batch of a version that
          // failed its audit (write-audit-publish), framed by its ledger, which it reads back.
          subjects.quarantine("*"),
          AUDIT_LEDGER,
          msgGet(STREAMS.quarantine),
          subjects.alerts("*"),
          ...START_UP,
          msgGet(STREAMS.commits),
          ...reads(STREAMS.events, subjects.events("*")),
          ...reads(STREAMS.windows, subjects.windows("*")),
          // Upsert datasets fold their own log (foldCommitLog) to know the live files.
          ...reads(STREAMS.commits, subjects.commits("*")),
          ...REGISTRY_READ,
        ],
      },
      subscribe: { allow: [inbox("committer")] },
    },
  },
  {
    user: "aggregator",
    passwordEnv: "NATS_AGGREGATOR_PASSWORD",
    role: "event-time windows over lake.events.<domain>; publishes lake.windows.<dataset> and late events to lake.late.<dataset>",
    permissions: {
      publish: {
        allow: [subjects.windows("*"), subjects.late("*"), ...START_UP, ...reads(STREAMS.events, subjects.events("*")), ...REGISTRY_READ],
        deny: [subjects.allCommits],
      },
      subscribe: { allow: [inbox("aggregator")] },
    },
  },
  {
    user: "catalog",
    passwordEnv: "NATS_CATALOG_PASSWORD",
    role: "projects lake.commits.>; appends promote / rollback / tag records with CAS; reads the first record after a version's source position (its freshness) and follows lake.alerts.> (the console)",
    permissions: {
      publish: {
        allow: [
          subjects.commits("*"),
          subjects.alerts("*"),
          ...START_UP,
          msgGet(STREAMS.commits),
          ...reads(STREAMS.commits, subjects.allCommits),
          // A version read's freshness: when the oldest record the version does not hold was stored.
          msgGet(STREAMS.events),
          msgGet(STREAMS.windows),
          // The console's recent alerts and live updates (services/catalog/src/nats/alerts.ts).
          ...reads(STREAMS.alerts, subjects.allAlerts),
        ],
      },
      subscribe: { allow: [inbox("catalog")] },
    },
  },
  {
    user: "quality",
    passwordEnv: "NATS_QUALITY_PASSWORD",
    role: "judges every committed version; appends QualityVerdict to lake.commits.<dataset>",
    permissions: {
      publish: {
        allow: [subjects.commits("*"), ...START_UP, msgGet(STREAMS.commits), ...reads(STREAMS.commits, subjects.allCommits), ...REGISTRY_READ],
      },
      subscribe: { allow: [inbox("quality")] },
    },
  },
];

const otherUsers: NatsUser[] = [
  {
    user: "producer",
    passwordEnv: "NATS_PRODUCER_PASSWORD",
    role: "event producers using ingest's NATS endpoint (request/reply on lake.ingest.<domain>); set NATS_USER=producer so replies come to _INBOX.producer",
    permissions: {
      publish: { allow: [subjects.allIngest], deny: [subjects.allCommits] },
      subscribe: { allow: [inbox("producer")] },
    },
  },
  {
    user: "admin",
    passwordEnv: "NATS_ADMIN_PASSWORD",
    role: "operators, the lake CLI and the nats-setup job: everything in the lake account (stream management, repairs)",
    permissions: {
      publish: { allow: [">"] },
      subscribe: { allow: [">"] },
    },
  },
];

/** Every user of the lake account, services first. */
export const NATS_USERS: readonly NatsUser[] = [...serviceUsers, ...otherUsers];

/** The user each service connects as (compose sets NATS_USER accordingly; checked by test/deploy.int.test.ts). */
export const SERVICE_USERS = {
  ingest: "ingest",
  committer: "committer",
  aggregator: "aggregator",
  catalog: "catalog",
  quality: "quality",
} as const;

/** The system account's one user, for `nats server report` and friends. */
export const SYSTEM_USER = { user: "sys", passwordEnv: "NATS_SYS_PASSWORD" } as const;

export function natsUser(name: string): NatsUser {
  const u = NATS_USERS.find((x) => x.user === name);
  if (!u) throw new Error(`no NATS user ${JSON.stringify(name)} in shared/messaging/src/permissions.ts`);
  return u;
}

/** How a password appears in the rendered file: an environment reference (deploy) or a literal (`lake up`, tests). */
export type PasswordValue = { env: string } | { literal: string };

function quote(s: string): string {
  // The NATS config parser reads these as plain double-quoted strings; nothing here needs escaping.
  if (/["\\\n]/.test(s)) throw new Error(`cannot render ${JSON.stringify(s)} in a NATS config string`);
  return `"${s}"`;
}

function renderPassword(p: PasswordValue): string {
  if ("env" in p) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(p.env)) throw new Error(`bad environment variable name ${p.env}`);
    // Unquoted $NAME: nats-server substitutes the environment variable and refuses to start without it.
    return `$${p.env}`;
  }
  return quote(p.literal);
}

function renderList(indent: string, items: readonly string[]): string {
  return `[\n${items.map((i) => `${indent}  ${quote(i)}`).join(",\n")}\n${indent}]`;
}

function renderUser(u: NatsUser, password: PasswordValue): string {
  const p = u.permissions;
  const lines = [
    `      # ${u.role}`,
    "      {",
    `        user: ${quote(u.user)}`,
    `        password: ${renderPassword(password)}`,
    "        permissions: {",
    "          publish: {",
    `            allow: ${renderList("            ", p.publish.allow)}`,
    ...(p.publish.deny?.length ? [`            deny: ${renderList("            ", p.publish.deny)}`] : []),
    "          }",
    "          subscribe: {",
    `            allow: ${renderList("            ", p.subscribe.allow)}`,
    ...(p.subscribe.deny?.length ? [`            deny: ${renderList("            ", p.subscribe.deny)}`] : []),
    "          }",
    "        }",
    "      }",
  ];
  return lines.join("\n");
}

/**
 * The accounts file: the lake account (JetStream on) with every user of NATS_USERS, and the system
 * account. `password` says how each user's password is written.
 */
export function renderAccountsConf(password: (u: { user: string; passwordEnv: string }) => PasswordValue, header: string): string {
  return [
    ...header.split("\n").map((l) => (l ? `# ${l}` : "#")),
    "",
    "accounts {",
    `  ${LAKE_ACCOUNT}: {`,
    "    jetstream: enabled",
    "    users: [",
    NATS_USERS.map((u) => renderUser(u, password(u))).join("\n"),
    "    ]",
    "  }",
    `  ${SYSTEM_ACCOUNT}: {`,
    "    users: [",
    `      { user: ${quote(SYSTEM_USER.user)}, password: ${renderPassword(password(SYSTEM_USER))} }`,
    "    ]",
    "  }",
    "}",
    `system_account: ${SYSTEM_ACCOUNT}`,
    "",
  ].join("\n");
}

/** A nats-server configuration with the lake's users and their passwords, written by writeLocalNatsConfig. */
export interface LocalNatsConfig {
  /** Pass to startNatsServer({ config }). */
  configPath: string;
  /** Every user's name and (random) password. */
  passwords: Readonly<Record<string, string>>;
  /**
   * Environment that makes connectNats log in as `user` (other NATS_* credentials blanked, so a shell's
   * own cannot get in the way).
   */
  envFor(user: string): { NATS_USER: string; NATS_PASSWORD: string; NATS_TOKEN: string; NATS_CREDS: string; NATS_INBOX_PREFIX: string };
  /** connectNats's auth for `user`, with the inbox prefix the permissions grant. */
  authFor(user: string): NatsAuth;
}

const PASSWORDS_FILE = "passwords.json";

/**
 * Writes a server configuration equivalent to deploy/nats/nats.conf into `dir`: the same accounts, users
 * and permissions with fresh random passwords, which are also kept in `dir`/passwords.json for clients
 * (readLocalNatsConfig). `dir` is made readable by its owner only (0700) and every file in it 0600: the
 * passwords are literals here. Ports, JetStream, store dir and server name come from the launcher
 * (startNatsServer); clustering and sync_interval are left out (one local nats-server 2.9).
 */
export async function writeLocalNatsConfig(
  dir: string,
  header = "Local copy of deploy/nats/accounts.conf with random passwords (writeLocalNatsConfig).",
): Promise<LocalNatsConfig> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const passwords: Record<string, string> = {};
  for (const u of [...NATS_USERS, SYSTEM_USER]) passwords[u.user] = randomBytes(16).toString("hex");
  const secret = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    // An existing file keeps its mode through writeFile: set it again.
    await chmod(path, 0o600);
    return path;
  };
  await secret(
    "accounts.conf",
    renderAccountsConf((u) => ({ literal: passwords[u.user]! }), header),
  );
  const configPath = await secret(
    "nats.conf",
    "# Local nats-server: see writeLocalNatsConfig in shared/messaging/src/permissions.ts\ninclude ./accounts.conf\n",
  );
  await secret(PASSWORDS_FILE, `${JSON.stringify(passwords, null, 2)}\n`);
  return localConfig(configPath, passwords);
}

/** The configuration writeLocalNatsConfig wrote into `dir` (for clients: the passwords). */
export async function readLocalNatsConfig(dir: string): Promise<LocalNatsConfig> {
  const passwords = JSON.parse(await readFile(join(dir, PASSWORDS_FILE), "utf8")) as Record<string, string>;
  return localConfig(join(dir, "nats.conf"), passwords);
}

function localConfig(configPath: string, passwords: Readonly<Record<string, string>>): LocalNatsConfig {
  const password = (user: string) => {
    const p = passwords[user];
    if (p === undefined) throw new Error(`no NATS user ${JSON.stringify(user)}`);
    return p;
  };
  return {
    configPath,
    passwords,
    envFor: (user) => ({ NATS_USER: user, NATS_PASSWORD: password(user), NATS_TOKEN: "", NATS_CREDS: "", NATS_INBOX_PREFIX: "" }),
    authFor: (user) => ({ user, pass: password(user), inboxPrefix: `_INBOX.${user}` }),
  };
}
