// The Iceberg REST catalog (apache/iceberg open-api/rest-catalog-open-api.yaml), read-only, under
// /iceberg: one namespace, `lake`, whose tables are the datasets. A table's metadata is built from the
// projection (its retained versions as snapshots, `main` = the current version, `latest` = the newest,
// the catalog's tags as Iceberg tags) and from the newest version's metadata JSON in the store (its
// schemas, partition spec and properties), so the same commit log always gives the same bytes.
// Nothing here writes: the commit log is the only writer of the lake's tables.
import type { ServerResponse } from "node:http";

import { HttpError, sendJson } from "@lake/http";
import { type IcebergSchema, lakeSnapshot, type PartitionSpec, type SnapshotInfo, tableMetadata, type VersionLike } from "@lake/iceberg";
import { isObjectNotFound, type ObjectStore, type StoreConfig } from "@lake/storage";

import type { Projection, VersionRow } from "../db/projection.ts";
import { mayRead } from "../domain/auth.ts";
import type { Api, ApiRequest, Handler } from "./request.ts";

/** The catalog's one namespace. */
export const NAMESPACE = "lake";

/** The store a load reads the newest version's metadata JSON from, and what clients need to read its files. */
export interface IcebergStore {
  store: ObjectStore;
  /** LoadTableResult.config: how a client reaches the files (never a secret). */
  config: Readonly<Record<string, string>>;
  metadata: MetadataCache;
}

/** What a client needs to read an S3 store's files: where it is, path style and region. Nothing secret. */
export function icebergFileConfig(config: StoreConfig): Record<string, string> {
  if (config.kind !== "s3") return {};
  return {
    ...(config.endpoint ? { "s3.endpoint": config.endpoint } : {}),
    "s3.path-style-access": String(config.forcePathStyle),
    ...(config.region ? { "client.region": config.region } : {}),
  };
}

export function icebergStore(store: ObjectStore, config: StoreConfig): IcebergStore {
  return { store, config: icebergFileConfig(config), metadata: new MetadataCache() };
}

/** What a table takes from its newest version's metadata JSON. */
interface TableBase {
  schemas: IcebergSchema[];
  currentSchemaId: number;
  spec: PartitionSpec;
  properties: Record<string, string>;
}

/** How many versions' metadata JSON are kept parsed (each is immutable: its key is its version's). */
const METADATA_CACHE_ENTRIES = 256;

/** Parsed metadata JSON by store key; a failed read is not kept. */
export class MetadataCache {
  private readonly entries = new Map<string, Promise<TableBase>>();

  get(store: ObjectStore, key: string): Promise<TableBase> {
    let p = this.entries.get(key);
    if (!p) {
      p = readBase(store, key);
      p.catch(() => this.entries.delete(key));
      if (this.entries.size >= METADATA_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, p);
    }
    return p;
  }
}

async function readBase(store: ObjectStore, key: string): Promise<TableBase> {
  let text: string;
  try {
    text = new TextDecoder().decode(await store.get(key));
  } catch (e) {
    if (isObjectNotFound(e)) throw new HttpError(500, "InternalServerError", `the table metadata ${key} is missing from the store`);
    throw new HttpError(503, "ServiceUnavailableException", `the store could not be read: ${(e as Error).message}`);
  }
  const m = JSON.parse(text) as Record<string, unknown>;
  const specs = m["partition-specs"] as PartitionSpec[] | undefined;
  const spec = specs?.find((s) => s["spec-id"] === m["default-spec-id"]) ?? specs?.[0];
  if (!Array.isArray(m.schemas) || typeof m["current-schema-id"] !== "number" || !spec)
    throw new HttpError(500, "InternalServerError", `the table metadata ${key} lacks schemas, current-schema-id or a partition spec`);
  return {
    schemas: m.schemas as IcebergSchema[],
    currentSchemaId: m["current-schema-id"],
    spec,
    properties: (m.properties ?? {}) as Record<string, string>,
  };
}

