// Read after write through a derived dataset (invariant 4 through the aggregator): for an event ingest
// acknowledged with offset X, the first version of daily_user_totals covering source offset X holds
// that event in its user's day total, and every total in it equals an independent recomputation over
// the events at offsets ≤ the version's recorded upstream position. Open windows are provisional
// there, and turn final once the watermark passes them. The whole lake runs, as separate processes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CatalogClient, CatalogRequestError, queryVersion, type SampleEvent, sampleEvents, sendHttp } from "@lake/client";
import { derivedContract } from "@lake/contracts";
import { openStore } from "@lake/storage";

import { DATASET, withLake } from "./helpers.ts";

const DERIVED = "daily_user_totals";
const DAY = 86_400_000;
const job = derivedContract(DERIVED).job;

interface Accepted extends SampleEvent {
  offset: number;
}

interface Total {
  total: number;
  count: number;
}

let lake: Awaited<ReturnType<typeof withLake>>;
before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

/** Mulberry32, seeded: the sample of events to check is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dayOf = (t: number) => new Date(Math.floor(t / DAY) * DAY).toISOString().slice(0, 10);

/**
 * The independent recomputation, from what was sent and the offsets ingest returned, by the design's
 * rules (not the aggregator's code): in offset order, an event counts in its user's UTC day unless the
 * watermark (max event time so far − out-of-orderness) had passed the day's end + allowed lateness.
 */
function recompute(events: readonly Accepted[], throughSeq: number): Map<string, Total> {
  const totals = new Map<string, Total>();
  let maxTime = -Infinity;
  for (const e of events) {
    if (e.offset > throughSeq) break;
    const end = (Math.floor(e.timestamp / DAY) + 1) * DAY;
    if (maxTime - job.outOfOrdernessMs < end + job.allowedLatenessMs) {
      const k = `${e.user_id}|${dayOf(e.timestamp)}`;
      const t = totals.get(k) ?? { total: 0, count: 0 };
      t.total += e.amount;
      t.count++;
      totals.set(k, t);
    }
    maxTime = Math.max(maxTime, e.timestamp);
  }
  return totals;
}

type Row = { total: number; count: number; provisional: boolean | null; revision: number; through_seq: number | null };

