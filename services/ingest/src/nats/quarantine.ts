// Quarantine inspection and replay over JetStream: reads lake.quarantine.<domain> (stream QUARANTINE)
// with direct message gets, keeps the replay ledger beside the records, and publishes corrected
// records through the Publisher, the same path as fresh ingest. Decisions are in domain/quarantine.ts.
import { jetstream, type JetStreamClient, type JetStreamManager, type MsgRequest, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import type { QuarantineEntry, QuarantineList, ReplayReply, ReplayResult } from "@lake/contracts";
import { type DomainContract, quarantinedRecordCodec } from "@lake/contracts";
import { appendUntilStands, appendWithCas, type CasRetryPolicy, HEADERS, isCasConflict, STREAMS, subjects } from "@lake/messaging";
import type { Logger } from "@lake/telemetry";

import {
  decideReplay,
  decodeLedgerEntry,
  encodeLedgerEntry,
  foldLedger,
  LEDGER_MAX_ENTRIES,
  type LedgerView,
  type ListQuery,
  QUARANTINE_LIST_MAX_RAW_BYTES,
  readStoredQuarantine,
  type ReplayDecision,
  type ReplayItem,
  type StoredQuarantine,
  summariseReplay,
  toListEntry,
  toUndecodableEntry,
} from "../domain/quarantine.ts";
import { eventMsgId, type Publisher } from "./publisher.ts";

/** The `source` of a quarantined record that a failed audit set aside (the committer's write-audit-publish). */
const AUDIT_SOURCE = "audit";

/**
 * The replay ledger of one quarantined record. It lives in the QUARANTINE stream (which captures
 * lake.quarantine.>) on a subject of its own, so "nothing appended yet" is a per-record
 * compare-and-set (Nats-Expected-Last-Subject-Sequence: 0) that holds beyond any dedupe window.
 * Domain names have no dots, so lake.quarantine.<domain> (the only subject the list and replay read
 * records from) never matches a ledger subject.
 */
export const replayLedgerSubject = (domain: string, seq: number) => `${subjects.quarantine(domain)}.replayed.${seq}`;

/** `Lake-Record` of ledger entries (JSON bodies), so nothing reading the stream takes them for Avro. */
export const REPLAY_LEDGER_RECORD = "QuarantineReplay";

// A claim that loses its compare-and-set is decided again on what the winner wrote; losing more
// than this many times in a row means something is looping, not racing.
const CLAIM_RETRY: CasRetryPolicy = { maxAttempts: 3 };

/** A record a replay may publish (decideReplay's "publish"). */
type Claimable = Extract<ReplayDecision, { kind: "publish" }>["record"];

export interface QuarantineOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  publisher: Publisher;
  log: Logger;
}

export class Quarantine {
  private readonly js: JetStreamClient;

  constructor(private readonly o: QuarantineOptions) {
    this.js = jetstream(o.nc);
  }

  /** A page of a domain's quarantined records, oldest first, each with its replay state. */
  async list(domain: string, q: ListQuery): Promise<QuarantineList> {
    const subject = subjects.quarantine(domain);
    const page: { seq: number; stored: StoredQuarantine }[] = [];
    let rawBytes = 0;
    let more = false;
    for (let from = q.after + 1; ;) {
      const m = await this.nextOn(subject, from);
      if (!m) break;
      from = m.seq + 1;
      const stored = readQuarantined(domain, m);
      if (!stored) continue;
      const raw = stored.kind === "record" ? stored.record.raw.length : 0;
      // Reading one past the page tells whether there is a next page, without a second request.
      if (page.length === q.limit || (page.length > 0 && rawBytes + raw > QUARANTINE_LIST_MAX_RAW_BYTES)) {
        more = true;
        break;
      }
      page.push({ seq: m.seq, stored });
      rawBytes += raw;
    }
    // An undecodable message is shown as such and has no ledger worth reading: nothing replays it.
    const ledgers = await Promise.all(page.map((p) => (p.stored.kind === "record" ? this.readLedger(domain, p.seq) : undefined)));
    return {
      domain,
      records: page.map((p, i): QuarantineEntry =>
        p.stored.kind === "record" ? toListEntry(p.seq, p.stored.record, ledgers[i]?.entry) : toUndecodableEntry(p.seq, p.stored),
      ),
      next_after: more ? page[page.length - 1]!.seq : null,
    };
  }

  /** Replays items independently; each answers on its own, like the records of an ingest batch. */
  async replay(domain: string, items: readonly ReplayItem[]): Promise<ReplayReply> {
    const contract = this.o.publisher.contract(domain);
    const results = await Promise.all(
      items.map((item) =>
        this.replayOne(domain, contract, item).catch((e: unknown): ReplayResult => {
          // Every step is safe to repeat (claim, publish with the event id, CAS completion), so a
          // NATS hiccup part-way is the caller's to retry, not a reason to fail the other items.
          this.o.log.error("quarantine replay failed", { domain, seq: item.seq, err: e });
          return { seq: item.seq, event_id: null, status: "failed", reason: `replay failed: ${(e as Error).message}; retry it`, retryable: true };
        }),
      ),
    );
    return summariseReplay(domain, results);
  }

