// `lake` maintenance commands: expire (retention, a catalog command recorded in the commit log), gc
// (delete what no live version references, record it) and fsck (cross-check log, store and catalog).
// The jobs themselves are in maintenance.ts; this file parses options and prints reports.
import { userInfo } from "node:os";

import type { NatsConnection } from "@nats-io/nats-core";

import type { ObjectStore } from "@lake/storage";

import { catalogClient, OpsUsageError } from "./cli-ops.ts";
import type { FsckReport, GcResult, MaintenanceProgress } from "./maintenance.ts";
import type { RestoreResult } from "./restore.ts";

type Values = Record<string, string | boolean | undefined>;

/** Where the running lake is (cli.ts's run.json / environment view). */
export interface MaintenanceTarget {
  catalog_url: string;
  nats_url?: string;
  store_root?: string;
  /** The store settings the services run with (LAKE_STORE, LAKE_S3_*). */
  store?: Record<string, string>;
}

/** Options of these commands, for cli.ts's parseArgs (`--dry-run` is declared there already, shared with other commands). */
export const MAINTENANCE_OPTIONS = {
  "keep-last": { type: "string" },
  keep: { type: "string" },
  grace: { type: "string" },
  "no-hash": { type: "boolean" },
  "from-store": { type: "boolean" },
} as const;

export const MAINTENANCE_USAGE = `  lake expire D [--keep-last N] [--keep DURATION] --reason R
      retention: versions outside the N newest and older than DURATION (e.g. 7d) stop being served
      (reads answer 410); latest, current and tagged versions and those awaiting a verdict are kept
  lake gc [--dataset D] [--grace 1h] [--dry-run]
      delete objects no live version references (files of expired versions, and orphans of failed
      writes older than the grace period); recorded in the commit log. --dry-run deletes nothing
  lake fsck [--dataset D] [--no-hash]
      cross-check the commit log, the object store and the catalog; exit 1 on any problem
  lake restore --from-store [--dataset D] [--dry-run]
      rebuild a lost commit log (versions, expiries, verdicts, tags, current) from the store's
      manifests and table states; refused unless the dataset's commit log is empty`;

