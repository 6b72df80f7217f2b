// The commands: promote, rollback, tag, expire, and the record of files `lake gc` collected. Each body
// is checked here (fields, actor, reason); the decision is the domain's (domain/commands.ts), taken and
// appended to the commit log by Catalog.command, which answers once the projection has applied it.
import type { IncomingMessage } from "node:http";

import { HttpError, readBody, sendJson } from "@lake/http";

import type { Identity } from "../domain/auth.ts";
import {
  decideCollected,
  decideExpire,
  decidePromote,
  decideRollback,
  decideTag,
  MAX_EXPIRE_PER_RECORD,
  type RetentionPolicy,
  validatePolicy,
  versionRanges,
  type Who,
} from "../domain/commands.ts";
import type { Api, ApiRequest } from "./request.ts";

const MAX_COMMAND_BYTES = 16 * 1024;
/** A FilesCollected record names up to MAX_COLLECTED_KEYS keys of up to 1 KiB each. */
const MAX_COLLECTED_BYTES = 1024 * 1024;

/**
 * The fields each command takes. Anything else is refused: a misspelt field (`"to": 3` for
 * `"to_version": 3`) would otherwise be ignored and the command would do its default, e.g. roll back
 * to the previous version instead of the one asked for.
 */
const COMMAND_FIELDS = {
  promote: ["version", "reason", "actor"],
  rollback: ["to_version", "reason", "actor"],
  tags: ["tag", "version", "reason", "actor"],
  expire: ["keep_last", "keep_ms", "reason", "actor"],
  collected: ["keys", "bytes", "orphans", "actor"],
} as const satisfies Record<string, readonly string[]>;
type Command = keyof typeof COMMAND_FIELDS;

async function commandBody(req: IncomingMessage, command: Command, bodyMs: number, limit = MAX_COMMAND_BYTES): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit, bodyMs);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "malformed_json", `command body is not valid JSON: ${(e as Error).message}`);
  }
  const fields: readonly string[] = COMMAND_FIELDS[command];
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, "invalid_command", `command body must be a JSON object with ${fields.join(", ")}`);
  for (const k of Object.keys(body)) {
    if (!fields.includes(k))
      throw new HttpError(400, "unknown_field", `${command} takes ${fields.join(", ")}; unknown field ${JSON.stringify(k.slice(0, 60))}`);
  }
  return body as Record<string, unknown>;
}

/**
 * Who asks and why: both are recorded in the commit log and the audit trail. With authentication on,
 * the actor is the token's name and an `actor` in the body (or X-Lake-Actor) is ignored: the audit
 * trail records who was authenticated, not who a client says it is.
 */
function who(req: IncomingMessage, body: Record<string, unknown>, identity: Identity | undefined): Who {
  const actor = actorOf(req, body, identity);
  const reason = body.reason;
  if (typeof reason !== "string" || reason.trim().length === 0 || reason.length > 1000)
    throw new HttpError(400, "invalid_reason", "give a reason (1-1000 characters): it goes into the audit trail");
  return { actor, reason };
}

function actorOf(req: IncomingMessage, body: Record<string, unknown>, identity: Identity | undefined): string {
  const actor = identity ? identity.name : typeof body.actor === "string" ? body.actor : req.headers["x-lake-actor"];
  if (typeof actor !== "string" || actor.length === 0 || actor.length > 128)
    throw new HttpError(400, "invalid_actor", "give actor (1-128 characters) in the body or the X-Lake-Actor header");
  return actor;
}

function policyOf(body: Record<string, unknown>): RetentionPolicy {
  const int = (name: string): number | undefined => {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new HttpError(400, "invalid_policy", `${name} must be an integer`);
    return v;
  };
  const policy: RetentionPolicy = {};
  const keepLast = int("keep_last");
  const keepMs = int("keep_ms");
  if (keepLast !== undefined) policy.keepLast = keepLast;
  if (keepMs !== undefined) policy.keepMs = keepMs;
  validatePolicy(policy);
  return policy;
}

function versionField(body: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new HttpError(400, "invalid_version", `${name} must be a positive integer`);
  return v;
}

