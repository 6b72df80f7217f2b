// Starts a whole lake on this machine: nats-server (unless a URL is given) and every service as its
// own process, with a local-disk object store under one data directory. Used by `lake up`, the
// demo, the end-to-end tests and the benchmarks, so all of them run the same wiring.
//
// Secure by default, like a deployment: nats-server runs with the deployment's users and permissions
// (shared/messaging/src/permissions.ts), each service logged in as its own user, streams and contracts
// set up first as `admin` (setupNats, what compose's nats-setup job does), and ingest's HTTP API takes
// bearer tokens. The credentials are generated at every start into <data dir>/secrets (secrets.ts).
// Without that, any process on the machine could forge commit-log records. `auth: false` opts out.
//
// Every process's output is appended to <data dir>/logs/<service>.log (log-files.ts), and run.json
// records each one's pid, ports, start time, restarts and log (run-file.ts). With `supervise` (what
// `lake up` does) a service that exits on its own is restarted with backoff (supervisor.ts); the tests'
// own lakes leave that off, since they kill and restart services on purpose.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

import type { NatsConnection } from "@nats-io/nats-core";

import { derivedNames, domainNames } from "@lake/contracts";
import { connectNats, type NatsAuth, natsAuthFromEnv, SERVICE_USERS, streamSettingsFromEnv } from "@lake/messaging";
import { setupNats } from "@lake/registry";
import { type StoreConfig, storeConfigFromEnv } from "@lake/storage";
import { type NatsServerHandle, type ServiceHandle, spawnService, startNatsServer } from "@lake/testing";

import { entryOf, REPO_ROOT, serviceEntry } from "./entries.ts";
import { LogFile, logFileName, LOGS_DIR } from "./log-files.ts";
import { keptPortsOf, processAlive, readRunFile, type RunFile, type RunService, writeRunFile } from "./run-file.ts";
import { type LakeSecrets, writeLakeSecrets } from "./secrets.ts";
import { type BackoffPolicy, type SupervisedService, Supervisor } from "./supervisor.ts";

/** The maintenance worker's process (apps/lake/src/maintain/main.ts): compaction, expiry and GC by policy. */
export const maintenanceEntry = join(REPO_ROOT, "apps", "lake", "src", "maintain", "main.ts");

/**
 * The environment of the nats-server the lake starts for itself: one Go scheduler thread (GOMAXPROCS=1)
 * unless the operator set GOMAXPROCS. That server shares the machine with every service, and with more
 * than one it spends CPU waking and spinning idle scheduler threads for each small message. Measured on
 * the 2-core development machine, alternating runs: nats-server used 15-25% less CPU at 10k and 20k
 * events/s with no worse freshness (p99 at 20k: 1,040 and 844 ms vs 2,071 and 884 ms), and about 20%
 * less per event with one event per request; the price is about 10% less peak throughput of batches
 * over NATS (docs/benchmarks.md). A nats-server of its own (compose, NATS_URL) keeps Go's default.
 */
export function ownNatsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.GOMAXPROCS ? {} : { GOMAXPROCS: "1" };
}

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
  /**
   * Start the maintenance worker (`lake maintain --follow`: compaction, expiry, GC as each contract's
   * lake.maintenance says). Off unless asked for (`lake up` asks, unless --no-maintenance): tests that
   * count versions or files must not have a worker rewriting them. An object: extra env for it
   * (e.g. LAKE_MAINTAIN_INTERVAL_MS).
   */
  maintenance?: boolean | { env?: Record<string, string> };
  /** Services not to start (e.g. a test that runs its own quality instances). */
  without?: readonly ("quality" | "aggregator")[];
  /**
   * Authentication, on unless `false`: NATS users (when startLake runs nats-server; a server given by
   * `natsUrl` keeps its own users, and the services connect with the NATS_* credentials of the
   * environment, if any) and ingest HTTP tokens, generated into <dataDir>/secrets.
   */
  auth?: boolean;
  /** Restart a service that exits on its own, with backoff (`lake up`); off by default: tests restart by hand. */
  supervise?: boolean;
  /** The restart backoff (default 0.5 s doubling to 30 s). */
  restartPolicy?: Partial<BackoffPolicy>;
  /** Rotate a service's log file past this size (default 20 MB; one old file kept). */
  logMaxBytes?: number;
}

