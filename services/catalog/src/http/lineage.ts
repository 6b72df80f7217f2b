// Lineage: what a version was made from (files, source range, upstream positions, verdict, operation),
// and the reverse question, which versions hold a source offset. Served from the projection as it is
// (eventual, like the other reads); the lookups are in db/lineage.ts.
import {
  type CatalogLineage,
  type CatalogSourceLineage,
  type CatalogSourceMatch,
  type CatalogSourceMatchVersion,
  type CatalogUpstreamPosition,
  isoInstant,
  isValidName,
  SOURCE_RELATIONS,
  UPSTREAM_STATUSES,
} from "@lake/contracts";
import { HttpError, sendJson } from "@lake/http";

import {
  firstVersionThrough,
  newestUpstreamVersion,
  revertedBy,
  tagsOf,
  upstreamOf,
  upstreamRecordedIn,
  type UpstreamRow,
  versionAddingOffset,
} from "../db/lineage.ts";
import type { Projection, VersionRow } from "../db/projection.ts";
import { mayRead } from "../domain/auth.ts";
import { TAG_PATTERN } from "../domain/commands.ts";
import { type Api, type ApiRequest, CANONICAL_INT, intParam, versionSegment } from "./request.ts";

/** Versions recorded before operations were named were all appends of new source data. */
const operationOf = (v: VersionRow) => v.operation ?? "append";

/** Operations whose version holds the same rows as its parent, so the parent's upstream positions hold for it. */
const SAME_ROWS = new Set(["compaction"]);

/**
 * The version a path names, as the version reads name them: `latest`, `current`, a version number, or
 * else a tag (a tag spelled like one of the others is read by GET /v1/datasets/<d>/tags/<tag>).
 */
function resolveVersion(p: Projection, dataset: string, which: string): VersionRow {
  const ds = p.dataset(dataset);
  if (!ds) throw new HttpError(404, "unknown_dataset", `dataset ${dataset} has no committed version`);
  let v: VersionRow | undefined;
  if (which === "latest") v = p.version(dataset, ds.latest_version);
  else if (which === "current") {
    if (!ds.current_version)
      throw new HttpError(404, "no_current_version", `dataset ${dataset} has no current version yet (no version has passed its quality checks)`);
    v = p.version(dataset, ds.current_version);
  } else if (CANONICAL_INT.test(which)) v = p.version(dataset, versionSegment(which));
  else if (TAG_PATTERN.test(which)) {
    const tagged = p.tagVersion(dataset, which);
    if (tagged === undefined)
      throw new HttpError(
        404,
        "unknown_version",
        `dataset ${dataset} has no version or tag ${JSON.stringify(which)} (a version is latest, current, a number or a tag)`,
      );
    v = p.version(dataset, tagged);
  } else
    throw new HttpError(
      400,
      "invalid_version",
      `version must be "latest", "current", a positive decimal integer or a tag (${TAG_PATTERN.source}), got ${JSON.stringify(which.slice(0, 40))}`,
    );
  if (!v) throw new HttpError(404, "unknown_version", `dataset ${dataset} has no version ${which}`);
  return v;
}

/** `files=list` lists every file's key; without it (or `files=summary`) the file set is summed up only. */
function listFiles(query: URLSearchParams): boolean {
  const raw = query.get("files");
  if (raw === null || raw === "" || raw === "summary") return false;
  if (raw === "list") return true;
  throw new HttpError(
    400,
    "invalid_parameter",
    `files=${JSON.stringify(raw.slice(0, 20))}: expected files=list (every file's key) or files=summary (the default)`,
  );
}

