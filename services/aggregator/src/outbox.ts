// Turns a batch's outputs into outbox rows (encoded once, inside the batch's transaction, so a
// re-publish after a crash sends the very same bytes) and extends the output digest over them.
import { createHash } from "node:crypto";

import { subjects } from "@lake/messaging";

import { type DerivedContract, type LateEventCodec, windowPositionCodec } from "./contract.ts";
import type { NewOutboxRow } from "./db/state.ts";
import { lateRecord, msgIds, positionRecord, resultRow } from "./domain/rows.ts";
import { isBatchIndependent, type Output } from "./domain/windows.ts";

export function outboxRows(outputs: readonly Output[], contract: DerivedContract, late: LateEventCodec): NewOutboxRow[] {
  const name = contract.name;
  const position = windowPositionCodec();
  return outputs.map((o) =>
    o.kind === "window"
      ? { subject: subjects.windows(name), msgId: msgIds.window(name, o), schema: contract.fingerprint, payload: contract.encode(resultRow(o, contract.job)) }
      : o.kind === "late"
        ? { subject: subjects.late(name), msgId: msgIds.late(name, o.seq), schema: late.fingerprint, payload: late.encode(lateRecord(o, name)) }
        : {
            subject: subjects.windows(name),
            msgId: msgIds.position(name, o.throughSeq),
            schema: position.fingerprint,
            payload: position.encode(positionRecord(o, name)),
          },
  );
}

/** A position marker: published only once every output before it is acknowledged (see Aggregator.publish). */
export function isPositionRow(row: Pick<NewOutboxRow, "schema">): boolean {
  return row.schema === windowPositionCodec().fingerprint;
}

/**
 * sha256 chain over every output in order (id, then payload). Two runs over the same input offsets end
 * with the same digest: a cheap, checkable statement of deterministic replay. Give it only the rows of
 * batch-independent outputs (digestRows): provisional results and positions depend on batch ends.
 */
export function extendDigest(digest: string, rows: readonly NewOutboxRow[]): string {
  let d = digest;
  for (const r of rows) d = createHash("sha256").update(d).update(r.msgId).update("\0").update(r.payload).digest("hex");
  return d;
}

/** The rows of `outputs` (outboxRows(outputs, …)) the output digest covers: final results and late events. */
export function digestRows(outputs: readonly Output[], rows: readonly NewOutboxRow[]): NewOutboxRow[] {
  return rows.filter((_, i) => isBatchIndependent(outputs[i]!));
}
