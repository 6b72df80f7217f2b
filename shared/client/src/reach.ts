// Requests to the lake's HTTP services. A connection that can't be made (the lake is stopped, a
// leftover run.json names old ports, the URL is wrong) becomes a ServiceUnreachableError naming the
// service and its URL, instead of undici's bare `TypeError: fetch failed`.

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

/** " (ECONNREFUSED)" from undici's cause, or nothing. */
function networkCode(e: unknown): string {
  const cause = (e as { cause?: unknown })?.cause;
  const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === "string" ? ` (${code})` : "";
}
