// Quarantine inspection and replay: refused records are listed with their reason; a replay goes
// through ingest's own validation and publish path, lands in the dataset exactly once, and a second
// replay, even after JetStream's duplicate window has passed, is a duplicate with the same offset.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { listQuarantine, type QuarantinedEntry, type QuarantineEntry, replayQuarantine, type ReplayRequestItem, sendHttp } from "@lake/client";
import { domainContract, quarantinedRecordCodec, quarantineReplayCodec } from "@lake/contracts";
import { HEADERS } from "@lake/messaging";
import { waitFor } from "@lake/testing";

import { bearer, covering, DATASET, eventIdsIn, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
const ms = (n: number) => n * 1_000_000;

const valid = (id: string, overrides: Record<string, unknown> = {}) => ({
  event_id: id,
  user_id: "u1",
  event_type: "view",
  timestamp: "2026-06-01T10:00:00Z",
  amount: 1.5,
  ...overrides,
});
// Quarantined by this file, by event id.
const q: Record<string, QuarantinedEntry> = {};
/** The page's quarantined records (none of them is undecodable until the last test). */
const records = (page: { records: QuarantineEntry[] }): QuarantinedEntry[] =>
  page.records.map((r) => (r.status === "quarantined" ? r : assert.fail(`seq ${r.seq} is ${r.status}`)));

before(async () => {
  lake = await withLake();
  nc = await lake.connect();
  const r = await sendHttp(lake.producer, DATASET, [
    valid("good-1"),
    valid("qa", { amount: "12" }),
    valid("qb", { event_type: "teleport" }),
    valid("qc", { amount: 1e12 }),
    valid("qd", { amount: "3" }),
    valid("qe", { amount: null }),
  ]);
  assert.deepEqual(
    r.results.map((x) => x.status),
    ["accepted", "rejected", "rejected", "rejected", "rejected", "rejected"],
  );
  await covering(lake, r.max_offset!);
  for (const rec of records(await listQuarantine(lake.operator, DATASET))) if (rec.event_id) q[rec.event_id] = rec;
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

async function getList(query: string) {
  const res = await fetch(new URL(`/v1/domains/${DATASET}/quarantine${query}`, lake.ingestUrl), { headers: bearer(lake.operator.token) });
  return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
}

async function postReplay(body: string, domain = DATASET) {
  const res = await fetch(new URL(`/v1/domains/${domain}/quarantine/replay`, lake.ingestUrl), {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...bearer(lake.operator.token) },
  });
  return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
}

async function replayOne(item: ReplayRequestItem) {
  const reply = await replayQuarantine(lake.operator, DATASET, [item]);
  assert.equal(reply.results.length, 1);
  return reply.results[0]!;
}

/** How many times `id` is in the latest version, after a fresh event has been committed (so the version is current). */
async function timesInDataset(id: string): Promise<number> {
  const marker = await sendHttp(lake.producer, DATASET, valid(`marker-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`));
  assert.equal(marker.status, 200);
  await covering(lake, marker.max_offset!);
  return (await eventIdsIn(lake, "latest")).filter((x) => x === id).length;
}

test("refused records are listed oldest first with reason, path, raw copy and no replay", async () => {
  const page = await listQuarantine(lake.operator, DATASET);
  assert.deepEqual(
    records(page).map((r) => r.event_id),
    ["qa", "qb", "qc", "qd", "qe"],
  );
  assert.equal(page.next_after, null);
  const seqs = page.records.map((r) => r.seq);
  assert.deepEqual(
    [...seqs].sort((a, b) => a - b),
    seqs,
    "oldest first",
  );
  assert.equal(q.qa!.path, "$.amount");
  assert.match(q.qa!.reason, /must be a finite number/);
  assert.equal(q.qb!.path, "$.event_type");
  assert.match(q.qb!.reason, /must be one of/);
  assert.equal(q.qc!.path, "$.amount");
  assert.match(q.qc!.reason, /above the maximum/);
  assert.deepEqual(JSON.parse(q.qa!.raw), valid("qa", { amount: "12" }));
  assert.equal(q.qa!.truncated, false);
  assert.equal(q.qa!.source, "http");
  assert.ok(!Number.isNaN(Date.parse(q.qa!.received_at)) && q.qa!.received_at.endsWith("Z"), q.qa!.received_at);
  for (const r of records(page)) assert.equal(r.replayed, null);
});

test("the list pages with after and limit", async () => {
  const first = await listQuarantine(lake.operator, DATASET, { limit: 2 });
  assert.deepEqual(
    records(first).map((r) => r.event_id),
    ["qa", "qb"],
  );
  assert.equal(first.next_after, q.qb!.seq);
  const second = await listQuarantine(lake.operator, DATASET, { after: first.next_after!, limit: 2 });
  assert.deepEqual(
    records(second).map((r) => r.event_id),
    ["qc", "qd"],
  );
  const last = await listQuarantine(lake.operator, DATASET, { after: second.next_after!, limit: 2 });
  assert.deepEqual(
    records(last).map((r) => r.event_id),
    ["qe"],
  );
  assert.equal(last.next_after, null);
  const past = await listQuarantine(lake.operator, DATASET, { after: 1_000_000 });
  assert.deepEqual(past, { domain: DATASET, records: [], next_after: null });
});

test("a corrected record replays into the dataset exactly once; replaying again, even past the dedupe window, is a duplicate with the same offset", async () => {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  // Shrink the domain stream's duplicate window so it can run out during the test: from then on only
  // the replay ledger stands between a second replay and a second copy of the event.
  const info = await jsm.streams.info("EVENTS");
  await jsm.streams.update("EVENTS", { ...info.config, duplicate_window: ms(1000) });

  const first = await replayOne({ seq: q.qa!.seq, record: valid("qa", { amount: 12 }) });
  assert.equal(first.status, "accepted", JSON.stringify(first));
  const offset = (first as { offset: number }).offset;
  await covering(lake, offset);
  assert.deepEqual(
    (await eventIdsIn(lake, "latest")).filter((x) => x === "qa"),
    ["qa"],
  );

  const listed = records(await listQuarantine(lake.operator, DATASET)).find((r) => r.seq === q.qa!.seq)!;
  assert.equal(listed.replayed?.offset, offset, "the list shows where the replay landed");
  assert.ok(listed.replayed && !Number.isNaN(Date.parse(listed.replayed.at)));

  // Wait until JetStream no longer recognises a message id published after the replay.
  const probe = `window-probe-${Date.now()}`;
  await js.publish("lake.events.zz_window_probe", "probe", { msgID: probe });
  await waitFor(
    "the duplicate window to pass",
    async () => ((await js.publish("lake.events.zz_window_probe", "probe", { msgID: probe })).duplicate ? undefined : true),
    {
      timeoutMs: 15_000,
      intervalMs: 200,
    },
  );

  for (const item of [{ seq: q.qa!.seq, record: valid("qa", { amount: 12 }) }, { seq: q.qa!.seq }, { seq: q.qa!.seq, record: valid("qa", { amount: 99 }) }]) {
    const again = await replayOne(item);
    assert.deepEqual(again, { seq: q.qa!.seq, event_id: "qa", status: "duplicate", offset });
  }
  assert.equal(await timesInDataset("qa"), 1, "still exactly once");
  await jsm.streams.update("EVENTS", info.config);
});

test("replaying a still-invalid record is rejected with the reason and it stays quarantined, not replayed", async () => {
  const r = await replayOne({ seq: q.qb!.seq });
  assert.deepEqual(r, { seq: q.qb!.seq, event_id: "qb", status: "rejected", reason: q.qb!.reason, path: "$.event_type" });
  const stillBad = await replayOne({ seq: q.qb!.seq, record: valid("qb", { event_type: "warp" }) });
  assert.equal(stillBad.status, "rejected");
  assert.equal((stillBad as { path: string }).path, "$.event_type");
  const listed = records(await listQuarantine(lake.operator, DATASET)).find((x) => x.seq === q.qb!.seq)!;
  assert.equal(listed.replayed, null);
  assert.equal(listed.reason, q.qb!.reason);
  assert.equal(await timesInDataset("qb"), 0);
});

test("a correction with a different event_id is refused and changes nothing", async () => {
  const r = await replayOne({ seq: q.qc!.seq, record: valid("qc-renamed", { amount: 5 }) });
  assert.equal(r.status, "rejected");
  assert.equal((r as { path: string }).path, "$.event_id");
  assert.match((r as { reason: string }).reason, /event_id must stay "qc"/);
  assert.equal(records(await listQuarantine(lake.operator, DATASET)).find((x) => x.seq === q.qc!.seq)!.replayed, null);
  const ids = await eventIdsIn(lake, "latest");
  assert.ok(!ids.includes("qc-renamed") && !ids.includes("qc"));
});

test("two replays of one record racing each other: one is accepted, the other is a duplicate of it", async () => {
  const item = { seq: q.qd!.seq, record: valid("qd", { amount: 3 }) };
  const [a, b] = await Promise.all([replayOne(item), replayOne(item)]);
  assert.deepEqual([a.status, b.status].sort(), ["accepted", "duplicate"]);
  assert.equal((a as { offset: number }).offset, (b as { offset: number }).offset);
  assert.equal(await timesInDataset("qd"), 1);
});

test("a batch of items answers per item, and max_offset is the read-after-write token", async () => {
  const reply = await replayQuarantine(lake.operator, DATASET, [{ seq: q.qe!.seq, record: valid("qe", { amount: 0 }) }, { seq: q.qb!.seq }, { seq: 999_999 }]);
  assert.equal(reply.status, 200);
  assert.deepEqual(
    reply.results.map((r) => r.status),
    ["accepted", "rejected", "not_found"],
  );
  assert.deepEqual([reply.accepted, reply.rejected, reply.not_found, reply.duplicates, reply.failed], [1, 1, 1, 0, 0]);
  assert.equal(reply.max_offset, (reply.results[0] as { offset: number }).offset);
  await covering(lake, reply.max_offset!);
  assert.ok((await eventIdsIn(lake, "latest")).includes("qe"));
});

test("a seq of another domain, of a replay-ledger entry, or past the end is not_found; the list shows none of them", async () => {
  const js = jetstream(nc);
  const h = natsHeaders();
  h.set(HEADERS.record, quarantinedRecordCodec.name);
  const other = await js.publish(
    "lake.quarantine.other_domain",
    quarantinedRecordCodec.encode({
      domain: "other_domain",
      event_id: "o1",
      reason: "x",
      path: "$",
      raw: JSON.stringify(valid("o1")),
      truncated: false,
      received_at: Date.now(),
      source: "http",
    }),
    { headers: h },
  );
  const jsm = await jetstreamManager(nc);
  const ledger = await jsm.streams.getMessage("QUARANTINE", { last_by_subj: `lake.quarantine.${DATASET}.replayed.${q.qa!.seq}` });
  assert.ok(ledger, "the replay of qa left a ledger entry");
  for (const seq of [other.seq, ledger.seq, 10_000_000]) {
    const r = await replayOne({ seq });
    assert.equal(r.status, "not_found", `seq ${seq}`);
    assert.match((r as { reason: string }).reason, new RegExp(`no quarantined record of domain ${DATASET} at seq ${seq}`));
  }
  const seqs = (await listQuarantine(lake.operator, DATASET, { limit: 500 })).records.map((r) => r.seq);
  assert.ok(!seqs.includes(other.seq) && !seqs.includes(ledger.seq));
  assert.deepEqual(seqs, [q.qa!.seq, q.qb!.seq, q.qc!.seq, q.qd!.seq, q.qe!.seq]);
  assert.equal(await timesInDataset("o1"), 0);
});

function rawRequest(method: string, path: string, body?: string): Promise<{ status: number; body: { error?: string } }> {
  const url = new URL(lake.ingestUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { "content-type": "application/json", ...bearer(lake.operator.token) } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as { error?: string } }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("bad parameters and bodies are clear 4xx", async () => {
  const listCases: [string, string][] = [
    ["?after=-1", "invalid_after"],
    ["?after=abc", "invalid_after"],
    ["?limit=0", "invalid_limit"],
    ["?limit=100000", "invalid_limit"],
    ["?limit=1.5", "invalid_limit"],
    ["?offset=3", "unknown_parameter"],
    ["?after=1&after=2", "repeated_parameter"],
  ];
  for (const [query, code] of listCases) {
    const r = await getList(query);
    assert.equal(r.status, 400, query);
    assert.equal(r.body.error, code, query);
    assert.ok(r.body.message, query);
  }
  const replayCases: [string, number, string][] = [
    ['{"items": [', 400, "malformed_json"],
    ["[]", 400, "invalid_replay"],
    ['{"items": []}', 400, "empty_batch"],
    ['{"items": [{"seq": 0}]}', 400, "invalid_seq"],
    ['{"items": [{"seq": "7"}]}', 400, "invalid_seq"],
    ['{"items": [{"seq": 7, "extra": 1}]}', 400, "invalid_replay"],
    ['{"items": [{"seq": 7}, {"seq": 7}]}', 400, "duplicate_seq"],
    [JSON.stringify({ items: Array.from({ length: 101 }, (_, i) => ({ seq: i + 1 })) }), 413, "batch_too_large"],
  ];
  for (const [body, status, code] of replayCases) {
    const r = await postReplay(body);
    assert.equal(r.status, status, body.slice(0, 60));
    assert.equal(r.body.error, code, body.slice(0, 60));
  }
  // The same strict name checks as the events route, before anything is looked up.
  for (const name of ["..%2Fx", "a%2Fb", "UPPER", "x.y", "%2e%2e", "..", "a%00b"]) {
    const list = await rawRequest("GET", `/v1/domains/${name}/quarantine`);
    assert.equal(list.status, 400, name);
    assert.equal(list.body.error, "invalid_name", name);
    const replay = await rawRequest("POST", `/v1/domains/${name}/quarantine/replay`, '{"items": [{"seq": 1}]}');
    assert.equal(replay.status, 400, name);
    assert.equal(replay.body.error, "invalid_name", name);
  }
  const unknown = await rawRequest("GET", "/v1/domains/no_such_domain/quarantine");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error, "unknown_domain");
  const unknownReplay = await postReplay('{"items": [{"seq": 1}]}', "no_such_domain");
  assert.equal(unknownReplay.status, 404);
  assert.equal((await rawRequest("POST", `/v1/domains/${DATASET}/quarantine`, "{}")).status, 405);
  assert.equal((await rawRequest("GET", `/v1/domains/${DATASET}/quarantine/replay`)).status, 405);
  assert.equal((await rawRequest("GET", `/v1/domains/${DATASET}/quarantine/other`)).status, 404);
});

test("a replay interrupted after its claim (and after its publish) is finished by the next one, with the claimed event id only", async () => {
  const js = jetstream(nc);
  const noId = (n: number) => ({ user_id: `u${n}`, event_type: "view", timestamp: "2026-06-01T11:00:00Z", amount: n });
  const sent = await sendHttp(lake.producer, DATASET, [noId(1), noId(2)]);
  assert.deepEqual(
    sent.results.map((x) => x.status),
    ["rejected", "rejected"],
  );
  const fresh = records(await listQuarantine(lake.operator, DATASET, { after: q.qe!.seq }));
  assert.deepEqual(
    fresh.map((r) => [r.event_id, r.path]),
    [
      [null, "$.event_id"],
      [null, "$.event_id"],
    ],
  );
  const [a, b] = fresh as [QuarantinedEntry, QuarantinedEntry];

  // What a replay leaves behind when it is killed: its claim (a: before publishing; b: after).
  const claim = async (seq: number, eventId: string) => {
    const h = natsHeaders();
    h.set(HEADERS.record, "QuarantineReplay");
    const body = quarantineReplayCodec.encode({ state: "claimed", event_id: eventId, offset: null, at: Date.now() });
    await js.publish(`lake.quarantine.${DATASET}.replayed.${seq}`, body, { headers: h, expect: { lastSubjectSequence: 0 } });
  };
  await claim(a.seq, "crash-a");
  await claim(b.seq, "crash-b");
  const contract = domainContract(DATASET);
  const bValue = contract.validate({ event_id: "crash-b", ...noId(2) }, Date.now());
  assert.ok(bValue.ok);
  const h = natsHeaders();
  h.set(HEADERS.schema, contract.fingerprint);
  const bAck = await js.publish(`lake.events.${DATASET}`, contract.encode(bValue.value), { msgID: `${DATASET}:crash-b`, headers: h });

  for (const r of records(await listQuarantine(lake.operator, DATASET, { after: q.qe!.seq }))) assert.equal(r.replayed, null, "a claim is not a replay");
  const other = await replayOne({ seq: a.seq, record: { event_id: "someone-else", ...noId(1) } });
  assert.equal(other.status, "rejected");
  assert.match((other as { reason: string }).reason, /event_id "crash-a" is in progress or unfinished/);

  const resumedA = await replayOne({ seq: a.seq, record: { event_id: "crash-a", ...noId(1) } });
  assert.equal(resumedA.status, "accepted");
  const resumedB = await replayOne({ seq: b.seq, record: { event_id: "crash-b", ...noId(2) } });
  assert.deepEqual(resumedB, { seq: b.seq, event_id: "crash-b", status: "duplicate", offset: bAck.seq }, "the publish that got through is the one on record");
  const listed = records(await listQuarantine(lake.operator, DATASET, { after: q.qe!.seq }));
  assert.deepEqual(
    listed.map((r) => r.replayed?.offset),
    [(resumedA as { offset: number }).offset, bAck.seq],
  );
  assert.equal(await timesInDataset("crash-a"), 1);
  assert.equal(await timesInDataset("crash-b"), 1);
  assert.equal(await timesInDataset("someone-else"), 0);
});

test("junk on the quarantine subject or on replay ledgers is shown as such and stops nothing: the rest lists and replays", async () => {
  const js = jetstream(nc);
  const tagged = (record: string) => {
    const h = natsHeaders();
    h.set(HEADERS.record, record);
    return h;
  };
  const sent = await sendHttp(lake.producer, DATASET, [valid("jk-a", { amount: "1" }), valid("jk-b", { amount: "2" }), valid("jk-c", { amount: "3" })]);
  assert.deepEqual(
    sent.results.map((x) => x.status),
    ["rejected", "rejected", "rejected"],
  );
  const before = (await listQuarantine(lake.operator, DATASET, { limit: 500 })).records;
  const [a, b, c] = before.slice(-3) as [QuarantinedEntry, QuarantinedEntry, QuarantinedEntry];
  assert.deepEqual([a.event_id, b.event_id, c.event_id], ["jk-a", "jk-b", "jk-c"]);

  // b is replayed for real first; then a hostile client publishes junk: bytes tagged as a quarantined
  // record, a well-formed record of another domain on this domain's subject, and junk on the replay
  // ledgers of a (nothing replayed yet) and b (after its completion).
  const bReplay = await replayOne({ seq: b.seq, record: valid("jk-b", { amount: 2 }) });
  assert.equal(bReplay.status, "accepted");
  const junk = await js.publish(`lake.quarantine.${DATASET}`, new Uint8Array([0x02, 0xff, 0xff, 0xff, 0xff, 0x0f]), { headers: tagged("QuarantinedRecord") });
  const foreign = await js.publish(
    `lake.quarantine.${DATASET}`,
    quarantinedRecordCodec.encode({
      domain: "payments",
      event_id: "p1",
      reason: "x",
      path: "$",
      raw: JSON.stringify(valid("p1")),
      truncated: false,
      received_at: Date.now(),
      source: "http",
    }),
    { headers: tagged("QuarantinedRecord") },
  );
  await js.publish(`lake.quarantine.${DATASET}.replayed.${a.seq}`, new Uint8Array([0xff, 0xfe, 0xfd]), { headers: tagged("QuarantineReplay") });
  await js.publish(`lake.quarantine.${DATASET}.replayed.${b.seq}`, new TextEncoder().encode("not a ledger entry"), { headers: tagged("QuarantineReplay") });

  // The list answers, shows the bad messages as bad, and everything else as before.
  const res = await fetch(new URL(`/v1/domains/${DATASET}/quarantine?after=${a.seq - 1}`, lake.ingestUrl), { headers: bearer(lake.operator.token) });
  assert.equal(res.status, 200);
  const page = (await res.json()) as { records: QuarantineEntry[] };
  assert.deepEqual(
    page.records.map((r) => [r.seq, r.status]),
    [
      [a.seq, "quarantined"],
      [b.seq, "quarantined"],
      [c.seq, "quarantined"],
      [junk.seq, "undecodable"],
      [foreign.seq, "undecodable"],
    ],
  );
  const [badJunk, badForeign] = page.records.slice(3) as Extract<QuarantineEntry, { status: "undecodable" }>[];
  assert.match(badJunk!.error, /cannot decode QuarantinedRecord/);
  assert.equal(badJunk!.bytes, 6);
  assert.ok(!Number.isNaN(Date.parse(badJunk!.stored_at)));
  assert.match(badForeign!.error, /names domain "payments", not domain_events/);
  const listedB = page.records[1] as QuarantinedEntry;
  assert.equal(listedB.replayed?.offset, (bReplay as { offset: number }).offset, "junk after a completed replay erases nothing");
  assert.equal((page.records[0] as QuarantinedEntry).replayed, null);

  // Replaying a bad message is a clear 422; replaying good ones still works, junk ledger or not.
  for (const seq of [junk.seq, foreign.seq]) {
    const r = await postReplay(JSON.stringify({ items: [{ seq }] }));
    assert.equal(r.status, 422, JSON.stringify(r.body));
    const result = (r.body as unknown as { results: { status: string; reason: string }[] }).results[0]!;
    assert.equal(result.status, "undecodable");
    assert.match(result.reason, new RegExp(`seq ${seq} is not a readable quarantined record .*it cannot be replayed`));
  }
  const aReplay = await replayOne({ seq: a.seq, record: valid("jk-a", { amount: 1 }) });
  assert.equal(aReplay.status, "accepted", JSON.stringify(aReplay));
  assert.deepEqual(await replayOne({ seq: b.seq }), { seq: b.seq, event_id: "jk-b", status: "duplicate", offset: (bReplay as { offset: number }).offset });
  const mixed = await replayQuarantine(lake.operator, DATASET, [{ seq: junk.seq }, { seq: c.seq, record: valid("jk-c", { amount: 3 }) }]);
  assert.equal(mixed.status, 200);
  assert.deepEqual(
    mixed.results.map((r) => r.status),
    ["undecodable", "accepted"],
  );
  assert.equal(mixed.undecodable, 1);

  const after = (await listQuarantine(lake.operator, DATASET, { after: a.seq - 1 })).records;
  assert.deepEqual(
    after.map((r) => (r.status === "quarantined" ? r.replayed !== null : r.status)),
    [true, true, true, "undecodable", "undecodable"],
  );
  for (const id of ["jk-a", "jk-b", "jk-c"]) assert.equal(await timesInDataset(id), 1, id);
  assert.equal(await timesInDataset("p1"), 0);
});