/** Where one process of the lake can be reached, as `lake up` prints it and run.json records it. */
export interface LakeEndpoint {
  service: string;
  url: string | null;
  metrics_url: string | null;
  health_url: string | null;
}

/**
 * The metrics (and aggregator) ports of the lake that last ran in `dataDir`, from its run.json; none
 * while that lake still runs (its ports are its own) or when there is no such file.
 */
function previousPorts(dataDir: string): Map<string, string> {
  let prev: Partial<RunFile> | undefined;
  try {
    prev = readRunFile(dataDir);
  } catch {
    return new Map(); // unreadable: start afresh
  }
  if (!prev || (!prev.stopped_at && prev.pid !== process.pid && processAlive(prev.pid))) return new Map();
  return keptPortsOf(prev);
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
  /** <dataDir>/logs: each service's output, <service>.log (committer:payments → committer.payments.log). */
  logsDir: string;
  /** Every process's state, pid, restarts and last exit. */
  supervisor: Supervisor;
  /** NATS, then every service's API, metrics and health URLs, in start order. */
  endpoints(): LakeEndpoint[];
  /** Starts (or restarts) the committer of `dataset` with extra env; replaces the handle in `services`. */
  startCommitter(dataset: string, env?: Record<string, string>, name?: string): Promise<ServiceHandle>;
  startService(name: "ingest" | "catalog" | "quality"): Promise<ServiceHandle>;
  /** Starts (or restarts) the aggregator of a derived dataset; replaces the handle in `services`. */
  startAggregator(dataset: string, env?: Record<string, string>, name?: string): Promise<ServiceHandle>;
  /** Starts (or restarts) the maintenance worker as service `maintenance`. */
  startMaintenance(env?: Record<string, string>): Promise<ServiceHandle>;
  stop(): Promise<void>;
}