/** The type of an Iceberg error model for a status, when the thrower named none. */
function errorType(status: number): string {
  switch (status) {
    case 400:
    case 405:
    case 408:
    case 413:
      return "BadRequestException";
    case 401:
      return "NotAuthorizedException";
    case 403:
      return "ForbiddenException";
    case 404:
      return "NotFoundException";
    case 406:
      return "UnsupportedOperationException";
    case 503:
      return "ServiceUnavailableException";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestException";
  }
}

/** Every error under /iceberg, in the Iceberg error model; `code` of an HttpError thrown here is its type. */
export function sendIcebergError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const type = /Exception$|^InternalServerError$/.test(code) ? code : errorType(status);
  sendJson(res, status, { error: { message, type, code: status } }, headers);
}

/** Is this request path under the Iceberg REST catalog? */
export const isIcebergPath = (segments: readonly string[]) => segments[0] === "iceberg";

const READ_ONLY =
  "the lake's commit log is the only writer of its tables: versions are committed by the lake's writers, tags, promotions and retention go through the catalog's /v1 API";

// What this catalog serves, as GET /v1/config lists it (clients call nothing else).
const ENDPOINTS = [
  "GET /v1/{prefix}/namespaces",
  "GET /v1/{prefix}/namespaces/{namespace}",
  "HEAD /v1/{prefix}/namespaces/{namespace}",
  "GET /v1/{prefix}/namespaces/{namespace}/tables",
  "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
];

function namespaceParam(r: ApiRequest): void {
  const ns = r.params.namespace!;
  // Multi-part namespaces are joined with 0x1F; the only namespace has one part.
  if (ns !== NAMESPACE)
    throw new HttpError(404, "NoSuchNamespaceException", `namespace does not exist: ${JSON.stringify(ns.split("\x1f").join(".").slice(0, 80))}`);
}

/** The newest version of a dataset that is served as a snapshot, or 404 NoSuchTableException. */
function newestSnapshot(p: Projection, dataset: string): VersionRow {
  const v = p.newestSnapshotVersion(dataset);
  if (!v) throw new HttpError(404, "NoSuchTableException", `table does not exist: ${NAMESPACE}.${dataset}`);
  return v;
}

export const config: Handler = (_api, r) => {
  sendJson(r.res, 200, { defaults: {}, overrides: {}, endpoints: ENDPOINTS });
};

export const listNamespaces: Handler = (_api, r) => {
  const parent = r.query.get("parent");
  if (parent === null || parent === "") return sendJson(r.res, 200, { namespaces: [[NAMESPACE]] });
  if (parent !== NAMESPACE) throw new HttpError(404, "NoSuchNamespaceException", `namespace does not exist: ${JSON.stringify(parent.slice(0, 80))}`);
  sendJson(r.res, 200, { namespaces: [] });
};

/** GET: the namespace and its (no) properties; HEAD: 204. */
export const namespace: Handler = (_api, r) => {
  namespaceParam(r);
  if (r.method === "HEAD") return noContent(r.res);
  sendJson(r.res, 200, { namespace: [NAMESPACE], properties: {} });
};

/** The datasets the caller may read that have a version served as a snapshot, by name. */
export const listTables: Handler = (api, r) => {
  namespaceParam(r);
  const p = api.catalog.projection;
  const { identity } = r;
  const identifiers = p
    .datasets()
    .filter((d) => (identity === undefined || mayRead(identity, d.name)) && p.newestSnapshotVersion(d.name) !== undefined)
    .map((d) => ({ namespace: [NAMESPACE], name: d.name }));
  sendJson(r.res, 200, { identifiers });
};

export const tableExists: Handler = (api, r) => {
  namespaceParam(r);
  newestSnapshot(api.catalog.projection, r.params.dataset!);
  noContent(r.res);
};

/** LoadTableResult: the table metadata of every retained snapshot (or, with snapshots=refs, those a ref names). */
export const loadTable: Handler = async (api, r) => {
  namespaceParam(r);
  const which = r.query.get("snapshots") ?? "all";
  if (which !== "all" && which !== "refs")
    throw new HttpError(400, "BadRequestException", `snapshots=${JSON.stringify(which.slice(0, 20))}: expected all or refs`);
  if (!api.iceberg)
    throw new HttpError(503, "ServiceUnavailableException", "the catalog has no object store configured (LAKE_STORE), so it can't serve table metadata");
  const { metadata, location } = await tableMetadataOf(api.catalog.projection, r.params.dataset!, api.iceberg, which);
  sendJson(r.res, 200, { "metadata-location": location, metadata, config: api.iceberg.config });
};