/** A body and who sent it, checked in that order. */
async function commandOf(api: Api, r: ApiRequest, command: Command): Promise<{ body: Record<string, unknown>; w: Who }> {
  const body = await commandBody(r.req, command, api.timeouts.bodyMs);
  return { body, w: who(r.req, body, r.identity) };
}

/** The answer to promote, rollback and tag: what the command did, and where current and latest are now. */
function sendMoved(api: Api, r: ApiRequest, result: { changed: boolean; seq: number; message?: string }, actor: string): void {
  const dataset = r.params.dataset!;
  const ds = api.catalog.projection.dataset(dataset)!;
  sendJson(r.res, 200, { ...result, dataset, actor, current_version: ds.current_version || null, latest_version: ds.latest_version });
}

export async function promote(api: Api, r: ApiRequest): Promise<void> {
  const dataset = r.params.dataset!;
  const { body, w } = await commandOf(api, r, "promote");
  const version = versionField(body, "version", true)!;
  const result = await api.catalog.command(dataset, "VersionPromoted", (f, now) => decidePromote(f, { ...w, version }, now));
  sendMoved(api, r, result, w.actor);
}

export async function rollback(api: Api, r: ApiRequest): Promise<void> {
  const dataset = r.params.dataset!;
  const { body, w } = await commandOf(api, r, "rollback");
  const toVersion = versionField(body, "to_version", false);
  const result = await api.catalog.command(dataset, "VersionPromoted", (f, now) => decideRollback(f, { ...w, toVersion }, now));
  sendMoved(api, r, result, w.actor);
}

export async function tag(api: Api, r: ApiRequest): Promise<void> {
  const dataset = r.params.dataset!;
  const { body, w } = await commandOf(api, r, "tags");
  const version = versionField(body, "version", true)!;
  if (typeof body.tag !== "string") throw new HttpError(400, "invalid_tag", "tag must be a string");
  const tag = body.tag;
  const result = await api.catalog.command(dataset, "VersionTagged", (f, now) => decideTag(f, { ...w, tag, version }, now));
  sendMoved(api, r, result, w.actor);
}

export async function expire(api: Api, r: ApiRequest): Promise<void> {
  const { catalog } = api;
  const dataset = r.params.dataset!;
  const { body, w } = await commandOf(api, r, "expire");
  const policy = policyOf(body);
  // One record holds at most MAX_EXPIRE_PER_RECORD versions: a longer backlog takes several.
  const expired: number[] = [];
  let result: { changed: boolean; seq: number; message?: string } = { changed: false, seq: 0 };
  for (let round = 0; round < 1000; round++) {
    let decided: number[] = [];
    const step = await catalog.command(dataset, "VersionsExpired", (_f, now) => {
      const d = decideExpire(catalog.projection.retentionFacts(dataset)!, { ...w, ...policy }, now);
      decided = d.kind === "append" ? d.body.versions : [];
      return d;
    });
    if (!step.changed) {
      if (round === 0) result = step;
      break;
    }
    expired.push(...decided);
    result = { changed: true, seq: step.seq };
    if (decided.length < MAX_EXPIRE_PER_RECORD) break;
  }
  const ds = catalog.projection.dataset(dataset)!;
  sendJson(r.res, 200, {
    ...result,
    dataset,
    actor: w.actor,
    expired_count: expired.length,
    expired: versionRanges(expired),
    current_version: ds.current_version || null,
    latest_version: ds.latest_version,
  });
}

/**
 * `lake gc` deleted these objects and records it; the catalog appends the record to the log (the
 * commit log is written only by committers, quality and the catalog).
 */
export async function collected(api: Api, r: ApiRequest): Promise<void> {
  const dataset = r.params.dataset!;
  const body = await commandBody(r.req, "collected", api.timeouts.bodyMs, MAX_COLLECTED_BYTES);
  const actor = actorOf(r.req, body, r.identity);
  const cmd = { keys: body.keys as string[], bytes: body.bytes as number, orphans: body.orphans as number, actor };
  const result = await api.catalog.command(dataset, "FilesCollected", (f, now) => decideCollected(f, cmd, now));
  sendJson(r.res, 200, { ...result, dataset, actor, keys: cmd.keys.length });
}
