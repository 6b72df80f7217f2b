// The checks a chaos run ends with, once every fault is healed and the lake has caught up. Each returns
// a named result with a one-line detail; none throws for a failed invariant (the run reports them all).
import { createHash } from "node:crypto";

import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { type CatalogClient, queryVersion, type SampleEvent } from "@lake/client";
import { lateEventCodec, type LogRecord, type VersionCommitted } from "@lake/contracts";
import { inspectLogRecord, LogJudge, STREAMS, subjects } from "@lake/messaging";
import type { ObjectStore } from "@lake/storage";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

const DAY = 86_400_000;

/** Every version of a dataset the catalog lists, in order (without files). */
async function allVersions(catalog: CatalogClient, dataset: string) {
  const all: { version: number; parent_version: number; total_rows: number }[] = [];
  for (let after = 0, pages = 0; ; pages++) {
    if (pages >= 10_000) throw new Error(`more than 10,000 pages of versions of ${dataset}`);
    const page = await catalog.versions(dataset, after, 1000);
    all.push(...page.versions);
    if (page.next_after === null) return all;
    if (page.next_after <= after) throw new Error(`the versions cursor of ${dataset} did not move forward from ${after}`);
    after = page.next_after;
  }
}

export interface ExactlyOnce {
  result: CheckResult;
  /** Acknowledged events missing from the latest version. */
  lost: number;
  /** Extra copies of events (rows beyond the first of an event id). */
  duplicated: number;
  /** Rows of events that were never acknowledged (invalid records, or not sent at all). */
  extra: number;
  rows: number;
}

/** Every acknowledged event exactly once in the latest version of domain_events, and nothing else. */
export async function checkExactlyOnce(o: {
  catalog: CatalogClient;
  store: ObjectStore;
  dataset: string;
  acked: ReadonlyMap<string, unknown>;
  rejected: ReadonlySet<string>;
  unknown: ReadonlySet<string>;
  cacheDir: string;
}): Promise<ExactlyOnce> {
  const latest = await o.catalog.version(o.dataset, "latest");
  const r = await queryVersion(o.store, latest, `SELECT event_id, count(*) AS c FROM ${o.dataset} GROUP BY event_id`, { cacheDir: o.cacheDir });
  const counts = new Map<string, number>(r.rows.map((x) => [String(x.event_id), Number(x.c)]));
  let rows = 0;
  let duplicated = 0;
  let extra = 0;
  let rejectedIn = 0;
  const dupIds: string[] = [];
  for (const [id, c] of counts) {
    rows += c;
    if (c > 1) {
      duplicated += c - 1;
      dupIds.push(id);
    }
    if (o.rejected.has(id)) rejectedIn++;
    if (!o.acked.has(id) && !o.unknown.has(id)) extra += c;
  }
  const missing = [...o.acked.keys()].filter((id) => !counts.has(id));
  const ok = missing.length === 0 && duplicated === 0 && extra === 0 && rejectedIn === 0 && rows === latest.total_rows;
  const problems = [
    missing.length ? `${missing.length} lost (e.g. ${missing.slice(0, 3).join(", ")})` : "",
    duplicated ? `${duplicated} duplicate rows (e.g. ${dupIds.slice(0, 3).join(", ")})` : "",
    extra ? `${extra} rows of events never acknowledged` : "",
    rejectedIn ? `${rejectedIn} rejected records in the data` : "",
    rows !== latest.total_rows ? `read ${rows} rows, total_rows ${latest.total_rows}` : "",
  ].filter(Boolean);
  return {
    result: {
      name: "every acknowledged event exactly once",
      ok,
      detail: ok
        ? `${o.acked.size} acknowledged events, ${rows} rows in ${o.dataset} v${latest.version}${o.unknown.size ? ` (${o.unknown.size} unacknowledged events allowed either way)` : ""}`
        : problems.join("; "),
    },
    lost: missing.length,
    duplicated,
    extra,
    rows,
  };
}

