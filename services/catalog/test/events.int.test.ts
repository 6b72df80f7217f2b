// The console's live updates (GET /v1/events, http/events.ts) in process: a real HTTP server and event
// hub, with the catalog's applied-batch notifications driven by the test. A caller hears only about the
// datasets it may read, gets heartbeats, is cut off (not buffered without bound) when it stops reading,
// and every stream ends with `bye` when the hub closes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { waitFor } from "@lake/testing";

import type { Catalog } from "../src/catalog.ts";
import { Projection } from "../src/db/projection.ts";
import { parseTokensFile, tokenSha256 } from "../src/domain/auth.ts";
import { startHttp } from "../src/http/routes.ts";
import type { AppliedRecord } from "../src/nats/tail.ts";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-events-"));
const TOKENS = { reader: "tok-reader", operator: "tok-operator" };
const tokens = parseTokensFile(
  JSON.stringify([
    { name: "bi", sha256: tokenSha256(TOKENS.reader), role: "reader", datasets: ["domain_events"] },
    { name: "alice", sha256: tokenSha256(TOKENS.operator), role: "operator" },
  ]),
);
const silent = { info() {}, warn() {}, error() {}, child: () => silent };

/** Reads an event stream's text as it arrives; `until` waits for a pattern in what has come so far. */
function reader(res: Response) {
  let text = "";
  let ended = false;
  const done = (async () => {
    const r = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // Bounded: a stream that never ends is cut off by the test's timeout, and one that floods stops here.
    for (let chunks = 0; chunks < 1_000_000; chunks++) {
      const { value, done } = await r.read();
      if (done) break;
      text += value;
    }
    ended = true;
  })().catch(() => (ended = true));
  return {
    text: () => text,
    ended: () => ended,
    done,
    until: (re: RegExp, what: string) => waitFor(what, () => (re.test(text) ? true : undefined), { timeoutMs: 5000 }),
  };
}

describe("GET /v1/events", { timeout: 60_000 }, () => {
  const listeners = new Set<(a: readonly AppliedRecord[]) => void>();
  const projection = new Projection(join(root, "catalog.db"));
  const catalog = {
    projection,
    catchingUp: () => undefined,
    assertServing() {},
    onApplied(fn: (a: readonly AppliedRecord[]) => void) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  } as unknown as Catalog;
  const applied = (records: AppliedRecord[]) => listeners.forEach((l) => l(records));
  let s: Awaited<ReturnType<typeof startHttp>>;
  let base: string;
  /** Opens a stream; `leave()` drops it as a closed browser tab would (the connection goes). */
  const open = async (token: string) => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
    return Object.assign(res, { leave: () => ctl.abort() });
  };

  before(async () => {
    s = await startHttp({ catalog, host: "127.0.0.1", port: 0, maxWaitMs: 1000, log: silent, tokens, events: { heartbeatMs: 100, maxClients: 3 } });
    base = `http://127.0.0.1:${s.port}`;
  });
  after(() => {
    s.events.close();
    s.server.close();
    projection.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("a stream says hello, sends heartbeats, and names only the datasets the caller may read", async () => {
    const [r, o] = await Promise.all([open(TOKENS.reader), open(TOKENS.operator)]);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
    const rs = reader(r);
    const os = reader(o);
    await rs.until(/event: hello\ndata: \{"projected_through_seq":0\}/, "hello");
    await rs.until(/^: ping$/m, "a heartbeat");
    await waitFor("both streams open", () => (s.events.size === 2 ? true : undefined), { timeoutMs: 5000 });
    applied([
      { seq: 7, dataset: "payments", kind: "VersionCommitted", version: 3 },
      { seq: 8, dataset: "domain_events", kind: "VersionCommitted", version: 5 },
    ]);
    // Only payments: nothing for the reader.
    applied([{ seq: 9, dataset: "payments", kind: "QualityVerdict", version: 3 }]);
    await os.until(/"seq":9/, "the operator's third record");
    await rs.until(/"seq":8/, "the reader's record");
    assert.doesNotMatch(rs.text(), /payments/);
    assert.match(os.text(), /"dataset":"payments","kind":"VersionCommitted","version":3/);
    r.leave();
    o.leave();
    await waitFor("the streams to be let go", () => (s.events.size === 0 ? true : undefined), { timeoutMs: 5000 });
  });

  test("no token: 401; more than maxClients streams: 503", async () => {
    assert.equal((await fetch(`${base}/v1/events`)).status, 401);
    const open3 = await Promise.all([open(TOKENS.reader), open(TOKENS.reader), open(TOKENS.reader)]);
    const fourth = await open(TOKENS.reader);
    assert.equal(fourth.status, 503);
    assert.equal(((await fourth.json()) as { error: string }).error, "too_many_streams");
    for (const r of open3) r.leave();
    await waitFor("the streams to be let go", () => (s.events.size === 0 ? true : undefined), { timeoutMs: 5000 });
  });

  test("a client that stops reading is cut off instead of buffered without bound", async () => {
    const stalled = await open(TOKENS.operator); // its body is never read
    await waitFor("the stream to open", () => (s.events.size === 1 ? true : undefined), { timeoutMs: 5000 });
    const big = Array.from({ length: 1000 }, (_, i) => ({ seq: i + 1, dataset: "payments", kind: "VersionCommitted" as const, version: i + 1 }));
    const before = s.events.overflows;
    for (let i = 0; i < 500 && s.events.size > 0; i++) {
      applied(big);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(s.events.size, 0, "the stalled client was dropped");
    assert.equal(s.events.overflows, before + 1);
    stalled.leave();
  });

  test("closing the hub ends every stream with bye", async () => {
    const r = reader(await open(TOKENS.reader));
    await r.until(/event: hello/, "hello");
    s.events.close();
    await r.done;
    assert.ok(r.ended());
    assert.match(r.text(), /event: bye\ndata: \{\}\n\n$/);
  });
});
