// The hostile corpus: several hundred distinct hostile inputs, over ingest's HTTP API, over its NATS
// endpoint (as the producer user), and as raw messages on every lake subject (as a NATS client holding
// the admin credentials, the worst a leaked credential allows; and as the producer user, who must be
// refused at the server). Whatever the input, afterwards:
// - no service process has exited;
// - every event ingest answered `accepted` is in its dataset exactly once, byte for byte as it was sent;
// - no dataset stops committing (each domain and the derived dataset take a new version);
// - nothing already committed changed (every earlier version has the same files and rows).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { fsck } from "@lake/app";
import { CatalogClient, type IngestReply, queryVersion, sampleEvents, sendHttp } from "@lake/client";
import { domainContract, logCodecs } from "@lake/contracts";
import { readCommitHead } from "@lake/messaging";
import { openStore } from "@lake/storage";

import { DATASET, settled, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let admin: NatsConnection;
let producer: NatsConnection;

const DOMAINS = ["domain_events", "payments", "customers"] as const;
const DATASETS = [...DOMAINS, "daily_user_totals"] as const;
const T0 = Date.UTC(2026, 5, 1, 12);

/** What was accepted, by domain and event id: the record as sent. */
const accepted = new Map<string, Map<string, Record<string, unknown>>>(DOMAINS.map((d) => [d, new Map()]));
const counts = { http: 0, nats: 0, natsReply: 0, junk: 0, deniedPublish: 0, accepted: 0, rejected: 0, refused4xx: 0 };

function noteReply(domain: string, sent: unknown[], r: { status: number; results?: IngestReply["results"] }, where: string) {
  assert.ok(r.status < 500 || r.status === 503, `${where}: answered ${r.status}`);
  assert.notEqual(r.status, 503, `${where}: a hostile input is never "retry later" (503)`);
  if (r.status >= 400) {
    counts.refused4xx++;
    return;
  }
  for (const res of r.results ?? []) {
    if (res.status === "accepted") {
      counts.accepted++;
      // As it went over the wire (JSON: -0 is sent as 0).
      const rec = JSON.parse(JSON.stringify(sent[res.index])) as Record<string, unknown>;
      const id = domain === "customers" ? res.event_id! : String(rec.event_id);
      accepted.get(domain)!.set(id, rec);
    } else {
      assert.ok(res.status === "rejected" || res.status === "duplicate", `${where}: record ${res.index} is ${res.status}`);
      if (res.status === "rejected") counts.rejected++;
    }
  }
}

// ---- the corpus --------------------------------------------------------------------------------

const good = (i: number, over: Record<string, unknown> = {}) => ({
  event_id: `hc-${i}`,
  user_id: `user-${i % 7}`,
  event_type: "view",
  timestamp: T0 + i * 1000,
  amount: 1.5,
  ...over,
});

/** Hostile values for a field of domain_events, each a distinct input. */
const hostileValues: unknown[] = [
  null,
  "",
  " ",
  -1,
  0,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 63,
  1.5,
  true,
  [],
  {},
  [1, 2],
  { $gt: "" },
  "\ud800",
  "a\udc00b",
  "x".repeat(129),
  "x".repeat(100_000),
  "\u0000",
  "a\nb",
  "a\rb",
  "../../etc/passwd",
  "lake.commits.>",
  "*",
  ">",
  "\u202e",
  "💥",
  "NaN",
  "Infinity",
];
const FIELDS = ["event_id", "user_id", "event_type", "timestamp", "amount"] as const;

function httpEventCorpus(): { name: string; body: unknown[] }[] {
  const out: { name: string; body: unknown[] }[] = [];
  let i = 1000;
  for (const f of FIELDS) for (const [k, v] of hostileValues.entries()) out.push({ name: `${f}=#${k}`, body: [good(i++, { [f]: v })] });
  // Missing fields, unknown fields, prototype tricks.
  for (const f of FIELDS) {
    const r = good(i++);
    delete (r as Record<string, unknown>)[f];
    out.push({ name: `missing ${f}`, body: [r] });
  }
  out.push({ name: "unknown field", body: [good(i++, { extra: 1 })] });
  out.push({
    name: "__proto__ field",
    body: [JSON.parse(`{"__proto__":{"polluted":1},"event_id":"hc-${i++}","user_id":"u","event_type":"view","timestamp":${T0},"amount":1}`)],
  });
  out.push({ name: "constructor field", body: [good(i++, { constructor: "x" })] });
  // Event times at and past the bounds: far future, past the Date range, before the contract's range.
  const now = Date.now();
  for (const t of [Date.UTC(2099, 0, 1), 9e15, 8.64e15 + 1, -8.64e15 - 1, now + 2 * 3_600_000, now + 86_400_000, 946684799999, 4102444800001, -1, 0])
    out.push({ name: `timestamp ${t}`, body: [good(i++, { timestamp: t })] });
  // Boundary values that are valid and must be stored exactly.
  for (const [f, v] of [
    ["amount", 1e9],
    ["amount", -1e9],
    ["amount", 0.1 + 0.2],
    ["amount", -0],
    ["amount", 5e-324],
    ["timestamp", 946684800000],
    ["user_id", "ü".repeat(128)],
    ["user_id", "𝄞".repeat(64)],
    ["user_id", "a\u00a0b"],
    ["user_id", "'; DROP TABLE x; --"],
    ["event_id", "a".repeat(128)],
    ["event_id", "a.b_c:d-e"],
  ] as const)
    out.push({ name: `boundary ${f}=${String(v).slice(0, 20)}`, body: [good(i++, { [f]: v })] });
  // Non-objects as records, and the same id twice in one batch (one accepted, one duplicate).
  for (const v of [null, 1, "str", [], true]) out.push({ name: `record ${JSON.stringify(v)}`, body: [v] });
  out.push({ name: "same id twice", body: [good(i, {}), good(i, { amount: 2 })] });
  return out;
}

const rawBodies: { name: string; body: string | Uint8Array }[] = [
  { name: "empty", body: "" },
  { name: "truncated", body: '[{"event_id":"x"' },
  { name: "trailing garbage", body: "[]xyz" },
  { name: "NaN literal", body: '[{"amount":NaN}]' },
  { name: "BOM", body: "\ufeff[]" },
  { name: "object not array", body: '{"event_id":"x"}' },
  { name: "number", body: "42" },
  { name: "null", body: "null" },
  { name: "deep", body: "[".repeat(10_000) + "]".repeat(10_000) },
  { name: "invalid utf-8", body: new Uint8Array([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]) },
  { name: "overlong utf-8", body: new Uint8Array([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]) },
  { name: "huge number", body: `[{"event_id":"n1","user_id":"u","event_type":"view","timestamp":1${"0".repeat(400)},"amount":1}]` },
  { name: "duplicate keys", body: `[{"event_id":"dk-1","event_id":"dk-2","user_id":"u","event_type":"view","timestamp":${T0},"amount":1}]` },
  { name: "escaped lone surrogate", body: `[{"event_id":"ls-1","user_id":"\\ud800","event_type":"view","timestamp":${T0},"amount":1}]` },
  { name: "10k empty records", body: "[" + new Array(10_000).fill("{}").join(",") + "]" },
];

function cdcCorpus(): { name: string; body: unknown[] }[] {
  const row = (id: string) => ({ customer_id: id, name: "N", email: `${id}@example.com`, country: "GB", updated_at: T0 });
  const change = (id: string, lsn: unknown, over: Record<string, unknown> = {}) => ({
    op: "c",
    before: null,
    after: row(id),
    source: { lsn },
    ts_ms: T0,
    ...over,
  });
  const out: { name: string; body: unknown[] }[] = [];
  let i = 0;
  for (const lsn of [-1, 1.5, "1", null, 2 ** 53, 2 ** 53 - 1, 2 ** 63, 1e308, {}, []])
    out.push({ name: `lsn ${JSON.stringify(lsn)}`, body: [change(`cx${i++}`, lsn)] });
  for (const op of ["x", "", null, 1, "C", "delete"]) out.push({ name: `op ${JSON.stringify(op)}`, body: [change(`cx${i++}`, 10 + i, { op })] });
  for (const key of ["", "a\nb", "\ud800", "x".repeat(200), 1, null, "a b "]) {
    out.push({
      name: `delete key ${JSON.stringify(key).slice(0, 20)}`,
      body: [{ op: "d", before: { customer_id: key }, after: null, source: { lsn: 100 + i++ }, ts_ms: T0 }],
    });
  }
  for (const ts of [-1, 9e15, Date.UTC(2099, 0, 1), "now", null])
    out.push({ name: `ts_ms ${JSON.stringify(ts)}`, body: [change(`cx${i++}`, 200 + i, { ts_ms: ts })] });
  out.push({ name: "after missing", body: [{ op: "u", before: null, source: { lsn: 300 }, ts_ms: T0 }] });
  out.push({ name: "after is array", body: [{ op: "u", before: null, after: [], source: { lsn: 301 }, ts_ms: T0 }] });
  out.push({ name: "unknown envelope field", body: [change(`cx${i}`, 302, { evil: 1 })] });
  // Valid changes, the last with a position near the top of the range (must not hide other keys).
  out.push({ name: "valid create", body: [change("cgood-1", 400)] });
  out.push({ name: "valid extreme position", body: [change("cgood-2", 2 ** 53 - 2)] });
  out.push({ name: "valid after extreme", body: [change("cgood-3", 401)] });
  return out;
}

/** A header value filled in when the message is sent: the sequence of the subject's last message. */
const HEAD = "<head>";

/** Hostile messages for every lake subject: payload × headers. */
function junkMessages(): { subject: string; data: Uint8Array; headers: Record<string, string> }[] {
  const v1 = logCodecs.VersionCommitted;
  const forgedVersion = (dataset: string, version: number) =>
    v1.encode({
      dataset,
      version,
      parent_version: version - 1,
      write_id: `forged-${version}`,
      committer_id: "mallory",
      committed_at: T0,
      schema_name: dataset,
      schema_version: 1,
      schema_fingerprint: "f".repeat(64),
      manifest: { key: `datasets/${dataset}/manifests/forged.json`, sha256: "0".repeat(64), bytes: 1 },
      added_files: [{ key: `datasets/${dataset}/data/dt=2026-06-01/forged.parquet`, partition: "dt=2026-06-01", rows: 1, bytes: 1, sha256: "0".repeat(64) }],
      removed_files: [],
      source: { stream: "EVENTS", subject: `lake.events.${dataset}`, first_seq: 1, last_seq: 2 ** 40 },
      row_count: 1,
      total_rows: 1,
      min_event_time: null,
      max_event_time: null,
      max_source_position: null,
      iceberg: null,
      lineage: null,
      operation: "append",
      policy: "non-critical",
    });
  const payloads: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    text: new TextEncoder().encode("junk"),
    json: new TextEncoder().encode('{"event_id":"j","dataset":"domain_events"}'),
    random: new Uint8Array(randomBytes(64)),
    hugeArray: new Uint8Array([...new Array(12).fill(0), 0x80, 0x80, 0x80, 0x80, 0x10]),
    hugeString: new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10, 0x41]),
    ff: new Uint8Array(16).fill(0xff),
    forgedV1: forgedVersion("domain_events", 1),
  };
  const headerSets: Record<string, Record<string, string>> = {
    none: {},
    record: { "Lake-Record": "VersionCommitted" },
    token: { "Lake-Record": "VersionCommitted", "Lake-Expected-Seq": "999999999", "Lake-Version-Seq": "abc" },
    schema: { "Lake-Schema": "0".repeat(64) },
  };
  const subjectsList = [
    ...DOMAINS.map((d) => `lake.events.${d}`),
    ...DATASETS.map((d) => `lake.commits.${d}`),
    "lake.commits.rogue",
    "lake.windows.daily_user_totals",
    "lake.late.daily_user_totals",
    ...DOMAINS.map((d) => `lake.quarantine.${d}`),
    "lake.quarantine.domain_events.replayed.1",
    ...DOMAINS.map((d) => `lake.schemas.${d}`),
    "lake.alerts.consumer_lag",
  ];
  const out: { subject: string; data: Uint8Array; headers: Record<string, string> }[] = [];
  // Every subject gets every payload once, with a header set chosen by position (so each pair of
  // payload and headers meets several subjects); the forged version also goes with a valid-looking token.
  subjectsList.forEach((subject, s) => {
    Object.entries(payloads).forEach(([, data], p) => {
      const hs = Object.values(headerSets)[(s + p) % 4]!;
      out.push({ subject, data, headers: hs });
    });
  });
  for (const d of DATASETS)
    out.push({
      subject: `lake.commits.${d}`,
      data: forgedVersion(d, 1),
      headers: { "Lake-Record": "VersionCommitted", "Lake-Expected-Seq": "0", "Lake-Version-Seq": "0" },
    });
  // Forgeries with a valid token (the subject's last record, filled in when sent): v1 again claiming
  // there is no version yet, and a version that skips ahead; then a tag pointing at the wrong version.
  for (const d of DATASETS) {
    out.push({
      subject: `lake.commits.${d}`,
      data: forgedVersion(d, 1),
      headers: { "Lake-Record": "VersionCommitted", "Lake-Expected-Seq": HEAD, "Lake-Version-Seq": "0" },
    });
    out.push({
      subject: `lake.commits.${d}`,
      data: forgedVersion(d, 1000),
      headers: { "Lake-Record": "VersionCommitted", "Lake-Expected-Seq": HEAD, "Lake-Version-Seq": HEAD },
    });
    out.push({
      subject: `lake.commits.${d}`,
      data: logCodecs.VersionTagged.encode({ dataset: d, version: 1, tag: "forged", actor: "mallory", reason: "", at: T0 }),
      headers: { "Lake-Record": "VersionTagged", "Lake-Expected-Seq": HEAD, "Lake-Version-Seq": "1" },
    });
  }
  // Well-formed events of the contract, with the real schema, whose times no Date can hold: written
  // past ingest, they are committed, and nothing that formats or partitions their time may throw.
  const contract = domainContract("domain_events");
  for (const [i, t] of [9e15, -9e15, 2 ** 53 - 2].entries()) {
    out.push({
      subject: "lake.events.domain_events",
      data: contract.encode({ ...good(30_000 + i), timestamp: t }),
      headers: { "Lake-Schema": contract.fingerprint },
    });
  }
  // A record whose body names another dataset than its subject.
  out.push({
    subject: "lake.commits.rogue",
    data: forgedVersion("domain_events", 99),
    headers: { "Lake-Record": "VersionCommitted", "Lake-Expected-Seq": "0", "Lake-Version-Seq": "0" },
  });
  return out;
}

