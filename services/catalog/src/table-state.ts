// The store describes itself: after the catalog applies commit-log records, it writes each changed
// dataset's table state to the store as Iceberg table metadata, `datasets/<dataset>/metadata/
// c<log seq>.metadata.json`: the snapshots a ref names (`main` = current, `latest`, tags) and, as lake.*
// properties, what the commit log alone knew besides the versions (which versions expired, the quality
// verdicts of retained versions, the latest version's write id). With the versions' own manifests and
// Iceberg metadata (written before their commit), `lake restore --from-store` rebuilds a lost commit
// log from it. The content is a function of the log up to that sequence, so any catalog (a replica, a
// rebuild) writes the same bytes under the same name; existing files are left as they are. A change of
// nothing it says (a GC's record) writes no new file.
import type { Logger } from "@lake/telemetry";

import type { Projection } from "./db/projection.ts";
import { type IcebergStore, tableMetadataOf } from "./http/iceberg.ts";

/** Written at most this often per dataset while records keep coming (and once more when they stop). */
export const TABLE_STATE_INTERVAL_MS = 1_000;

/**
 * A table state holds every retained version's verdict, so making one costs in proportion to the
 * history kept (about 7 ms and 300-700 kB per 1,000 versions, by the verdicts' rules): with the default retention (7 days), a busy
 * dataset keeps hundreds of thousands. The wait before the next write is at least this many times what
 * making the last ones took (the store's own time not counted), so table states take no more than about
 * 5% of the catalog's time; and at most TABLE_STATE_MAX_DELAY_MS, so the newest is never older than that.
 */
export const TABLE_STATE_BUSY_FACTOR = 20;
export const TABLE_STATE_MAX_DELAY_MS = 60_000;

/** The wait before the next table-state write: the interval, or longer after slow ones, up to the cap. */
export function nextTableStateDelay(intervalMs: number, lastMakeMs: number): number {
  return Math.min(Math.max(intervalMs, TABLE_STATE_MAX_DELAY_MS), Math.max(intervalMs, Math.ceil(lastMakeMs * TABLE_STATE_BUSY_FACTOR)));
}

export const tableStateKey = (dataset: string, seq: number) => `datasets/${dataset}/metadata/c${String(seq).padStart(12, "0")}.metadata.json`;
export const TABLE_STATE_PATTERN = /^c(\d{12})\.metadata\.json$/;

/** Versions as ranges, e.g. [1,2,3,7] → "1-3,7". */
export function ranges(versions: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < versions.length) {
    let j = i;
    while (j + 1 < versions.length && versions[j + 1] === versions[j]! + 1) j++;
    out.push(i === j ? String(versions[i]) : `${versions[i]}-${versions[j]}`);
    i = j + 1;
  }
  return out.join(",");
}

/** The table state of `dataset` as the projection has it now, or undefined when it has no snapshot yet. */
export async function tableState(p: Projection, dataset: string, ic: IcebergStore): Promise<{ seq: number; bytes: Uint8Array } | undefined> {
  const ds = p.dataset(dataset);
  if (!ds || !p.newestSnapshotVersion(dataset)) return undefined;
  const liveSet = new Set(p.liveVersions(dataset));
  const expired: number[] = [];
  for (let v = 1; v <= ds.latest_version; v++) if (!liveSet.has(v)) expired.push(v);
  // The verdicts as JSON text, spliced from what the projection stored (the rules are JSON.stringify's
  // text already): the same bytes as stringifying the parsed records, without parsing each again.
  const verdicts = p
    .liveVerdicts(dataset)
    .map(
      (q) =>
        `{"version":${q.version},"outcome":${JSON.stringify(q.outcome)},"rules":${q.rules},"checked_at":${q.checked_at},"checker_id":${JSON.stringify(q.checker_id)}}`,
    );
  const latest = p.version(dataset, ds.latest_version);
  const { metadata } = await tableMetadataOf(p, dataset, ic, "refs");
  metadata.properties = {
    ...metadata.properties,
    "lake.latest-version": String(ds.latest_version),
    "lake.latest-write-id": latest?.write_id ?? "",
    "lake.current-version": String(ds.current_version),
    "lake.expired": ranges(expired),
    "lake.verdicts": `[${verdicts.join(",")}]`,
  };
  return { seq: ds.last_record_seq, bytes: new TextEncoder().encode(JSON.stringify(metadata)) };
}

/** Writes changed datasets' table states, at most every TABLE_STATE_INTERVAL_MS per dataset. */
export class TableStatePublisher {
  /** Per dataset: the last record sequence looked at, and the bytes last written (a state that didn't change isn't written again). */
  private readonly written = new Map<string, number>();
  private readonly lastBytes = new Map<string, string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The wait before the next write (nextTableStateDelay of the last one). */
  private delayMs: number;

  constructor(
    private readonly projection: () => Projection,
    private readonly ic: IcebergStore,
    private readonly log: Logger,
    private readonly intervalMs = TABLE_STATE_INTERVAL_MS,
  ) {
    this.delayMs = intervalMs;
  }

  /** After records were applied: a write soon (never more than one pending). */
  changed(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running
        .then(async () => {
          const next = nextTableStateDelay(this.intervalMs, await this.publish().then((r) => r.makeMs));
          if (next > this.intervalMs && this.delayMs === this.intervalMs)
            this.log.info("table states take long to make (they hold every retained version's verdict); written less often", { every_ms: next });
          this.delayMs = next;
        })
        .catch((err) => {
          // The retry comes at the interval, not after a delay a slow store could have stretched.
          this.delayMs = this.intervalMs;
          this.log.warn("table state not written to the store; retried on the next change", { err });
        });
    }, this.delayMs);
  }

  /**
   * Writes every dataset whose state moved since its last write (all of them the first time): how many
   * it wrote, and the milliseconds making them took (the store's writes not counted).
   */
  async publish(): Promise<{ written: number; makeMs: number }> {
    const p = this.projection();
    let n = 0;
    let makeMs = 0;
    for (const ds of p.datasets()) {
      if (this.stopped) break;
      if (this.written.get(ds.name) === ds.last_record_seq) continue;
      const started = performance.now();
      const state = await tableState(p, ds.name, this.ic);
      makeMs += performance.now() - started;
      if (!state) continue;
      this.written.set(ds.name, state.seq);
      // Records that change nothing a table state says (a GC's FilesCollected, a void record) write nothing.
      const text = new TextDecoder().decode(state.bytes);
      if (this.lastBytes.get(ds.name) === text) continue;
      await this.ic.store.putIfAbsent(tableStateKey(ds.name, state.seq), state.bytes);
      this.lastBytes.set(ds.name, text);
      n++;
    }
    return { written: n, makeMs };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
