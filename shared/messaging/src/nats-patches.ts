// nats.js 3.x builds an Error after every request that already has its answer: RequestOne.resolver()
// settles the request, then calls cancel(), which constructs `new RequestError("cancelled")` (a stack
// trace capture) to reject a promise that is already settled, a no-op. That was 9-13% of ingest's and
// the aggregator's CPU under load (every JetStream publish is a request). This makes cancel() skip the
// construction when the request has settled and no error was given; a request cancelled while it still
// waits (a timeout, a failed publish) is rejected exactly as before. Checked against the shape of the
// class it patches: if nats.js changes it, the patch is not applied (and the messaging tests say so).
import { RequestOne } from "@nats-io/nats-core/internal";

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
