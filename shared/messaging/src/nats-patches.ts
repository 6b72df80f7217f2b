// nats.js 3.x builds an Error after every request that already has its answer: RequestOne.resolver()
// settles the request, then calls cancel(), which constructs `new RequestError("cancelled")` (a stack
// trace capture) to reject a promise that is already settled, a no-op. That was 9-13% of ingest's and
// the aggregator's CPU under load (every JetStream publish is a request). This makes cancel() skip the
// construction when the request has settled and no error was given; a request cancelled while it still
// waits (a timeout, a failed publish) is rejected exactly as before. Checked against the shape of the
// class it patches: if nats.js changes it, the patch is not applied (and the messaging tests say so).
import { MsgHdrsImpl, RequestOne } from "@nats-io/nats-core/internal";

const PATCHED = Symbol.for("lake.nats.requestOne.cancel");

interface RequestLike {
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  deferred: { reject(e: unknown): void };
  [PATCHED]?: boolean;
}

type Proto = {
  resolver(this: RequestLike, err: unknown, msg: unknown): void;
  cancel(this: RequestLike, err?: unknown): void;
  [PATCHED]?: true;
};

/** Whether the running nats.js has the patch in place. */
export function natsRequestPatchApplied(): boolean {
  return (RequestOne.prototype as unknown as Proto)[PATCHED] === true;
}

/** Installs the patch once per process (idempotent); returns whether it is in place. */
export function patchNatsRequests(): boolean {
  const proto = RequestOne.prototype as unknown as Proto;
  if (proto[PATCHED]) return true;
  const resolver = proto.resolver;
  const cancel = proto.cancel;
  // The shape this patch relies on: cancel() cancels the timer, leaves the mux and rejects the deferred.
  const src = String(cancel);
  if (typeof resolver !== "function" || !/this\.mux\.cancel\(this\)/.test(src) || !/this\.deferred\.reject\(/.test(src)) return false;
  proto.resolver = function (this: RequestLike, err: unknown, msg: unknown) {
    this[PATCHED] = true; // settled: resolve or reject happens in the call below
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: RequestLike, err?: unknown) {
    if (err === undefined && this[PATCHED]) {
      this.timer?.cancel();
      this.mux.cancel(this);
      return;
    }
    cancel.call(this, err);
  };
  proto[PATCHED] = true;
  return true;
}

// Message headers: every consumer decodes each message's headers (nats.js MsgHdrsImpl.decode), and
// nats.js does it with a split, a map and, for each line, append(): a canonical copy of the key built
// only to validate it (String.fromCharCode over a spread array) and findKeys(), which copies every key
// into an array to filter it, as get() and set() do too. 1.5 µs per message with a get or two; 6-8%
// of the aggregator's and the committer's CPU. The patch keeps every result and every error:
// - findKeys with exact matching (the default) is a Map lookup: at most one key can equal k;
// - append with exact matching checks the key's characters and, only if one is invalid, calls the
//   original (which throws its error); the value goes through validHeaderValue as before;
// - decode walks the lines with indexOf instead of split, and appends as before.
const HEADERS_PATCHED = Symbol.for("lake.nats.headers");
const EXACT = "exact";
const STATUS_LINE = "NATS/1.0";

interface HdrsLike {
  headers: Map<string, string[]>;
  _code: number;
  _description: string;
  append(k: string, v: string, match?: string): void;
}

type HdrsProto = {
  findKeys(this: HdrsLike, k: string, match?: string): string[];
  append(this: HdrsLike, k: string, v: string, match?: string): void;
  [HEADERS_PATCHED]?: true;
};

type HdrsClass = { new (): HdrsLike; decode(a: Uint8Array): HdrsLike; validHeaderValue(v: string): string; prototype: HdrsProto };

/** A header name nats.js accepts: printable ASCII (33-126) but the colon. */
function validKey(k: string): boolean {
  if (k.length === 0) return true; // as nats.js: an empty name passes its check
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c === 58 || c < 33 || c > 126) return false;
  }
  return true;
}

/** Whether the running nats.js has the header patch in place. */
export function natsHeadersPatchApplied(): boolean {
  return (MsgHdrsImpl as unknown as HdrsClass).prototype[HEADERS_PATCHED] === true;
}

/** Installs the header patch once per process (idempotent); returns whether it is in place. */
export function patchNatsHeaders(): boolean {
  const cls = MsgHdrsImpl as unknown as HdrsClass;
  const proto = cls.prototype;
  if (proto[HEADERS_PATCHED]) return true;
  const { findKeys, append } = proto;
  const decode = cls.decode;
  // The shape relied on: a headers Map of arrays, exact matching by default, the static validator.
  const probe = new cls();
  if (
    !(probe.headers instanceof Map) ||
    typeof findKeys !== "function" ||
    typeof append !== "function" ||
    typeof decode !== "function" ||
    typeof cls.validHeaderValue !== "function" ||
    !/Match\.Exact|"exact"/.test(String(findKeys))
  )
    return false;
  proto.findKeys = function (this: HdrsLike, k: string, match: string = EXACT) {
    if (match !== EXACT) return findKeys.call(this, k, match);
    return this.headers.has(k) ? [k] : [];
  };
  proto.append = function (this: HdrsLike, k: string, v: string, match: string = EXACT) {
    if (match !== EXACT || !validKey(k)) return append.call(this, k, v, match);
    const value = cls.validHeaderValue(v);
    const a = this.headers.get(k);
    if (a) a.push(value);
    else this.headers.set(k, [value]);
  };
  const td = new TextDecoder();
  cls.decode = function (a: Uint8Array): HdrsLike {
    const mh = new cls();
    const s = td.decode(a);
    let end = s.indexOf("\r\n");
    if (end === -1) end = s.length;
    const h = s.slice(0, end);
    if (h !== STATUS_LINE) {
      // As nats.js: "NATS/1.0 503 No Responders" gives code 503, description "No Responders".
      let str = h.replace(STATUS_LINE, "").trim();
      if (str.length > 0) {
        mh._code = parseInt(str, 10);
        if (isNaN(mh._code)) mh._code = 0;
        str = str.replace(mh._code.toString(), "");
        mh._description = str.trim();
      }
    }
    for (let pos = end + 2; pos < s.length;) {
      let e = s.indexOf("\r\n", pos);
      if (e === -1) e = s.length;
      const idx = s.indexOf(":", pos);
      if (idx > -1 && idx < e) mh.append(s.slice(pos, idx), s.slice(idx + 1, e).trim());
      pos = e + 2;
    }
    return mh;
  };
  proto[HEADERS_PATCHED] = true;
  return true;
}
