// Starts a whole lake on this machine: nats-server (unless a URL is given) and every service as its
// own process, with a local-disk object store under one data directory. Used by `lake up`, the
// demo, the end-to-end tests and the benchmarks, so all of them run the same wiring.
//
// Secure by default, like a deployment: nats-server runs with the deployment's users and permissions
// (shared/messaging/src/permissions.ts), each service logged in as its own user, streams and contracts
// set up first as `admin` (setupNats, what compose's nats-setup job does), and ingest's HTTP API takes
// bearer tokens. The credentials are generated at every start into <data dir>/secrets (secrets.ts).
// Without that, any process on the machine could forge commit-log records. `auth: false` opts out.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import type { NatsConnection } from "@nats-io/nats-core";

import { derivedNames, domainNames } from "@lake/contracts";
import { connectNats, type NatsAuth, natsAuthFromEnv, SERVICE_USERS, streamSettingsFromEnv } from "@lake/messaging";
import { setupNats } from "@lake/registry";
import { type StoreConfig, storeConfigFromEnv } from "@lake/storage";
import { type NatsServerHandle, type ServiceHandle, spawnService, startNatsServer } from "@lake/testing";

import { type LakeSecrets, writeLakeSecrets } from "./secrets.ts";

const repoRoot = resolve(fileURLToPath(import.meta.url), "../../../..");
export const serviceEntry = (name: string) => join(repoRoot, "services", name, "src", "main.ts");

export interface StartLakeOptions {
  dataDir: string;
  /** Use this NATS server instead of starting one. */
  natsUrl?: string;
  ingestPort?: number;
  catalogPort?: number;
  /** Extra environment for every service (e.g. LAKE_COMMIT_MAX_AGE_MS). */
  env?: Record<string, string>;
  /** Extra environment for committers only (e.g. failpoints). */
  committerEnv?: Record<string, string>;
  log?: (line: string) => void;
  /**
   * Where the data goes: an S3 bucket (any S3-compatible endpoint) instead of local disk under the
   * data dir. Credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
   */
  s3?: { endpoint?: string; bucket: string; prefix?: string; region?: string };
  /** Services not to start (e.g. a test that runs its own quality instances). */
  without?: readonly ("quality" | "aggregator")[];
  /**
   * Authentication, on unless `false`: NATS users (when startLake runs nats-server; a server given by
   * `natsUrl` keeps its own users, and the services connect with the NATS_* credentials of the
   * environment, if any) and ingest HTTP tokens, generated into <dataDir>/secrets.
   */
  auth?: boolean;
}

/** An ingest HTTP endpoint with the token to send (sendHttp, listQuarantine, replayQuarantine take it). */
export interface IngestTarget {
  url: string;
  token: string | undefined;
}

export interface LakeHandle {
  dataDir: string;
  storeRoot: string;
  /** The object store's configuration, as every service reads it (open it with openStore). */
  storeConfig: StoreConfig;
  natsUrl: string;
  nats: NatsServerHandle | undefined;
  ingestUrl: string;
  catalogUrl: string;
  /** Ingest's HTTP API with a token that may send events to every domain. */
  producer: IngestTarget;
  /** Ingest's HTTP API with an operator token (quarantine list and replay). */
  operator: IngestTarget;
  /** The generated credentials; undefined with `auth: false`. */
  secrets: LakeSecrets | undefined;
  /** connectNats's credentials for NATS user `user` (default `admin`); the environment's NATS_* when startLake runs no users of its own. */
  natsAuth(user?: string): NatsAuth;
  /** NATS_URL and the NATS_* credentials that make a service process log in as `user`. */
  natsEnv(user: string): Record<string, string>;
  /**
   * A NATS connection as `user` (default `admin`: stream management, and tests writing hostile records
   * straight onto streams); the caller closes it.
   */
  connect(user?: string, name?: string): Promise<NatsConnection>;
  services: Map<string, ServiceHandle>;
  /** Starts (or restarts) the committer of `dataset` with extra env; replaces the handle in `services`. */
  startCommitter(dataset: string, env?: Record<string, string>, name?: string): Promise<ServiceHandle>;
  startService(name: "ingest" | "catalog" | "quality"): Promise<ServiceHandle>;
  /** Starts (or restarts) the aggregator of a derived dataset; replaces the handle in `services`. */
  startAggregator(dataset: string, env?: Record<string, string>, name?: string): Promise<ServiceHandle>;
  stop(): Promise<void>;
}

