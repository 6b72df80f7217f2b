// The read API. Reads without a token are served from the projection as it is (eventual, and the reply
// says so with its log position); covering reads wait, bounded, for the version that contains the
// caller's offset, and never answer with an older one.
import { type CatalogFileSet, type CatalogVersionSummary, derivedNames, FILES_MODES, type FilesMode, isoInstant, LOG_POSITION_HEADER } from "@lake/contracts";
import { HttpError, sendJson } from "@lake/http";

import type { AuditFilter, VersionRow } from "../db/projection.ts";
import { mayRead } from "../domain/auth.ts";
import { POLICIES } from "../domain/commands.ts";
import { sendJsonWithFiles } from "./file-lists.ts";
import { type Api, type ApiRequest, CANONICAL_INT, intParam, versionSegment } from "./request.ts";

function versionView(v: VersionRow, expiredSeq: number | undefined): CatalogVersionSummary {
  return {
    dataset: v.dataset,
    version: v.version,
    parent_version: v.parent_version,
    commit_seq: v.commit_seq,
    write_id: v.write_id,
    committer_id: v.committer_id,
    committed_at: isoInstant(v.committed_at),
    schema: { name: v.schema_name, version: v.schema_version, fingerprint: v.schema_fingerprint },
    manifest: { key: v.manifest_key, sha256: v.manifest_sha256, bytes: v.manifest_bytes },
    source: { stream: v.source_stream, subject: v.source_subject, first_offset: v.first_offset, last_offset: v.last_offset },
    row_count: v.row_count,
    total_rows: v.total_rows,
    policy: v.policy,
    quality: v.quality,
    // Versions recorded before operations were named were all appends (lineage.ts says the same).
    operation: v.operation ?? "append",
    expired: expiredSeq !== undefined,
    expired_seq: expiredSeq ?? null,
    min_event_time: v.min_event_time === null ? null : isoInstant(v.min_event_time),
    max_event_time: v.max_event_time === null ? null : isoInstant(v.max_event_time),
    iceberg:
      v.iceberg_manifest_list === null || v.iceberg_metadata === null || v.iceberg_schema_id === null || v.iceberg_total_files === null
        ? null
        : { manifest_list: v.iceberg_manifest_list, metadata: v.iceberg_metadata, schema_id: v.iceberg_schema_id, total_files: v.iceberg_total_files },
  };
}

const eventual = (api: Api) => ({ consistency: "eventual" as const, projected_through_seq: api.catalog.projection.lastSeq });

/** `files=list` (default) or `files=reference`: whether a version read lists its files or names them by reference. */
function filesMode(query: URLSearchParams): FilesMode {
  const raw = query.get("files");
  if (raw === null || raw === "" || raw === FILES_MODES.list) return FILES_MODES.list;
  if (raw === FILES_MODES.reference) return FILES_MODES.reference;
  throw new HttpError(400, "invalid_parameter", `files=${JSON.stringify(raw.slice(0, 20))}: expected files=list (every file, the default) or files=reference`);
}

const fileSet = (v: VersionRow): CatalogFileSet | null =>
  v.iceberg_manifest_list === null || v.iceberg_total_files === null ? null : { manifest_list: v.iceberg_manifest_list, total_files: v.iceberg_total_files };

/**
 * A version readers may read, sent with its files and its freshness; an expired one is 410 Gone (its
 * files may be deleted). With files=reference a version with an Iceberg snapshot is sent with its file
 * set by reference only: the answer's size and cost no longer grow with the number of files.
 */
async function sendVersion(api: Api, r: ApiRequest, v: VersionRow, mode: FilesMode, extra: object): Promise<void> {
  const p = api.catalog.projection;
  // Everything read from the projection is read before the freshness lookup awaits (a rebuild may swap
  // the projection meanwhile), and the answer states the position it was read at.
  const position = p.lastSeq;
  const expired = p.expiredSeq(v.dataset, v.version);
  if (expired !== undefined) {
    throw new HttpError(
      410,
      "version_expired",
      `version ${v.version} of ${v.dataset} has expired (retention, commit-log seq ${expired}): it is no longer served and its files may have been deleted; read a newer version (latest or current)`,
    );
  }
  const file_set = fileSet(v);
  const files = mode === FILES_MODES.reference && file_set !== null ? undefined : api.fileLists.get(p, v.dataset, v.version);
  const freshness = await api.catalog.freshness(v);
  const body = { ...versionView(v, undefined), file_set, ...extra, freshness };
  r.res.setHeader(LOG_POSITION_HEADER, String(position));
  if (files === undefined) return sendJson(r.res, 200, body);
  sendJsonWithFiles(r.res, body, files);
}