/** Event ids on a derived dataset's side output (events past the allowed lateness). */
export async function lateEventIds(nc: NatsConnection, dataset: string): Promise<Set<string>> {
  const jsm = await jetstreamManager(nc);
  const last = await jsm.streams.getMessage(STREAMS.late, { last_by_subj: subjects.late(dataset) }).catch(() => null);
  const ids = new Set<string>();
  if (!last) return ids;
  const codec = lateEventCodec();
  const consumer = await jetstream(nc).consumers.get(STREAMS.late, { filter_subjects: subjects.late(dataset), deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    ids.add(codec.decode(m.data).event_id);
    if (m.seq >= last.seq) break;
  }
  messages.stop();
  return ids;
}

/**
 * The derived dataset's committed totals equal a plain recomputation from the acknowledged events:
 * grouped by user and UTC day, minus the events the aggregator put on its side output (late beyond the
 * allowed lateness: counted, never silently dropped), minus the flush event whose window never closes
 * (its row is provisional, and left out).
 */
export async function checkAggregates(o: {
  catalog: CatalogClient;
  store: ObjectStore;
  nc: NatsConnection;
  derived: string;
  acked: ReadonlyMap<string, SampleEvent>;
  flushId: string;
  cacheDir: string;
}): Promise<{ result: CheckResult; late: number }> {
  const late = await lateEventIds(o.nc, o.derived);
  const unknownLate = [...late].filter((id) => !o.acked.has(id));
  const expected = new Map<string, { total: number; count: number; min: number; max: number }>();
  let events = 0;
  for (const e of o.acked.values()) {
    if (e.event_id === o.flushId || late.has(e.event_id)) continue;
    events++;
    const key = `${e.user_id}|${new Date(Math.floor(e.timestamp / DAY) * DAY).toISOString().slice(0, 10)}`;
    const t = expected.get(key);
    if (t) {
      t.total += e.amount;
      t.count++;
      t.min = Math.min(t.min, e.amount);
      t.max = Math.max(t.max, e.amount);
    } else expected.set(key, { total: e.amount, count: 1, min: e.amount, max: e.amount });
  }
  const v = await o.catalog.version(o.derived, "latest");
  // Final rows only: the flush event's window is still open, so its row is a provisional running total.
  const r = await queryVersion(
    o.store,
    v,
    `SELECT user_id, day, total_amount, event_count, min_amount, max_amount FROM ${o.derived} WHERE provisional IS NOT TRUE`,
    {
      cacheDir: o.cacheDir,
    },
  );
  const got = new Map(r.rows.map((x) => [`${String(x.user_id)}|${String(x.day)}`, x]));
  const problems: string[] = [];
  if (got.size !== r.rows.length) problems.push(`${r.rows.length - got.size} (day, user) rows appear more than once`);
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  const surplus = [...got.keys()].filter((k) => !expected.has(k));
  if (missing.length) problems.push(`${missing.length} windows missing (e.g. ${missing.slice(0, 3).join(", ")})`);
  if (surplus.length) problems.push(`${surplus.length} windows nobody sent events for (e.g. ${surplus.slice(0, 3).join(", ")})`);
  let wrong = 0;
  const examples: string[] = [];
  for (const [key, want] of expected) {
    const row = got.get(key);
    if (!row) continue;
    const bad =
      Number(row.event_count) !== want.count ||
      Math.abs(Number(row.total_amount) - want.total) > 1e-6 * Math.max(1, Math.abs(want.total)) ||
      Number(row.min_amount) !== want.min ||
      Number(row.max_amount) !== want.max;
    if (bad) {
      wrong++;
      if (examples.length < 3)
        examples.push(`${key}: count ${String(row.event_count)} vs ${want.count}, total ${String(row.total_amount)} vs ${want.total.toFixed(2)}`);
    }
  }
  if (wrong) problems.push(`${wrong} windows with wrong aggregates (${examples.join("; ")})`);
  if (unknownLate.length) problems.push(`${unknownLate.length} side-output events were never acknowledged`);
  return {
    result: {
      name: "daily_user_totals = independent recomputation",
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${expected.size} (user, day) windows over ${events} events equal in v${v.version}; ${late.size} late events on the side output`,
    },
    late: late.size,
  };
}

export interface LogEntry {
  seq: number;
  subject: string;
  record: LogRecord | undefined;
  /** False for a void record: appended against a sequence that is not the record before it on its subject. */
  stands: boolean;
}

/** The whole commit log, in order, each record marked standing or void. */
export async function readCommitLog(nc: NatsConnection): Promise<LogEntry[]> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(STREAMS.commits)).state.last_seq;
  const out: LogEntry[] = [];
  if (lastSeq === 0) return out;
  const consumer = await jetstream(nc).consumers.get(STREAMS.commits, { filter_subjects: subjects.allCommits, deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume({ max_messages: 1000 });
  const judges = new Map<string, LogJudge>();
  for await (const m of messages) {
    let judge = judges.get(m.subject);
    if (!judge) judges.set(m.subject, (judge = new LogJudge()));
    const record = judge.judge(m);
    out.push({ seq: m.seq, subject: m.subject, record: record ?? inspectLogRecord(m).record, stands: record !== undefined });
    if (m.seq >= lastSeq) break;
  }
  messages.stop();
  return out;
}

/**
 * Versions 1..N, each the parent of the next, for every dataset: in the catalog, and in the commit log
 * itself (no two VersionCommitted records for one version: no fork), and the catalog noted no anomaly.
 */
export async function checkLinearHistory(catalog: CatalogClient, log: readonly LogEntry[], dump: string): Promise<CheckResult> {
  const problems: string[] = [];
  const summary: string[] = [];
  const datasets = (await catalog.datasets()).datasets.map((d) => d.name);
  for (const ds of datasets) {
    const vs = await allVersions(catalog, ds);
    const bad = vs.findIndex((v, i) => v.version !== i + 1 || v.parent_version !== i);
    if (bad >= 0) problems.push(`${ds}: catalog version #${bad + 1} is v${vs[bad]!.version} (parent ${vs[bad]!.parent_version})`);
    summary.push(`${ds} 1..${vs.length}`);
  }
  const inLog = new Map<string, number>();
  const byVersion = new Map<string, LogEntry[]>();
  const voids = log.filter((e) => !e.stands).length;
  if (voids) summary.push(`${voids} void record(s) refused`);
  for (const e of log) {
    if (e.record?.kind !== "VersionCommitted" || !e.stands) continue;
    const r = e.record.body;
    const key = `${r.dataset} v${r.version}`;
    byVersion.set(key, [...(byVersion.get(key) ?? []), e]);
    const last = inLog.get(r.dataset) ?? 0;
    if (r.version !== last + 1 || r.parent_version !== last)
      problems.push(`${r.dataset}: log record ${e.seq} is v${r.version} (parent ${r.parent_version}) after v${last}`);
    inLog.set(r.dataset, Math.max(last, r.version));
  }
  // A fork: two records for one version. Name them, so the failure says who wrote what when.
  for (const [key, entries] of byVersion) {
    if (entries.length < 2) continue;
    const who = entries.map((e) => {
      const r = (e.record as Extract<LogRecord, { kind: "VersionCommitted" }>).body;
      return `seq ${e.seq}: write ${r.write_id} by ${r.committer_id} at ${new Date(r.committed_at).toISOString().slice(11, 23)}, source ${r.source.first_seq}-${r.source.last_seq}, ${r.row_count} rows`;
    });
    problems.push(`FORK ${key} appended ${entries.length}× (${who.join("; ")})`);
  }
  for (const ds of datasets) {
    const vs = await catalog.dataset(ds);
    if ((inLog.get(ds) ?? 0) !== vs.dataset.latest_version)
      problems.push(`${ds}: the log has ${inLog.get(ds) ?? 0} versions, the catalog ${vs.dataset.latest_version}`);
  }
  // Void records are refused by design (noted as anomalies "void ..."); anything else is a problem.
  const anomalies = ((JSON.parse(dump) as { anomalies?: unknown[][] }).anomalies ?? []).filter((a) => !String(a[2]).startsWith("void "));
  if (anomalies.length) problems.push(`catalog anomalies: ${JSON.stringify(anomalies.slice(0, 3))}`);
  return { name: "versions linear, no fork", ok: problems.length === 0, detail: problems.length ? problems.join("; ") : summary.join(", ") };
}

/** Dropping the catalog's database and replaying the log gives the same canonical dump as the live one. */
export async function checkRebuild(catalog: CatalogClient, live: string): Promise<CheckResult> {
  const r = await catalog.rebuild();
  const rebuilt = await catalog.dump();
  if (rebuilt === live)
    return {
      name: "rebuilt catalog = live catalog",
      ok: true,
      detail: `canonical dumps equal (${live.length} bytes, log through ${r.projected_through_seq}, rebuilt in ${r.ms} ms)`,
    };
  const a = JSON.parse(live) as Record<string, unknown[]>;
  const b = JSON.parse(rebuilt) as Record<string, unknown[]>;
  const differing = Object.keys({ ...a, ...b }).filter((t) => JSON.stringify(a[t]) !== JSON.stringify(b[t]));
  return { name: "rebuilt catalog = live catalog", ok: false, detail: `dumps differ in ${differing.join(", ")}` };
}

/**
 * What `lake fsck` checks, done here directly: every VersionCommitted's manifest exists with its
 * recorded hash and names the same version, parent, write and files; every file a version adds exists
 * with its recorded size and sha256. Data files no version references (a crashed write's) are counted:
 * garbage for collection, never read.
 */
export async function checkStore(store: ObjectStore, log: readonly LogEntry[]): Promise<CheckResult> {
  const problems: string[] = [];
  const referenced = new Set<string>();
  const datasets = new Set<string>();
  let files = 0;
  let manifests = 0;
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  for (const e of log) {
    if (e.record?.kind !== "VersionCommitted" || !e.stands) continue;
    const r: VersionCommitted = e.record.body;
    datasets.add(r.dataset);
    const where = `${r.dataset} v${r.version}`;
    try {
      const bytes = await store.get(r.manifest.key);
      manifests++;
      if (bytes.byteLength !== r.manifest.bytes || sha(bytes) !== r.manifest.sha256)
        problems.push(`${where}: manifest ${r.manifest.key} differs from its recorded size/hash`);
      const m = JSON.parse(new TextDecoder().decode(bytes)) as { version: number; parent_version: number; write_id: string; added_files: { key: string }[] };
      if (m.version !== r.version || m.parent_version !== r.parent_version || m.write_id !== r.write_id)
        problems.push(`${where}: manifest names v${m.version} (parent ${m.parent_version}, write ${m.write_id})`);
      if (JSON.stringify(m.added_files.map((f) => f.key)) !== JSON.stringify(r.added_files.map((f) => f.key)))
        problems.push(`${where}: manifest lists other files than the log record`);
    } catch (err) {
      problems.push(`${where}: manifest ${r.manifest.key}: ${(err as Error).message}`);
    }
    for (const f of r.added_files) {
      referenced.add(f.key);
      files++;
      try {
        const bytes = await store.get(f.key);
        if (bytes.byteLength !== f.bytes) problems.push(`${where}: ${f.key} has ${bytes.byteLength} bytes, ${f.bytes} recorded`);
        else if (sha(bytes) !== f.sha256) problems.push(`${where}: ${f.key} does not match its sha256`);
      } catch (err) {
        problems.push(`${where}: ${f.key}: ${(err as Error).message}`);
      }
    }
  }
  let orphans = 0;
  for (const ds of datasets) for await (const o of store.list(`datasets/${ds}/data/`)) if (!referenced.has(o.key)) orphans++;
  return {
    name: "fsck: manifests and files match the log",
    ok: problems.length === 0,
    detail: problems.length
      ? `${problems.length} problems: ${problems.slice(0, 4).join("; ")}`
      : `${manifests} manifests, ${files} files checked (size + sha256); ${orphans} unreferenced files from crashed writes (garbage, never read)`,
  };
}
