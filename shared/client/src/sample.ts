// Sample domain_events for the demo, the tests and the benchmarks. Seeded, so runs are repeatable.
export interface SampleEvent {
  event_id: string;
  user_id: string;
  event_type: string;
  timestamp: number;
  amount: number;
}

const TYPES = ["view", "click", "purchase", "refund", "signup"] as const;

/** Mulberry32: a tiny seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sampleEvents(count: number, opts: { seed?: number; prefix?: string; startMs?: number; users?: number; spanMs?: number } = {}): SampleEvent[] {
  const r = rng(opts.seed ?? 1);
  const prefix = opts.prefix ?? "e";
  const start = opts.startMs ?? Date.UTC(2026, 5, 1, 0, 5);
  const users = opts.users ?? 100;
  const spanMs = opts.spanMs ?? 3 * 86_400_000;
  const out: SampleEvent[] = new Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = {
      event_id: `${prefix}-${i}`,
      user_id: `user-${Math.floor(r() * users)}`,
      event_type: TYPES[Math.floor(r() * TYPES.length)]!,
      // Roughly in time order over three days (so event-time windows close as the data flows and
      // data lands in several dt= partitions), each up to 2 minutes out of order.
      timestamp: start + Math.floor((i / count) * spanMs) + Math.floor((r() * 2 - 1) * 120_000),
      amount: Math.round(r() * 100_000) / 100,
    };
  }
  return out;
}

/** Records that break the contract in the ways producers usually do. */
export function invalidEvents(count: number, seed = 7): unknown[] {
  const r = rng(seed);
  const kinds = [
    (i: number) => ({ event_id: `bad-${i}`, user_id: "u", event_type: "view", timestamp: Date.UTC(2026, 5, 1), amount: "12.5" }),
    (i: number) => ({ event_id: `bad-${i}`, event_type: "view", timestamp: Date.UTC(2026, 5, 1), amount: 1 }),
    (i: number) => ({ event_id: `bad-${i}`, user_id: "u", event_type: "teleport", timestamp: Date.UTC(2026, 5, 1), amount: 1 }),
    (i: number) => ({ event_id: `bad-${i}`, user_id: "u", event_type: "view", timestamp: "yesterday", amount: 1 }),
    (i: number) => ({ event_id: `bad-${i}`, user_id: "u", event_type: "view", timestamp: Date.UTC(2026, 5, 1), amount: 5e12 }),
  ];
  return Array.from({ length: count }, (_, i) => kinds[Math.floor(r() * kinds.length)]!(i));
}