/**
 * A table's metadata as the projection has it now: every retained snapshot (`all`) or those a ref
 * names (`refs`); `location` is the newest version's metadata JSON. 404 NoSuchTableException when the
 * dataset has no version written as a snapshot.
 */
export async function tableMetadataOf(p: Projection, dataset: string, ic: IcebergStore, which: "all" | "refs") {
  const { store, metadata } = ic;
  // Everything from the projection is read before the store is: a rebuild may swap it meanwhile.
  const newest = newestSnapshot(p, dataset);
  const ds = p.dataset(dataset)!;
  const tags = new Map(p.tags(dataset).map((t) => [t.tag, t.version]));
  const refs = { main: ds.current_version || undefined, latest: ds.latest_version, tags };
  // Refs only: those versions are read, not the whole history (the table state asks every second).
  const versions = which === "all" ? p.snapshotVersions(dataset) : p.snapshotVersionsOf(dataset, [refs.main, refs.latest, ...tags.values()]);
  const snapshots = versions.map((v) => snapshotOf(p, v, store));
  const base = await metadata.get(store, newest.iceberg_metadata!);
  return {
    location: store.uri(newest.iceberg_metadata!),
    metadata: tableMetadata({
      dataset,
      location: store.uri(`datasets/${dataset}`),
      schemas: base.schemas,
      currentSchemaId: base.currentSchemaId,
      spec: base.spec,
      snapshots,
      refs,
      lastUpdatedMs: newest.committed_at,
      properties: base.properties,
    }),
  };
}

/**
 * A version's snapshot entry, from what the projection kept of its commit record: lakeSnapshot, as
 * the writer of the version called it, so the two agree byte for byte.
 */
function snapshotOf(p: Projection, v: VersionRow, store: ObjectStore): SnapshotInfo {
  const record: VersionLike = {
    version: v.version,
    parent_version: v.parent_version,
    write_id: v.write_id,
    committer_id: v.committer_id,
    committed_at: v.committed_at,
    operation: v.operation,
    policy: v.policy,
    schema_name: v.schema_name,
    schema_version: v.schema_version,
    schema_fingerprint: v.schema_fingerprint,
    source: { stream: v.source_stream, subject: v.source_subject, first_seq: v.first_offset, last_seq: v.last_offset },
    row_count: v.row_count,
    total_rows: v.total_rows,
    min_event_time: v.min_event_time,
    max_event_time: v.max_event_time,
    max_source_position: v.max_source_position,
    added_files: p.addedFiles(v.dataset, v.version),
    // A snapshot summary counts removed files; the projection keeps their number, not their keys.
    removed_files: Array.from({ length: v.removed_files }, () => ""),
  };
  const parentTotalRows = v.parent_version > 0 ? (p.version(v.dataset, v.parent_version)?.total_rows ?? 0) : 0;
  return lakeSnapshot(record, parentTotalRows, v.iceberg_total_files!, store.uri(v.iceberg_manifest_list!), v.iceberg_schema_id!);
}

/** Scan and commit reports clients send after reading: accepted, not kept. */
export const metrics: Handler = (_api, r) => {
  r.req.resume();
  noContent(r.res);
};

/** Every request that would change a table or namespace. */
export const readOnly: Handler = (_api, r) => {
  // The body is never read: drain it so the connection can be kept alive.
  r.req.resume();
  throw new HttpError(403, "ForbiddenException", `${r.method} ${r.pathname} refused: ${READ_ONLY}`);
};

export const notFound: Handler = (_api: Api, r) => {
  throw new HttpError(404, "NotFoundException", `no route ${r.method} ${r.pathname} in this Iceberg REST catalog (read-only; see GET /iceberg/v1/config)`);
};

function noContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}