/** The command ran and found problems (fsck) or refused (restore into a non-empty log): printed as `lake: <message>`, exit 1. */
export class MaintenanceProblemsError extends OpsUsageError {}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `1h`, `7d`, `2w`, `500ms`, or plain milliseconds. */
export function parseDuration(name: string, raw: string): number {
  const m = /^(\d{1,15})(ms|s|m|h|d|w)?$/.exec(raw.trim());
  if (!m) throw new OpsUsageError(`--${name} must be a duration like 90s, 30m, 1h, 7d (or milliseconds), got ${JSON.stringify(raw)}`);
  return Number(m[1]) * UNITS[m[2] ?? "ms"]!;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function actorOf(v: Values): string {
  return (v.actor as string | undefined) || process.env.LAKE_ACTOR || userInfo().username;
}

export async function storeOf(t: MaintenanceTarget): Promise<ObjectStore> {
  const { openStore, STORE_ENV, storeConfigFromEnv } = await import("./lazy/storage.ts");
  // run.json's settings, overridden by this shell's LAKE_STORE / LAKE_S3_* / LAKE_STORE_ROOT (as `lake query`).
  const env: Record<string, string> = { ...(t.store ?? {}) };
  for (const k of Object.values(STORE_ENV)) if (process.env[k]) env[k] = process.env[k]!;
  if (!env.LAKE_STORE && !env.LAKE_STORE_ROOT && t.store_root) env.LAKE_STORE_ROOT = t.store_root;
  if (!env.LAKE_STORE_ROOT && env.LAKE_STORE !== "s3")
    throw new OpsUsageError("the object store is unknown: set LAKE_STORE_ROOT (or LAKE_STORE=s3 and LAKE_S3_*), or run inside the lake's data dir");
  return openStore(storeConfigFromEnv(env));
}

/**
 * A progress line on stderr (stdout keeps the report): redrawn in place on a terminal, otherwise a
 * line at most every 5 s, so long runs show they are moving and short ones stay quiet.
 */
function progressPrinter(): { update(p: MaintenanceProgress): void; done(): void } {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let last = 0;
  let shown = false;
  const line = (p: MaintenanceProgress) => {
    const what = {
      catalog: "reading the catalog",
      list: "listing the store",
      log: "reading the commit log",
      delete: "deleting",
      replay: "replaying the commit log",
      check: "checking objects",
    }[p.phase];
    return `${p.dataset === "*" ? "" : `${p.dataset}: `}${what} ${p.done}${p.total === undefined ? "" : `/${p.total}`}  (${formatDuration(Date.now() - started)})`;
  };
  return {
    update(p) {
      const now = Date.now();
      if (now - started < 1000 || now - last < (tty ? 100 : 5000)) return;
      last = now;
      shown = true;
      if (tty) process.stderr.write(`\r\x1b[K${line(p)}`);
      else process.stderr.write(`${line(p)}\n`);
    },
    done() {
      if (tty && shown) process.stderr.write("\r\x1b[K");
    },
  };
}

export async function cmdMaintenance(cmd: string, rest: string[], v: Values, target: () => MaintenanceTarget): Promise<void> {
  switch (cmd) {
    case "expire":
      return cmdExpire(rest, v, target);
    case "gc":
      return withNats(target, (t, nc) => cmdGc(v, t, nc));
    case "fsck":
      return withNats(target, (t, nc) => cmdFsck(v, t, nc));
    case "restore":
      return withNats(target, (t, nc) => cmdRestore(v, t, nc));
    default:
      throw new OpsUsageError(`unknown command ${cmd}`);
  }
}

async function withNats(target: () => MaintenanceTarget, fn: (t: MaintenanceTarget, nc: NatsConnection) => Promise<void>): Promise<void> {
  const t = target();
  const { connectNats } = await import("./lazy/nats.ts");
  if (!t.nats_url) throw new OpsUsageError("NATS is unknown: set NATS_URL, or run inside the lake's data dir (run.json)");
  const nc = await connectNats({ url: t.nats_url, name: "lake-cli" });
  try {
    await fn(t, nc);
  } finally {
    await nc.close();
  }
}

async function cmdExpire(rest: string[], v: Values, target: () => MaintenanceTarget): Promise<void> {
  const dataset = rest[0];
  if (!dataset) throw new OpsUsageError("usage: lake expire <dataset> [--keep-last N] [--keep DURATION] --reason R");
  const reason = v.reason as string | undefined;
  if (!reason) throw new OpsUsageError("--reason is required: it goes into the commit log and the audit trail");
  const policy: { keepLast?: number; keepMs?: number } = {};
  if (v["keep-last"] !== undefined) {
    const raw = v["keep-last"] as string;
    if (!/^[1-9]\d{0,15}$/.test(raw)) throw new OpsUsageError(`--keep-last must be a positive integer, got ${raw}`);
    policy.keepLast = Number(raw);
  }
  if (v.keep !== undefined) policy.keepMs = parseDuration("keep", v.keep as string);
  if (policy.keepLast === undefined && policy.keepMs === undefined)
    throw new OpsUsageError("give --keep-last N and/or --keep DURATION: which versions to keep");
  const r = await catalogClient(target().catalog_url).expire(dataset, policy, actorOf(v), reason);
  if (!r.changed) console.log(`expire ${dataset}: nothing to do (${r.message ?? "no version outside the policy"})`);
  else
    console.log(
      `expire ${dataset}: ${r.expired_count} version(s) expired (${r.expired}), recorded through commit-log sequence ${r.seq}; current ${r.current_version ?? "none"}, latest ${r.latest_version}. Run \`lake gc\` to delete their files.`,
    );
}

async function cmdRestore(v: Values, t: MaintenanceTarget, nc: NatsConnection): Promise<void> {
  const { restoreFromStore, RestoreRefusedError } = await import("./restore.ts");
  if (v["from-store"] !== true)
    throw new OpsUsageError("usage: lake restore --from-store [--dataset D] [--dry-run] (the store is the only source a restore reads)");
  const dryRun = v["dry-run"] === true;
  let r: RestoreResult;
  try {
    r = await restoreFromStore({
      nc,
      store: await storeOf(t),
      ...(v.dataset ? { datasets: [v.dataset as string] } : {}),
      dryRun,
      actor: actorOf(v),
      onProgress: (p) => {
        if (process.stderr.isTTY) process.stderr.write(`\rrestore ${p.dataset}: ${p.appended}/${p.total} records appended`);
      },
    });
  } catch (e) {
    if (e instanceof RestoreRefusedError) throw new MaintenanceProblemsError(e.message);
    throw e;
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  for (const sc of r.schemas) {
    if (sc.registered.length)
      console.log(`restore contracts ${sc.domain}: ${dryRun ? "would register" : "registered"} version(s) ${sc.registered.join(", ")} again from the store`);
    for (const w of sc.warnings) console.log(`  warning: ${w}`);
  }
  if (r.datasets.length === 0) console.log("restore: the store holds no dataset");
  for (const d of r.datasets) {
    console.log(
      `restore ${d.dataset}: ${dryRun ? "would append" : "appended"} ${d.records} record(s): versions 1-${d.latestVersion} (${d.retained} retained, ${d.expired} expired), ${d.verdicts} verdict(s), ${d.tags} tag(s), current ${d.current || "none"}` +
        (d.tableState ? ` (from ${d.tableState})` : ""),
    );
    for (const w of d.warnings) console.log(`  warning: ${w}`);
    for (const s of d.sourcesMoved) console.log(`  source stream ${s} (new events get offsets after the restored ones)`);
  }
  console.log(
    dryRun
      ? "restore: dry run, nothing appended"
      : `restore: done in ${formatDuration(r.ms)}. Events accepted but not committed before the loss are not in the store and are not restored. Restart the catalog (or POST /v1/admin/rebuild) to project the restored log.`,
  );
}

async function cmdGc(v: Values, t: MaintenanceTarget, nc: NatsConnection): Promise<void> {
  const { collectGarbage } = await import("./maintenance.ts");
  const graceMs = parseDuration("grace", (v.grace as string | undefined) ?? "1h");
  const dryRun = v["dry-run"] === true;
  const progress = progressPrinter();
  let r: GcResult;
  try {
    r = await collectGarbage({
      catalog: catalogClient(t.catalog_url),
      store: await storeOf(t),
      nc,
      ...(v.dataset ? { datasets: [v.dataset as string] } : {}),
      graceMs,
      dryRun,
      actor: actorOf(v),
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.done();
  }
  printGc(r);
}

export function printGc(r: GcResult): void {
  const verb = r.dryRun ? "would delete" : "deleted";
  for (const d of r.datasets) {
    const expired = d.candidates.filter((c) => c.reason === "expired");
    const orphans = d.candidates.filter((c) => c.reason === "orphan");
    const bytes = d.candidates.reduce((n, c) => n + c.size, 0);
    console.log(
      `gc ${d.dataset}: ${d.listed} object(s) (${formatBytes(d.listedBytes)}) in the store, ${d.live} referenced by live versions; ` +
        `${verb} ${d.candidates.length} (${formatBytes(bytes)}): ${expired.length} referenced only by expired versions, ${orphans.length} orphan(s) older than ${formatDuration(r.graceMs)}` +
        `${d.youngOrphans.length ? `; kept ${d.youngOrphans.length} younger orphan(s)` : ""}${d.unknownAge.length ? `; kept ${d.unknownAge.length} orphan(s) of unknown age` : ""}` +
        ` [${formatDuration(d.ms)}]`,
    );
    if (r.dryRun)
      for (const c of d.candidates)
        console.log(
          `  would delete ${c.key} (${formatBytes(c.size)}, ${c.reason === "expired" ? "only expired versions reference it" : `orphan, ${formatDuration(c.ageMs ?? 0)} old`})`,
        );
    for (const y of d.youngOrphans)
      console.log(`  kept ${y.key} (orphan, ${formatDuration(y.ageMs)} old: within the grace period, may be a write about to commit)`);
    for (const u of d.unknownAge) console.log(`  kept ${u.key} (orphan, the store can't tell its age)`);
    if (d.deferred) console.log(`  left ${d.deferred} more collectable object(s) for the next run`);
    if (d.recordSeqs.length) console.log(`  recorded as FilesCollected at commit-log sequence ${d.recordSeqs.join(", ")}`);
  }
  const total = r.datasets.reduce((n, d) => n + (r.dryRun ? d.candidates.length : d.deleted), 0);
  console.log(
    `gc: ${r.dryRun ? "dry run, nothing deleted; would delete" : "deleted"} ${total} object(s) in ${r.datasets.length} dataset(s) in ${formatDuration(r.ms)}`,
  );
}

async function cmdFsck(v: Values, t: MaintenanceTarget, nc: NatsConnection): Promise<void> {
  const { fsck } = await import("./maintenance.ts");
  const progress = progressPrinter();
  let report: FsckReport;
  try {
    report = await fsck({
      catalog: catalogClient(t.catalog_url),
      store: await storeOf(t),
      nc,
      ...(v.dataset ? { dataset: v.dataset as string } : {}),
      hash: v["no-hash"] !== true,
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.done();
  }
  console.log(formatFsckReport(report));
  if (report.problems.length > 0) throw new MaintenanceProblemsError(`fsck found ${report.problems.length} problem(s)`);
}

export function formatFsckReport(r: FsckReport): string {
  const out: string[] = [];
  const versions = r.datasets.reduce((n, d) => n + d.versions, 0);
  const expired = r.datasets.reduce((n, d) => n + d.expired, 0);
  out.push(
    `fsck: commit log through sequence ${r.logSeq} (replayed through ${r.replaySeq}); ${r.datasets.length} dataset(s), ${versions} version(s) (${expired} expired)`,
  );
  for (const d of r.datasets) {
    out.push(
      `  ${d.dataset}: ${d.versions} version(s), ${d.expired} expired; ${d.liveFiles} live file(s) (${formatBytes(d.liveBytes)}); ` +
        `${d.collectable} collectable object(s); ${d.orphans} orphan(s)`,
    );
  }
  out.push(
    `checked ${r.objectsChecked} object(s)${r.bytesHashed ? `, ${formatBytes(r.bytesHashed)} hashed` : " (sizes only)"}` +
      `${r.bytesHashed ? `, ${r.parquetChecked} Parquet footer(s) read (codec, writer, columns)` : ""} in ${formatDuration(r.ms)}`,
  );
  out.push(
    `iceberg: ${r.icebergChecked.snapshots} snapshot(s) of live versions checked against the log (table metadata, manifest list, ${r.icebergChecked.manifests} manifest(s))`,
  );
  if (r.dumpCompared) {
    const differs = r.problems.some((p) => p.kind === "replay_mismatch");
    out.push(`catalog: ${differs ? "DIFFERS from" : "equals"} a replay of the commit log through sequence ${r.replaySeq} (canonical dump)`);
  }
  if (r.voidRecords) {
    out.push(`commit log: ${r.voidRecords} void record(s), applied by no reader:`);
    for (const v of r.voids) out.push(`  void ${v.dataset}@${v.seq}: ${v.why}`);
    if (r.voids.length < r.voidRecords) out.push(`  ... and ${r.voidRecords - r.voids.length} more`);
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  for (const d of r.drift) out.push(`drift ${d.dataset} v${d.version} ${d.key}: ${d.message}`);
  if (r.driftFiles > r.drift.length) out.push(`  ... and ${r.driftFiles - r.drift.length} more`);
  if (r.driftFiles > 0)
    out.push(
      `parquet: ${r.driftFiles} file(s) of latest versions not written as their dataset's settings say (readable; not problems); \`lake compact\` rewrites them with the current settings when it packs their partition`,
    );
  for (const o of r.orphans) {
    out.push(
      `orphan ${o.dataset} ${o.key} (${formatBytes(o.size)}${o.ageMs === undefined ? "" : `, ${formatDuration(o.ageMs)} old`}): referenced by no version; \`lake gc\` deletes it after the grace period`,
    );
  }
  for (const p of r.problems) {
    out.push(`PROBLEM ${p.kind} ${p.dataset}${p.version === undefined ? "" : ` v${p.version}`}${p.key === undefined ? "" : ` ${p.key}`}: ${p.message}`);
  }
  out.push(r.problems.length === 0 ? "fsck: clean, no problems" : `fsck: ${r.problems.length} problem(s)`);
  return out.join("\n");
}
