// The load generator behind `lake produce`, the demo and the benchmarks: sends sample events at a
// target rate in batches, mixing in retried duplicates and invalid records, and reports progress.
import type { NatsConnection } from "@nats-io/nats-core";

import { invalidRecords, isSampleDomain, rng, SAMPLE_DOMAINS } from "@lake/client";
import { type IngestReply, sendHttp, sendNats } from "@lake/client";

export interface ProduceOptions {
  count: number;
  /** Events per second; 0 sends as fast as replies come back. */
  rate: number;
  batch: number;
  /** Fraction of batches re-sent as a producer retry would (all duplicates). */
  duplicates: number;
  /** Fraction of invalid records mixed in (rejected and quarantined). */
  invalid: number;
  via: "http" | "nats";
  domain: string;
  seed: number;
  prefix: string;
  /** Event time of the first sample event (the samples span three days from it); default 2026-06-01. */
  startMs?: number;
  ingestUrl?: string;
  /** Bearer token for ingest's HTTP API (a producer token for `domain`), when it runs with LAKE_INGEST_TOKENS_FILE. */
  ingestToken?: string | undefined;
  nc?: NatsConnection;
  /** Batches in flight at once. */
  concurrency: number;
  /**
   * How long a batch is retried (same event ids) while ingest fails or answers 5xx, e.g. while a
   * cluster elects a new stream leader after losing a node; then produce gives up with an error.
   */
  retryForMs?: number;
  onProgress?: (p: ProduceProgress) => void;
  /** Called with every reply and the send time, e.g. to measure freshness. */
  onReply?: (reply: IngestReply, sentAt: number, ackedAt: number) => void;
}

export interface ProduceProgress {
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  failed: number;
  maxOffset: number;
  elapsedMs: number;
}

export const produceDefaults: Omit<ProduceOptions, "ingestUrl" | "nc"> = {
  count: 10_000,
  rate: 2000,
  batch: 100,
  duplicates: 0.05,
  invalid: 0.01,
  via: "http",
  domain: "domain_events",
  seed: 1,
  prefix: `p${Date.now().toString(36)}`,
  concurrency: 4,
  retryForMs: 30_000,
};

export async function produce(o: ProduceOptions): Promise<ProduceProgress & { acceptedIds: Set<string> }> {
  const r = rng(o.seed);
  if (!isSampleDomain(o.domain)) throw new Error(`no sample generator for domain ${o.domain} (samples: ${Object.keys(SAMPLE_DOMAINS).join(", ")})`);
  const events = SAMPLE_DOMAINS[o.domain](o.count, { prefix: o.prefix, seed: o.seed, ...(o.startMs !== undefined ? { startMs: o.startMs } : {}) });
  const bad = invalidRecords(o.domain, Math.ceil(o.count * o.invalid) + 1, o.seed + 1);
  let badIndex = 0;
  const p: ProduceProgress = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, failed: 0, maxOffset: 0, elapsedMs: 0 };
  const acceptedIds = new Set<string>();
  const started = performance.now();
  const send = (body: unknown[]) =>
    o.via === "nats" ? sendNats(o.nc!, o.domain, body) : sendHttp({ url: o.ingestUrl!, token: o.ingestToken }, o.domain, body);

  const batches: unknown[][] = [];
  for (let i = 0; i < events.length; i += o.batch) {
    const b: unknown[] = events.slice(i, i + o.batch);
    for (let k = 0; k < b.length; k++) if (r() < o.invalid && badIndex < bad.length) b.push(bad[badIndex++]);
    batches.push(b);
  }
  let next = 0;
  let progressAt = 0;
  const worker = async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const due = started + (p.sent / Math.max(o.rate, 1e-9)) * 1000;
      if (o.rate > 0 && due > performance.now()) await new Promise((res) => setTimeout(res, due - performance.now()));
      p.sent += b.length;
      const repeats = r() < o.duplicates ? 2 : 1;
      for (let k = 0; k < repeats; k++) {
        const sentAt = performance.now();
        let reply: IngestReply;
        for (let attempt = 1; ; attempt++) {
          reply = await send(b).catch((e: Error) => ({ status: 0, message: e.message }) as IngestReply);
          // A failed or unanswered request is retried with the same event ids: dedupe makes it safe.
          if (reply.status !== 0 && reply.status < 500) break;
          const failingFor = performance.now() - sentAt;
          if (failingFor >= (o.retryForMs ?? 30_000))
            throw new Error(`ingest kept failing for ${Math.round(failingFor)} ms (${attempt} attempts): ${reply.message ?? reply.status}`);
          await new Promise((res) => setTimeout(res, Math.min(100 * attempt, 1000)));
        }
        o.onReply?.(reply, sentAt, performance.now());
        for (const res of reply.results ?? []) {
          if (res.status === "accepted") {
            p.accepted++;
            acceptedIds.add(res.event_id!);
          } else if (res.status === "duplicate") {
            p.duplicates++;
            acceptedIds.add(res.event_id!);
          } else if (res.status === "rejected") p.rejected++;
          else p.failed++;
          if ("offset" in res && res.offset > p.maxOffset) p.maxOffset = res.offset;
        }
      }
      p.elapsedMs = performance.now() - started;
      if (o.onProgress && p.elapsedMs - progressAt > 250) {
        progressAt = p.elapsedMs;
        o.onProgress({ ...p });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  p.elapsedMs = performance.now() - started;
  o.onProgress?.({ ...p });
  return { ...p, acceptedIds };
}
