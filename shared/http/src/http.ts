// The few HTTP helpers the services share (node:http, no framework): servers with timeouts, JSON
// replies, capped and timed bodies.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";

/**
 * How long a client may take over each part of a request, ms. Node's defaults let a client trickle a
 * body for 5 minutes (and check only every 30 s), so a handful of slow connections could hold a
 * service's sockets and memory; every lake server is made with these instead.
 */
export interface HttpTimeouts {
  /** Until the request's headers are complete (Node's headersTimeout; at most requestMs). */
  headersMs: number;
  /** Until the whole request, body included, has arrived (Node's requestTimeout); past it Node answers 408 and closes. */
  requestMs: number;
  /** How long readBody waits for a body: past it, 408 body_timeout and the connection is closed. */
  bodyMs: number;
  /** How long an idle keep-alive connection is kept open between requests (Node's keepAliveTimeout). */
  keepAliveMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = { headersMs: 10_000, requestMs: 60_000, bodyMs: 30_000, keepAliveMs: 5_000 };

/** The environment variables of each timeout (every service with an HTTP listener reads them in its env.ts). */
export const HTTP_TIMEOUT_ENV = {
  headersMs: "LAKE_HTTP_HEADERS_TIMEOUT_MS",
  requestMs: "LAKE_HTTP_REQUEST_TIMEOUT_MS",
  bodyMs: "LAKE_HTTP_BODY_TIMEOUT_MS",
  keepAliveMs: "LAKE_HTTP_KEEPALIVE_TIMEOUT_MS",
} as const;

/**
 * The timeouts from the environment, read with the service's own integer reader (so a bad value is
 * the service's configuration error, naming the variable); unset ones keep their defaults.
 */
export function httpTimeoutsFromEnv(readInt: (name: string, def: number, min: number, max: number) => number): HttpTimeouts {
  const read = (k: keyof HttpTimeouts) => readInt(HTTP_TIMEOUT_ENV[k], DEFAULT_HTTP_TIMEOUTS[k], 1, 3_600_000);
  return { headersMs: read("headersMs"), requestMs: read("requestMs"), bodyMs: read("bodyMs"), keepAliveMs: read("keepAliveMs") };
}

/** An HTTP server with the lake's timeouts (see HttpTimeouts); every service's listener is made here. */
export function createHttpServer(handler: RequestListener, t: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS): Server {
  const headersTimeout = Math.min(t.headersMs, t.requestMs);
  return createServer(
    {
      requestTimeout: t.requestMs,
      headersTimeout,
      keepAliveTimeout: t.keepAliveMs,
      // How often Node looks for connections past those timeouts (its default is every 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    handler,
  );
}

/** A request the client got wrong (or that we can't serve), with the status and a stable code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "HttpError";
  }
}

/**
 * Whether an error answer must close the connection: after a 408 or 413 the rest of the request body
 * is still on the wire (unread), so the connection can't carry another request.
 */
export function closesConnection(status: number): boolean {
  return status === 408 || status === 413;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * Reads a UTF-8 body of at most `limit` bytes within `timeoutMs`. Past the size, rejects with 413
 * without buffering the rest; past the time (a client trickling its body), with 408 body_timeout;
 * a body cut short by the client, with 400 incomplete_body. Answer 408 and 413 with
 * `connection: close` (closesConnection): the rest of the body is never read.
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number = DEFAULT_HTTP_TIMEOUTS.bodyMs): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      req.resume();
      reject(new HttpError(413, "body_too_large", `request body of ${declared} bytes exceeds the ${limit}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (e: HttpError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      chunks.length = 0;
      reject(e);
    };
    const timer = setTimeout(() => fail(new HttpError(408, "body_timeout", `the request body did not arrive within ${timeoutMs} ms`)), timeoutMs);
    req.on("data", (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > limit) {
        fail(new HttpError(413, "body_too_large", `request body exceeds the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // toString() would silently turn invalid UTF-8 into U+FFFD: refuse it instead.
      try {
        resolve(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        reject(new HttpError(400, "invalid_utf8", "request body is not valid UTF-8"));
      }
    });
    // The client went away (or Node's requestTimeout closed it) mid-body: nobody will read an answer,
    // but it is the client's doing, not an internal error.
    req.on("error", (cause) => fail(new HttpError(400, "incomplete_body", "the request body ended before it was complete", { cause })));
    req.on("close", () => {
      if (!req.complete) fail(new HttpError(400, "incomplete_body", "the request body ended before it was complete"));
    });
  });
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

/**
 * Splits a request target into decoded path segments and its query, without resolving `.`/`..`
 * (WHATWG URL parsing would, silently turning `/a/../b` into `/b`): names in paths are checked as
 * sent.
 */
export function parseTarget(target: string | undefined): { segments: string[]; query: URLSearchParams } {
  const raw = target ?? "/";
  const q = raw.indexOf("?");
  const path = q === -1 ? raw : raw.slice(0, q);
  const segments = path
    .split("/")
    .filter((s) => s !== "")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new HttpError(400, "invalid_path", `path segment ${JSON.stringify(s.slice(0, 80))} is not valid percent-encoding`);
      }
    });
  return { segments, query: new URLSearchParams(q === -1 ? "" : raw.slice(q + 1)) };
}