export async function startLake(o: StartLakeOptions): Promise<LakeHandle> {
  const dataDir = resolve(o.dataDir);
  const storeRoot = join(dataDir, "store");
  const catalogDir = join(dataDir, "catalog");
  mkdirSync(storeRoot, { recursive: true });
  mkdirSync(catalogDir, { recursive: true });
  const log = o.log ?? (() => {});
  const logsDir = join(dataDir, LOGS_DIR);
  mkdirSync(logsDir, { recursive: true });
  const logFiles = new Map<string, LogFile>();
  const logOf = (name: string): LogFile => {
    let f = logFiles.get(name);
    if (!f) {
      const path = join(logsDir, logFileName(name));
      f = new LogFile(path, o.logMaxBytes, (e) => log(`cannot write ${path} (${e.message}): ${name}'s output is no longer kept on disk`));
      logFiles.set(name, f);
    }
    return f;
  };
  const startedAt = new Date().toISOString();
  const ownNats = !o.natsUrl;
  const secrets = o.auth === false ? undefined : await writeLakeSecrets(dataDir, { nats: ownNats });
  const users = secrets?.nats;
  // An empty URL counts as none: start our own server rather than fall back to a default one.
  const natsOptions = {
    storeDir: join(dataDir, "nats"),
    keepStore: true,
    // nats-server recovers JetStream (longer after a crash, and with a large store) before it answers.
    startTimeoutMs: OWN_SERVER_START_TIMEOUT_MS,
    ...(users ? { config: users.configPath } : {}),
    env: ownNatsEnv(process.env),
    onOutput: (c: string) => logOf("nats").write(c),
  };
  // Replaced when the supervisor restarts it (same port and store, so clients reconnect to it).
  if (ownNats) logOf("nats").note("starting nats");
  let nats = ownNats ? await startNatsServer(natsOptions) : undefined;
  const natsUrl = o.natsUrl || nats!.url;
  // Compiled services start in a fraction of the time (entries.ts); a stale build never runs.
  const compiled = entryOf("ingest");
  log(`services  ${compiled.compiled ? "compiled (services/*/dist)" : `from TypeScript sources (${compiled.why}: \`npm run build\` makes them start faster)`}`);
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
  // Metrics (and aggregator) ports: the ones the last lake in this data dir used (its run.json), else
  // picked by the first start; kept by restarts, so a scraper's targets stay put. A start that fails
  // on one is tried once more on any free port (someone else may hold it now).
  const keptPorts = previousPorts(dataDir);
  const described = new Map<string, { kind: string; dataset: string | null; endpoint: LakeEndpoint }>();
  let published = false;
  let stoppedAt: string | null = null;
  const supervisor = new Supervisor({
    restart: o.supervise ?? false,
    ...(o.restartPolicy ? { policy: o.restartPolicy } : {}),
    log,
    note: (name, line) => logOf(name).note(line),
    onChange: () => publish(),
  });

  // Our own nats-server is supervised like a service (`lake up`): a crashed one comes back on the same
  // port and store, and the services' connections (which never give up reconnecting) pick it up.
  if (nats && o.supervise) {
    let first = true;
    await supervisor.run("nats", async () => {
      if (!first) nats = await startNatsServer({ ...natsOptions, port: nats!.port });
      first = false;
      return natsService(nats!);
    });
  }

  /** A port to ask for: the one this service had, if its last process is gone; else any (0). */
  function portFor(name: string): string {
    const kept = keptPorts.get(name);
    const s = supervisor.get(name);
    return kept && (!s || s.pid === null) ? kept : "0";
  }

  /**
   * Starts a service through the supervisor: its output goes to its log file, its handle into
   * `services`, its URLs into run.json, at the first start and at every restart.
   */
  function launch(
    name: string,
    kind: string,
    dataset: string | null,
    spawnIt: (onOutput: (chunk: string) => void) => Promise<ServiceHandle>,
    describe: (h: ServiceHandle) => { url: string | null; metrics: string | null; health: string | null; keepPort?: string },
  ): Promise<ServiceHandle> {
    const file = logOf(name);
    return supervisor.run(name, async () => {
      file.note(`starting ${name}`);
      let h: ServiceHandle;
      try {
        h = await spawnIt((c) => file.write(c));
      } catch (e) {
        const port = portFor(name);
        if (port === "0" || !keptPorts.delete(name)) throw e;
        file.note(`${name} did not start on port ${port} (${(e as Error).message.split("\n")[0]}); trying any free port`);
        h = await spawnIt((c) => file.write(c));
      }
      const d = describe(h);
      if (d.keepPort) keptPorts.set(name, d.keepPort);
      services.set(name, h);
      described.set(name, { kind, dataset, endpoint: { service: name, url: d.url, metrics_url: d.metrics, health_url: d.health } });
      return h;
    });
  }

  const str = (v: unknown): string | null => (v === undefined || v === null || v === "" ? null : String(v));
  const under = (base: string | null, path: string): string | null => (base ? new URL(path, base).toString() : null);

  function endpoints(): LakeEndpoint[] {
    return [{ service: "nats", url: natsUrl, metrics_url: null, health_url: null }, ...[...described.values()].map((d) => d.endpoint)];
  }

  function runService(s: SupervisedService): RunService {
    const d = described.get(s.name);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      kind: d?.kind ?? s.name.split(":")[0]!,
      dataset: d?.dataset ?? null,
      state: s.state,
      pid: s.pid,
      started_at: iso(s.startedAt),
      restarts: s.restarts,
      last_exit: s.lastExit && { ...s.lastExit, at: new Date(s.lastExit.at).toISOString() },
      next_restart_at: iso(s.nextRestartAt),
      log: logOf(s.name).path,
      url: d?.endpoint.url ?? null,
      metrics_url: d?.endpoint.metrics_url ?? null,
      health_url: d?.endpoint.health_url ?? null,
    };
  }

  /** What the supervisor knows of nats-server, when it watches it. */
  function natsRecord(): Partial<NonNullable<RunFile["nats"]>> {
    const s = supervisor.get("nats");
    if (!s) return {};
    const r = runService(s);
    return { state: r.state, started_at: r.started_at, restarts: r.restarts, last_exit: r.last_exit, next_restart_at: r.next_restart_at };
  }

  /** run.json, rewritten at every change once the lake is up (before that it would name no URLs). */
  function publish(): void {
    if (!published) return;
    const run: RunFile = {
      nats_url: natsUrl,
      ingest_url: handle.ingestUrl,
      catalog_url: handle.catalogUrl,
      store_root: storeRoot,
      store: storeEnv,
      secrets_dir: secrets?.dir ?? null,
      pid: process.pid,
      started_at: startedAt,
      stopped_at: stoppedAt,
      supervised: o.supervise ?? false,
      logs_dir: logsDir,
      nats: nats ? { pid: nats.pid, log: logOf("nats").path, ...natsRecord() } : null,
      services: Object.fromEntries(
        supervisor
          .list()
          .filter((s) => s.name !== "nats")
          .map((s) => [s.name, runService(s)]),
      ),
    };
    try {
      writeRunFile(dataDir, run);
    } catch (e) {
      // A data dir removed under a running lake (a test cleaning up) must not crash it.
      log(`cannot write run.json in ${dataDir}: ${(e as Error).message}`);
    }
  }

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
    const h = await launch(
      name,
      name,
      null,
      (onOutput) =>
        spawnService({
          name,
          entry: serviceEntry(name),
          env: name === "ingest" ? env : { ...env, LAKE_METRICS_PORT: portFor(name), ...o.env },
          onOutput,
        }),
      (h) => {
        // A restart keeps the port, so clients holding the URL keep working.
        if (name === "ingest") ports.ingest = String(h.ready.http_port);
        if (name === "catalog") ports.catalog = String(h.ready.http_port);
        const url = str(h.ready.url);
        // Ingest serves /metrics and /healthz on its API port; the catalog's metrics have their own
        // (its API may need a token); quality serves only metrics.
        const metricsBase = name === "ingest" ? url : (str(h.ready.metrics_url) ?? url);
        return {
          url: name === "quality" ? null : url,
          metrics: under(metricsBase, "/metrics"),
          health: under(name === "quality" ? metricsBase : url, "/healthz"),
          keepPort: name === "ingest" ? undefined : (str(h.ready.metrics_port) ?? undefined),
        };
      },
    );
    log(
      `${name.padEnd(9)} ${h.ready.url ? String(h.ready.url) : "running"}${h.ready.metrics_url ? `, metrics ${String(h.ready.metrics_url)}` : ""}${h.ready.console_url ? `, console ${String(h.ready.console_url)}` : ""} (pid ${h.pid})`,
    );
    return h;
  }

  async function startCommitter(dataset: string, env: Record<string, string> = {}, name = `committer:${dataset}`): Promise<ServiceHandle> {
    const h = await launch(
      name,
      "committer",
      dataset,
      (onOutput) =>
        spawnService({
          name,
          entry: serviceEntry("committer"),
          env: { ...as(SERVICE_USERS.committer), LAKE_METRICS_PORT: portFor(name), ...o.committerEnv, LAKE_DATASET: dataset, ...env },
          onOutput,
        }),
      (h) => {
        const base = str(h.ready.url);
        return { url: null, metrics: under(base, "/metrics"), health: under(base, "/healthz"), keepPort: str(h.ready.metrics_port) ?? undefined };
      },
    );
    log(`${name.padEnd(9)} dataset ${dataset}${h.ready.url ? `, metrics ${String(h.ready.url)}/metrics` : ""} (pid ${h.pid})`);
    return h;
  }

  async function startAggregator(dataset: string, env: Record<string, string> = {}, name = `aggregator:${dataset}`): Promise<ServiceHandle> {
    const h = await launch(
      name,
      "aggregator",
      dataset,
      (onOutput) =>
        spawnService({
          name,
          entry: serviceEntry("aggregator"),
          env: {
            ...as(SERVICE_USERS.aggregator),
            LAKE_DERIVED: dataset,
            LAKE_AGGREGATOR_DIR: join(dataDir, "aggregator", dataset),
            LAKE_AGGREGATOR_PORT: portFor(name),
            ...env,
          },
          onOutput,
        }),
      (h) => {
        // Its one HTTP port serves /metrics and /healthz.
        const url = str(h.ready.url);
        return { url, metrics: under(url, "/metrics"), health: under(url, "/healthz"), keepPort: str(h.ready.http_port) ?? undefined };
      },
    );
    log(`${name.padEnd(9)} ${String(h.ready.url ?? "")} (pid ${h.pid})`);
    return h;
  }

  async function startMaintenance(env: Record<string, string> = {}): Promise<ServiceHandle> {
    // It logs in as the committer: compaction is one more writer of VersionCommitted records, with the
    // same compare-and-set; expiries and collected files go through the catalog's API.
    const h = await spawnService({
      name: "maintenance",
      entry: maintenanceEntry,
      env: { ...as(SERVICE_USERS.committer), LAKE_CATALOG_URL: handle.catalogUrl, LAKE_METRICS_PORT: "0", ...env },
    });
    services.set("maintenance", h);
    log(`maintenance every ${String(h.ready.interval_ms)} ms, metrics ${String(h.ready.metrics_url)} (pid ${h.pid})`);
    return h;
  }

  const handle: LakeHandle = {
    dataDir,
    storeRoot,
    storeConfig,
    natsUrl,
    get nats() {
      return nats;
    },
    ingestUrl: "",
    catalogUrl: "",
    producer: { url: "", token: secrets?.tokens.producer },
    operator: { url: "", token: secrets?.tokens.operator },
    secrets,
    natsAuth,
    natsEnv,
    connect,
    services,
    logsDir,
    supervisor,
    endpoints,
    startCommitter,
    startService,
    startAggregator,
    startMaintenance,
    async stop() {
      // Disarmed first: the exits that follow are a stop, not crashes to answer with restarts.
      await supervisor.stop();
      await Promise.all([...services.values()].map((s) => s.stop().catch(() => null)));
      services.clear();
      await nats?.stop();
      stoppedAt = new Date().toISOString();
      publish();
      published = false;
      for (const f of logFiles.values()) f.close();
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
    if (o.maintenance) await startMaintenance(typeof o.maintenance === "object" ? o.maintenance.env : {});
  } catch (e) {
    await handle.stop();
    throw e;
  }
  // No secrets in run.json: where they are (the CLI reads them from there).
  published = true;
  publish();
  return handle;
}

/** How long nats-server may take to recover its store and answer, at start and at each restart. */
const OWN_SERVER_START_TIMEOUT_MS = 300_000;

/** nats-server as the supervisor watches a service: its process, its exit, its stop. */
function natsService(h: NatsServerHandle): ServiceHandle {
  const status = h.exitStatus;
  return {
    name: "nats",
    pid: h.pid,
    ready: { url: h.url },
    logs: () => h.output(),
    async stop() {
      await h.stop();
      return (await status).code;
    },
    kill9: () => h.kill9(),
    exited: status.then((x) => x.code),
    exitStatus: status,
  };
}
