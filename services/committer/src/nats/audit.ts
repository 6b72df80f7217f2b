// Write-audit-publish, the committer's side of a failed audit: the rows of the failed version's batch
// go to quarantine (lake.quarantine.<dataset>), once, with the rules they broke, before the version
// that takes them back out is committed. "Once" must hold across a crash at any point and beyond the
// stream's dedupe window, so the records are framed by a ledger on a subject of their own
// (lake.quarantine.<dataset>.audited.<version>, in the QUARANTINE stream): a claim appended with a
// compare-and-set before the first record, and a completion after the last. A committer that finds a
// claim without a completion publishes only the rows not already on the quarantine subject after the
// claim (each carries its version and offset in headers).
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { type LakeLog, quarantinedRecordCodec } from "@lake/contracts";
import { appendWithCas, HEADERS, isCasConflict, STREAMS, subjects } from "@lake/messaging";
import type { Context } from "@lake/telemetry";

/** The ledger subject of the quarantine of one failed version's batch. */
export const auditLedgerSubject = (dataset: string, version: number) => `${subjects.quarantine(dataset)}.audited.${version}`;

/** `Lake-Record` of ledger entries (JSON bodies), so nothing reading the stream takes them for Avro. */
export const AUDIT_LEDGER_RECORD = "AuditQuarantine";

/** Headers of each quarantined row: which failed version and which source offset it came from. */
export const AUDIT_HEADERS = { version: "Lake-Audit-Version", offset: "Lake-Audit-Offset" } as const;

/** What the `source` of a quarantined record says for a row set aside by a failed audit. */
export const AUDIT_SOURCE = "audit";

/** The raw copy of a row is cut here (the ingest's own quarantine cap). */
const MAX_RAW = 64 * 1024;

/** Rows published at once. */
const PUBLISH_CHUNK = 256;

/** The ledger of one version's quarantine is read back at most this many entries deep. */
const MAX_SCAN = 1_000_000;

export interface FailedRow {
  /** Source stream sequence of the event (its ingest offset). */
  offset: number;
  /** The event's id (the dataset key), when it has one. */
  eventId: string | null;
  value: Record<string, unknown>;
}

type LedgerEntry = { state: "claimed" | "done"; version: number; rows: number; at: number };

function decodeLedger(m: StoredMsg | null): LedgerEntry | undefined {
  if (!m || m.header?.get(HEADERS.record) !== AUDIT_LEDGER_RECORD) return undefined;
  try {
    const e = JSON.parse(new TextDecoder().decode(m.data)) as LedgerEntry;
    return e.state === "claimed" || e.state === "done" ? e : undefined;
  } catch {
    return undefined;
  }
}

/** Why the rows were set aside, for the quarantine record: the version and the rules it failed. */
export function auditReason(dataset: string, version: number, verdict: LakeLog.QualityVerdict): string {
  const failed = verdict.rules.filter((r) => !r.passed);
  const rules = failed.map((r) => `${r.rule}: ${r.message || `measured ${r.measured}, expected ${r.expected}`}`).join("; ");
  return `version ${version} of ${dataset} failed its audit (${rules || "no rule named"}); its batch was taken out and never published`.slice(0, 2000);
}

/**
 * Publishes the failed batch's rows to quarantine exactly once and returns how many this call
 * published (0 when a completed ledger says it was all done before).
 */
export async function quarantineFailedBatch(
  js: JetStreamClient,
  jsm: JetStreamManager,
  o: {
    dataset: string;
    version: number;
    rows: readonly FailedRow[];
    reason: string;
    now: number;
    afterChunk?: () => Promise<void> | undefined;
    /** The trace the ledger entries continue (the revert's commit span). */
    ctx?: Context;
  },
): Promise<{ published: number; already: number }> {
  const ledger = auditLedgerSubject(o.dataset, o.version);
  const subject = subjects.quarantine(o.dataset);
  const headers = { [HEADERS.record]: AUDIT_LEDGER_RECORD };
  const encode = (e: LedgerEntry) => new TextEncoder().encode(JSON.stringify(e));
  const last = await jsm.streams.getMessage(STREAMS.quarantine, { last_by_subj: ledger });
  const entry = decodeLedger(last);
  if (entry?.state === "done") return { published: 0, already: entry.rows };
  let claimSeq: number;
  const done = new Set<number>();
  if (last && entry?.state === "claimed") {
    // A claim without a completion: an earlier attempt stopped part-way. What it published is on the
    // quarantine subject after the claim.
    claimSeq = last.seq;
    for (let from = claimSeq + 1, n = 0; n < MAX_SCAN; n++) {
      const m = await jsm.streams.getMessage(STREAMS.quarantine, { seq: from, next_by_subj: subject } as unknown as MsgRequest);
      if (!m) break;
      from = m.seq + 1;
      if (m.header?.get(AUDIT_HEADERS.version) === String(o.version)) done.add(Number(m.header.get(AUDIT_HEADERS.offset)));
    }
  } else {
    try {
      claimSeq = await appendWithCas(js, ledger, encode({ state: "claimed", version: o.version, rows: o.rows.length, at: o.now }), {
        expectedLastSubjectSeq: last?.seq ?? 0,
        headers,
        ctx: o.ctx,
      });
    } catch (e) {
      // Another committer claimed it first (a zombie): go again on what it wrote.
      if (isCasConflict(e)) return quarantineFailedBatch(js, jsm, o);
      throw e;
    }
  }
  const todo = o.rows.filter((r) => !done.has(r.offset));
  // A chunk at a time: whatever part of it a crash leaves published is found after the claim next time.
  for (let i = 0; i < todo.length; i += PUBLISH_CHUNK) {
    await Promise.all(todo.slice(i, i + PUBLISH_CHUNK).map(publishOne));
    await o.afterChunk?.();
  }
  async function publishOne(r: FailedRow): Promise<void> {
    const raw = JSON.stringify(r.value);
    const record: LakeLog.QuarantinedRecord = {
      domain: o.dataset,
      event_id: r.eventId,
      reason: o.reason,
      path: "$",
      raw: raw.length > MAX_RAW ? raw.slice(0, MAX_RAW) : raw,
      truncated: raw.length > MAX_RAW,
      received_at: o.now,
      source: AUDIT_SOURCE,
    };
    const h = natsHeaders();
    h.set(HEADERS.record, quarantinedRecordCodec.name);
    h.set(AUDIT_HEADERS.version, String(o.version));
    h.set(AUDIT_HEADERS.offset, String(r.offset));
    await js.publish(subject, quarantinedRecordCodec.encode(record), { headers: h, msgID: `audit:${o.dataset}:${o.version}:${r.offset}` });
  }
  try {
    await appendWithCas(js, ledger, encode({ state: "done", version: o.version, rows: o.rows.length, at: o.now }), {
      expectedLastSubjectSeq: claimSeq,
      headers,
      ctx: o.ctx,
    });
  } catch (e) {
    if (!isCasConflict(e)) throw e;
    // Someone else completed (or wrote on) the ledger meanwhile; the records are on the subject either way.
  }
  return { published: todo.length, already: done.size };
}