// ---- the checks --------------------------------------------------------------------------------

interface Snapshot {
  dataset: string;
  version: number;
  files: string;
  rows: string;
}

async function snapshotVersions(): Promise<Snapshot[]> {
  const catalog = new CatalogClient(lake.catalogUrl);
  const store = await openStore(lake.storeConfig);
  const out: Snapshot[] = [];
  for (const ds of DATASETS) {
    const page = await catalog.versions(ds, 0, 1000);
    for (const meta of page.versions) {
      const v = await catalog.version(ds, meta.version);
      // A version with no files (a revert of a critical dataset's first version, whose batch failed its
      // audit) has no columns to exclude.
      const r = v.files.length === 0 ? { rows: [] } : await queryVersion(store, v, `SELECT * EXCLUDE (_offset) FROM ${ds}`);
      const rows = r.rows.map((x) => JSON.stringify(x, (_k, val) => (typeof val === "bigint" ? String(val) : val))).sort();
      out.push({
        dataset: ds,
        version: v.version,
        files: JSON.stringify(v.files.map((f) => [f.key, f.sha256]).sort()),
        rows: createHash("sha256").update(rows.join("\n")).digest("hex"),
      });
    }
  }
  return out;
}

async function assertAllAlive() {
  for (const [name, s] of lake.services) {
    const exited = await Promise.race([s.exited.then((c) => ({ code: c })), new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);
    assert.equal(exited, undefined, `${name} is still running (it exited with ${JSON.stringify(exited)})`);
    assert.doesNotMatch(s.logs(), /Maximum call stack|FATAL ERROR|heap out of memory|Unhandled|uncaught/i, `${name} did not crash`);
  }
}

before(async () => {
  lake = await withLake();
  admin = await lake.connect("admin", "hostile-admin");
  producer = await lake.connect("producer", "hostile-producer");
});
after(async () => {
  await admin?.close();
  await producer?.close();
  await lake?.cleanup();
});

test("300+ hostile inputs over HTTP and NATS: no process exits, accepted events stored exactly once and byte-exact, every dataset keeps committing, nothing committed changes", async () => {
  const catalog = new CatalogClient(lake.catalogUrl);
  // Some history first, in every dataset.
  const seed = sampleEvents(50, { prefix: "seed", startMs: T0 });
  const s1 = await sendHttp(lake.producer, DATASET, seed);
  noteReply(DATASET, seed, s1, "seed");
  const pay = [{ payment_id: "p-seed", user_id: "u", amount: 5, currency: "EUR", timestamp: T0 }];
  noteReply("payments", pay, await sendHttp(lake.producer, "payments", pay), "seed payments");
  const cust = [
    {
      op: "c",
      before: null,
      after: { customer_id: "seed-c", name: "S", email: "s@example.com", country: "GB", updated_at: T0 },
      source: { lsn: 1 },
      ts_ms: T0,
    },
  ];
  noteReply("customers", cust, await sendHttp(lake.producer, "customers", cust), "seed customers");
  const before = await waitForVersions();
  const snapshot = await snapshotVersions();

  // 1. HTTP: hostile records, raw bodies, CDC envelopes.
  for (const c of httpEventCorpus()) {
    counts.http++;
    noteReply(DATASET, c.body, await sendHttp(lake.producer, DATASET, c.body), `http ${c.name}`);
  }
  for (const c of rawBodies) {
    counts.http++;
    const r = await sendHttp(lake.producer, DATASET, [], c.body);
    assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `raw ${c.name}: ${r.status}`);
    if (r.status === 200) noteReply(DATASET, JSON.parse(typeof c.body === "string" ? c.body : "[]") as unknown[], r, `raw ${c.name}`);
    else counts.refused4xx++;
  }
  for (const c of cdcCorpus()) {
    counts.http++;
    noteReply("customers", c.body, await sendHttp(lake.producer, "customers", c.body), `cdc ${c.name}`);
  }
  // Hostile paths and methods.
  for (const path of [
    "/v1/domains/..%2f..%2fetc/events",
    "/v1/domains/DOMAIN_EVENTS/events",
    "/v1/domains/nope/events",
    "/v1/domains/" + "a".repeat(300) + "/events",
    "/v1/domains/domain_events/events/../../x",
    "/%00",
    "/v1/domains/domain.events/events",
  ]) {
    counts.http++;
    const res = await fetch(new URL(path, lake.ingestUrl), {
      method: "POST",
      body: "[]",
      headers: { "content-type": "application/json", authorization: `Bearer ${lake.producer.token}` },
    });
    assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
    counts.refused4xx++;
  }
  for (const auth of ["", "Bearer ", "Bearer nope", "Basic YTpi", "Bearer " + "x".repeat(10_000)]) {
    counts.http++;
    const res = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
      method: "POST",
      body: JSON.stringify([good(9999)]),
      headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
    });
    assert.ok(res.status === 401 || res.status === 403, `authorization ${JSON.stringify(auth.slice(0, 20))}: ${res.status}`);
    counts.refused4xx++;
  }

  // 2. NATS request/reply as the producer user: the same hostile records and bodies.
  const enc = new TextEncoder();
  for (const c of httpEventCorpus().slice(0, 80)) {
    counts.nats++;
    const m = await producer.request(`lake.ingest.${DATASET}`, enc.encode(JSON.stringify(c.body)), { timeout: 10_000 });
    const r = JSON.parse(new TextDecoder().decode(m.data)) as { status?: number; results?: IngestReply["results"]; error?: string };
    noteReply(DATASET, c.body, { status: r.status ?? (r.error ? 400 : 200), results: r.results }, `nats ${c.name}`);
  }
  for (const c of rawBodies) {
    counts.nats++;
    const m = await producer.request(`lake.ingest.${DATASET}`, typeof c.body === "string" ? enc.encode(c.body) : c.body, { timeout: 10_000 });
    const r = JSON.parse(new TextDecoder().decode(m.data)) as { status?: number; results?: IngestReply["results"]; error?: string };
    if (r.results)
      noteReply(DATASET, JSON.parse(typeof c.body === "string" ? c.body : "[]") as unknown[], { status: 200, results: r.results }, `nats raw ${c.name}`);
    else assert.ok(r.error, `nats raw ${c.name}: an error answer`);
  }
  // Requests whose reply subject is a lake stream subject: refused (server and ingest), nothing lands.
  for (const reply of [
    "lake.commits.domain_events",
    "lake.events.domain_events",
    "lake.quarantine.domain_events",
    "lake.schemas.domain_events",
    "$JS.API.STREAM.PURGE.EVENTS",
  ]) {
    counts.natsReply++;
    producer.publish(`lake.ingest.${DATASET}`, enc.encode(JSON.stringify([good(20_000 + counts.natsReply)])), { reply });
  }
  await producer.flush();

  // 3. The producer user publishing straight onto stream subjects: denied by the server.
  for (const subject of [
    "lake.events.domain_events",
    "lake.commits.domain_events",
    "lake.windows.daily_user_totals",
    "lake.quarantine.domain_events",
    "lake.schemas.domain_events",
  ]) {
    counts.deniedPublish++;
    await assert.rejects(
      jetstream(producer).publish(subject, enc.encode("forged"), { timeout: 2000 }),
      /permission|timeout|no responders/i,
      `producer publish to ${subject}`,
    );
  }

  // 4. Junk on every lake subject, as a client holding the admin credentials.
  const js = jetstream(admin);
  const jsm = await jetstreamManager(admin);
  for (const j of junkMessages()) {
    counts.junk++;
    const h = natsHeaders();
    const head = Object.values(j.headers).includes(HEAD)
      ? String((await jsm.streams.getMessage("COMMITS", { last_by_subj: j.subject }).catch(() => null))?.seq ?? 0)
      : "";
    for (const [k, v] of Object.entries(j.headers)) h.set(k, v === HEAD ? head : v);
    await js.publish(j.subject, j.data, { headers: h, msgID: `junk-${counts.junk}` }).catch((e: unknown) => {
      // The only refusals allowed are the server's own (e.g. a header the server parses itself).
      assert.match(String(e), /JetStream|invalid/i, `publishing junk on ${j.subject}`);
    });
  }

  const total = counts.http + counts.nats + counts.natsReply + counts.deniedPublish + counts.junk;
  console.log(`# hostile corpus: ${total} inputs (${JSON.stringify(counts)})`);
  assert.ok(total >= 300, `at least 300 hostile inputs (${total})`);

  // Every dataset keeps committing: fresh good data reaches each one, and the derived one.
  // Days later in event time, so the aggregator's watermark closes more daily windows.
  const tail = sampleEvents(20, { prefix: "tail", startMs: T0 + 5 * 86_400_000, spanMs: 2 * 86_400_000 });
  const rTail = await sendHttp(lake.producer, DATASET, tail);
  noteReply(DATASET, tail, rTail, "tail");
  // With its card country: payments is critical, and a version whose rows break max_null_ratio is never published.
  const payTail = [{ payment_id: "p-tail", user_id: "u", amount: 7, currency: "EUR", timestamp: T0 + 1, card_country: "DE" }];
  const rPay = await sendHttp(lake.producer, "payments", payTail);
  noteReply("payments", payTail, rPay, "tail payments");
  const custTail = [
    {
      op: "u",
      before: null,
      after: { customer_id: "tail-c", name: "T", email: "t@example.com", country: "FR", updated_at: T0 },
      source: { lsn: 500 },
      ts_ms: T0,
    },
  ];
  const rCust = await sendHttp(lake.producer, "customers", custTail);
  noteReply("customers", custTail, rCust, "tail customers");
  for (const [ds, r] of [
    [DATASET, rTail],
    ["payments", rPay],
    ["customers", rCust],
  ] as const) {
    assert.ok(r.max_offset, `${ds}: the tail was accepted`);
    await catalog.covering(ds, r.max_offset!, 30_000).catch((e: unknown) => {
      throw new Error(`${ds} stopped committing: ${String(e)}\n${lake.services.get(`committer:${ds}`)?.logs().slice(-4000)}`);
    });
  }
  // Every reader agrees on each dataset's latest version: the head a committer resumes from (read by a
  // process that never saw the log before) and the catalog's.
  const fresh = await lake.connect("admin", "hostile-fresh-reader");
  try {
    for (const ds of DATASETS) {
      // The catalog applies a record shortly after it lands: compare once it has caught up.
      let seen = "";
      await waitUntil(
        `${ds}: the committers' head and the catalog's latest version agree`,
        async () => {
          const head = (await readCommitHead(await jetstreamManager(fresh), ds)).version?.record.version;
          const latest = await latestVersion(ds);
          seen = `head v${head}, catalog v${latest}`;
          return head === latest;
        },
        10_000,
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}: ${seen}`);
      });
    }
  } finally {
    await fresh.close();
  }
  const derivedBefore = before.get("daily_user_totals") ?? 0;
  await waitUntil("daily_user_totals takes a new version", async () => (await latestVersion("daily_user_totals")) > derivedBefore, 60_000);
  // Quality judged every version, those holding the out-of-range times included.
  await settled(lake, 60_000);
  await assertAllAlive();

  // Accepted events: each once, byte for byte as sent.
  const store = await openStore(lake.storeConfig);
  const latest = await catalog.version(DATASET, "latest");
  const rows = (
    await queryVersion(store, latest, `SELECT event_id, user_id, CAST(event_type AS VARCHAR) AS event_type, epoch_ms(timestamp) AS ts, amount FROM ${DATASET}`)
  ).rows;
  const byId = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) byId.set(String(row.event_id), [...(byId.get(String(row.event_id)) ?? []), row]);
  for (const [id, sent] of accepted.get(DATASET)!) {
    const got = byId.get(id) ?? [];
    assert.equal(got.length, 1, `accepted event ${JSON.stringify(id)} is stored exactly once`);
    const g = got[0]!;
    assert.deepEqual(
      [g.user_id, g.event_type, Number(g.ts), g.amount],
      [sent.user_id, sent.event_type, sent.timestamp, sent.amount],
      `event ${JSON.stringify(id)} is stored as it was sent`,
    );
  }
  const custLatest = await catalog.version("customers", "latest");
  const custRows = new Map(
    (await queryVersion(store, custLatest, `SELECT customer_id, name, _lsn FROM customers`)).rows.map((r) => [String(r.customer_id), r]),
  );
  for (const id of ["cgood-1", "cgood-3", "tail-c"])
    assert.ok(custRows.has(id), `customer ${id} (accepted after an extreme position on another key) is in the table`);

  // Nothing already committed changed.
  const after = await snapshotVersions();
  for (const s of snapshot) {
    const now = after.find((a) => a.dataset === s.dataset && a.version === s.version);
    assert.deepEqual(now, s, `${s.dataset} v${s.version} is unchanged`);
  }

  // The junk on the commit log is void for every reader: the catalog rebuilt from the log equals the
  // live one, and fsck lists the void records (and finds no problem).
  const live = await lake.catalog.dump();
  await lake.catalog.rebuild();
  assert.equal(await lake.catalog.dump(), live, "a rebuild from the log equals the live catalog");
  const report = await fsck({ catalog: lake.catalog, store, nc: admin, hash: false });
  assert.deepEqual(report.problems, [], "fsck finds no problem");
  const voidSubjects = new Set(report.voids.map((v) => v.dataset));
  for (const ds of [...DATASETS, "rogue"]) assert.ok(voidSubjects.has(ds), `fsck lists the void records of ${ds}`);
  assert.ok(report.voids.some((v) => /names dataset "domain_events" but is on lake\.commits\.rogue/.test(v.why)));
});

async function latestVersion(ds: string): Promise<number> {
  try {
    return (await new CatalogClient(lake.catalogUrl).version(ds, "latest")).version;
  } catch {
    return 0;
  }
}

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until every dataset has a version; returns each one's latest. */
async function waitForVersions(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const ds of DATASETS) {
    await waitUntil(`${ds} has a version`, async () => (await latestVersion(ds)) > 0, 60_000);
    out.set(ds, await latestVersion(ds));
  }
  return out;
}