/**
 * Liveness, and readiness: `ready` is false while a catalog that started behind the commit log holds
 * reads. With `?ready` the answer is 503 until then (a readiness probe); without it always 200.
 */
export function health(api: Api, r: ApiRequest): void {
  const behind = api.catalog.catchingUp();
  const body = {
    ok: true,
    ready: behind === undefined,
    projected_through_seq: api.catalog.projection.lastSeq,
    catching_up: behind ? { target_seq: behind.targetSeq, projected_through_seq: behind.projectedSeq } : null,
  };
  sendJson(r.res, behind && r.query.has("ready") ? 503 : 200, body, behind ? { "retry-after": "1" } : {});
}

export function listDatasets(api: Api, r: ApiRequest): void {
  // A reader sees only the datasets it may read.
  const all = api.catalog.projection.datasets();
  const { identity } = r;
  sendJson(r.res, 200, { datasets: identity ? all.filter((d) => mayRead(identity, d.name)) : all, ...eventual(api) });
}

export function dataset(api: Api, r: ApiRequest): void {
  const dataset = r.params.dataset!;
  const ds = api.catalog.projection.dataset(dataset);
  if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
  sendJson(r.res, 200, { dataset: ds, ...eventual(api) });
}

export function versions(api: Api, r: ApiRequest): void {
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const after = intParam(r.query, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
  const limit = intParam(r.query, "limit", 100, 1, 1000)!;
  const versions = p.versions(dataset, after, limit).map((v) => versionView(v, p.expiredSeq(dataset, v.version)));
  sendJson(r.res, 200, { dataset, versions, next_after: versions.length === limit ? versions.at(-1)!.version : null, ...eventual(api) });
}

/** `latest`, `current` or a version number. */
export async function version(api: Api, r: ApiRequest): Promise<void> {
  const mode = filesMode(r.query);
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const which = r.params.version!;
  let v: VersionRow | undefined;
  if (which === "latest") {
    const ds = p.dataset(dataset);
    v = ds && p.version(dataset, ds.latest_version);
  } else if (which === "current") {
    // The version readers should use: for critical datasets the newest one that passed its checks
    // (or what an operator promoted or rolled back to).
    const ds = p.dataset(dataset);
    if (ds && !ds.current_version)
      throw new HttpError(404, "no_current_version", `dataset ${dataset} has no current version yet (no version has passed its quality checks)`);
    v = ds && p.version(dataset, ds.current_version);
  } else if (CANONICAL_INT.test(which)) {
    v = p.version(dataset, versionSegment(which));
  } else
    throw new HttpError(400, "invalid_version", `version must be "latest", "current" or a positive decimal integer, got ${JSON.stringify(which.slice(0, 40))}`);
  if (!v) throw new HttpError(404, "unknown_version", `dataset ${dataset} has no version ${which}`);
  await sendVersion(api, r, v, mode, eventual(api));
}

export function quality(api: Api, r: ApiRequest): void {
  const dataset = r.params.dataset!;
  const q = api.catalog.projection.qualityResult(dataset, versionSegment(r.params.version!));
  if (!q) throw new HttpError(404, "no_verdict", `version ${r.params.version} of ${dataset} has no quality verdict (yet)`);
  sendJson(r.res, 200, { ...q, rules: JSON.parse(q.rules) as unknown, checked_at: isoInstant(q.checked_at), ...eventual(api) });
}

/**
 * Every data file the dataset's history references, paged by key, with its version range and whether
 * a live (not expired) version references it: what `lake gc` keeps and `lake fsck` checks.
 */
export function files(api: Api, r: ApiRequest): void {
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const after = r.query.get("after") ?? "";
  if (after.length > 1024) throw new HttpError(400, "invalid_parameter", "after must be an object key (at most 1024 characters)");
  const limit = intParam(r.query, "limit", 1000, 1, 10_000)!;
  const ds = p.dataset(dataset);
  if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
  // Read in one go (no await in between): the page and the position it was read at agree.
  const files = p.fileRegistry(dataset, after, limit);
  sendJson(r.res, 200, {
    dataset,
    files,
    next_after: files.length === limit ? files.at(-1)!.key : null,
    last_record_seq: ds.last_record_seq,
    latest_version: ds.latest_version,
    ...eventual(api),
  });
}

export function tags(api: Api, r: ApiRequest): void {
  const dataset = r.params.dataset!;
  sendJson(r.res, 200, { dataset, tags: api.catalog.projection.tags(dataset), ...eventual(api) });
}

export async function tag(api: Api, r: ApiRequest): Promise<void> {
  const mode = filesMode(r.query);
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const tag = r.params.tag!;
  const version = p.tagVersion(dataset, tag);
  if (version === undefined) throw new HttpError(404, "unknown_tag", `dataset ${dataset} has no tag ${JSON.stringify(tag.slice(0, 80))}`);
  await sendVersion(api, r, p.version(dataset, version)!, mode, { tag, ...eventual(api) });
}

/** The kinds of audit rows (AuditEntry.kind): what ?kind= may name. */
const AUDIT_KINDS: ReadonlySet<string> = new Set(["promote", "rollback", "auto_promote", "tag", "quality_passed", "quality_failed", "expire", "gc"]);

/** An instant as ISO-8601 or epoch milliseconds. */
function instantParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  const at = /^\d{1,15}$/.test(raw) ? Number(raw) : raw.length <= 40 ? Date.parse(raw) : NaN;
  if (Number.isNaN(at))
    throw new HttpError(400, "invalid_parameter", `${name} takes an ISO-8601 time or epoch milliseconds, got ${JSON.stringify(raw.slice(0, 40))}`);
  return at;
}

