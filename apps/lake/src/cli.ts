#!/usr/bin/env node
// The `lake` command: run a lake on this machine, feed it, and query its committed versions.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

// Only what every command needs is imported here; a command's heavy dependencies (DuckDB, NATS, Avro,
// the object store, the services' code) are imported where it runs, so `lake --help` or `lake versions`
// start without loading them (the compiled CLI splits them into chunks: apps/lake/src/build.ts).
import { CatalogRequestError, type CatalogVersion } from "@lake/client";
import { isServiceUnreachable } from "@lake/client";
import { IngestRequestError, listQuarantine, replayQuarantine, type ReplayRequestItem } from "@lake/client";
import { isSampleDomain, SAMPLE_DOMAINS } from "@lake/client";
import { isNatsServerMissing } from "@lake/testing";

import { BACKFILL_USAGE, cmdBackfill } from "./cli-backfill.ts";
import { cmdCompact, COMPACT_USAGE } from "./cli-compact.ts";
import { cmdAudit, cmdVersions, HISTORY_USAGE } from "./cli-history.ts";
import { cmdLineage, LINEAGE_USAGE } from "./cli-lineage.ts";
import { cmdMaintain, MAINTAIN_OPTIONS, MAINTAIN_USAGE } from "./cli-maintain.ts";
import { cmdMaintenance, MAINTENANCE_OPTIONS, MAINTENANCE_USAGE } from "./cli-maintenance.ts";
import { catalogClient, cmdOps, OPS_USAGE, OpsUsageError } from "./cli-ops.ts";
import { cmdLogs, cmdStatus, formatEndpoints, LakeNotRunningError, STATUS_OPTIONS, STATUS_USAGE } from "./cli-status.ts";
import type { ProduceProgress } from "./produce.ts";
import type { LakeTokens } from "./secrets.ts";

/** The store the lake writes to: run.json's settings, overridden by this shell's LAKE_STORE / LAKE_S3_* / LAKE_STORE_ROOT. */
async function storeEnvOf(info: { store?: Record<string, string>; store_root?: string }): Promise<Record<string, string>> {
  const storeEnv = { ...(info.store ?? {}), ...(await pickStoreEnv(process.env)) };
  if (!storeEnv.LAKE_STORE && !storeEnv.LAKE_STORE_ROOT && info.store_root) storeEnv.LAKE_STORE_ROOT = info.store_root;
  if (!storeEnv.LAKE_STORE_ROOT && storeEnv.LAKE_STORE !== "s3")
    throw new UsageError("the object store is unknown: set LAKE_STORE_ROOT (or LAKE_STORE=s3 and LAKE_S3_*), or run inside the lake's data dir");
  return storeEnv;
}

async function pickStoreEnv(env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const { STORE_ENV } = await import("./lazy/storage.ts");
  const out: Record<string, string> = {};
  for (const k of Object.values(STORE_ENV)) if (env[k]) out[k] = env[k]!;
  return out;
}

/** The exit codes, documented in docs/cli.md: a script tells a typo from a refusal from a stopped lake. */
const EXIT = { ok: 0, failed: 1, usage: 2, notRunning: 3 } as const;