/** An upstream position and the first version of the upstream dataset that covers it, if the caller may read that dataset. */
function upstreamView(api: Api, r: ApiRequest, u: UpstreamRow): CatalogUpstreamPosition {
  const p = api.catalog.projection;
  const base = { dataset: u.dataset, stream: u.stream, subject: u.subject, through_seq: u.through_seq, version: null };
  // The record's dataset name is only a string someone appended: look it up only if it can be a dataset.
  if (!isValidName(u.dataset) || !p.dataset(u.dataset)) return { ...base, status: UPSTREAM_STATUSES.unknown_dataset };
  if (r.identity && !mayRead(r.identity, u.dataset)) return { ...base, status: UPSTREAM_STATUSES.not_readable };
  const covering = p.coveringOffset(u.dataset, u.through_seq);
  return covering ? { ...base, version: covering.version, status: UPSTREAM_STATUSES.covered } : { ...base, status: UPSTREAM_STATUSES.not_yet };
}

/** GET /v1/datasets/<d>/versions/<v>/lineage: what one version was made from. */
export function versionLineage(api: Api, r: ApiRequest): void {
  const withKeys = listFiles(r.query);
  const p = api.catalog.projection;
  const dataset = r.params.dataset!;
  const v = resolveVersion(p, dataset, r.params.version!);
  const ds = p.dataset(dataset)!;
  const expiredSeq = p.expiredSeq(dataset, v.version);
  const files = p.files(dataset, v.version);
  let rows = 0;
  let bytes = 0;
  const partitions = new Set<string>();
  for (const f of files) {
    rows += f.rows;
    bytes += f.bytes;
    partitions.add(f.partition);
  }
  const operation = operationOf(v);
  const recorded = upstreamRecordedIn(p, v, SAME_ROWS.has(operation));
  const q = p.qualityResult(dataset, v.version);
  const rules = q ? (JSON.parse(q.rules) as { rule: string; passed: boolean; measured: string; expected: string; message: string }[]) : [];
  const body: CatalogLineage = {
    dataset,
    version: v.version,
    parent_version: v.parent_version,
    commit_seq: v.commit_seq,
    operation,
    committed_at: isoInstant(v.committed_at),
    committer_id: v.committer_id,
    write_id: v.write_id,
    schema: { name: v.schema_name, version: v.schema_version, fingerprint: v.schema_fingerprint },
    current: ds.current_version === v.version,
    expired: expiredSeq !== undefined,
    expired_seq: expiredSeq ?? null,
    tags: tagsOf(p, dataset, v.version),
    files: {
      count: files.length,
      rows,
      bytes,
      partitions: [...partitions].sort(),
      added: v.added_files,
      removed: v.removed_files,
      manifest: { key: v.manifest_key, sha256: v.manifest_sha256, bytes: v.manifest_bytes },
      manifest_list: v.iceberg_manifest_list,
      ...(withKeys ? { keys: files.map((f) => f.key) } : {}),
    },
    source: { stream: v.source_stream, subject: v.source_subject, first_offset: v.first_offset, last_offset: v.last_offset, rows_added: v.row_count },
    base_version: v.base_version,
    reverted_version: v.reverted_version,
    upstream: recorded ? upstreamOf(recorded).map((u) => upstreamView(api, r, u)) : [],
    upstream_recorded_in: recorded?.version ?? null,
    watermark: recorded?.watermark == null ? null : isoInstant(recorded.watermark),
    quality: {
      status: v.quality,
      checked_at: q ? isoInstant(q.checked_at) : null,
      checker_id: q?.checker_id ?? null,
      failed_rules: rules.filter((x) => !x.passed).map(({ rule, measured, expected, message }) => ({ rule, measured, expected, message })),
    },
    consistency: "eventual",
    projected_through_seq: p.lastSeq,
  };
  sendJson(r.res, 200, body);
}

/** A NATS stream name as the lake names them (no wildcards, dots or separators). */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A literal NATS subject: dot-separated tokens, no wildcards. */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}$/;

function matchView(p: Projection, v: VersionRow, more: Partial<CatalogSourceMatchVersion>): CatalogSourceMatchVersion {
  return {
    version: v.version,
    operation: operationOf(v),
    committed_at: isoInstant(v.committed_at),
    quality: v.quality,
    expired: p.expiredSeq(v.dataset, v.version) !== undefined,
    first_offset: null,
    last_offset: null,
    through_seq: null,
    watermark: null,
    reverted_by: null,
    ...more,
  };
}

