// The shared HTTP server against slow clients, over real sockets: a client trickling its body, its
// headers, or a body nobody reads is cut off within the configured time (short here), with a 408 where
// an answer can still be given; a prompt client is served as before.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, test } from "node:test";

import { slowClient } from "@lake/testing";

import {
  closesConnection,
  createHttpServer,
  DEFAULT_HTTP_TIMEOUTS,
  HTTP_TIMEOUT_ENV,
  type HttpError,
  type HttpTimeouts,
  httpTimeoutsFromEnv,
  listen,
  readBody,
  sendJson,
} from "../src/index.ts";

const T: HttpTimeouts = { headersMs: 600, requestMs: 1500, bodyMs: 800, keepAliveMs: 500 };
/** How long past a timeout a connection may stay open: Node checks every headersMs/4, plus scheduling on a busy machine. */
const SLACK_MS = 1500;

let server: Server;
let port: number;

before(async () => {
  server = createHttpServer((req, res) => {
    // /read reads the body (readBody's own timeout); /ignore never does (only Node's requestTimeout).
    if (req.url === "/ignore") return;
    readBody(req, 1024 * 1024, T.bodyMs).then(
      (text) => sendJson(res, 200, { bytes: text.length }),
      (e: unknown) => {
        const err = e as HttpError;
        sendJson(res, err.status, { error: err.code, message: err.message }, closesConnection(err.status) ? { connection: "close" } : {});
      },
    );
  }, T);
  port = await listen(server, 0, "127.0.0.1");
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/**
 * Opens a socket, sends `head`, then one byte of `drip` every `everyMs` (bounded), and reports when
 * the server closed the connection and what it said. Gives up (closedAfterMs: Infinity) after `giveUpMs`.
 */
const slow = (head: string, drip: string, everyMs: number, giveUpMs: number) => slowClient({ host: "127.0.0.1", port }, head, { drip, everyMs, giveUpMs });

const drip = "x".repeat(200);

describe("a slow client is cut off", () => {
  test("trickling the body of a request that reads it: 408 body_timeout and the connection closed", async () => {
    const r = await slow(`POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n`, drip, 100, 15_000);
    assert.ok(r.closedAfterMs <= T.bodyMs + SLACK_MS, `closed after ${r.closedAfterMs} ms`);
    assert.match(r.answer, /^HTTP\/1\.1 408 /);
    assert.match(r.answer, /connection: close/i);
    assert.match(r.answer, /"error":"body_timeout"/);
  });

  test("trickling a body nobody reads: closed at the request timeout", async () => {
    const r = await slow(`POST /ignore HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n`, drip, 100, 15_000);
    assert.ok(r.closedAfterMs <= T.requestMs + SLACK_MS, `closed after ${r.closedAfterMs} ms`);
    assert.match(r.answer, /^HTTP\/1\.1 408 /);
  });

  test("trickling the headers: closed at the headers timeout", async () => {
    const r = await slow(`POST /read HTTP/1.1\r\n`, "x-a: " + drip, 100, 15_000);
    assert.ok(r.closedAfterMs <= T.headersMs + SLACK_MS, `closed after ${r.closedAfterMs} ms`);
  });

  test("an idle keep-alive connection is closed after the keep-alive timeout", async () => {
    const r = await slow(`POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nab`, "", 100, 15_000);
    assert.match(r.answer, /^HTTP\/1\.1 200 /);
    assert.ok(r.closedAfterMs <= T.keepAliveMs + SLACK_MS, `closed after ${r.closedAfterMs} ms`);
  });
});

test("a prompt client is served, and can send a second request on the same connection", async () => {
  const r = await slow(
    `POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabcPOST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nde`,
    "",
    100,
    15_000,
  );
  assert.equal(r.answer.match(/HTTP\/1\.1 200 /g)?.length, 2, r.answer);
  assert.match(r.answer, /\{"bytes":3\}/);
  assert.match(r.answer, /\{"bytes":2\}/);
});

test("timeouts come from LAKE_HTTP_*_TIMEOUT_MS through the service's reader; unset ones keep the defaults", () => {
  const env: Record<string, string> = { [HTTP_TIMEOUT_ENV.bodyMs]: "1234" };
  const read = (name: string, def: number, min: number, max: number) => {
    assert.deepEqual([min, max], [1, 3_600_000]);
    return env[name] === undefined ? def : Number(env[name]);
  };
  assert.deepEqual(httpTimeoutsFromEnv(read), { ...DEFAULT_HTTP_TIMEOUTS, bodyMs: 1234 });
  // Node's own defaults hold a trickled body for 5 minutes; the lake's are far shorter.
  assert.ok(DEFAULT_HTTP_TIMEOUTS.requestMs <= 60_000 && DEFAULT_HTTP_TIMEOUTS.headersMs <= DEFAULT_HTTP_TIMEOUTS.requestMs);
  const s = createHttpServer(() => {});
  assert.deepEqual(
    [s.requestTimeout, s.headersTimeout, s.keepAliveTimeout],
    [DEFAULT_HTTP_TIMEOUTS.requestMs, DEFAULT_HTTP_TIMEOUTS.headersMs, DEFAULT_HTTP_TIMEOUTS.keepAliveMs],
  );
});