  private async replayOne(domain: string, contract: DomainContract, item: ReplayItem): Promise<ReplayResult> {
    const { seq } = item;
    const subject = replayLedgerSubject(domain, seq);
    const headers = { [HEADERS.record]: REPLAY_LEDGER_RECORD };
    // Decide, then claim the record with a compare-and-set on its ledger; a concurrent replay of the
    // same record that claimed it first sends us back to decide again on what it wrote.
    const claimed = await appendUntilStands<{ done: ReplayResult } | { record: Claimable; claimSeq: number; audited: boolean }>(CLAIM_RETRY, async () => {
      const [quarantined, ledger] = await Promise.all([this.load(domain, seq), this.readLedger(domain, seq)]);
      const d = decideReplay(domain, item, { quarantined, ledger }, contract, Date.now(), this.o.publisher.wireLimits());
      if (d.kind === "not_found") return { done: { seq, status: "not_found", reason: d.reason } };
      if (d.kind === "duplicate") return { done: { seq, event_id: d.eventId, status: "duplicate", offset: d.offset } };
      if (d.kind === "rejected") return { done: { seq, event_id: d.eventId, status: "rejected", reason: d.reason, path: d.path } };
      if (d.kind === "undecodable") {
        this.o.log.warn("quarantine replay of a message that does not stand", { domain, seq, reason: d.reason });
        return { done: { seq, status: "undecodable", reason: d.reason } };
      }
      const claimSeq =
        d.claimSeq ??
        (await appendWithCas(this.js, subject, encodeLedgerEntry({ state: "claimed", event_id: d.record.eventId, at: Date.now() }), {
          expectedLastSubjectSeq: d.expectedLedgerSeq,
          headers,
        }));
      return { record: d.record, claimSeq, audited: quarantined?.kind === "record" && quarantined.record.source === AUDIT_SOURCE };
    });
    if ("done" in claimed) return claimed.done;
    const { record, claimSeq, audited } = claimed;
    const eventId = record.eventId;
    // A crash between this publish and the completion below leaves the claim: the next replay of the
    // record resumes it, and JetStream dedupes its publish within the duplicate window (past it, the
    // same limit as a producer retry, and the one case the ledger can't close on its own).
    // A row a failed audit set aside was accepted once already, under its event id: the replay's dedupe
    // id names the quarantined copy instead, or JetStream would answer it with the first copy's offset
    // (whose rows were taken back out) within its duplicate window.
    const published = await this.o.publisher.publishValid(domain, contract, record, audited ? { msgId: `${eventMsgId(domain, eventId)}#q${seq}` } : {});
    if (published.status === "failed") {
      // The claim stays: a retry with the same event id resumes it, and JetStream dedupes the publish.
      return { seq, event_id: eventId, status: "failed", reason: published.reason, retryable: true };
    }
    try {
      await appendWithCas(this.js, subject, encodeLedgerEntry({ state: "done", event_id: eventId, offset: published.offset, at: Date.now() }), {
        expectedLastSubjectSeq: claimSeq,
        headers,
      });
    } catch (e) {
      if (!isCasConflict(e)) throw e;
      // Another attempt resuming the same claim completed it first: its offset is the one on record.
      const now = await this.readLedger(domain, seq);
      if (now?.entry?.state === "done") return { seq, event_id: now.entry.event_id, status: "duplicate", offset: now.entry.offset };
      throw e;
    }
    return { seq, event_id: eventId, status: published.status, offset: published.offset };
  }

  /** The quarantine message at `seq`, if that sequence holds one of this domain's. */
  private async load(domain: string, seq: number): Promise<StoredQuarantine | undefined> {
    const m = await this.o.jsm.streams.getMessage(STREAMS.quarantine, { seq });
    if (!m || m.subject !== subjects.quarantine(domain)) return undefined;
    return readQuarantined(domain, m);
  }

  /**
   * The ledger of the record at `seq`. One read when its last entry stands (always, unless someone
   * else wrote to the subject); otherwise the entries after the record are walked, bounded, to find
   * the last one that does.
   */
  private async readLedger(domain: string, seq: number): Promise<LedgerView | undefined> {
    const subject = replayLedgerSubject(domain, seq);
    const last = await this.o.jsm.streams.getMessage(STREAMS.quarantine, { last_by_subj: subject });
    if (!last) return undefined;
    // Entries stored before the record can't be its replay's: someone wrote ahead on the subject.
    if (last.seq < seq) return { seq: last.seq, entry: undefined };
    try {
      return { seq: last.seq, entry: decodeLedgerEntry(last.data) };
    } catch {
      // A void entry: walk the ledger for the last one that stands.
    }
    const messages: { seq: number; data: Uint8Array }[] = [];
    for (let from = seq + 1; messages.length < LEDGER_MAX_ENTRIES;) {
      const m = await this.nextOn(subject, from);
      if (!m || m.seq > last.seq) break;
      messages.push({ seq: m.seq, data: m.data });
      if (m.seq === last.seq) return foldLedger(messages);
      from = m.seq + 1;
    }
    const why =
      messages.length >= LEDGER_MAX_ENTRIES
        ? `its last entry does not decode and it has more than ${LEDGER_MAX_ENTRIES} entries`
        : "its last entry does not decode and its entries could not be read back";
    return { seq: last.seq, entry: undefined, unreadable: why };
  }

  /** The first message on `subject` at or after sequence `from`; null past the end. */
  private nextOn(subject: string, from: number): Promise<StoredMsg | null> {
    // The server has answered next_by_subj on STREAM.MSG.GET since 2.9; nats.js types it only for
    // direct gets, which need allow_direct on the stream.
    return this.o.jsm.streams.getMessage(STREAMS.quarantine, { seq: from, next_by_subj: subject } as unknown as MsgRequest);
  }
}

/** A message tagged as a quarantined record, read (or found undecodable); undefined for anything else. */
function readQuarantined(domain: string, m: StoredMsg): StoredQuarantine | undefined {
  if (m.header?.get(HEADERS.record) !== quarantinedRecordCodec.name) return undefined;
  return readStoredQuarantine(domain, m.data, m.time.getTime());
}
