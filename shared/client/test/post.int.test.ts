// postJson, the request sendHttp makes: node:http over kept-alive connections, against real local
// servers: answers and statuses, one connection reused, a kept-alive connection the server drops
// sent again once, and an unreachable service named in a ServiceUnreachableError.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { freePort } from "@lake/testing";

import { isServiceUnreachable, sendHttp } from "../src/index.ts";
import { postJson } from "../src/reach.ts";

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let b = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (b += c));
    req.on("end", () => resolve(b));
  });

test("answers come back with their status and text, over one kept-alive connection", { timeout: 20_000 }, async () => {
  const sockets = new Set<unknown>();
  const { server, url } = await serve(async (req, res) => {
    sockets.add(req.socket);
    const body = await readBody(req);
    res.writeHead(req.url === "/refuse" ? 422 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify({ got: JSON.parse(body), auth: req.headers.authorization ?? null, length: req.headers["content-length"] }));
  });
  try {
    for (let i = 0; i < 20; i++) {
      const r = await postJson(
        "test service",
        new URL("/x", url),
        { "content-type": "application/json", authorization: "Bearer t" },
        JSON.stringify({ i, s: "é" }),
      );
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.text), { got: { i, s: "é" }, auth: "Bearer t", length: String(Buffer.byteLength(JSON.stringify({ i, s: "é" }))) });
    }
    assert.equal(sockets.size, 1, "sequential requests share one connection");
    const refused = await postJson("test service", new URL("/refuse", url), {}, new TextEncoder().encode('{"a":1}'));
    assert.equal(refused.status, 422);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("a kept-alive connection the server drops is sent again once, on a new connection", { timeout: 20_000 }, async () => {
  let requests = 0;
  const served = new WeakMap<object, number>();
  const { server, url } = await serve(async (req, res) => {
    requests++;
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    // The second request on any connection: drop the connection without an answer.
    if (n === 2) return req.socket.destroy();
    await readBody(req);
    res.end('{"ok":true}');
  });
  try {
    assert.equal((await postJson("test service", new URL("/x", url), {}, "{}")).status, 200);
    const again = await postJson("test service", new URL("/x", url), {}, "{}");
    assert.equal(again.status, 200);
    assert.equal(requests, 3, "the dropped request was sent again once");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("a service that isn't listening is a ServiceUnreachableError naming it and the reason", { timeout: 20_000 }, async () => {
  const port = await freePort();
  const err = await postJson("ingest", new URL(`http://127.0.0.1:${port}/v1/domains/d/events`), {}, "{}").then(
    () => assert.fail("answered"),
    (e: unknown) => e,
  );
  assert.ok(isServiceUnreachable(err), String(err));
  assert.match((err as Error).message, new RegExp(`cannot reach the ingest at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  await assert.rejects(sendHttp(`http://127.0.0.1:${port}`, "d", { a: 1 }), (e: unknown) => isServiceUnreachable(e));
});

test("sendHttp folds the status into the reply, and keeps an unparseable answer as its message", { timeout: 20_000 }, async () => {
  const { server, url } = await serve(async (req, res) => {
    const body = await readBody(req);
    if (req.url === "/v1/domains/broken/events") {
      res.writeHead(502);
      return res.end("<html>bad gateway</html>");
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ accepted: JSON.parse(body).length, results: [], max_offset: 7 }));
  });
  try {
    const ok = await sendHttp({ url, token: "tok" }, "events", [{ a: 1 }, { a: 2 }]);
    assert.equal(ok.status, 200);
    assert.equal(ok.accepted, 2);
    assert.equal(ok.max_offset, 7);
    const bad = await sendHttp(url, "broken", { a: 1 });
    assert.equal(bad.status, 502);
    assert.equal(bad.error, "unparseable_reply");
    assert.equal(bad.message, "<html>bad gateway</html>");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
