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

/** Sample payments (the critical sample domain): every record valid, card_country always known. */
export function samplePayments(count: number, opts: { seed?: number; prefix?: string; startMs?: number; users?: number; spanMs?: number } = {}): unknown[] {
  const r = rng(opts.seed ?? 1);
  const prefix = opts.prefix ?? "pay";
  const start = opts.startMs ?? Date.UTC(2026, 5, 1, 0, 5);
  const users = opts.users ?? 100;
  const spanMs = opts.spanMs ?? 3 * 86_400_000;
  const currencies = ["EUR", "USD", "GBP"] as const;
  const countries = ["DE", "FR", "GB", "US", "NL"] as const;
  return Array.from({ length: count }, (_, i) => ({
    payment_id: `${prefix}-${i}`,
    user_id: `user-${Math.floor(r() * users)}`,
    timestamp: start + Math.floor((i / count) * spanMs),
    amount: Math.round(r() * 50_000) / 100,
    currency: currencies[Math.floor(r() * currencies.length)]!,
    card_country: countries[Math.floor(r() * countries.length)]!,
  }));
}

/**
 * Sample changes of the customers table (the CDC sample domain), Debezium-style: a create per customer,
 * then updates of the same customers, each at a higher log position (lsn) than the one before.
 */
export function sampleCustomerChanges(count: number, opts: { seed?: number; prefix?: string; startMs?: number; customers?: number } = {}): unknown[] {
  const r = rng(opts.seed ?? 1);
  const prefix = opts.prefix ?? "cust";
  const start = opts.startMs ?? Date.UTC(2026, 5, 1, 0, 5);
  const customers = Math.max(1, Math.min(opts.customers ?? 100, count));
  const countries = ["DE", "FR", "GB", "US", "NL"] as const;
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}-${i < customers ? i : Math.floor(r() * customers)}`;
    const at = start + i * 1000;
    return {
      op: i < customers ? "c" : "u",
      before: null,
      after: { customer_id: id, name: `Customer ${id}`, email: `${id}@example.com`, country: countries[Math.floor(r() * countries.length)]!, updated_at: at },
      source: { connector: "postgresql", db: "shop", table: "customers", lsn: (opts.seed ?? 1) * 1_000_000_000 + i + 1 },
      ts_ms: at,
    };
  });
}

/** Records of `domain` that break its contract the usual ways: a wrong type, a missing field, an out-of-range value. */
export function invalidRecords(domain: string, count: number, seed = 7): unknown[] {
  if (domain === "domain_events") return invalidEvents(count, seed);
  const r = rng(seed);
  const t = Date.UTC(2026, 5, 1);
  const kinds: ((i: number) => unknown)[] =
    domain === "payments"
      ? [
          (i) => ({ payment_id: `bad-${i}`, user_id: "u", timestamp: t, amount: "12.5", currency: "EUR", card_country: "DE" }),
          (i) => ({ payment_id: `bad-${i}`, timestamp: t, amount: 1, currency: "EUR", card_country: "DE" }),
          (i) => ({ payment_id: `bad-${i}`, user_id: "u", timestamp: t, amount: 1, currency: "DOGE", card_country: "DE" }),
          (i) => ({ payment_id: `bad-${i}`, user_id: "u", timestamp: t, amount: -5, currency: "EUR", card_country: "DE" }),
        ]
      : [
          (i) => ({ op: "c", before: null, after: { customer_id: `bad-${i}`, updated_at: t }, source: { lsn: 1 }, ts_ms: t }),
          (i) => ({ op: "x", before: null, after: { customer_id: `bad-${i}`, name: "N", updated_at: t }, source: { lsn: 1 }, ts_ms: t }),
        ];
  return Array.from({ length: count }, (_, i) => kinds[Math.floor(r() * kinds.length)]!(i));
}

/** The sample generator of each sample domain (`lake produce --domain D`). */
export const SAMPLE_DOMAINS = {
  domain_events: (count: number, opts: { seed?: number; prefix?: string; startMs?: number }) => sampleEvents(count, opts) as unknown[],
  payments: samplePayments,
  customers: sampleCustomerChanges,
} as const;

export type SampleDomain = keyof typeof SAMPLE_DOMAINS;

export function isSampleDomain(domain: string): domain is SampleDomain {
  return Object.hasOwn(SAMPLE_DOMAINS, domain);
}
