// The aggregator's durable state in SQLite: open windows, the input position (last source sequence
// applied), counters, and the outbox of results not yet acknowledged by JetStream. One batch of events
// is one transaction, so after a crash the state, the position and the pending outputs always agree:
// nothing is applied twice, nothing emitted is lost.
//
// synchronous=NORMAL (WAL) survives kill -9 but may lose the last transactions on power loss. That is
// safe here: the events are re-read from the stream and, replay being deterministic, produce the same
// results under the same message ids, which JetStream deduplicates (and which are identical anyway).
import type Database from "better-sqlite3";

import { openStateDb } from "@lake/runtime";

import type { AggState, BatchOutcome, Counters, KeyValue, WindowAcc } from "../domain/windows.ts";
import { windowId } from "../domain/windows.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  job TEXT NOT NULL,
  input_seq INTEGER NOT NULL,
  max_event_time INTEGER,
  output_seq INTEGER NOT NULL,
  output_digest TEXT NOT NULL,
  events_in INTEGER NOT NULL,
  windows_emitted INTEGER NOT NULL,
  revisions INTEGER NOT NULL,
  late_events INTEGER NOT NULL,
  invalid_events INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS windows (
  window_start INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  window_end INTEGER NOT NULL,
  key_values TEXT NOT NULL,
  count INTEGER NOT NULL,
  sum REAL NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  revision INTEGER NOT NULL,
  PRIMARY KEY (window_start, key_id)
) STRICT;
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subject TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  schema TEXT NOT NULL,
  payload BLOB NOT NULL
) STRICT;
`;

/** One output waiting to be published; `id` orders the outbox (AUTOINCREMENT: never reused). */
export interface OutboxRow {
  id: number;
  subject: string;
  msgId: string;
  /** Fingerprint of the payload's Avro schema (the `Lake-Schema` header). */
  schema: string;
  payload: Uint8Array;
}

export type NewOutboxRow = Omit<OutboxRow, "id">;

/** What /metrics and /healthz report; read from the database so it survives restarts. */
export interface StateSnapshot {
  inputSeq: number;
  maxEventTime: number | null;
  /** Id of the last outbox row published and acknowledged (the output position). */
  outputSeq: number;
  /** Hash chain over every output (message id and payload) in order: equal on equal replays. */
  outputDigest: string;
  counters: Counters;
  outboxPending: number;
  openWindows: number;
}

/** The database belongs to a different job spec: its windows mean something else. */
export class StateMismatchError extends Error {
  constructor(
    readonly path: string,
    readonly stored: string,
    readonly expected: string,
  ) {
    super(
      `aggregator state ${path} was built for job ${stored}, not ${expected}; ` +
        "delete the database to rebuild it from the source stream (replay is deterministic)",
    );
    this.name = "StateMismatchError";
  }
}

interface StateRow {
  job: string;
  input_seq: number;
  max_event_time: number | null;
  output_seq: number;
  output_digest: string;
  events_in: number;
  windows_emitted: number;
  revisions: number;
  late_events: number;
  invalid_events: number;
}

interface WindowRow {
  window_start: number;
  key_id: string;
  window_end: number;
  key_values: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  revision: number;
}

export const GENESIS_DIGEST = "0".repeat(64);

export class StateStore {
  private readonly db: Database.Database;
  private readonly q;

  /** Opens (or creates) the database for `job`, a canonical description of the job spec. */
  constructor(
    readonly path: string,
    job: string,
  ) {
    this.db = openStateDb(path, SCHEMA);
    this.db.prepare("INSERT INTO state VALUES (1, ?, 0, NULL, 0, ?, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING").run(job, GENESIS_DIGEST);
    this.q = {
      state: this.db.prepare<[], StateRow>("SELECT * FROM state WHERE id = 1"),
      windows: this.db.prepare<[], WindowRow>("SELECT * FROM windows"),
      upsertWindow: this.db.prepare<[number, string, number, string, number, number, number, number, number]>(
        `INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (window_start, key_id) DO UPDATE SET count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max, revision = excluded.revision`,
      ),
      deleteWindow: this.db.prepare<[number, string]>("DELETE FROM windows WHERE window_start = ? AND key_id = ?"),
      insertOutbox: this.db.prepare<[string, string, string, Uint8Array]>("INSERT INTO outbox (subject, msg_id, schema, payload) VALUES (?, ?, ?, ?)"),
      pendingOutbox: this.db.prepare<[number], { id: number; subject: string; msg_id: string; schema: string; payload: Buffer }>(
        "SELECT * FROM outbox ORDER BY id LIMIT ?",
      ),
      deleteOutbox: this.db.prepare<[number]>("DELETE FROM outbox WHERE id <= ?"),
      countOutbox: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM outbox"),
      countWindows: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM windows"),
      setOutputSeq: this.db.prepare<[number]>("UPDATE state SET output_seq = max(output_seq, ?) WHERE id = 1"),
      setPosition: this.db.prepare<[number, number | null, string, number, number, number, number, number]>(
        `UPDATE state SET input_seq = ?, max_event_time = ?, output_digest = ?, events_in = ?, windows_emitted = ?,
         revisions = ?, late_events = ?, invalid_events = ? WHERE id = 1`,
      ),
    };
    const stored = this.row().job;
    if (stored !== job) {
      this.db.close();
      throw new StateMismatchError(path, stored, job);
    }
  }

  private row(): StateRow {
    return this.q.state.get()!;
  }

  /** The state as of the last committed batch, windows included. */
  load(): AggState & { outputDigest: string } {
    const r = this.row();
    const windows = new Map<string, WindowAcc>();
    for (const w of this.q.windows.iterate()) {
      windows.set(windowId(w.window_start, w.key_id), {
        start: w.window_start,
        end: w.window_end,
        keyId: w.key_id,
        key: JSON.parse(w.key_values) as KeyValue[],
        count: w.count,
        sum: w.sum,
        min: w.min,
        max: w.max,
        revision: w.revision,
      });
    }
    return { inputSeq: r.input_seq, maxEventTime: r.max_event_time, windows, counters: countersOf(r), outputDigest: r.output_digest };
  }

  /** Stores a batch: window changes, its outputs (into the outbox) and the new position, atomically. */
  commit(outcome: BatchOutcome, outbox: readonly NewOutboxRow[], outputDigest: string): void {
    const c = outcome.counters;
    this.db.transaction(() => {
      for (const p of outcome.purged) this.q.deleteWindow.run(p.start, p.keyId);
      for (const w of outcome.upserts) this.q.upsertWindow.run(w.start, w.keyId, w.end, JSON.stringify(w.key), w.count, w.sum, w.min, w.max, w.revision);
      for (const o of outbox) this.q.insertOutbox.run(o.subject, o.msgId, o.schema, o.payload);
      this.q.setPosition.run(outcome.inputSeq, outcome.maxEventTime, outputDigest, c.eventsIn, c.windowsEmitted, c.revisions, c.lateEvents, c.invalidEvents);
    })();
  }

  /** The oldest `limit` outputs not yet acknowledged, in order. */
  pendingOutbox(limit: number): OutboxRow[] {
    return this.q.pendingOutbox.all(limit).map((r) => ({ id: r.id, subject: r.subject, msgId: r.msg_id, schema: r.schema, payload: r.payload }));
  }

  /** Every output up to `id` is acknowledged: drop it from the outbox and move the output position. */
  ackOutbox(id: number): void {
    this.db.transaction(() => {
      this.q.deleteOutbox.run(id);
      this.q.setOutputSeq.run(id);
    })();
  }

  snapshot(): StateSnapshot {
    const r = this.row();
    return {
      inputSeq: r.input_seq,
      maxEventTime: r.max_event_time,
      outputSeq: r.output_seq,
      outputDigest: r.output_digest,
      counters: countersOf(r),
      outboxPending: this.q.countOutbox.get()!.n,
      openWindows: this.q.countWindows.get()!.n,
    };
  }

  close(): void {
    this.db.close();
  }
}

function countersOf(r: StateRow): Counters {
  return { eventsIn: r.events_in, windowsEmitted: r.windows_emitted, revisions: r.revisions, lateEvents: r.late_events, invalidEvents: r.invalid_events };
}
