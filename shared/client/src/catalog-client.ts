// A small typed client of the catalog's HTTP API, used by the CLI, the tests and the benchmarks.
import type {
  AuditEntry,
  CatalogDataset,
  CatalogDenial,
  CatalogFile,
  CatalogFileSet,
  CatalogFreshness,
  CatalogLineage,
  CatalogRegistryFile,
  CatalogSourceLineage,
  CatalogVersion,
  CatalogVersionRef,
  CatalogVersionSummary,
  CommandResult,
  ExpireResult,
} from "@lake/contracts";
import { LOG_POSITION_HEADER } from "@lake/contracts";

import { fetchFrom } from "./reach.ts";
import { assertFresh, type DatasetRead, type Observation, ReadSession, ReadWentBackError } from "./session.ts";

export type {
  AuditEntry,
  CatalogDataset,
  CatalogDenial,
  CatalogFile,
  CatalogFileSet,
  CatalogLineage,
  CatalogFreshness,
  CatalogRegistryFile,
  CatalogSourceLineage,
  CatalogVersion,
  CatalogVersionRef,
  CatalogVersionSummary,
  CommandResult,
  ExpireResult,
};

/**
 * `files: "reference"`: the version's file set by reference (resolve it with FileSetResolver) instead of
 * every file inline. `maxStalenessMs`: refuse (StaleVersionError) a version whose staleness, as the
 * catalog measured it, exceeds this bound or is unknown.
 */
export interface VersionReadOptions {
  files?: "list" | "reference";
  maxStalenessMs?: number;
}

export interface CatalogClientOptions {
  /**
   * How long a read is retried when its answer is older than one this session was given (then
   * ReadWentBackError), or the catalog answers 503 retryable (catching up, NATS restarting). Default 5000.
   */
  retryMs?: number;
  /** Check that answers never go back in time (default true). */
  monotonic?: boolean;
}

const DEFAULT_RETRY_MS = 5000;
const backoffMs = (attempt: number) => Math.min(500, 25 * 2 ** attempt);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function positionOf(res: Response): number | undefined {
  const raw = res.headers.get(LOG_POSITION_HEADER);
  const n = raw !== null && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

const datasetReads = (d: CatalogDataset): DatasetRead[] => [
  { dataset: d.name, which: "latest", version: d.latest_version, rows: d.total_rows },
  ...(d.current_version > 0 ? [{ dataset: d.name, which: "current" as const, version: d.current_version, rows: undefined }] : []),
];

const filesParam = (o: VersionReadOptions | undefined, sep: "?" | "&") => (o?.files === "reference" ? `${sep}files=reference` : "");

export class CatalogRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "CatalogRequestError";
  }
}

export class CatalogClient {
  // A private field, so the token never shows up when a client is logged or inspected.
  readonly #auth: Record<string, string>;

  /** `token`: a bearer token, sent on every request (needed when the catalog has a tokens file). */
  readonly #retryMs: number;
  /** What this client has been answered so far; undefined: monotonic checks off. */
  readonly #session: ReadSession | undefined;

  /** `token`: a bearer token, sent on every request (needed when the catalog has a tokens file). */
  constructor(
    readonly baseUrl: string,
    token?: string,
    opts: CatalogClientOptions = {},
  ) {
    this.#auth = token ? { authorization: `Bearer ${token}` } : {};
    this.#retryMs = opts.retryMs ?? DEFAULT_RETRY_MS;
    this.#session = opts.monotonic === false ? undefined : new ReadSession();
  }

  /** The highest commit-log position this session has been answered (0: none yet). */
  get logPosition(): number {
    return this.#session?.position ?? 0;
  }

  /** Forgets what this session was answered (e.g. after the lake was restored from its store: a new log). */
  resetSession(): void {
    this.#session?.reset();
  }

