// The few HTTP helpers the services share (node:http, no framework): JSON replies, capped bodies.
import type { IncomingMessage, Server, ServerResponse } from "node:http";

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

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Reads a UTF-8 body of at most `limit` bytes; past it, rejects with 413 without buffering the rest. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      req.resume();
      reject(new HttpError(413, "body_too_large", `request body of ${declared} bytes exceeds the ${limit}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new HttpError(413, "body_too_large", `request body exceeds the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (failed) return;
      // toString() would silently turn invalid UTF-8 into U+FFFD: refuse it instead.
      try {
        resolve(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        reject(new HttpError(400, "invalid_utf8", "request body is not valid UTF-8"));
      }
    });
    req.on("error", reject);
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