const USAGE = `lake: an event-driven data lake with atomic, versioned snapshots

usage:
  lake up [--data-dir DIR] [--nats-url URL] [--ingest-port N] [--catalog-port N] [--no-maintenance]
      start nats-server (unless --nats-url or NATS_URL) and every service, and the maintenance worker
      (lake maintain --follow) unless --no-maintenance; print every endpoint; restart a service that
      crashes (with backoff); logs in DIR/logs; Ctrl-C stops them all
${STATUS_USAGE}
  lake produce [--count N] [--rate EV/S] [--batch N] [--duplicates F] [--invalid F] [--via http|nats] [--wait]
      send sample domain_events (with retried duplicates and invalid records) to ingest
  lake query "<SQL>" [--dataset D] [--version N|latest|current] [--tag NAME] [--offset X] [--source-offset X] [--as-of TIME] [--max-staleness D]
      run SQL in DuckDB over exactly one committed version; the dataset is a view named after it.
      current (default): the published version (for a critical dataset: the newest that passed its audit);
      latest: the last committed version, staged or not;
      --as-of: time travel, the version that was latest at that time (ISO-8601 or epoch ms)
      --offset X: read after write, the first version containing ingest offset X (waits up to 30 s)
      --source-offset X: a derived dataset (e.g. daily_user_totals): the first version whose results
        include the source event ingest gave offset X (provisional totals until its window closes)
      --max-staleness D: refuse a version more than D stale (e.g. 5s, 500ms, 2m): records its source
      has that it does not hold were stored longer ago than D (or its staleness is unknown)
${HISTORY_USAGE}
  lake datasets                   list datasets
  lake catalog rebuild            drop the catalog's database and replay the commit log
  lake quarantine list [--domain D] [--after N] [--limit N]
      records ingest refused, oldest first: seq, event_id, reason, path, and whether it was replayed
  lake quarantine replay --seq N [--record-file corrected.json] [--domain D]
      send quarantined record N (or the corrected record in the file, same event_id) through ingest's
      validation again; a record is replayed at most once
  lake demo [--count N]           up + produce + query, in a temp dir, then stop
${OPS_USAGE}
${LINEAGE_USAGE}
${MAINTENANCE_USAGE}
${MAINTAIN_USAGE}
${COMPACT_USAGE}
${BACKFILL_USAGE}

common options: --data-dir DIR (default $LAKE_DATA_DIR or ./.lake); the running lake is found through
DIR/run.json, or LAKE_CATALOG_URL / LAKE_INGEST_URL / NATS_URL / LAKE_STORE_ROOT.
LAKE_TOKEN: the bearer token sent to the catalog (needed when it runs with LAKE_CATALOG_TOKENS_FILE).
LAKE_INGEST_TOKEN: the bearer token sent to ingest (default: the producer or operator token of the lake
\`lake up\` runs in --data-dir). NATS: the NATS_* credentials, or else that lake's admin user.
LAKE_DEBUG=1: print the stack of an unexpected error (otherwise one line).`;

class UsageError extends Error {}
/** The command ran but its answer is a refusal (e.g. a replay that stays in quarantine): exit 1. */
class RefusedError extends Error {}
/** No lake to talk to: no run.json and no URL, or the one run.json names does not answer: exit 3. */
class NotRunningError extends Error {}

interface RunInfo {
  nats_url: string;
  ingest_url: string;
  catalog_url: string;
  store_root: string;
  /** The store settings the services run with (LAKE_STORE, LAKE_S3_*; no secrets). */
  store?: Record<string, string>;
  /** Where `lake up` put the lake's credentials (secrets.ts); null when it runs without authentication. */
  secrets_dir?: string | null;
}

function runInfo(dataDir: string, need: "catalog" | "ingest" = "catalog"): RunInfo {
  const file = join(dataDir, "run.json");
  const fromFile: Partial<RunInfo> = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RunInfo) : {};
  const info = {
    nats_url: process.env.NATS_URL || fromFile.nats_url,
    ingest_url: process.env.LAKE_INGEST_URL || fromFile.ingest_url,
    catalog_url: process.env.LAKE_CATALOG_URL || fromFile.catalog_url,
    store_root: process.env.LAKE_STORE_ROOT || fromFile.store_root,
    store: fromFile.store,
  };
  if (need === "catalog" && !info.catalog_url)
    throw new NotRunningError(`no running lake found: ${file} does not exist and LAKE_CATALOG_URL is unset. Start one with \`lake up\`.`);
  if (need === "ingest" && !info.ingest_url)
    throw new NotRunningError(`no running lake found: ${file} does not exist and LAKE_INGEST_URL is unset. Start one with \`lake up\`.`);
  runFile = existsSync(file) ? { file, pid: (fromFile as { pid?: unknown }).pid } : undefined;
  return info as RunInfo;
}

function progressLine(p: ProduceProgress, total: number): string {
  const rate = p.elapsedMs > 0 ? Math.round((p.sent / p.elapsedMs) * 1000) : 0;
  return `sent ${p.sent} records for ${total} events (${rate}/s)  accepted ${p.accepted}  duplicate ${p.duplicates}  rejected ${p.rejected}  failed ${p.failed}  max offset ${p.maxOffset}`;
}

