// Invariant 8 against a hostile producer, end to end on a real lake: an event dated 2099 (over HTTP, and
// written straight onto the events stream past ingest) neither freezes the critical daily_user_totals
// nor the domain dataset; inputs that can never be stored (a CDC key the contract refuses or that can't
// be a NATS header, an lsn Avro can't encode, text with a lone UTF-16 surrogate, a NATS request whose
// reply would exceed max_payload) are answered 4xx with the path up front, not 503 retried forever.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { listQuarantine, type QuarantinedEntry, queryVersion, replayQuarantine, sendHttp, sendNats } from "@lake/client";
import { derivedContract, domainContract, quarantinedRecordCodec, windowPositionCodec } from "@lake/contracts";
import { HEADERS } from "@lake/messaging";
import { SchemaRegistry } from "@lake/registry";
import { openLocalStore } from "@lake/storage";
import { waitFor } from "@lake/testing";

import { covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

const DERIVED = "daily_user_totals";
const DAY = 86_400_000;
const HOUR = 3_600_000;
const Y2099 = Date.UTC(2099, 0, 1);

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;

before(async () => {
  // A batch large enough that its reply can outgrow a NATS message (max_payload, 1 MiB by default).
  lake = await withLake({ env: { LAKE_INGEST_MAX_BATCH: "20000" } });
  nc = await lake.connect();
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

const event = (id: string, timestamp: number | string, overrides: Record<string, unknown> = {}) => ({
  event_id: id,
  user_id: "u",
  event_type: "view",
  timestamp,
  amount: 1,
  ...overrides,
});

async function aggregatorHealth(): Promise<{
  input_seq: number;
  outbox_pending: number;
  watermark_ms: number | null;
  late_events: number;
  invalid_events: number;
}> {
  const url = String(lake.services.get(`aggregator:${DERIVED}`)!.ready.url);
  return (await (await fetch(new URL("/healthz", url))).json()) as Awaited<ReturnType<typeof aggregatorHealth>>;
}

async function quarantined(eventId: string): Promise<QuarantinedEntry | undefined> {
  for (let after = 0, pages = 0; pages < 50; pages++) {
    const page = await listQuarantine(lake.operator, DATASET, { after });
    for (const r of page.records) if (r.status === "quarantined" && r.event_id === eventId) return r;
    if (page.next_after === null) return undefined;
    after = page.next_after;
  }
  return undefined;
}

// Today's UTC midnight: the tests below send events of past days, which the present watermark has passed.
const today = Math.floor(Date.now() / DAY) * DAY;

test("an event dated 2099 is refused over HTTP with the reason and $.timestamp, and quarantined", { timeout: 60_000 }, async () => {
  // Over HTTP: refused with the reason and the path, and kept in quarantine.
  for (const [id, ts] of [
    ["future-2099", Y2099],
    ["future-iso", "2099-06-01T00:00:00Z"],
    ["future-9e15", 9e15],
  ] as const) {
    const r = await sendHttp(lake.producer, DATASET, event(id, ts));
    assert.equal(r.status, 422, `${id}: ${JSON.stringify(r)}`);
    assert.equal(r.results[0]!.status, "rejected");
    assert.equal((r.results[0] as { path: string }).path, "$.timestamp");
  }
  // In a batch, the neighbour of a refused record goes through (an old one: a present-day event would
  // itself move the watermark past the days the next test sends; it is counted there).
  const r2099 = await sendHttp(lake.producer, DATASET, [event("future-batch", Y2099), event("past-batch", today - 3 * DAY + 3 * HOUR, { user_id: "ud" })]);
  assert.deepEqual(
    r2099.results.map((x) => x.status),
    ["rejected", "accepted"],
  );
  assert.match((r2099.results[0] as { reason: string }).reason, /ahead of the ingest clock/);
  const q = await waitFor("the 2099 event in quarantine", () => quarantined("future-2099"), { timeoutMs: 10_000 });
  assert.equal(q.path, "$.timestamp");
  assert.match(q.reason, /ahead of the ingest clock/);
});

test(
  "an event dated 2099 written past ingest can't move the aggregator's watermark: daily_user_totals keeps counting, the domain dataset keeps committing",
  { timeout: 240_000 },
  async () => {
    // Past ingest: a NATS client that may publish on the events stream writes an event dated 2099.
    const contract = domainContract(DATASET);
    const h = natsHeaders();
    h.set(HEADERS.schema, contract.fingerprint);
    const forged = await jetstream(nc).publish(`lake.events.${DATASET}`, contract.encode(event("forged-2099", Y2099, { user_id: "forger", amount: 1000 })), {
      headers: h,
      msgID: `${DATASET}:forged-2099`,
    });

    // Then ordinary traffic: two past days for two users, and one event of the present that moves the
    // watermark past both days' windows (and their lateness), so they fire and are final.
    const normal = [
      event("n-1", today - 3 * DAY + HOUR, { user_id: "ua", amount: 2 }),
      event("n-2", today - 3 * DAY + 2 * HOUR, { user_id: "ua", amount: 3 }),
      event("n-3", today - 2 * DAY + HOUR, { user_id: "ub", amount: 5 }),
      event("n-now", Date.now() - 60_000, { user_id: "uc", amount: 7 }),
    ];
    const r = await sendHttp(lake.producer, DATASET, normal);
    assert.deepEqual(
      r.results.map((x) => x.status),
      ["accepted", "accepted", "accepted", "accepted"],
    );
    assert.ok(r.max_offset! > forged.seq);

    const health = await waitFor(
      "the aggregator to consume everything and publish its outbox",
      async () => {
        const hh = await aggregatorHealth();
        return hh.input_seq >= r.max_offset! && hh.outbox_pending === 0 ? hh : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(
      health.watermark_ms !== null && health.watermark_ms <= Date.now() + HOUR,
      `watermark ${health.watermark_ms} is past the wall clock + the 1 h skew`,
    );
    assert.equal(health.late_events, 0, "no later event was sent to the late stream");
    assert.ok(health.invalid_events >= 1, "the forged event was skipped and counted");

    // The critical derived dataset counted the normal events (and not the forged one).
    const lastWindow = await (await jetstreamManager(nc)).streams.getMessage("WINDOWS", { last_by_subj: `lake.windows.${DERIVED}` });
    assert.ok(lastWindow, "window results were published");
    const v = await lake.catalog.covering(DERIVED, lastWindow.seq, 30_000);
    const day = (t: number) => new Date(t).toISOString().slice(0, 10);
    // Fired windows (days still open are provisional rows in update mode).
    const rows = await queryVersion(
      openLocalStore(lake.storeRoot),
      v,
      `SELECT user_id, day, event_count, total_amount FROM ${DERIVED} WHERE NOT provisional ORDER BY day, user_id`,
    );
    assert.deepEqual(
      rows.rows.map((x) => [x.user_id, x.day, Number(x.event_count), Number(x.total_amount)]),
      [
        ["ua", day(today - 3 * DAY), 2, 5],
        ["ud", day(today - 3 * DAY), 1, 1],
        ["ub", day(today - 2 * DAY), 1, 5],
      ],
    );

    // The domain dataset kept committing past the forged record.
    await covering(lake, r.max_offset!, 30_000);
    const ids = await eventIdsIn(lake, "latest");
    for (const id of ["past-batch", "n-1", "n-2", "n-3", "n-now"]) assert.ok(ids.includes(id), `${id} committed`);
    for (const id of ["future-2099", "future-iso", "future-9e15", "future-batch"]) assert.ok(!ids.includes(id), `${id} was refused`);
  },
);

test("a quarantined future event replays through the normal path once its time has come", { timeout: 120_000 }, async () => {
  const soon = Date.now() + HOUR + 1500;
  const r = await sendHttp(lake.producer, DATASET, event("soon-1", soon));
  assert.equal(r.status, 422);
  const q = await waitFor("the early event in quarantine", () => quarantined("soon-1"), { timeoutMs: 10_000 });
  // Replayed as it was quarantined (no correction): refused while still too early, accepted after.
  const accepted = await waitFor(
    "a replay of the early event to be accepted",
    async () => {
      const reply = await replayQuarantine(lake.operator, DATASET, [{ seq: q.seq }]);
      const res = reply.results[0]!;
      if (res.status === "rejected") {
        assert.equal(res.path, "$.timestamp");
        assert.ok(Date.now() < soon - HOUR + 1000, `refused at ${Date.now()}, after its time had come: ${res.reason}`);
        return undefined;
      }
      return res;
    },
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  assert.equal(accepted.status, "accepted");
  const offset = (accepted as { offset: number }).offset;
  await covering(lake, offset, 30_000);
  assert.ok((await eventIdsIn(lake, "latest")).includes("soon-1"));
  const again = await replayQuarantine(lake.operator, DATASET, [{ seq: q.seq }]);
  assert.deepEqual([again.results[0]!.status, (again.results[0] as { offset: number }).offset], ["duplicate", offset], "replay twice is still once");
});

test(
  "CDC changes that could never be stored are 422 with the path, not 503: a delete key the contract refuses, a key with a newline, an lsn Avro can't encode",
  { timeout: 60_000 },
  async () => {
    const del = (id: string, lsn: number) => ({ op: "d", before: { customer_id: id }, after: null, source: { lsn }, ts_ms: Date.now() });
    const upsert = (id: string, lsn: number, tsMs = Date.now()) => ({
      op: "c",
      before: null,
      after: { customer_id: id, name: "Ada", email: null, country: "NL", updated_at: Date.now() - DAY },
      source: { lsn },
      ts_ms: tsMs,
    });
    const cases: [string, unknown, string][] = [
      ["a delete key the contract's pattern refuses", del("not a key!", 5), "$.before.customer_id"],
      ["a delete key with a newline (it would be the Nats-Msg-Id)", del("c1\n", 6), "$.before.customer_id"],
      ["a delete key longer than the contract allows", del("c".repeat(100), 7), "$.before.customer_id"],
      ["an lsn past the Avro encoder's long range", upsert("c-1", 2 ** 53 - 1), "$.source.lsn"],
      ["a delete with that lsn", del("c-1", 2 ** 53 - 1), "$.source.lsn"],
      ["ts_ms in 2099", upsert("c-1", 8, Y2099), "$.ts_ms"],
    ];
    for (const [what, change, path] of cases) {
      for (const send of [() => sendHttp(lake.producer, "customers", change), () => sendNats(nc, "customers", change)]) {
        const r = await send();
        assert.equal(r.status, 422, `${what}: ${JSON.stringify(r)}`);
        assert.equal(r.results[0]!.status, "rejected", what);
        assert.equal((r.results[0] as { path: string }).path, path, what);
      }
    }
    const ok = await sendHttp(lake.producer, "customers", [upsert("c-ok", 10), del("c-ok", 11)]);
    assert.deepEqual(
      ok.results.map((x) => x.status),
      ["accepted", "accepted"],
      "the valid neighbours still go through",
    );
  },
);

test(
  "a lone UTF-16 surrogate is refused with the field's path over HTTP and NATS; valid astral text is stored exactly as sent",
  { timeout: 120_000 },
  async () => {
    const raw = (id: string, user: string) => `{"event_id":"${id}","user_id":"${user}","event_type":"view","timestamp":${Date.now() - 60_000},"amount":1}`;
    for (const [id, user] of [
      ["lone-hi", String.raw`u\ud800`],
      ["lone-lo", String.raw`\udc00u`],
      ["lone-end", String.raw`\ud83d`],
    ] as const) {
      const r = await sendHttp(lake.producer, DATASET, undefined, raw(id, user));
      assert.equal(r.status, 422, `${id}: ${JSON.stringify(r)}`);
      assert.equal((r.results[0] as { path: string }).path, "$.user_id");
      assert.match((r.results[0] as { reason: string }).reason, /not valid Unicode/);
      const n = await sendNats(nc, DATASET, JSON.parse(raw(`${id}-nats`, user)));
      assert.equal(n.status, 422, `${id} over NATS: ${JSON.stringify(n)}`);
      assert.equal((n.results[0] as { path: string }).path, "$.user_id");
    }
    // In an object key too (it can only be an unknown field, and its path must itself be valid text).
    const k = await sendHttp(
      lake.producer,
      DATASET,
      undefined,
      `{"event_id":"lone-key","user_id":"u","event_type":"view","timestamp":${Date.now()},"amount":1,"x\\ud800":1}`,
    );
    assert.equal(k.status, 422);
    assert.equal((k.results[0] as { path: string }).path, String.raw`$["x\ud800"]`);

    const astral = await sendHttp(lake.producer, DATASET, undefined, raw("astral-1", String.raw`\ud83e\udd86 duck`));
    assert.equal(astral.status, 200, JSON.stringify(astral));
    const v = await covering(lake, astral.max_offset!, 30_000);
    const rows = await queryVersion(
      openLocalStore(lake.storeRoot),
      v,
      `SELECT event_id, user_id FROM ${DATASET} WHERE event_id LIKE 'lone%' OR event_id = 'astral-1'`,
    );
    assert.deepEqual(rows.rows, [{ event_id: "astral-1", user_id: "🦆 duck" }], "only the valid one is stored, unchanged");
  },
);

test(
  "a NATS request whose reply would exceed max_payload is refused before anything is published; an ordinary large batch is still answered",
  { timeout: 120_000 },
  async () => {
    const jsm = await jetstreamManager(nc);
    const quarantineBefore = (await jsm.streams.info("QUARANTINE")).state.last_seq;
    const eventsBefore = (await jsm.streams.info("EVENTS")).state.last_seq;
    // 15,000 records of 2 bytes each: a 30 KB request whose per-record answers add up to about 1.6 MB.
    const junk = new Array<number>(15_000).fill(1);
    const r = await sendNats(nc, DATASET, junk, 30_000);
    assert.equal(r.status, 413, JSON.stringify(r).slice(0, 500));
    assert.equal(r.error, "reply_too_large");
    assert.match(r.message ?? "", /split the batch/);
    assert.equal((await jsm.streams.info("QUARANTINE")).state.last_seq, quarantineBefore, "nothing was quarantined");
    // Mixed with valid records, none is published either (a retry would otherwise be the only way to learn their offsets).
    const mixed = await sendNats(nc, DATASET, [...junk.slice(0, 14_000), event("mixed-ok", Date.now())], 30_000);
    assert.equal(mixed.status, 413);
    assert.equal((await jsm.streams.info("EVENTS")).state.last_seq, eventsBefore, "nothing was published");

    // What fits is answered in full: 3,000 valid events in one request.
    const batch = Array.from({ length: 3000 }, (_, i) => event(`big-${i}`, Date.now() - 60_000, { amount: i }));
    const ok = await sendNats(nc, DATASET, batch, 60_000);
    assert.equal(ok.status, 200, JSON.stringify(ok).slice(0, 500));
    assert.equal(ok.accepted, 3000);
    // Over HTTP (no message size limit) the junk batch is answered per record, as before.
    const http = await sendHttp(lake.producer, DATASET, junk);
    assert.equal(http.status, 200);
    assert.equal(http.rejected, junk.length);
  },
);

test(
  "a record too large for a NATS message (a contract without a length limit) is refused at $ with the reason, not a 503 retried forever",
  { timeout: 120_000 },
  async () => {
    // A domain whose text field has no maxLength: a 1.5 MB value passes the contract, and HTTP takes it
    // (body limit 4 MiB), but no NATS message (max_payload 1 MiB) can carry it to the stream.
    const doc = {
      type: "record",
      name: "Note",
      namespace: "lake.domains.notes",
      "lake.domain": { name: "notes", version: 1, key: "note_id", event_time: "at", partition_by: "day(at)", policy: "non-critical" },
      fields: [
        { name: "note_id", type: "string", "lake.constraints": { minLength: 1, maxLength: 64, pattern: "^[a-z0-9-]+$" } },
        { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
        { name: "text", type: "string" },
      ],
    };
    const reg = await SchemaRegistry.open(nc, { seed: false });
    try {
      await reg.register(doc, "test", "a domain without a length limit");
    } finally {
      reg.close();
    }
    const note = (id: string, text: string) => ({ note_id: id, at: Date.now(), text });
    // Ingest follows the registry live: wait until it knows the domain.
    await waitFor(
      "ingest to know the notes domain",
      async () => ((await sendHttp(lake.producer, "notes", note("probe", "hello"))).status === 200 ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const big = note("big-1", "x".repeat(1_500_000));
    const r = await sendHttp(lake.producer, "notes", big);
    assert.equal(r.status, 422, JSON.stringify(r).slice(0, 500));
    assert.equal((r.results[0] as { path: string }).path, "$");
    assert.match((r.results[0] as { reason: string }).reason, /could never be published/);
    const q = await listQuarantine(lake.operator, "notes");
    const kept = q.records.find((x) => x.status === "quarantined" && x.event_id === "big-1") as QuarantinedEntry | undefined;
    assert.ok(kept, "the refused record is quarantined");
    assert.equal(kept.truncated, true, "its copy is capped");
    // Its neighbours in a batch still go through.
    const batch = await sendHttp(lake.producer, "notes", [note("small-1", "fine"), big]);
    assert.deepEqual(
      batch.results.map((x) => x.status),
      ["accepted", "rejected"],
    );
  },
);

test(
  "window results and position markers claiming upstream positions or watermarks past the events stream are set aside: no version covers what it doesn't hold, no row or watermark is pinned",
  { timeout: 240_000 },
  async () => {
    // As a client that may publish on the windows subject (a leaked credential): a marker far past the
    // events stream's end, and results whose position or revision no aggregator could have reached.
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const eventsLast = async () => (await jsm.streams.info("EVENTS")).state.last_seq;
    const marker = windowPositionCodec();
    const derived = derivedContract(DERIVED);
    const send = (data: Uint8Array, schema: string, id: string) => {
      const h = natsHeaders();
      h.set(HEADERS.schema, schema);
      return js.publish(`lake.windows.${DERIVED}`, data, { headers: h, msgID: id });
    };
    const FAR = 2 ** 50;
    // A window still open whatever earlier tests did to the watermark (one sent an event an hour ahead):
    // the real events below land in it as a provisional total, which a forged revision would otherwise
    // outrank for good. Both events after the watermark, in one day, within the hour of skew ingest allows.
    const wm = (await aggregatorHealth()).watermark_ms ?? 0;
    const t1 = Math.max(Date.now() - 60_000, wm + 1_000);
    const t2 = Math.floor(t1 / DAY) * DAY + DAY - 1 > t1 + 1_000 ? t1 + 1_000 : t1;
    assert.ok(t2 < Date.now() + HOUR - 10_000, `the watermark ${wm} leaves no room within the skew`);
    const windowStart = Math.floor(t1 / DAY) * DAY;
    const day = new Date(windowStart).toISOString().slice(0, 10);
    const row = (user: string, revision: number, throughSeq: number) => ({
      user_id: user,
      window_start: windowStart,
      window_end: windowStart + DAY,
      day,
      total_amount: 1e9,
      event_count: 1,
      min_amount: 1e9,
      max_amount: 1e9,
      revision,
      watermark: windowStart,
      provisional: revision === 0,
      through_seq: throughSeq,
    });
    const before = await eventsLast();
    const forged = [
      await send(marker.encode({ dataset: DERIVED, through_seq: FAR, watermark: windowStart }), marker.fingerprint, "forged-marker"),
      await send(derived.encode(row("pinned", 2 ** 31 - 1, 1)), derived.fingerprint, "forged-revision"),
      await send(derived.encode(row("ahead", 0, FAR)), derived.fingerprint, "forged-position"),
      await send(marker.encode({ dataset: DERIVED, through_seq: before + 1000, watermark: null }), marker.fingerprint, "forged-near-marker"),
      // Positions the stream holds, but a watermark in 2099: every window would read as final for good.
      await send(marker.encode({ dataset: DERIVED, through_seq: 1, watermark: Y2099 }), marker.fingerprint, "forged-watermark-marker"),
      await send(derived.encode({ ...row("late-ahead", 0, 1), watermark: Y2099 }), derived.fingerprint, "forged-watermark-row"),
    ];

    // Then ordinary traffic, for the user the forged revision named too.
    const r = await sendHttp(lake.producer, DATASET, [
      event("pin-1", t1, { user_id: "pinned", amount: 4 }),
      event("pin-2", t2, { user_id: "pinned", amount: 6 }),
    ]);
    assert.deepEqual(
      r.results.map((x) => x.status),
      ["accepted", "accepted"],
    );
    const v = await lake.catalog.coveringSource(DERIVED, r.max_offset!, 30_000);
    const last = await eventsLast();
    assert.ok(v.source_through_seq <= last, `the version covers upstream ${v.source_through_seq}, which the events stream (last ${last}) holds`);
    const lineage = await lake.catalog.lineage(DERIVED, "latest");
    for (const u of lineage.upstream ?? []) assert.ok(u.through_seq <= last, `latest version's upstream position ${u.through_seq} ≤ ${last}`);
    const watermark = lineage.watermark === null || lineage.watermark === undefined ? 0 : new Date(lineage.watermark).getTime();
    assert.ok(watermark <= Date.now() + HOUR, `latest version's watermark ${lineage.watermark} is not in the future past the skew`);
    // Nothing is said to cover an event that doesn't exist yet.
    await assert.rejects(lake.catalog.coveringSource(DERIVED, last + 500, 1_500), /no version of daily_user_totals covers source offset \d+ yet/);

    // The forged rows are in no version; the real ones for the same user are.
    const rows = await queryVersion(
      openLocalStore(lake.storeRoot),
      v,
      `SELECT user_id, day, total_amount, revision FROM ${DERIVED} WHERE user_id IN ('pinned', 'ahead', 'late-ahead')`,
    );
    assert.ok(
      rows.rows.every((x) => Number(x.total_amount) !== 1e9),
      `no forged total: ${JSON.stringify(rows.rows)}`,
    );
    assert.ok(
      rows.rows.some((x) => x.user_id === "pinned" && x.day === day && Number(x.total_amount) === 10),
      `the real total of the day the forged revision named: ${JSON.stringify(rows.rows)}`,
    );

    // Each forgery is set aside in the dataset's quarantine, saying why.
    const reasons = await waitFor(
      "the forgeries in quarantine",
      async () => {
        const out: string[] = [];
        const c = await js.consumers.get("QUARANTINE", { filter_subjects: `lake.quarantine.${DERIVED}` });
        const info = await c.info(true);
        if (info.num_pending === 0) return undefined;
        const batch = await c.fetch({ max_messages: info.num_pending, expires: 5_000 });
        for await (const m of batch) {
          out.push(quarantinedRecordCodec.decode(m.data).reason);
          if (m.info.pending === 0) break;
        }
        await c.delete().catch(() => undefined);
        return out.filter((x) => /past the last sequence of EVENTS|claims watermark \d+, past this clock/.test(x)).length >= forged.length ? out : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    for (const f of forged)
      assert.ok(
        reasons.some((x) => x.includes(`at sequence ${f.seq}:`)),
        `the message at ${f.seq} is in quarantine: ${reasons.join("\n")}`,
      );
  },
);
