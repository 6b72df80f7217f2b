// What a route handler gets (the server's parts and the matched request) and the parsing of the
// parameters more than one kind of handler reads.
import type { IncomingMessage, ServerResponse } from "node:http";

import { isValidName } from "@lake/contracts";
import { HttpError, type HttpTimeouts } from "@lake/http";
import type { Logger } from "@lake/telemetry";

import type { Catalog } from "../catalog.ts";
import type { Identity, TokenEntry } from "../domain/auth.ts";
import type { AlertFeed } from "../nats/alerts.ts";
import type { ConsoleFiles, IngestLink } from "./console.ts";
import type { DenialLog } from "./denials.ts";
import type { EventHub } from "./events.ts";
import type { FileListCache } from "./file-lists.ts";
import type { IcebergStore } from "./iceberg.ts";

/** One HTTP API's parts, shared by every request it serves. */
export interface Api {
  catalog: Catalog;
  log: Logger;
  /** undefined: authentication is off. */
  tokens: readonly TokenEntry[] | undefined;
  denials: DenialLog;
  fileLists: FileListCache;
  /** The longest a covering read may wait. */
  maxWaitMs: number;
  timeouts: HttpTimeouts;
  /** The Iceberg REST catalog's store; undefined: no store configured (its table loads answer 503). */
  iceberg: IcebergStore | undefined;
  /** Recent alerts (GET /v1/alerts); undefined: not followed (its reads answer 503). */
  alerts: AlertFeed | undefined;
  /** Ingest's quarantine API, for the console; undefined: not configured (its routes answer 503). */
  ingest: IngestLink | undefined;
  /** The web console's files; undefined: the console is off. */
  consoleFiles: ConsoleFiles | undefined;
  /** The live updates of GET /v1/events. */
  events: EventHub;
}

/** A request that matched a route, after authentication and authorization. */
export interface ApiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The path as routed: "/" and the decoded segments joined by "/". */
  pathname: string;
  query: URLSearchParams;
  /** The pattern's `:name` segments, decoded; a `:dataset` is a valid dataset name by now. */
  params: Readonly<Record<string, string>>;
  /** The authenticated caller; undefined when authentication is off. */
  identity: Identity | undefined;
}

export type Handler = (api: Api, r: ApiRequest) => Promise<void> | void;

/** A dataset name from a path, or 400. */
export function datasetParam(name: string): string {
  if (!isValidName(name))
    throw new HttpError(400, "invalid_name", `invalid dataset name ${JSON.stringify(String(name).slice(0, 80))}: must match ^[a-z][a-z0-9_]{0,62}$`);
  return name;
}

/**
 * A number in a path or query as a client writes one: decimal digits, no sign, no leading zero, no
 * spaces. Number() would also take "0x1", "1e0", " 1", "+1" and "1.0", so two spellings of one version
 * would both work, and what a client sent would not be what the catalog read.
 */
export const CANONICAL_INT = /^(0|[1-9][0-9]{0,15})$/;

export function intParam(query: URLSearchParams, name: string, def: number | undefined, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return def;
  const n = CANONICAL_INT.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new HttpError(400, "invalid_parameter", `${name}=${JSON.stringify(raw.slice(0, 40))}: expected a decimal integer in [${min}, ${max}]`);
  return n;
}

/** A version number in a path: a canonical positive decimal integer, or 400. */
export function versionSegment(raw: string): number {
  const n = CANONICAL_INT.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new HttpError(400, "invalid_version", `version must be a positive decimal integer, got ${JSON.stringify(raw.slice(0, 40))}`);
  return n;
}