  /**
   * A request. Reads (GET) are checked against the session: an answer older than one already given is
   * asked again, bounded, and then refused (ReadWentBackError); so is a 503 that says to retry.
   * `observe` names the dataset versions the answer states.
   */
  private async get<T>(path: string, init?: RequestInit, observe?: (body: T) => readonly DatasetRead[]): Promise<T> {
    const read = (init?.method ?? "GET") === "GET";
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const res = await fetchFrom("catalog", new URL(path, this.baseUrl), {
        ...init,
        headers: { ...this.#auth, ...(init?.headers as Record<string, string> | undefined) },
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const elapsed = Date.now() - started;
      const retryable = read && res.status === 503 && (body as { retryable?: unknown } | null)?.retryable === true;
      if (retryable && elapsed < this.#retryMs) {
        await delay(backoffMs(attempt));
        continue;
      }
      if (read && this.#session && !retryable) {
        const o: Observation = { position: positionOf(res), reads: res.ok && observe ? observe(body as T) : [] };
        const back = this.#session.check(o);
        if (back) {
          if (elapsed >= this.#retryMs) throw new ReadWentBackError({ ...back, retriedMs: elapsed, path: path.split("?")[0]! });
          await delay(backoffMs(attempt));
          continue;
        }
        this.#session.record(o);
      }
      if (!res.ok) {
        const b = body as { error?: string; message?: string };
        throw new CatalogRequestError(res.status, b.error ?? "error", b.message ?? `catalog answered ${res.status}`, body);
      }
      return body as T;
    }
  }

  datasets(): Promise<{ datasets: CatalogDataset[]; projected_through_seq: number }> {
    return this.get("/v1/datasets", undefined, (b: { datasets: CatalogDataset[]; projected_through_seq: number }) => b.datasets.flatMap(datasetReads));
  }
  versions(dataset: string, after = 0, limit = 100): Promise<{ versions: Omit<CatalogVersion, "files">[]; next_after: number | null }> {
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}/versions?after=${after}&limit=${limit}`);
  }
  version(dataset: string, version: number | "latest" | "current", opts?: { files?: "list"; maxStalenessMs?: number }): Promise<CatalogVersion>;
  version(dataset: string, version: number | "latest" | "current", opts: { files: "reference"; maxStalenessMs?: number }): Promise<CatalogVersionRef>;
  async version(dataset: string, version: number | "latest" | "current", opts?: VersionReadOptions): Promise<CatalogVersion | CatalogVersionRef> {
    const which = version === "latest" || version === "current" ? version : undefined;
    const v = await this.get<CatalogVersion | CatalogVersionRef>(
      `/v1/datasets/${encodeURIComponent(dataset)}/versions/${version}${filesParam(opts, "?")}`,
      undefined,
      (b) => (which ? [{ dataset, which, version: b.version, rows: b.total_rows }] : []),
    );
    if (opts?.maxStalenessMs !== undefined) assertFresh(v, opts.maxStalenessMs);
    return v;
  }
  /**
   * The first version containing `offset` (an ingest offset), waiting up to `timeoutMs` for it. A
   * critical dataset answers its first published version (passed its audit) unless `staged` asks for
   * the first committed one whatever its verdict; `passed` asks for a passed one on any dataset. An
   * offset whose batch failed its audit answers 409 `quarantined` (a CatalogRequestError).
   */
  covering(
    dataset: string,
    offset: number,
    timeoutMs?: number,
    opts?: { passed?: boolean; staged?: boolean; files?: "list"; maxStalenessMs?: number },
  ): Promise<CatalogVersion & { waited_ms: number }>;
  covering(
    dataset: string,
    offset: number,
    timeoutMs: number,
    opts: { passed?: boolean; staged?: boolean; files: "reference"; maxStalenessMs?: number },
  ): Promise<CatalogVersionRef & { waited_ms: number }>;
  async covering(
    dataset: string,
    offset: number,
    timeoutMs = 5000,
    opts: { passed?: boolean; staged?: boolean } & VersionReadOptions = {},
  ): Promise<(CatalogVersion | CatalogVersionRef) & { waited_ms: number }> {
    const passed = opts.passed ? "&quality=passed" : opts.staged ? "&quality=any" : "";
    const v = await this.get<(CatalogVersion | CatalogVersionRef) & { waited_ms: number }>(
      `/v1/datasets/${encodeURIComponent(dataset)}/covering?offset=${offset}&timeout_ms=${timeoutMs}${passed}${filesParam(opts, "&")}`,
    );
    if (opts.maxStalenessMs !== undefined) assertFresh(v, opts.maxStalenessMs);
    return v;
  }
  /**
   * What a version was made from: its operation, files (every key with `files: "list"`), source range,
   * upstream positions (derived datasets), quality verdict, tags. `version`: a number, latest, current or a tag.
   */
  lineage(dataset: string, version: number | string, opts?: { files?: "list" }): Promise<CatalogLineage> {
    const files = opts?.files === "list" ? "?files=list" : "";
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}/versions/${encodeURIComponent(String(version))}/lineage${files}`);
  }
  /**
   * The reverse question: for each dataset this caller may read that `stream` (default EVENTS) feeds, the
   * version that added source offset `offset`, or the first derived version reflecting it.
   */
  sourceLineage(offset: number, opts: { stream?: string; subject?: string; dataset?: string } = {}): Promise<CatalogSourceLineage> {
    const q = new URLSearchParams({ source_offset: String(offset) });
    if (opts.stream !== undefined) q.set("stream", opts.stream);
    if (opts.subject !== undefined) q.set("subject", opts.subject);
    if (opts.dataset !== undefined) q.set("dataset", opts.dataset);
    return this.get(`/v1/lineage?${q.toString()}`);
  }
  /**
   * A derived dataset: the first version whose recorded upstream position reaches `sourceOffset` (the
   * offset ingest returned for an event of its source domain), so the event is in its results; waits
   * up to `timeoutMs`. `source_through_seq` is the upstream position the version covers.
   */
  coveringSource(
    dataset: string,
    sourceOffset: number,
    timeoutMs?: number,
    opts?: { passed?: boolean; files?: "list" },
  ): Promise<CatalogVersion & { waited_ms: number; source_through_seq: number }>;
  coveringSource(
    dataset: string,
    sourceOffset: number,
    timeoutMs: number,
    opts: { passed?: boolean; files: "reference" },
  ): Promise<CatalogVersionRef & { waited_ms: number; source_through_seq: number }>;
  coveringSource(
    dataset: string,
    sourceOffset: number,
    timeoutMs = 5000,
    opts: { passed?: boolean } & VersionReadOptions = {},
  ): Promise<(CatalogVersion | CatalogVersionRef) & { waited_ms: number; source_through_seq: number }> {
    const passed = opts.passed ? "&quality=passed" : "";
    return this.get(
      `/v1/datasets/${encodeURIComponent(dataset)}/covering?source_offset=${sourceOffset}&timeout_ms=${timeoutMs}${passed}${filesParam(opts, "&")}`,
    );
  }
  /**
   * Like covering(), for waits longer than the catalog's per-request bound: re-asks on each timeout.
   * `by: "source_offset"` takes the offset of an event of a derived dataset's source (coveringSource).
   */
  async waitCovering(
    dataset: string,
    offset: number,
    totalMs: number,
    opts: { by?: "offset" | "source_offset"; passed?: boolean } = {},
  ): Promise<CatalogVersion & { waited_ms: number; source_through_seq?: number }> {
    const deadline = Date.now() + totalMs;
    for (;;) {
      const left = deadline - Date.now();
      const wait = Math.max(0, Math.min(left, 30_000));
      try {
        return opts.by === "source_offset"
          ? await this.coveringSource(dataset, offset, wait, { passed: opts.passed })
          : await this.covering(dataset, offset, wait, { passed: opts.passed });
      } catch (e) {
        if (!(e instanceof CatalogRequestError && e.status === 504) || left <= 30_000) throw e;
      }
    }
  }
  private post<T>(path: string, body: unknown): Promise<T> {
    return this.get<T>(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }
  promote(dataset: string, version: number, actor: string, reason: string): Promise<CommandResult> {
    return this.post(`/v1/datasets/${encodeURIComponent(dataset)}/promote`, { version, actor, reason });
  }
  rollback(dataset: string, actor: string, reason: string, toVersion?: number): Promise<CommandResult> {
    return this.post(`/v1/datasets/${encodeURIComponent(dataset)}/rollback`, { to_version: toVersion, actor, reason });
  }
  tag(dataset: string, tag: string, version: number, actor: string, reason: string): Promise<CommandResult> {
    return this.post(`/v1/datasets/${encodeURIComponent(dataset)}/tags`, { tag, version, actor, reason });
  }
  tags(dataset: string): Promise<{ tags: { tag: string; version: number; seq: number }[] }> {
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}/tags`);
  }
  byTag(dataset: string, tag: string, opts?: { files?: "list"; maxStalenessMs?: number }): Promise<CatalogVersion & { tag: string }>;
  byTag(dataset: string, tag: string, opts: { files: "reference"; maxStalenessMs?: number }): Promise<CatalogVersionRef & { tag: string }>;
  async byTag(dataset: string, tag: string, opts?: VersionReadOptions): Promise<(CatalogVersion | CatalogVersionRef) & { tag: string }> {
    const v = await this.get<(CatalogVersion | CatalogVersionRef) & { tag: string }>(
      `/v1/datasets/${encodeURIComponent(dataset)}/tags/${encodeURIComponent(tag)}${filesParam(opts, "?")}`,
    );
    if (opts?.maxStalenessMs !== undefined) assertFresh(v, opts.maxStalenessMs);
    return v;
  }
  /** `filter`: kinds (any of), one actor, a time range [since, until) (epoch ms), applied by the catalog. */
  audit(
    dataset: string,
    after = 0,
    limit = 100,
    filter: { kinds?: readonly string[]; actor?: string; since?: number; until?: number } = {},
  ): Promise<{ entries: AuditEntry[]; next_after: number | null }> {
    const q = new URLSearchParams({ after: String(after), limit: String(limit) });
    if (filter.kinds?.length) q.set("kind", filter.kinds.join(","));
    if (filter.actor !== undefined) q.set("actor", filter.actor);
    if (filter.since !== undefined) q.set("since", String(filter.since));
    if (filter.until !== undefined) q.set("until", String(filter.until));
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}/audit?${q.toString()}`);
  }
  dataset(dataset: string): Promise<{ dataset: CatalogDataset }> {
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}`, undefined, (b: { dataset: CatalogDataset }) => datasetReads(b.dataset));
  }
  /**
   * Time travel: the version that was the dataset's latest at time `at` (the last one committed at or
   * before it). Undefined when the dataset had no version yet.
   */
  async versionAsOf(dataset: string, at: number): Promise<CatalogVersion | undefined> {
    let found: number | undefined;
    for (let after = 0; ;) {
      const page = await this.versions(dataset, after, 1000);
      for (const v of page.versions) if (Date.parse(v.committed_at) <= at) found = v.version;
      const last = page.versions.at(-1);
      if (page.next_after === null || (last && Date.parse(last.committed_at) > at)) break;
      after = page.next_after;
    }
    return found === undefined ? undefined : this.version(dataset, found);
  }
  rebuild(): Promise<{ rebuilt: boolean; projected_through_seq: number; ms: number }> {
    return this.get("/v1/admin/rebuild", { method: "POST" });
  }
  async dump(): Promise<string> {
    const res = await fetchFrom("catalog", new URL("/v1/admin/dump", this.baseUrl), { headers: this.#auth });
    if (!res.ok) {
      const text = await res.text();
      let code = "error";
      try {
        code = (JSON.parse(text) as { error?: string }).error ?? code;
      } catch {
        // not JSON: keep the generic code
      }
      throw new CatalogRequestError(res.status, code, `dump failed: ${res.status}`, text);
    }
    return res.text();
  }
  /**
   * Retention: versions outside the policy stop being served (keep the `keepLast` newest and those
   * younger than `keepMs`; latest, current, tagged and unjudged versions are always kept).
   */
  expire(dataset: string, policy: { keepLast?: number; keepMs?: number }, actor: string, reason: string): Promise<ExpireResult> {
    return this.post(`/v1/datasets/${encodeURIComponent(dataset)}/expire`, { keep_last: policy.keepLast, keep_ms: policy.keepMs, actor, reason });
  }
  /** Every data file of a dataset's history, by key, with liveness (page with `after` = the last key). */
  files(
    dataset: string,
    after = "",
    limit = 1000,
  ): Promise<{ files: CatalogRegistryFile[]; next_after: string | null; last_record_seq: number; latest_version: number; projected_through_seq: number }> {
    return this.get(`/v1/datasets/${encodeURIComponent(dataset)}/files?after=${encodeURIComponent(after)}&limit=${limit}`);
  }
  /** Records (in the commit log, through the catalog) objects `lake gc` has deleted. */
  recordCollected(
    dataset: string,
    c: { keys: string[]; bytes: number; orphans: number },
    actor: string,
  ): Promise<{ changed: boolean; seq: number; keys: number }> {
    return this.post(`/v1/datasets/${encodeURIComponent(dataset)}/collected`, { ...c, actor });
  }
  healthz(): Promise<{ ok: boolean; projected_through_seq: number }> {
    return this.get("/healthz");
  }
  /** Requests the catalog refused (401/403), newest last; admin only. */
  denials(after = 0, limit = 100): Promise<{ denials: CatalogDenial[]; next_after: number | null; total: number; dropped: number; capacity: number }> {
    return this.get(`/v1/admin/denials?after=${after}&limit=${limit}`);
  }
}