test("the first version covering a source offset holds the event, and equals the recomputation at its upstream position", { timeout: 150_000 }, async () => {
  const catalog = new CatalogClient(lake.catalogUrl);
  const store = await openStore(lake.storeConfig);

  // Three days, eight users, each event up to 2 minutes out of order (within the lateness: late
  // revisions, no side output). Small requests one after another, and every 200 events a wait for the
  // version covering them: events land in many versions, and windows are open in many of them.
  const sent = sampleEvents(1200, { prefix: "cov", seed: 77, users: 8, spanMs: 3 * DAY });
  const accepted: Accepted[] = [];
  for (let i = 0; i < sent.length; i += 40) {
    const part = sent.slice(i, i + 40);
    const r = await sendHttp(lake.producer, DATASET, part);
    assert.equal(r.status, 200);
    for (const res of r.results) if (res.status === "accepted") accepted.push({ ...part[res.index]!, offset: res.offset });
    if ((i + 40) % 200 === 0) await catalog.waitCovering(DERIVED, r.max_offset!, 60_000, { by: "source_offset" });
  }
  assert.equal(accepted.length, sent.length);
  accepted.sort((a, b) => a.offset - b.offset);

  // A domain dataset's own offset is its source offset: source_offset there is a clear 400.
  await assert.rejects(
    catalog.coveringSource(DATASET, accepted[0]!.offset, 0),
    (e: unknown) => e instanceof CatalogRequestError && e.status === 400 && /source_offset is a token for derived datasets/.test(e.message),
  );

  const r = rng(13);
  const picks = Array.from({ length: 200 }, () => accepted[Math.floor(r() * accepted.length)]!);
  const rowsOf = new Map<number, Map<string, Row>>();
  const throughOf = new Map<number, number>();
  /** A version's upstream position, from its immutable manifest (the commit record's lineage). */
  const manifestThrough = async (version: number): Promise<number> => {
    const v = await catalog.version(DERIVED, version);
    const m = JSON.parse(new TextDecoder().decode(await store.get(v.manifest.key))) as { lineage: { upstream: { through_seq: number }[] } | null };
    return m.lineage?.upstream[0]?.through_seq ?? 0;
  };
  let provisionalSeen = 0;
  for (const e of picks) {
    const v = await catalog.coveringSource(DERIVED, e.offset, 30_000);
    const through = v.source_through_seq;
    assert.ok(through >= e.offset, `version ${v.version} covers source offset ${e.offset} (through ${through})`);
    if (!rowsOf.has(v.version)) {
      assert.equal(await manifestThrough(v.version), through, "the catalog serves the position the version recorded");
      // The first covering version: its parent's position is below the offset.
      if (v.version > 1) assert.ok((await manifestThrough(v.version - 1)) < e.offset, `version ${v.version - 1} does not cover ${e.offset}`);
      const q = await queryVersion(store, v, `SELECT user_id, day, total_amount, event_count, provisional, revision, through_seq FROM ${DERIVED}`);
      rowsOf.set(
        v.version,
        new Map(
          q.rows.map((x) => [
            `${String(x.user_id)}|${String(x.day)}`,
            {
              total: Number(x.total_amount),
              count: Number(x.event_count),
              provisional: x.provisional as boolean | null,
              revision: Number(x.revision),
              through_seq: x.through_seq === null ? null : Number(x.through_seq),
            },
          ]),
        ),
      );
      throughOf.set(v.version, through);
      // Every window of the version, not only the event's, is the recomputation at its position.
      const expected = recompute(accepted, through);
      const got = rowsOf.get(v.version)!;
      assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `version ${v.version}: exactly the windows of the events up to ${through}`);
      for (const [k, want] of expected) {
        const row = got.get(k)!;
        assert.equal(row.count, want.count, `version ${v.version} ${k} count at ${through}`);
        assert.ok(Math.abs(row.total - want.total) < 1e-6, `version ${v.version} ${k} total ${row.total} vs ${want.total} at ${through}`);
        assert.ok(row.through_seq !== null && row.through_seq <= through, `${k}: its result reflects a position the version covers`);
        assert.equal(row.provisional, row.revision === 0);
        if (row.provisional) provisionalSeen++;
      }
    }
    const row = rowsOf.get(v.version)!.get(`${e.user_id}|${dayOf(e.timestamp)}`);
    assert.ok(row, `version ${v.version} has ${e.user_id}'s ${dayOf(e.timestamp)} (event ${e.event_id} at ${e.offset})`);
    assert.ok(row.total >= e.amount - 1e-9, `the day total ${row.total} includes the event's ${e.amount}`);
  }
  assert.ok(rowsOf.size >= 5, `the sample spans several versions (${rowsOf.size})`);
  assert.ok(provisionalSeen > 0, "covering versions served open windows as provisional totals");

  // One event two days past the last moves the watermark past every day sent: each turns final.
  const last = Math.max(...accepted.map((e) => e.timestamp));
  const flush = await sendHttp(lake.producer, DATASET, { event_id: "cov-flush", user_id: "flush", event_type: "view", timestamp: last + 2 * DAY, amount: 1 });
  assert.equal(flush.results[0]!.status, "accepted");
  const flushed = {
    ...(flush.results[0] as { offset: number }),
    event_id: "cov-flush",
    user_id: "flush",
    event_type: "view",
    timestamp: last + 2 * DAY,
    amount: 1,
  };
  const v = await catalog.waitCovering(DERIVED, flushed.offset, 60_000, { by: "source_offset" });
  const q = await queryVersion(store, v, `SELECT user_id, day, total_amount, event_count, provisional, revision FROM ${DERIVED}`);
  const expected = recompute([...accepted, flushed], flushed.offset);
  assert.equal(q.rows.length, expected.size);
  for (const x of q.rows) {
    const k = `${String(x.user_id)}|${String(x.day)}`;
    const want = expected.get(k);
    assert.ok(want, `${k} is a window of the events sent`);
    assert.equal(Number(x.event_count), want.count, `${k} count`);
    assert.ok(Math.abs(Number(x.total_amount) - want.total) < 1e-6, `${k} total`);
    if (x.user_id === "flush") assert.deepEqual([x.provisional, Number(x.revision)], [true, 0], "the newest window is still open: provisional");
    else
      assert.ok(x.provisional === false && Number(x.revision) >= 1, `${k}: the watermark passed its day, so its row is final (revision ${String(x.revision)})`);
  }
});
