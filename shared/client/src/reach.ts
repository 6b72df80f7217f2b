// Requests to the lake's HTTP services. A connection that can't be made (the lake is stopped, a
// leftover run.json names old ports, the URL is wrong) becomes a ServiceUnreachableError naming the
// service and its URL, instead of undici's bare `TypeError: fetch failed`.
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export class ServiceUnreachableError extends Error {
  constructor(
    readonly service: string,
    readonly url: string,
    options: { cause: unknown },
  ) {
    super(`cannot reach the ${service} at ${url}${networkCode(options.cause)}`, options);
    this.name = "ServiceUnreachableError";
  }
}

export function isServiceUnreachable(e: unknown): e is ServiceUnreachableError {
  return e instanceof ServiceUnreachableError;
}

/** fetch(), with a failure to connect or to get an answer reported as ServiceUnreachableError. */
export async function fetchFrom(service: string, url: URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    // undici rejects with TypeError("fetch failed") for every network-level failure, the reason in
    // `cause`; anything else (an abort, a bad argument) is not about reaching the service.
    if (e instanceof TypeError && e.message === "fetch failed") throw new ServiceUnreachableError(service, url.origin, { cause: e });
    throw e;
  }
}

/** " (ECONNREFUSED)" from a Node network error or undici's cause, or nothing. */
function networkCode(e: unknown): string {
  const codeOf = (x: unknown) => (typeof x === "object" && x !== null ? (x as { code?: unknown }).code : undefined);
  const code = codeOf(e) ?? codeOf((e as { cause?: unknown })?.cause);
  return typeof code === "string" ? ` (${code})` : "";
}

/**
 * Keep-alive connections per protocol, shared by every postJson of the process. Idle ones don't keep a
 * process alive (Node unrefs a free socket).
 */
let agents: { http: HttpAgent; https: HttpsAgent } | undefined;
const agentsOf = () => (agents ??= { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) });

/** Errors of a connection the server had already closed when a kept-alive socket was reused. */
const STALE_SOCKET = new Set(["ECONNRESET", "EPIPE"]);

/**
 * POSTs `body` and reads the answer as text: node:http over kept-alive connections, a fraction of
 * fetch()'s CPU per request (it matters to a producer sending one event per request). A failure to
 * connect or to get an answer is a ServiceUnreachableError; a request that met a kept-alive connection
 * the server had just closed is sent once more on a new one, so only use this for requests that are
 * safe to repeat (ingest's are: events are deduplicated by id).
 */
export async function postJson(
  service: string,
  url: URL,
  headers: Record<string, string>,
  body: string | Uint8Array,
): Promise<{ status: number; text: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await postOnce(url, headers, body);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { reusedSocket?: boolean };
      if (attempt === 1 && err.reusedSocket && STALE_SOCKET.has(err.code ?? "")) continue;
      throw new ServiceUnreachableError(service, url.origin, { cause: e });
    }
  }
}

function postOnce(url: URL, headers: Record<string, string>, body: string | Uint8Array): Promise<{ status: number; text: string }> {
  const https = url.protocol === "https:";
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: "POST", agent: https ? agentsOf().https : agentsOf().http, headers: { ...headers, "content-length": String(bytes.byteLength) } },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (e) => reject(Object.assign(e, { reusedSocket: false })));
      },
    );
    req.on("error", (e) => reject(Object.assign(e, { reusedSocket: req.reusedSocket })));
    req.end(bytes);
  });
}