export async function startLake(o: StartLakeOptions): Promise<LakeHandle> {
  const dataDir = resolve(o.dataDir);
  const storeRoot = join(dataDir, "store");
  const catalogDir = join(dataDir, "catalog");
  mkdirSync(storeRoot, { recursive: true });
  mkdirSync(catalogDir, { recursive: true });
  const log = o.log ?? (() => {});
  const ownNats = !o.natsUrl;
  const secrets = o.auth === false ? undefined : await writeLakeSecrets(dataDir, { nats: ownNats });
  const users = secrets?.nats;
  // An empty URL counts as none: start our own server rather than fall back to a default one.
  const nats = ownNats
    ? await startNatsServer({ storeDir: join(dataDir, "nats"), keepStore: true, ...(users ? { config: users.configPath } : {}) })
    : undefined;
  const natsUrl = o.natsUrl || nats!.url;
  log(`nats      ${natsUrl}${nats ? ` (pid ${nats.pid}, store ${nats.storeDir})` : ""}${users ? `, users and passwords in ${secrets!.dir}` : ""}`);
  // Without users of our own, clients log in as the environment says (as the services do).
  const natsAuth = (user = "admin"): NatsAuth => (users ? users.authFor(user) : natsAuthFromEnv(process.env));
  const natsEnv = (user: string): Record<string, string> => ({ NATS_URL: natsUrl, ...(users ? users.envFor(user) : {}) });
  const connect = (user = "admin", name = `lake-${user}`) => connectNats({ url: natsUrl, name, auth: natsAuth(user) });
  const storeEnv: Record<string, string> = o.s3
    ? {
        LAKE_STORE: "s3",
        LAKE_S3_BUCKET: o.s3.bucket,
        ...(o.s3.endpoint ? { LAKE_S3_ENDPOINT: o.s3.endpoint } : {}),
        ...(o.s3.prefix ? { LAKE_S3_PREFIX: o.s3.prefix } : {}),
        ...(o.s3.region ? { LAKE_S3_REGION: o.s3.region } : {}),
      }
    : { LAKE_STORE: "local", LAKE_STORE_ROOT: storeRoot };
  const storeConfig = storeConfigFromEnv({ ...storeEnv });
  const base = { NATS_URL: natsUrl, ...storeEnv, LAKE_CATALOG_DIR: catalogDir, ...o.env };
  const as = (user: string) => ({ ...base, ...(users ? users.envFor(user) : {}) });
  const services = new Map<string, ServiceHandle>();
  const ports = { ingest: String(o.ingestPort ?? 0), catalog: String(o.catalogPort ?? 0) };

  async function startService(name: "ingest" | "catalog" | "quality"): Promise<ServiceHandle> {
    const env =
      name === "ingest"
        ? { ...as(SERVICE_USERS.ingest), LAKE_INGEST_PORT: ports.ingest, ...(secrets ? { LAKE_INGEST_TOKENS_FILE: secrets.ingestTokensFile } : {}) }
        : name === "catalog"
          ? {
              ...as(SERVICE_USERS.catalog),
              LAKE_CATALOG_PORT: ports.catalog,
              // The console reaches ingest's quarantine through the catalog (ingest starts first).
              ...(services.has("ingest") ? { LAKE_CATALOG_INGEST_URL: String(services.get("ingest")!.ready.url) } : {}),
              ...(services.has("ingest") && secrets ? { LAKE_CATALOG_INGEST_TOKEN_FILE: secrets.catalogIngestTokenFile } : {}),
            }
          : { ...as(SERVICE_USERS.quality), LAKE_QUALITY_DIR: join(dataDir, "quality") };
    const h = await spawnService({ name, entry: serviceEntry(name), env });
    // A restart keeps the port, so clients holding the URL keep working.
    if (name === "ingest") ports.ingest = String(h.ready.http_port);
    if (name === "catalog") ports.catalog = String(h.ready.http_port);
    services.set(name, h);
    log(
      `${name.padEnd(9)} ${h.ready.url ? String(h.ready.url) : "running"}${h.ready.metrics_url ? `, metrics ${String(h.ready.metrics_url)}` : ""}${h.ready.console_url ? `, console ${String(h.ready.console_url)}` : ""} (pid ${h.pid})`,
    );
    return h;
  }

  async function startCommitter(dataset: string, env: Record<string, string> = {}, name = `committer:${dataset}`): Promise<ServiceHandle> {
    const h = await spawnService({
      name,
      entry: serviceEntry("committer"),
      env: { ...as(SERVICE_USERS.committer), ...o.committerEnv, LAKE_DATASET: dataset, ...env },
    });
    services.set(name, h);
    log(`${name.padEnd(9)} dataset ${dataset} (pid ${h.pid})`);
    return h;
  }

  async function startAggregator(dataset: string, env: Record<string, string> = {}, name = `aggregator:${dataset}`): Promise<ServiceHandle> {
    const h = await spawnService({
      name,
      entry: serviceEntry("aggregator"),
      env: {
        ...as(SERVICE_USERS.aggregator),
        LAKE_DERIVED: dataset,
        LAKE_AGGREGATOR_DIR: join(dataDir, "aggregator", dataset),
        LAKE_AGGREGATOR_PORT: "0",
        ...env,
      },
    });
    services.set(name, h);
    log(`${name.padEnd(9)} ${String(h.ready.url ?? "")} (pid ${h.pid})`);
    return h;
  }

  const handle: LakeHandle = {
    dataDir,
    storeRoot,
    storeConfig,
    natsUrl,
    nats,
    ingestUrl: "",
    catalogUrl: "",
    producer: { url: "", token: secrets?.tokens.producer },
    operator: { url: "", token: secrets?.tokens.operator },
    secrets,
    natsAuth,
    natsEnv,
    connect,
    services,
    startCommitter,
    startService,
    startAggregator,
    async stop() {
      await Promise.all([...services.values()].map((s) => s.stop().catch(() => null)));
      services.clear();
      await nats?.stop();
    },
  };
  try {
    // What compose's nats-setup job does, as admin: streams with this lake's settings (the services'
    // LAKE_STREAM_REPLICAS / LAKE_DEDUPE_WINDOW_MS) and the repo's contracts. Services may do neither.
    const setup = await connect("admin", "lake-setup");
    try {
      await setupNats(setup, streamSettingsFromEnv({ ...process.env, ...o.env }), 60_000, log);
    } finally {
      await setup.close();
    }
    const ingest = await startService("ingest");
    const catalog = await startService("catalog");
    for (const d of domainNames()) await startCommitter(d);
    // Derived datasets: an aggregator computes the windows, a committer writes them.
    if (!o.without?.includes("aggregator")) {
      for (const d of derivedNames()) {
        await startAggregator(d);
        await startCommitter(d);
      }
    }
    if (!o.without?.includes("quality")) await startService("quality");
    handle.catalogUrl = String(catalog.ready.url);
    handle.ingestUrl = String(ingest.ready.url);
    handle.producer.url = handle.ingestUrl;
    handle.operator.url = handle.ingestUrl;
  } catch (e) {
    await handle.stop();
    throw e;
  }
  writeFileSync(
    join(dataDir, "run.json"),
    // No secrets here: where they are (the CLI reads them from there).
    JSON.stringify(
      {
        nats_url: natsUrl,
        ingest_url: handle.ingestUrl,
        catalog_url: handle.catalogUrl,
        store_root: storeRoot,
        store: storeEnv,
        secrets_dir: secrets?.dir ?? null,
        pid: process.pid,
      },
      null,
      2,
    ),
  );
  return handle;
}