function printTable(columns: string[], rows: Record<string, unknown>[]): void {
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? "NULL" : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ");
  console.log(line(columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of cells) console.log(line(row));
  console.log(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
}

async function cmdUp(dataDir: string, v: Record<string, string | boolean | undefined>) {
  console.log(`starting lake in ${dataDir}`);
  const { startLake } = await import("./up.ts");
  const lake = await startLake({
    dataDir,
    natsUrl: (v["nats-url"] as string | undefined) || process.env.NATS_URL || undefined,
    ingestPort: v["ingest-port"] ? Number(v["ingest-port"]) : 7070,
    catalogPort: v["catalog-port"] ? Number(v["catalog-port"]) : 7071,
    maintenance: v["no-maintenance"] !== true,
    log: (l) => console.log(`  ${l}`),
    supervise: true,
  });
  for (const l of formatEndpoints(lake.endpoints(), lake.logsDir)) console.log(l);
  console.log(`store     ${lake.storeRoot}`);
  if (lake.secrets) console.log(`secrets   ${lake.secrets.dir} (NATS users, ingest tokens: readable by you only; the lake CLI uses them)`);
  console.log(`ready. try: npm run lake -- produce --count 5000 --wait   then: npm run lake -- query "SELECT count(*) FROM domain_events"`);
  console.log(`Ctrl-C stops everything. lake status: how each service is doing.`);
  await new Promise<void>((res) => {
    process.once("SIGINT", res);
    process.once("SIGTERM", res);
  });
  console.log("\nstopping...");
  await lake.stop();
  console.log("stopped.");
}

async function cmdProduce(info: RunInfo, v: Record<string, string | boolean | undefined>) {
  const { produce, produceDefaults } = await import("./produce.ts");
  const opts = {
    ...produceDefaults,
    count: v.count ? Number(v.count) : produceDefaults.count,
    rate: v.rate ? Number(v.rate) : produceDefaults.rate,
    batch: v.batch ? Number(v.batch) : produceDefaults.batch,
    duplicates: v.duplicates ? Number(v.duplicates) : produceDefaults.duplicates,
    invalid: v.invalid ? Number(v.invalid) : produceDefaults.invalid,
    via: (v.via as "http" | "nats" | undefined) ?? "http",
    domain: (v.domain as string | undefined) ?? "domain_events",
    seed: v.seed ? Number(v.seed) : Date.now() % 100_000,
  };
  // Each sample domain has its generator; any other name is refused, never sent as domain_events.
  if (!isSampleDomain(opts.domain))
    throw new UsageError(`no sample domain ${JSON.stringify(opts.domain)}: lake produce sends samples of ${Object.keys(SAMPLE_DOMAINS).join(", ")}`);
  for (const [k, val] of Object.entries({ count: opts.count, rate: opts.rate, batch: opts.batch, duplicates: opts.duplicates, invalid: opts.invalid })) {
    if (!Number.isFinite(val) || val < 0) throw new UsageError(`--${k} must be a non-negative number`);
  }
  if (opts.via !== "http" && opts.via !== "nats") throw new UsageError("--via must be http or nats");
  const nc = opts.via === "nats" ? await (await import("./lazy/nats.ts")).connectNats({ url: info.nats_url, name: "lake-cli" }) : undefined;
  const tty = process.stdout.isTTY;
  const result = await produce({
    ...opts,
    ingestUrl: info.ingest_url,
    ingestToken: ingestToken("producer"),
    nc,
    onProgress: (p) => (tty ? process.stdout.write(`\r${progressLine(p, opts.count)}   `) : console.log(progressLine(p, opts.count))),
  });
  if (tty) process.stdout.write("\n");
  await nc?.close();
  console.log(`done in ${(result.elapsedMs / 1000).toFixed(1)} s; read-after-write token: offset ${result.maxOffset}`);
  if (v.wait && result.maxOffset > 0) {
    const version = await withProgress(
      `waiting for a version of ${opts.domain} covering offset ${result.maxOffset}`,
      catalogClient(info.catalog_url).covering(opts.domain, result.maxOffset, 30_000),
    );
    console.log(
      `committed: version ${version.version} of ${opts.domain} covers offset ${result.maxOffset} (${version.total_rows} rows, waited ${version.waited_ms} ms)`,
    );
  }
}

async function cmdQuery(info: RunInfo, sql: string | undefined, v: Record<string, string | boolean | undefined>) {
  const dataset = (v.dataset as string | undefined) ?? "domain_events";
  const catalog = catalogClient(info.catalog_url);
  // The published version by default (for a critical dataset: the newest that passed its audit);
  // `latest` (which may be staged, awaiting or failing its audit) only when asked for by name.
  const which = (v.version as string | undefined) ?? "current";
  if (which !== "latest" && which !== "current" && !/^[1-9]\d*$/.test(which))
    throw new UsageError(`--version must be latest, current or a positive integer, got ${which}`);
  let asOf: CatalogVersion | undefined;
  if (v["as-of"]) {
    const at = /^\d+$/.test(String(v["as-of"])) ? Number(v["as-of"]) : Date.parse(String(v["as-of"]));
    if (Number.isNaN(at)) throw new UsageError(`--as-of takes an ISO-8601 time or epoch milliseconds, got ${String(v["as-of"])}`);
    asOf = await catalog.versionAsOf(dataset, at);
    if (!asOf) throw new UsageError(`${dataset} had no version at ${new Date(at).toISOString()}`);
  }
  const version = asOf
    ? asOf
    : v.offset
      ? await withProgress(
          `waiting for a version of ${dataset} covering offset ${String(v.offset)}`,
          catalog.covering(dataset, intOption("offset", String(v.offset), 1), 30_000, { files: "reference" }),
        )
      : v["source-offset"]
        ? await withProgress(
            `waiting for a version of ${dataset} covering source offset ${String(v["source-offset"])}`,
            catalog.coveringSource(dataset, intOption("source-offset", String(v["source-offset"]), 1), 30_000, { files: "reference" }),
          )
        : v.tag
          ? await catalog.byTag(dataset, String(v.tag), { files: "reference" })
          : await catalog.version(dataset, which === "latest" || which === "current" ? which : Number(which), { files: "reference" });
  // The store the lake writes to: run.json's settings, overridden by this shell's LAKE_STORE / LAKE_S3_* /
  // LAKE_STORE_ROOT (AWS credentials come from the usual AWS variables).
  const maxStalenessMs = v["max-staleness"] === undefined ? undefined : durationOption("max-staleness", String(v["max-staleness"]));
  const { queryVersion } = await import("./lazy/query.ts");
  const { openStore, storeConfigFromEnv } = await import("./lazy/storage.ts");
  const result = await queryVersion(await openStore(storeConfigFromEnv(await storeEnvOf(info))), version, sql ?? `SELECT count(*) AS rows FROM ${dataset}`, {
    ...(maxStalenessMs === undefined ? {} : { maxStalenessMs }),
  });
  console.log(
    `-- ${dataset} version ${version.version} (${version.file_set?.total_files ?? version.files?.length ?? 0} files, ${version.total_rows} rows, ${version.consistency === "covering" ? (v["source-offset"] ? "covering your source offset" : "covering your offset") : `${asOf ? `as of ${String(v["as-of"])}` : v.tag ? `tag ${String(v.tag)}` : which} as the catalog knows it (eventual: may be slightly stale)`})`,
  );
  printTable(result.columns, result.rows);
}

/**
 * `work`, with a progress line on stderr every 5 s while it waits (stdout keeps the answer): a wait of
 * up to 30 s for a version that may never come should say what it waits for.
 */
async function withProgress<T>(what: string, work: Promise<T>, everyMs = 5000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => process.stderr.write(`${what}... (${Math.round((Date.now() - started) / 1000)} s)\n`), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** A duration such as 5s, 500ms or 2m, in milliseconds. */
function durationOption(name: string, value: string): number {
  const m = /^(\d{1,9})(ms|s|m)$/.exec(value);
  if (!m) throw new UsageError(`--${name} takes a duration such as 5s, 500ms or 2m, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as "ms" | "s" | "m"];
}

function intOption(name: string, value: string, min: number): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function readRecordFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--record-file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`--record-file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const QUARANTINE_USAGE =
  "usage: lake quarantine list [--domain D] [--after N] [--limit N]\n       lake quarantine replay --seq N [--record-file corrected.json] [--domain D]";

async function cmdQuarantine(info: RunInfo, sub: string | undefined, v: Record<string, string | boolean | undefined>) {
  const domain = (v.domain as string | undefined) ?? "domain_events";
  if (sub === "list") {
    const after = v.after === undefined ? undefined : intOption("after", v.after as string, 0);
    const limit = v.limit === undefined ? undefined : intOption("limit", v.limit as string, 1);
    const page = await listQuarantine({ url: info.ingest_url, token: ingestToken("operator") }, domain, { after, limit });
    printTable(
      ["seq", "event_id", "reason", "path", "replayed"],
      page.records.map((r) =>
        r.status === "quarantined"
          ? { ...r, replayed: r.replayed ? `offset ${r.replayed.offset}` : "no" }
          : // A message that does not stand is shown, never hidden: it can't be replayed.
            { seq: r.seq, event_id: "?", reason: `undecodable (${r.bytes} bytes): ${r.error}`, path: "-", replayed: "never" },
      ),
    );
    if (page.next_after !== null) console.log(`more: lake quarantine list --domain ${domain} --after ${page.next_after}`);
    return;
  }
  if (sub === "replay") {
    if (v.seq === undefined) throw new UsageError(QUARANTINE_USAGE);
    const seq = intOption("seq", v.seq as string, 1);
    const item: ReplayRequestItem = { seq };
    if (v["record-file"] !== undefined) item.record = readRecordFile(v["record-file"] as string);
    const r = (await replayQuarantine({ url: info.ingest_url, token: ingestToken("operator") }, domain, [item])).results[0]!;
    switch (r.status) {
      case "accepted":
        console.log(`seq ${seq}: replayed; event ${r.event_id} accepted at offset ${r.offset} (read-after-write token)`);
        return;
      case "duplicate":
        console.log(`seq ${seq}: already in the lake; event ${r.event_id} is at offset ${r.offset}`);
        return;
      case "rejected":
        throw new RefusedError(`seq ${seq} stays in quarantine: ${r.reason} (at ${r.path})`);
      case "not_found":
      case "undecodable":
        throw new RefusedError(r.reason);
      case "failed":
        throw new RefusedError(`seq ${seq}: ${r.reason}; try again`);
    }
  }
  throw new UsageError(QUARANTINE_USAGE);
}

async function cmdDemo(v: Record<string, string | boolean | undefined>) {
  const dataDir = v["data-dir"] ? resolve(String(v["data-dir"])) : mkdtempSync(join(tmpdir(), "lake-demo-"));
  const count = v.count ? Number(v.count) : 20_000;
  const [{ startLake }, { produce, produceDefaults }, { queryVersion }, { openStore }] = await Promise.all([
    import("./up.ts"),
    import("./produce.ts"),
    import("./lazy/query.ts"),
    import("./lazy/storage.ts"),
  ]);
  console.log(`== lake demo: ${count} events through ingest -> JetStream -> committer -> Parquet -> catalog -> DuckDB`);
  console.log(`data dir ${dataDir}`);
  const lake = await startLake({ dataDir, natsUrl: process.env.NATS_URL || undefined, log: (l) => console.log(`  ${l}`) });
  try {
    const tty = process.stdout.isTTY;
    const result = await produce({
      ...produceDefaults,
      count,
      rate: 5000,
      ingestUrl: lake.ingestUrl,
      ingestToken: lake.producer.token,
      onProgress: (p) => (tty ? process.stdout.write(`\r  ${progressLine(p, count)}   `) : console.log(`  ${progressLine(p, count)}`)),
    });
    if (tty) process.stdout.write("\n");
    const catalog = catalogClient(lake.catalogUrl);
    const version = await catalog.covering("domain_events", result.maxOffset, 30_000, { files: "reference" });
    console.log(`\nversion ${version.version} covers the last acknowledged offset ${result.maxOffset} (waited ${version.waited_ms} ms for it)`);
    const store = await openStore(lake.storeConfig);
    const summary = await queryVersion(
      store,
      version,
      `SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct_ids, round(sum(amount), 2) AS total_amount, min(timestamp) AS first_event, max(timestamp) AS last_event FROM domain_events`,
    );
    printTable(summary.columns, summary.rows);
    const byDay = await queryVersion(
      store,
      version,
      `SELECT strftime(timestamp, '%Y-%m-%d') AS day, event_type, count(*) AS events, round(sum(amount), 2) AS amount FROM domain_events GROUP BY ALL ORDER BY day, event_type`,
    );
    printTable(byDay.columns, byDay.rows);
    const rows = Number(summary.rows[0]!.rows);
    const distinct = Number(summary.rows[0]!.distinct_ids);
    console.log(`\nacknowledged distinct events: ${result.acceptedIds.size}; rows in version ${version.version}: ${rows}; distinct ids: ${distinct}`);
    console.log(`retries answered as duplicates: ${result.duplicates}; invalid records rejected and quarantined: ${result.rejected}`);
    if (rows !== result.acceptedIds.size || distinct !== rows) {
      throw new Error("exactly-once check failed: the committed rows differ from the acknowledged events");
    }
    console.log("exactly once: every acknowledged event is in the committed version once.");
  } finally {
    await lake.stop();
    if (!v["data-dir"]) rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * parseArgs' own errors (an unknown option, a missing value) as one usage line: they are the user's
 * typo, not a crash, and Node's text suggests `--` tricks that don't apply here.
 */
function usageOfParseError(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) return e;
  const message = (e as Error).message;
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return new UsageError(`unknown option ${option} (see lake --help)`);
  const first = message.split(". ")[0]!.replace(/'/g, "");
  return new UsageError(`${first.charAt(0).toLowerCase()}${first.slice(1)} (see lake --help)`);
}

function parseCommandLine(argv: string[]) {
  try {
    return parseCommandLineOrThrow(argv);
  } catch (e) {
    throw usageOfParseError(e);
  }
}

/** The ingest tokens of the lake found through --data-dir (useLakeCredentials). */
let lakeTokens: LakeTokens | undefined;

/** The token to send ingest: LAKE_INGEST_TOKEN, or the lake's own token for the role the command needs. */
function ingestToken(role: keyof LakeTokens): string | undefined {
  return process.env.LAKE_INGEST_TOKEN || lakeTokens?.[role];
}

/**
 * A lake started by `lake up` runs with NATS users and ingest tokens, kept in the secrets dir run.json
 * names: the CLI sends ingest its tokens, and logs in to NATS as that lake's `admin` (every NATS
 * connection of the CLI goes through connectNats, which reads NATS_*) unless NATS_* credentials are set
 * or NATS_URL names another server.
 */
async function useLakeCredentials(dataDir: string): Promise<void> {
  const file = join(dataDir, "run.json");
  if (!existsSync(file)) return;
  const run = JSON.parse(readFileSync(file, "utf8")) as Partial<RunInfo>;
  if (!run.secrets_dir) return;
  // Reading them loads the NATS user tables (and @nats-io/jetstream): after the catalog-only commands' fast start.
  const { readLakeSecrets } = await import("./secrets.ts");
  let secrets;
  try {
    secrets = await readLakeSecrets(run.secrets_dir);
  } catch (e) {
    throw new UsageError(`cannot read the lake's credentials in ${run.secrets_dir} (named by ${file}): ${(e as Error).message}`);
  }
  lakeTokens = secrets.tokens;
  const env = process.env;
  const ownCredentials = env.NATS_USER || env.NATS_TOKEN || env.NATS_CREDS;
  const otherServer = env.NATS_URL && env.NATS_URL !== run.nats_url;
  if (secrets.nats && !ownCredentials && !otherServer) Object.assign(env, secrets.nats.envFor("admin"));
}

async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommandLine(argv);
  const [cmd, ...rest] = positionals;
  if (!cmd || v.help) {
    console.log(USAGE);
    return;
  }
  return run(cmd, rest, v);
}

function parseCommandLineOrThrow(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "data-dir": { type: "string" },
      "nats-url": { type: "string" },
      "ingest-port": { type: "string" },
      "catalog-port": { type: "string" },
      count: { type: "string" },
      rate: { type: "string" },
      batch: { type: "string" },
      duplicates: { type: "string" },
      invalid: { type: "string" },
      via: { type: "string" },
      seed: { type: "string" },
      wait: { type: "boolean" },
      dataset: { type: "string" },
      version: { type: "string" },
      offset: { type: "string" },
      "source-offset": { type: "string" },
      "max-staleness": { type: "string" },
      limit: { type: "string" },
      domain: { type: "string" },
      after: { type: "string" },
      seq: { type: "string" },
      "record-file": { type: "string" },
      "dry-run": { type: "boolean" },
      "as-of": { type: "string" },
      kind: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      reason: { type: "string" },
      actor: { type: "string" },
      to: { type: "string" },
      tag: { type: "string" },
      "target-bytes": { type: "string" },
      "max-files": { type: "string" },
      stream: { type: "string" },
      subject: { type: "string" },
      files: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...MAINTENANCE_OPTIONS,
      ...MAINTAIN_OPTIONS,
      ...STATUS_OPTIONS,
    },
  });
}

const CATALOG_ONLY: ReadonlySet<string> = new Set(["versions", "datasets", "catalog", "promote", "rollback", "tag", "tags", "audit", "lineage"]);

async function run(cmd: string, rest: string[], v: ReturnType<typeof parseCommandLine>["values"]): Promise<void> {
  const dataDir = resolve((v["data-dir"] as string | undefined) ?? process.env.LAKE_DATA_DIR ?? ".lake");
  // Commands that only talk to the catalog (whose tokens are LAKE_TOKEN's) need none of the lake's credentials.
  if (cmd !== "up" && cmd !== "demo" && cmd !== "logs" && !CATALOG_ONLY.has(cmd)) await useLakeCredentials(dataDir);
  switch (cmd) {
    case "up":
      return cmdUp(dataDir, v);
    case "demo":
      return cmdDemo(v);
    case "produce":
      return cmdProduce(runInfo(dataDir), v);
    case "query":
      return cmdQuery(runInfo(dataDir), rest[0], v);
    case "versions":
      return cmdVersions(catalogClient(runInfo(dataDir).catalog_url), rest[0] ?? "domain_events", v, printTable);
    case "audit":
      if (!rest[0]) throw new UsageError("usage: lake audit <dataset> [--kind K,K] [--actor A] [--since TIME] [--until TIME]");
      return cmdAudit(catalogClient(runInfo(dataDir).catalog_url), rest[0], v, printTable);
    case "datasets": {
      const r = await catalogClient(runInfo(dataDir).catalog_url).datasets();
      printTable(["name", "latest_version", "total_rows"], r.datasets as unknown as Record<string, unknown>[]);
      return;
    }
    case "catalog":
      if (rest[0] !== "rebuild") throw new UsageError("usage: lake catalog rebuild");
      {
        const r = await catalogClient(runInfo(dataDir).catalog_url).rebuild();
        console.log(`catalog rebuilt from the commit log through sequence ${r.projected_through_seq} in ${r.ms} ms`);
      }
      return;
    case "backfill": {
      const info = runInfo(dataDir);
      return cmdBackfill(rest[0], v, info.nats_url, async () => {
        const { openStore, storeConfigFromEnv } = await import("./lazy/storage.ts");
        return openStore(storeConfigFromEnv(await storeEnvOf(info)));
      });
    }
    case "quarantine":
      return cmdQuarantine(runInfo(dataDir, "ingest"), rest[0], v);
    case "promote":
    case "rollback":
    case "tag":
    case "tags":
    case "schema":
      return cmdOps(
        cmd,
        rest,
        v,
        () => runInfo(dataDir).catalog_url,
        () => runInfo(dataDir).nats_url,
        printTable,
      );
    case "expire":
    case "gc":
    case "fsck":
    case "restore":
      return cmdMaintenance(cmd, rest, v, () => runInfo(dataDir));
    case "compact":
      return cmdCompact(rest, v, dataDir);
    case "maintain":
      return cmdMaintain(rest, v, () => runInfo(dataDir));
    case "lineage":
      return cmdLineage(rest, v, () => runInfo(dataDir).catalog_url, printTable);
    case "status":
      return cmdStatus(dataDir, v);
    case "logs":
      return cmdLogs(dataDir, rest, v);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)} (see lake --help)`);
  }
}

/** The run.json the command found the lake through, and the pid of the `lake up` that wrote it. */
let runFile: { file: string; pid: unknown } | undefined;

/** Whether the `lake up` that wrote run.json still runs (false: the file is a stopped lake's leftover). */
function upIsRunning(pid: unknown): boolean | undefined {
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A service that doesn't answer: a stopped lake, or one service of a running lake down. */
function notAnswering(what: string): string {
  const up = runFile ? upIsRunning(runFile.pid) : undefined;
  if (up === true) return `${what}, though \`lake up\` (pid ${String(runFile!.pid)}) is running: see \`lake status\` and the service's log`;
  return `lake is not running (${what}; start it with \`lake up\`)`;
}

/**
 * One line and an exit code for every way a command can fail (docs/cli.md, "Exit codes and errors"):
 * a stack trace only for an error nobody anticipated, and only with LAKE_DEBUG=1.
 */
async function explain(e: unknown): Promise<{ line: string; code: number }> {
  if (e instanceof UsageError) return { line: e.message, code: EXIT.usage };
  // OpsUsageError itself is a usage error; its subclasses are commands that ran and failed (fsck's
  // problems, a compaction that kept losing the race, a refused restore).
  if (e instanceof OpsUsageError) return { line: e.message, code: e.constructor === OpsUsageError ? EXIT.usage : EXIT.failed };
  if (e instanceof RefusedError) return { line: e.message, code: EXIT.failed };
  if (e instanceof NotRunningError || e instanceof LakeNotRunningError) return { line: e.message, code: EXIT.notRunning };
  if (e instanceof CatalogRequestError || e instanceof IngestRequestError) {
    const service = e instanceof CatalogRequestError ? "catalog" : "ingest";
    // A name that doesn't exist (dataset, version, tag, domain) or a malformed request is the caller's to fix.
    const usage = e.status === 400 || (e.status === 404 && e.code.startsWith("unknown_"));
    return { line: `${service}: ${e.message}`, code: usage ? EXIT.usage : EXIT.failed };
  }
  // A stopped lake (or a leftover run.json): which service does not answer, not undici's stack.
  if (isServiceUnreachable(e)) return { line: notAnswering(`no answer from the ${e.service} at ${e.url}`), code: EXIT.notRunning };
  if (isNatsServerMissing(e)) return { line: e.message, code: EXIT.failed };
  // These are only loaded by the commands that can throw them; loading them here costs nothing then.
  const [{ natsErrors }, { IncompatibleSchemaError, InvalidContractError }] = await Promise.all([import("./lazy/nats.ts"), import("./lazy/contracts.ts")]);
  if (e instanceof natsErrors.ConnectionError) return { line: notAnswering(`no answer from NATS: ${e.message}`), code: EXIT.notRunning };
  if (e instanceof IncompatibleSchemaError || e instanceof InvalidContractError) return { line: e.message, code: EXIT.failed };
  if (process.env.LAKE_DEBUG) return { line: e instanceof Error ? (e.stack ?? e.message) : String(e), code: EXIT.failed };
  return { line: e instanceof Error ? e.message : String(e), code: EXIT.failed };
}

main(process.argv.slice(2)).then(
  () => process.exit(EXIT.ok),
  async (e: unknown) => {
    const { line, code } = await explain(e).catch(() => ({ line: String(e), code: EXIT.failed }));
    console.error(`lake: ${line}`);
    process.exit(code);
  },
);
