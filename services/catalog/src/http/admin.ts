// The admin endpoints: the refused requests kept in memory, a rebuild of the projection from the
// commit log, and the canonical dump (equal dumps mean equal catalogs).
import { sendJson } from "@lake/http";

import { type Api, type ApiRequest, intParam } from "./request.ts";

export function denials(api: Api, r: ApiRequest): void {
  const after = intParam(r.query, "after", 0, 0, Number.MAX_SAFE_INTEGER)!;
  const limit = intParam(r.query, "limit", 100, 1, 1000)!;
  sendJson(r.res, 200, { ...api.denials.list(after, limit), capacity: api.denials.capacity, auth: api.tokens === undefined ? "off" : "bearer" });
}

export async function rebuild(api: Api, r: ApiRequest): Promise<void> {
  const result = await api.catalog.rebuild();
  sendJson(r.res, 200, { rebuilt: true, projected_through_seq: result.seq, ms: Math.round(result.ms) });
}

export function dump(api: Api, r: ApiRequest): void {
  const text = api.catalog.projection.canonicalDump();
  r.res.writeHead(200, { "content-type": "application/json" });
  r.res.end(text);
}
