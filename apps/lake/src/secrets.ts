// The credentials of a lake started by `lake up` (startLake): generated fresh at every start into
// <data dir>/secrets, a directory only its owner may read (0700; every file 0600), so the local lake runs
// with the same NATS users and permissions as a deployment and its HTTP APIs take tokens. The CLI finds
// them there (through run.json) and logs in with them; nothing else on the machine can.
//
//   secrets/nats.conf, accounts.conf   nats-server's users with their passwords (writeLocalNatsConfig)
//   secrets/passwords.json             the same passwords, for clients (the CLI logs in as admin)
//   secrets/ingest-tokens.json         ingest's LAKE_INGEST_TOKENS_FILE: sha256 of each token, with its role
//   secrets/tokens.json                the tokens themselves: { producer, operator }
//   secrets/catalog-ingest-token       the operator token alone: the catalog's LAKE_CATALOG_INGEST_TOKEN_FILE (the console's quarantine)
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { tokenSha256 } from "@lake/http";
import { type LocalNatsConfig, readLocalNatsConfig, writeLocalNatsConfig } from "@lake/messaging";

export const SECRETS_DIR = "secrets";

/** Bearer tokens for ingest's HTTP API: `producer` may send events to every domain, `operator` reads and replays the quarantine. */
export interface LakeTokens {
  producer: string;
  operator: string;
}

export interface LakeSecrets {
  dir: string;
  /** NATS users and passwords; undefined when startLake did not run the NATS server (a server you bring keeps its own users). */
  nats: LocalNatsConfig | undefined;
  tokens: LakeTokens;
  /** For ingest's LAKE_INGEST_TOKENS_FILE. */
  ingestTokensFile: string;
  /** For the catalog's LAKE_CATALOG_INGEST_TOKEN_FILE: the operator token, with which the console reaches the quarantine. */
  catalogIngestTokenFile: string;
}

const TOKENS_FILE = "tokens.json";
const INGEST_TOKENS_FILE = "ingest-tokens.json";
const CATALOG_INGEST_TOKEN_FILE = "catalog-ingest-token";

async function secretFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  // writeFile keeps the mode of a file that already exists: set it again.
  await chmod(path, 0o600);
}

/** Generates fresh credentials into <dataDir>/secrets; NATS users only when `nats` (startLake runs the server). */
export async function writeLakeSecrets(dataDir: string, opts: { nats: boolean }): Promise<LakeSecrets> {
  const dir = join(dataDir, SECRETS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const nats = opts.nats
    ? await writeLocalNatsConfig(dir, "The lake's NATS users (shared/messaging/src/permissions.ts) with this run's random passwords, written by `lake up`.")
    : undefined;
  const tokens: LakeTokens = { producer: randomBytes(32).toString("hex"), operator: randomBytes(32).toString("hex") };
  const ingestTokensFile = join(dir, INGEST_TOKENS_FILE);
  await secretFile(
    ingestTokensFile,
    `${JSON.stringify(
      [
        { name: "lake-up-producer", sha256: tokenSha256(tokens.producer), role: "producer", domains: ["*"] },
        { name: "lake-up-operator", sha256: tokenSha256(tokens.operator), role: "operator" },
      ],
      null,
      2,
    )}\n`,
  );
  await secretFile(join(dir, TOKENS_FILE), `${JSON.stringify(tokens, null, 2)}\n`);
  const catalogIngestTokenFile = join(dir, CATALOG_INGEST_TOKEN_FILE);
  await secretFile(catalogIngestTokenFile, `${tokens.operator}\n`);
  return { dir, nats, tokens, ingestTokensFile, catalogIngestTokenFile };
}

/** The credentials writeLakeSecrets wrote into `dir` (a lake's secrets dir, as run.json names it). */
export async function readLakeSecrets(dir: string): Promise<LakeSecrets> {
  const tokens = JSON.parse(await readFile(join(dir, TOKENS_FILE), "utf8")) as LakeTokens;
  let nats: LocalNatsConfig | undefined;
  try {
    nats = await readLocalNatsConfig(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return { dir, nats, tokens, ingestTokensFile: join(dir, INGEST_TOKENS_FILE), catalogIngestTokenFile: join(dir, CATALOG_INGEST_TOKEN_FILE) };
}
