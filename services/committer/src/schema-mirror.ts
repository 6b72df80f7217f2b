// The store describes itself, contracts included: the committer of a domain keeps a copy of each of
// its domain's registered versions (the SchemaRegistered record, as JSON) at
// `datasets/<domain>/schemas/v<version>.json`, written once (put-if-absent). `lake restore --from-store`
// registers them again, in order, when the registry (a NATS stream) was lost with the commit log.
import type { LakeLog } from "@lake/contracts";
import type { ObjectStore } from "@lake/storage";
import type { Logger } from "@lake/telemetry";

export const schemaCopyKey = (domain: string, version: number) => `datasets/${domain}/schemas/v${String(version).padStart(6, "0")}.json`;
export const SCHEMA_COPY_PATTERN = /^datasets\/([^/]+)\/schemas\/v(\d{6})\.json$/;

/** A registered version as the copy holds it: the registry's own record. */
export type SchemaCopy = LakeLog.SchemaRegistered;

interface VersionsSource {
  versions(domain: string): readonly { version: number; fingerprint: string; registered_at: number; actor: string; reason: string; canonical: string }[];
}

/** Writes the copies the store lacks; returns how many it wrote. Failures are logged, not thrown: the next change retries. */
export async function mirrorSchemas(registry: VersionsSource, store: ObjectStore, domain: string, log: Logger): Promise<number> {
  let n = 0;
  try {
    for (const v of registry.versions(domain)) {
      const copy: SchemaCopy = {
        domain,
        version: v.version,
        schema: v.canonical,
        fingerprint: v.fingerprint,
        registered_at: v.registered_at,
        actor: v.actor,
        reason: v.reason,
      };
      if (await store.putIfAbsent(schemaCopyKey(domain, v.version), new TextEncoder().encode(JSON.stringify(copy)))) n++;
    }
  } catch (err) {
    log.warn("contract copies not written to the store; retried on the next registry change", { err });
  }
  return n;
}
