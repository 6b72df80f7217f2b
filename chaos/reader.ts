// A reader running through the whole chaos run: it keeps resolving the latest and the current version
// of each dataset through the catalog and reads it as a real reader would, checking that it got a whole
// version: every file the version lists exists with its recorded size, the rows DuckDB reads from
// exactly those files are the version's total_rows, and a version it sees never goes backwards.
import { CatalogClient, CatalogRequestError, type CatalogVersion, queryVersion } from "@lake/client";
import type { ObjectStore } from "@lake/storage";

export interface ReaderStats {
  /** Versions read whole and checked. */
  reads: number;
  /** Reads that could not be made (catalog down, 404 before the first version...): not violations. */
  unavailable: number;
  /** A partial or inconsistent version seen: each one fails the run. */
  violations: string[];
  byDataset: Record<string, number>;
}

export class Reader {
  readonly stats: ReaderStats = { reads: 0, unavailable: 0, violations: [], byDataset: {} };
  private readonly catalog: CatalogClient;
  private readonly highest = new Map<string, number>();
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(
    catalogUrl: string,
    private readonly store: ObjectStore,
    private readonly datasets: readonly string[],
    private readonly cacheDir: string,
    private readonly pauseMs = 100,
  ) {
    this.catalog = new CatalogClient(catalogUrl);
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopping) {
        for (const ds of this.datasets) {
          for (const which of ["latest", "current"] as const) {
            if (this.stopping) return;
            await this.readOnce(ds, which);
          }
        }
        await new Promise((r) => setTimeout(r, this.pauseMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async readOnce(dataset: string, which: "latest" | "current"): Promise<void> {
    let v: CatalogVersion;
    try {
      v = await this.catalog.version(dataset, which);
    } catch (e) {
      // Catalog down or restarting, or no (current) version yet: nothing was served, nothing to check.
      if (!(e instanceof CatalogRequestError) || e.status === 404 || e.status >= 500) {
        this.stats.unavailable++;
        return;
      }
      this.stats.violations.push(`${dataset}@${which}: the catalog refused the read: ${e.status} ${e.message}`);
      return;
    }
    const where = `${dataset}@${which}=v${v.version}`;
    const key = `${dataset}/${which}`;
    if (v.version < (this.highest.get(key) ?? 0)) this.stats.violations.push(`${where}: went backwards from v${this.highest.get(key)}`);
    this.highest.set(key, Math.max(v.version, this.highest.get(key) ?? 0));
    const listed = v.files.reduce((n, f) => n + f.rows, 0);
    if (listed !== v.total_rows) this.stats.violations.push(`${where}: its files hold ${listed} rows, total_rows says ${v.total_rows}`);
    for (const f of v.files) {
      const head = await this.store.head(f.key).catch(() => undefined);
      if (!head) this.stats.violations.push(`${where}: file ${f.key} does not exist`);
      else if (head.size !== f.bytes) this.stats.violations.push(`${where}: file ${f.key} has ${head.size} bytes, ${f.bytes} recorded`);
    }
    try {
      const r = await queryVersion(this.store, v, `SELECT count(*) AS n FROM ${dataset}`, { cacheDir: this.cacheDir });
      const n = Number(r.rows[0]?.n);
      if (n !== v.total_rows) this.stats.violations.push(`${where}: DuckDB read ${n} rows, total_rows is ${v.total_rows}`);
    } catch (e) {
      this.stats.violations.push(`${where}: DuckDB could not read the version: ${(e as Error).message.split("\n")[0]}`);
    }
    this.stats.reads++;
    this.stats.byDataset[dataset] = (this.stats.byDataset[dataset] ?? 0) + 1;
  }
}
