// The maintenance worker, the shell: rounds over every dataset the catalog knows. Each round reads
// what the catalog says of a dataset (its latest version's files per partition, its oldest unexpired
// versions), asks plan.ts what is due under the dataset's `lake.maintenance` policy, and does a bounded
// amount of it with the manual commands' own code: compaction (compactDataset: a CAS writer of the
// commit log that rebases onto appends), expiry (the catalog's expire command, with its protections),
// GC (collectGarbage, bounded deletes). A failure in one dataset is logged, counted and backed off;
// the other datasets go on.
import type { NatsConnection } from "@nats-io/nats-core";

import { type CatalogClient, CatalogRequestError } from "@lake/client";
import { type DatasetSpec, datasetSpec } from "@lake/committer";
import { derivedContract, derivedNames, type MaintenancePolicy } from "@lake/contracts";
import type { SchemaRegistry } from "@lake/registry";
import type { ObjectStore } from "@lake/storage";
import { Counter, Gauge, type Logger, type Registry } from "@lake/telemetry";

import { collectGarbage } from "../maintenance.ts";
import { compactDataset, type CompactionResult } from "../ops/index.ts";
import { backoffMs, type DatasetFacts, maxFilesPerPartition, planDataset, type RoundPlan } from "./plan.ts";

export interface MaintenanceWorkerOptions {
  nc: NatsConnection;
  store: ObjectStore;
  catalog: CatalogClient;
  registry: SchemaRegistry;
  /** Datasets to maintain (default: every dataset the catalog knows, looked up each round). */
  datasets?: readonly string[];
  /** Recorded as the actor of expiries and collections, and in compactions' committer id. */
  actor: string;
  log: Logger;
  /** Counters go here when given (the worker's /metrics). */
  metrics?: Registry;
  /** Time between rounds (follow), and the first back-off of a dataset that failed (default 30 s). */
  intervalMs?: number;
  /** A dataset that failed is skipped for the interval doubled per failure in a row, up to this (default 10 min). */
  maxBackoffMs?: number;
  now?: () => number;
}

/** What a round did to one dataset. */
export interface DatasetRoundReport {
  dataset: string;
  /** Why nothing was looked at (policy off, backing off, no contract). */
  skipped?: string;
  plan?: RoundPlan;
  /** Most live files in one partition of the latest version, when the round started. */
  maxFilesPerPartition?: number;
  compaction?: Pick<CompactionResult, "outcome" | "version" | "filesRemoved" | "filesAdded" | "filesBefore" | "filesAfter" | "attempts"> & {
    deferredFiles: number;
  };
  expired?: { count: number; versions: string };
  gc?: { deleted: number; bytes: number; deferred: number; youngOrphans: number };
  /** The first task that failed, and why (the later ones of the dataset wait for the next round). */
  error?: { task: string; message: string };
}

export interface RoundReport {
  datasets: DatasetRoundReport[];
  ms: number;
}

export const DEFAULT_INTERVAL_MS = 30_000;

/** How many versions one page of the listing asks for while looking for unexpired ones. */
const VERSIONS_PAGE = 1000;
/** Pages read at most per dataset per round looking for unexpired versions (each page moves the cursor on). */
const MAX_VERSION_PAGES = 20;