/** A version's upstream position on one stream and subject. */
const throughOn = (v: VersionRow, stream: string, subject: string) =>
  Math.max(...upstreamOf(v).flatMap((u) => (u.stream === stream && u.subject === subject ? [u.through_seq] : [])));

/**
 * GET /v1/lineage?source_offset=X[&stream=S][&subject=T][&dataset=D]: for every dataset the caller may
 * read that the stream feeds, the version holding offset X. A stream sequence belongs to one subject;
 * without `subject` a dataset's match only says X lies in what it read of the stream.
 */
export function sourceLineage(api: Api, r: ApiRequest): void {
  const p = api.catalog.projection;
  const raw = r.query.get("source_offset");
  if (raw === null || raw === "")
    throw new HttpError(400, "invalid_parameter", "source_offset is required: the source stream sequence to trace (the offset ingest answered with)");
  const offset = intParam(r.query, "source_offset", undefined, 1, Number.MAX_SAFE_INTEGER)!;
  const stream = r.query.get("stream") || "EVENTS";
  if (!STREAM_NAME.test(stream))
    throw new HttpError(400, "invalid_parameter", `stream=${JSON.stringify(stream.slice(0, 40))}: expected a stream name (${STREAM_NAME.source}), e.g. EVENTS`);
  const subject = r.query.get("subject") || null;
  if (subject !== null && (subject.length > 256 || !SUBJECT.test(subject)))
    throw new HttpError(
      400,
      "invalid_parameter",
      `subject=${JSON.stringify(subject.slice(0, 40))}: expected a literal subject (dot-separated tokens, no wildcards), e.g. lake.events.domain_events`,
    );
  const only = r.query.get("dataset") || null;
  if (only !== null) {
    if (!isValidName(only))
      throw new HttpError(
        400,
        "invalid_parameter",
        `dataset=${JSON.stringify(String(only).slice(0, 80))}: invalid dataset name (must match ^[a-z][a-z0-9_]{0,62}$)`,
      );
    if (r.identity && !mayRead(r.identity, only))
      throw new HttpError(
        403,
        "forbidden",
        `token ${JSON.stringify(r.identity.name)} (role ${r.identity.role}) lacks read access to dataset ${JSON.stringify(only)}`,
      );
    if (!p.dataset(only)) throw new HttpError(404, "unknown_dataset", `dataset ${only} has no committed version`);
  }
  const { identity } = r;
  const datasets = only !== null ? [p.dataset(only)!] : p.datasets().filter((d) => !identity || mayRead(identity, d.name));
  const matches: CatalogSourceMatch[] = [];
  for (const ds of datasets) {
    const latest = p.version(ds.name, ds.latest_version);
    if (latest && latest.source_stream === stream && (subject === null || latest.source_subject === subject)) {
      const v = versionAddingOffset(p, ds.name, offset);
      matches.push({
        dataset: ds.name,
        relation: SOURCE_RELATIONS.source,
        subject: latest.source_subject,
        latest_version: ds.latest_version,
        version: v
          ? matchView(p, v, { first_offset: v.first_offset, last_offset: v.last_offset, reverted_by: revertedBy(p, ds.name, v.version) ?? null })
          : null,
      });
    }
    const newest = newestUpstreamVersion(p, ds.name);
    const subjects = new Set(
      (newest ? upstreamOf(newest) : []).filter((u) => u.stream === stream && (subject === null || u.subject === subject)).map((u) => u.subject),
    );
    for (const s of [...subjects].sort()) {
      const v = firstVersionThrough(p, ds.name, stream, s, offset);
      matches.push({
        dataset: ds.name,
        relation: SOURCE_RELATIONS.upstream,
        subject: s,
        latest_version: ds.latest_version,
        version: v ? matchView(p, v, { through_seq: throughOn(v, stream, s), watermark: v.watermark === null ? null : isoInstant(v.watermark) }) : null,
      });
    }
  }
  const body: CatalogSourceLineage = { source: { stream, subject, offset }, datasets: matches, consistency: "eventual", projected_through_seq: p.lastSeq };
  sendJson(r.res, 200, body);
}
