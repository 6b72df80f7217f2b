// Helpers the benchmark sections share: percentiles, an open-loop load generator, a synthetic commit
// history written straight into the commit log, and the result rows the table is printed from.
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";

import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { domainContract, type LakeLog, type VersionCommitted, versionCommittedCodec } from "@lake/contracts";
import { EXPECTED_SEQ_HEADER, HEADERS, readCommitHead, STREAMS, subjects } from "@lake/messaging";

/** One line of the results table. `target` is the issue's goal for the figure, if it has one. */
export interface Row {
  /** Stable name of the figure in the JSON results (e.g. raw_jetstream_publish_eps). */
  key: string;
  section: string;
  figure: string;
  value: number | string;
  unit?: string;
  target?: string;
  /** Whether the figure meets the target (undefined: no target, or not comparable). */
  meets?: boolean;
  note?: string;
}

export const pct = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export const round = (n: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Event time for the next load run: each run's sample events (three days of event time) start four days
 * after the previous run's, as a steady stream's would. Without it every run re-sent the same days: past
 * the aggregator's watermark, nearly every event was late and went to its side output, which a live
 * stream doesn't look like.
 */
let eventClock = Date.UTC(2026, 5, 1, 0, 5);
export function nextEventTime(): number {
  const t = eventClock;
  eventClock += 4 * 86_400_000;
  return t;
}

/**
 * nats.js connection options that log in as `user` of a lake started by startLake (it runs NATS with
 * users), without connectNats's other settings, so the raw-publish baselines measure plain nats.js.
 */
export function natsLogin(
  lake: { natsAuth(user?: string): { user?: string; pass?: string; inboxPrefix?: string } },
  user = "admin",
): { user?: string; pass?: string; inboxPrefix?: string } {
  const a = lake.natsAuth(user);
  return { ...(a.user ? { user: a.user, pass: a.pass } : {}), ...(a.inboxPrefix ? { inboxPrefix: a.inboxPrefix } : {}) };
}

/**
 * Calls `fn` at a steady `rate` per second for `durationMs` (open loop: the schedule doesn't wait for
 * answers), with at most `maxInFlight` calls outstanding; a call that would exceed it is skipped and
 * counted. Latency is measured from the actual send, so the achieved rate says how far the schedule held.
 */
export async function openLoop(
  rate: number,
  durationMs: number,
  fn: (i: number) => Promise<unknown>,
  maxInFlight = 256,
): Promise<{ latencies: number[]; sent: number; skipped: number; errors: number; achievedRate: number }> {
  const latencies: number[] = [];
  let inFlight = 0;
  let sent = 0;
  let skipped = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.round((rate * durationMs) / 1000);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (inFlight >= maxInFlight) {
      skipped++;
      continue;
    }
    inFlight++;
    sent++;
    const t = performance.now();
    const p: Promise<void> = fn(i)
      .then(
        () => {
          latencies.push(performance.now() - t);
        },
        () => {
          errors++;
        },
      )
      .finally(() => {
        inFlight--;
        pending.delete(p);
      });
    pending.add(p);
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  return { latencies, sent, skipped, errors, achievedRate: latencies.length / elapsed };
}

/** A keep-alive HTTP GET that reads the whole body (what a real reader pays, JSON parse aside). */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
export function httpGet(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => (res.statusCode === 200 ? resolve({ status: 200, bytes }) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
export function httpPost(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`POST ${url}: ${res.statusCode} ${body}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

const DAY = 86_400_000;

/**
 * Appends `count` VersionCommitted records for `dataset` straight onto the commit log, continuing the
 * chain from its current head (plain pipelined publishes with the record headers, no CAS: the caller
 * makes sure nothing else writes the dataset meanwhile). Each version adds `files(v)` (default one
 * small, non-existent file, so the catalog's file set grows as a real append-only history's does) and
 * keeps the source position of the head, so a committer started afterwards resumes where it was.
 */
export async function appendSyntheticVersions(
  js: JetStreamClient,
  jsm: JetStreamManager,
  dataset: string,
  count: number,
  opts: { files?: (version: number, writeId: string) => LakeLog.DataFile[]; window?: number } = {},
): Promise<{ lastVersion: number; lastSeq: number }> {
  const contract = domainContract(dataset);
  const head = await readCommitHead(jsm, dataset);
  let version = head.version?.record.version ?? 0;
  let totalRows = head.version?.record.total_rows ?? 0;
  const lastSource = head.version?.record.source.last_seq ?? 0;
  const window = opts.window ?? 1000;
  let acks: Promise<PubAck>[] = [];
  let lastSeq = head.seq;
  // Pipelined, yet each record stands as a lake writer's would: it carries the compare-and-set token
  // (the record before it on the subject) and the pointer to the latest version (the record before
  // it, or the head's version), predicted from the stream's last sequence (nothing else writes to the
  // bench's log meanwhile) and checked by JetStream's expected-last-subject-sequence: a wrong
  // prediction fails the publish instead of leaving records every reader finds void.
  let nextSeq = (await jsm.streams.info(STREAMS.commits)).state.last_seq + 1;
  let prevOnSubject = head.seq;
  let versionSeq = head.version?.seq ?? 0;
  const base = Date.UTC(2026, 0, 1);
  for (let i = 0; i < count; i++) {
    version++;
    const writeId = `wsyn${version.toString(36)}-${randomBytes(6).toString("hex")}`;
    const day = new Date(base + (version % 365) * DAY).toISOString().slice(0, 10);
    const files = opts.files?.(version, writeId) ?? [
      { key: `datasets/${dataset}/data/dt=${day}/${writeId}-000.parquet`, partition: `dt=${day}`, rows: 100, bytes: 4096, sha256: "0".repeat(64) },
    ];
    const rows = files.reduce((n, f) => n + f.rows, 0);
    totalRows += rows;
    const record: VersionCommitted = {
      dataset,
      version,
      parent_version: version - 1,
      write_id: writeId,
      committer_id: "bench-synthetic",
      committed_at: base + version * 1000,
      schema_name: contract.name,
      schema_version: contract.version,
      schema_fingerprint: contract.fingerprint,
      manifest: { key: `datasets/${dataset}/manifests/v${String(version).padStart(12, "0")}-${writeId}.json`, sha256: "0".repeat(64), bytes: 1024 },
      added_files: files,
      removed_files: [],
      source: { stream: STREAMS.events, subject: subjects.events(dataset), first_seq: lastSource, last_seq: lastSource },
      row_count: rows,
      total_rows: totalRows,
      min_event_time: base,
      max_event_time: base + DAY,
      policy: contract.policy,
      max_source_position: null,
      iceberg: null,
      lineage: null,
      operation: "append",
    };
    const h = natsHeaders();
    h.set(HEADERS.record, "VersionCommitted");
    h.set(HEADERS.schema, versionCommittedCodec.fingerprint);
    h.set(EXPECTED_SEQ_HEADER, String(prevOnSubject));
    h.set(HEADERS.versionSeq, String(versionSeq));
    acks.push(
      js.publish(subjects.commits(dataset), versionCommittedCodec.encode(record), {
        headers: h,
        msgID: writeId,
        expect: { lastSubjectSequence: prevOnSubject },
      }),
    );
    prevOnSubject = versionSeq = nextSeq++;
    if (acks.length >= window) {
      lastSeq = Math.max(lastSeq, ...(await Promise.all(acks)).map((a) => a.seq));
      acks = [];
    }
  }
  if (acks.length) lastSeq = Math.max(lastSeq, ...(await Promise.all(acks)).map((a) => a.seq));
  return { lastVersion: version, lastSeq };
}

/** Prints rows as an aligned table. */
export function printTable(rows: readonly Row[]): void {
  const head = ["section", "figure", "value", "target", ""];
  const cells = rows.map((r) => [
    r.section,
    r.figure,
    `${typeof r.value === "number" ? fmt(r.value) : r.value}${r.unit ? ` ${r.unit}` : ""}`,
    r.target ?? "",
    r.meets === undefined ? "" : r.meets ? "ok" : "MISSES",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  let last = "";
  for (const [i, c] of cells.entries()) {
    if (rows[i]!.section !== last && last !== "") console.log("");
    last = rows[i]!.section;
    console.log(line(c));
    if (rows[i]!.note) console.log(`${" ".repeat(widths[0]! + 2)}  ↳ ${rows[i]!.note}`);
  }
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 100) return String(Math.round(n));
  return String(round(n, Math.abs(n) >= 10 ? 1 : 2));
}