/** ?kind=a,b&actor=x&since=T&until=T, or undefined when none is given. */
function auditFilter(query: URLSearchParams): AuditFilter | undefined {
  const kinds = query.get("kind")?.split(",").filter(Boolean);
  for (const k of kinds ?? [])
    if (!AUDIT_KINDS.has(k))
      throw new HttpError(400, "invalid_parameter", `kind ${JSON.stringify(k.slice(0, 40))}: expected any of ${[...AUDIT_KINDS].join(", ")}`);
  const actor = query.get("actor") || undefined;
  const since = instantParam(query, "since");
  const until = instantParam(query, "until");
  if (!kinds?.length && actor === undefined && since === undefined && until === undefined) return undefined;
  return {
    ...(kinds?.length ? { kinds } : {}),
    ...(actor === undefined ? {} : { actor }),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
  };
}

export function audit(api: Api, r: ApiRequest): void {
  const dataset = r.params.dataset!;
  const after = intParam(r.query, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
  const limit = intParam(r.query, "limit", 100, 1, 1000)!;
  const entries = api.catalog.projection
    .auditTrail(dataset, after, limit, auditFilter(r.query))
    .map((a) => ({ ...a, at: isoInstant(a.at), detail: a.detail === null ? null : (JSON.parse(a.detail) as unknown) }));
  sendJson(r.res, 200, { dataset, entries, next_after: entries.length === limit ? entries.at(-1)!.seq : null, ...eventual(api) });
}

let derived: ReadonlySet<string> | undefined;
/** Derived datasets (contracts with lake.derived): the ones whose versions record an upstream position. */
function isDerived(dataset: string): boolean {
  derived ??= new Set(derivedNames());
  return derived.has(dataset);
}

/**
 * Read after write: the first version that covers the caller's token, waiting for it (bounded). The
 * token is an ingest offset (`offset`: the dataset's own source), a commit-log sequence (`commit_seq`),
 * or for a derived dataset the offset ingest returned for an event of its source domain
 * (`source_offset`): the first version whose recorded upstream position reaches it.
 */
export async function covering(api: Api, r: ApiRequest): Promise<void> {
  const { catalog } = api;
  const dataset = r.params.dataset!;
  const offset = intParam(r.query, "offset", undefined, 1, Number.MAX_SAFE_INTEGER);
  const commitSeq = intParam(r.query, "commit_seq", undefined, 1, Number.MAX_SAFE_INTEGER);
  const sourceOffset = intParam(r.query, "source_offset", undefined, 1, Number.MAX_SAFE_INTEGER);
  if ([offset, commitSeq, sourceOffset].filter((t) => t !== undefined).length !== 1)
    throw new HttpError(
      400,
      "invalid_parameter",
      "give exactly one token: offset=<ingest offset>, commit_seq=<commit-log sequence>, or source_offset=<ingest offset of a source event> (derived datasets)",
    );
  if (sourceOffset !== undefined && !isDerived(dataset))
    throw new HttpError(
      400,
      "invalid_parameter",
      `source_offset is a token for derived datasets (their versions record the source position they cover); ${dataset} is not one: give offset=<ingest offset>, its own source offset`,
    );
  const timeoutMs = intParam(r.query, "timeout_ms", 5000, 0, api.maxWaitMs)!;
  const mode = filesMode(r.query);
  const started = performance.now();
  // Write-audit-publish: a critical dataset is read as published, i.e. the first covering version that
  // also passed its audit (quality=passed says so for any dataset); quality=any asks for the first
  // covering version whatever its verdict (a staged one).
  const q = r.query.get("quality");
  if (q !== null && q !== "passed" && q !== "any")
    throw new HttpError(400, "invalid_parameter", `quality=${JSON.stringify(q.slice(0, 20))}: expected quality=passed or quality=any`);
  // The projection is looked up on every try: a rebuild may swap it while this waits (and the dataset
  // may not exist yet when the wait starts, so its policy is looked up each time too).
  const find = (): { version: VersionRow } | { reverted: VersionRow } | undefined => {
    const passed = q === "passed" || (q === null && catalog.projection.dataset(dataset)?.policy === POLICIES.critical);
    // An offset in the batch of a version that failed its audit is in no published version, ever: its
    // rows went to quarantine (a replay gives the event a new offset). Say so rather than time out.
    const reverted = passed && offset !== undefined ? catalog.projection.revertCovering(dataset, offset) : undefined;
    if (reverted) return { reverted };
    const version =
      offset !== undefined
        ? catalog.projection.coveringOffset(dataset, offset, passed)
        : sourceOffset !== undefined
          ? catalog.projection.coveringSource(dataset, sourceOffset, passed)
          : catalog.projection.coveringCommit(dataset, commitSeq!, passed);
    return version ? { version } : undefined;
  };
  const found = await catalog.waitFor(find, timeoutMs);
  const waited = Math.round(performance.now() - started);
  const token = offset !== undefined ? `offset ${offset}` : sourceOffset !== undefined ? `source offset ${sourceOffset}` : `commit ${commitSeq}`;
  if (found && "reverted" in found) {
    const rv = found.reverted;
    const failed = rv.reverted_version!;
    const verdict = catalog.projection.qualityResult(dataset, failed);
    const rules = verdict ? (JSON.parse(verdict.rules) as { rule: string; passed: boolean }[]).filter((x) => !x.passed).map((x) => x.rule) : [];
    return sendJson(r.res, 409, {
      error: "quarantined",
      message:
        `offset ${offset} of ${dataset} was in the batch of version ${failed}, which failed its audit (${rules.join(", ") || "see its verdict"}): ` +
        `version ${rv.version} took the batch back out and its rows went to quarantine, so no published version will ever hold it. ` +
        `Replay it from quarantine after a fix (the replayed event gets a new offset), or read staged versions with quality=any.`,
      failed_version: failed,
      revert_version: rv.version,
      failed_rules: rules,
      waited_ms: waited,
      projected_through_seq: catalog.projection.lastSeq,
    });
  }
  const v = found?.version;
  if (!v) {
    const ds = catalog.projection.dataset(dataset);
    const position = catalog.projection.lastSeq;
    return sendJson(
      r.res,
      504,
      {
        error: "covering_timeout",
        message: `no version of ${dataset} covers ${token} yet (waited ${waited} ms); retry later`,
        waited_ms: waited,
        latest_version: ds?.latest_version ?? null,
        projected_through_seq: position,
      },
      { [LOG_POSITION_HEADER]: String(position) },
    );
  }
  // By source offset: the upstream position the version covers (every source event at or below it).
  const through = sourceOffset !== undefined ? { source_through_seq: v.through_seq } : {};
  await sendVersion(api, r, v, mode, { consistency: "covering", waited_ms: waited, ...through });
}