class TaskError extends Error {
  constructor(
    readonly task: string,
    options: { cause: unknown },
  ) {
    super(`${task}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
    this.name = "MaintenanceTaskError";
  }
}

export class MaintenanceWorker {
  readonly #o: MaintenanceWorkerOptions;
  readonly #now: () => number;
  /** Per dataset: failures in a row, when to try again, the last GC pass, the lowest version maybe unexpired. */
  readonly #state = new Map<string, { failures: number; retryAt: number; lastGcAt: number | undefined; expiryCursor: number }>();
  readonly #specs = new Map<string, DatasetSpec>();
  readonly #m:
    | {
        rounds: Counter;
        compactions: Counter;
        filesCompacted: Counter;
        filesWritten: Counter;
        expired: Counter;
        collected: Counter;
        collectedBytes: Counter;
        errors: Counter;
        maxFiles: Gauge;
        roundSeconds: Gauge;
      }
    | undefined;

  constructor(o: MaintenanceWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const r = o.metrics;
    const counter = (name: string, help: string, labelNames: string[] = ["dataset"]) => new Counter({ name, help, labelNames, registers: r ? [r] : [] });
    this.#m = r
      ? {
          rounds: counter("lake_maintenance_rounds_total", "Maintenance rounds run", []),
          compactions: counter("lake_maintenance_compactions_total", "Compaction versions committed by the worker"),
          filesCompacted: counter("lake_maintenance_files_compacted_total", "Small files replaced by compaction"),
          filesWritten: counter("lake_maintenance_files_written_total", "Files written by compaction"),
          expired: counter("lake_maintenance_versions_expired_total", "Versions expired by the worker"),
          collected: counter("lake_maintenance_objects_collected_total", "Objects deleted by the worker's GC"),
          collectedBytes: counter("lake_maintenance_bytes_collected_total", "Bytes deleted by the worker's GC"),
          errors: counter("lake_maintenance_errors_total", "Maintenance tasks that failed", ["dataset", "task"]),
          maxFiles: new Gauge({
            name: "lake_maintenance_max_files_per_partition",
            help: "Most live files in one partition of the latest version, when the last round looked",
            labelNames: ["dataset"],
            registers: [r],
          }),
          roundSeconds: new Gauge({ name: "lake_maintenance_round_seconds", help: "Duration of the last maintenance round", registers: [r] }),
        }
      : undefined;
  }

  /** One round over every dataset; never throws for a dataset's failure (it is in the report). */
  async round(): Promise<RoundReport> {
    const started = performance.now();
    const names = this.#o.datasets ?? (await this.#o.catalog.datasets()).datasets.map((d) => d.name);
    const datasets: DatasetRoundReport[] = [];
    for (const dataset of names) datasets.push(await this.#dataset(dataset));
    const ms = performance.now() - started;
    this.#m?.rounds.inc();
    this.#m?.roundSeconds.set(ms / 1000);
    return { datasets, ms };
  }

  /**
   * Rounds until `signal` aborts, one every intervalMs (measured from the end of the last one);
   * `onRound` sees each report.
   */
  async follow(signal: AbortSignal, onRound?: (r: RoundReport) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        const r = await this.round();
        onRound?.(r);
      } catch (err) {
        // The dataset list itself could not be read (the catalog is down or restarting): the next round tries again.
        this.#o.log.warn("maintenance round failed", { err });
        this.#m?.errors.inc({ dataset: "*", task: "list" });
      }
      await sleep(this.#o.intervalMs ?? DEFAULT_INTERVAL_MS, signal);
    }
  }

  #stateOf(dataset: string) {
    let s = this.#state.get(dataset);
    if (!s) this.#state.set(dataset, (s = { failures: 0, retryAt: 0, lastGcAt: undefined, expiryCursor: 0 }));
    return s;
  }

  #policyOf(dataset: string): MaintenancePolicy | undefined {
    // Domains: the registry's latest contract (a new policy takes effect when it is registered); derived: the repo's.
    if (this.#o.registry.versions(dataset).length > 0) return this.#o.registry.latest(dataset).maintenance;
    if (derivedNames().includes(dataset)) return derivedContract(dataset).maintenance;
    return undefined;
  }

  async #dataset(dataset: string): Promise<DatasetRoundReport> {
    const s = this.#stateOf(dataset);
    const now = this.#now();
    if (now < s.retryAt) return { dataset, skipped: `backing off after ${s.failures} failed round(s)` };
    const report: DatasetRoundReport = { dataset };
    try {
      const policy = this.#policyOf(dataset);
      if (!policy) return { dataset, skipped: "no contract (neither the schema registry nor contracts/avro/derived has it)" };
      if (!policy.enabled) return { dataset, skipped: 'its policy says "enabled": false' };
      const facts = await task("read", () => this.#facts(dataset, policy, s));
      report.maxFilesPerPartition = maxFilesPerPartition(facts.partitions);
      this.#m?.maxFiles.set({ dataset }, report.maxFilesPerPartition);
      const plan = planDataset(policy, facts, now);
      report.plan = plan;
      if (plan.compaction) {
        const step = plan.compaction;
        const r = await task("compaction", () =>
          compactDataset({
            nc: this.#o.nc,
            store: this.#o.store,
            spec: this.#spec(dataset),
            targetBytes: step.targetBytes,
            maxFiles: step.maxFiles,
            minSmallFiles: step.minSmallFiles,
            committerId: `${this.#o.actor}-compact`,
            log: this.#o.log,
          }),
        );
        report.compaction = {
          outcome: r.outcome,
          ...(r.version === undefined ? {} : { version: r.version }),
          filesRemoved: r.filesRemoved,
          filesAdded: r.filesAdded,
          filesBefore: r.filesBefore,
          filesAfter: r.filesAfter,
          attempts: r.attempts,
          deferredFiles: r.plan.deferredFiles,
        };
        if (r.outcome === "committed") {
          this.#m?.compactions.inc({ dataset });
          this.#m?.filesCompacted.inc({ dataset }, r.filesRemoved);
          this.#m?.filesWritten.inc({ dataset }, r.filesAdded);
        }
      }
      if (plan.expiry) {
        const step = plan.expiry;
        const r = await task("expiry", () =>
          this.#o.catalog.expire(
            dataset,
            { ...(step.keepLast === undefined ? {} : { keepLast: step.keepLast }), ...(step.keepMs === undefined ? {} : { keepMs: step.keepMs }) },
            this.#o.actor,
            "maintenance policy (lake.maintenance.expiry)",
          ),
        );
        if (r.changed) {
          report.expired = { count: r.expired_count, versions: r.expired };
          this.#m?.expired.inc({ dataset }, r.expired_count);
        }
      }
      if (plan.gc) {
        const step = plan.gc;
        const r = await task("gc", () =>
          collectGarbage({
            catalog: this.#o.catalog,
            store: this.#o.store,
            nc: this.#o.nc,
            datasets: [dataset],
            graceMs: step.graceMs,
            maxDeletes: step.maxDeletes,
            dryRun: false,
            actor: this.#o.actor,
            now: this.#now,
          }),
        );
        const d = r.datasets[0]!;
        s.lastGcAt = this.#now();
        report.gc = { deleted: d.deleted, bytes: d.deletedBytes, deferred: d.deferred, youngOrphans: d.youngOrphans.length };
        this.#m?.collected.inc({ dataset }, d.deleted);
        this.#m?.collectedBytes.inc({ dataset }, d.deletedBytes);
      }
      s.failures = 0;
      s.retryAt = 0;
    } catch (err) {
      const t = err instanceof TaskError ? err.task : "policy";
      s.failures++;
      const wait = backoffMs(s.failures, this.#o.intervalMs ?? DEFAULT_INTERVAL_MS, this.#o.maxBackoffMs ?? 600_000);
      s.retryAt = this.#now() + wait;
      report.error = { task: t, message: err instanceof TaskError ? err.message : (err as Error).message };
      this.#m?.errors.inc({ dataset, task: t });
      this.#o.log.warn("maintenance task failed; the dataset waits, the others go on", { dataset, task: t, failures: s.failures, retry_in_ms: wait, err });
    }
    return report;
  }

  #spec(dataset: string): DatasetSpec {
    let spec = this.#specs.get(dataset);
    if (!spec) this.#specs.set(dataset, (spec = datasetSpec(this.#o.registry, dataset)));
    return spec;
  }

  /** The catalog's view: the latest version's files per partition, and the oldest unexpired versions. */
  async #facts(dataset: string, policy: MaintenancePolicy, s: { lastGcAt: number | undefined; expiryCursor: number }): Promise<DatasetFacts> {
    const latest = await this.#o.catalog.version(dataset, "latest").catch((e: unknown) => {
      // A dataset with only expired or no versions has nothing to compact.
      if (e instanceof CatalogRequestError && (e.status === 404 || e.status === 410)) return undefined;
      throw e;
    });
    const partitions = new Map<string, number[]>();
    for (const f of latest?.files ?? []) {
      let sizes = partitions.get(f.partition);
      if (!sizes) partitions.set(f.partition, (sizes = []));
      sizes.push(f.bytes);
    }
    const unexpired: DatasetFacts["unexpired"][number][] = [];
    if (policy.expiry.enabled && latest) {
      // Versions never come back from expiry: start from the lowest one not known to be expired.
      const want = policy.expiry.maxVersionsPerRun + 1;
      let after = s.expiryCursor;
      let moved = false;
      for (let page = 0; page < MAX_VERSION_PAGES && unexpired.length < want; page++) {
        const p = await this.#o.catalog.versions(dataset, after, VERSIONS_PAGE);
        for (const v of p.versions) {
          if (v.expired) {
            if (!moved) s.expiryCursor = v.version;
            continue;
          }
          moved = true;
          if (unexpired.length < want) unexpired.push({ version: v.version, committedAt: Date.parse(v.committed_at) });
        }
        if (p.next_after === null || p.next_after <= after) break;
        after = p.next_after;
      }
    }
    return { latestVersion: latest?.version ?? 0, partitions, unexpired, lastGcAt: s.lastGcAt };
  }
}

async function task<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    throw new TaskError(name, { cause });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
