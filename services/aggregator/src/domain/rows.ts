// The shape of what the aggregator publishes: output rows of the derived contract, side-output records,
// position markers, and their message ids. Ids are built only from the output's identity (dataset,
// window, key, revision, or the source position it reflects) so a re-emission after a crash or a replay
// carries the same id, and JetStream drops it as a duplicate; an id always names the same bytes.
import type { DerivedJob, LateEvent, WindowPosition } from "../contract.ts";
import { dayOf, type LateOutput, type PositionOutput, type WindowResult } from "./windows.ts";

/** The output row of a derived contract for one window result (field names from the job). */
export function resultRow(r: WindowResult, job: Pick<DerivedJob, "key" | "valueField">): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  job.key.forEach((k, i) => (row[k] = r.key[i]));
  row.window_start = r.start;
  row.window_end = r.end;
  row.day = dayOf(r.start);
  row[`total_${job.valueField}`] = r.sum;
  row.event_count = r.count;
  row[`min_${job.valueField}`] = r.min;
  row[`max_${job.valueField}`] = r.max;
  row.revision = r.revision;
  row.watermark = r.watermark;
  row.provisional = r.provisional;
  row.through_seq = r.throughSeq;
  return row;
}

export function positionRecord(p: PositionOutput, dataset: string): WindowPosition {
  return { dataset, through_seq: p.throughSeq, watermark: p.watermark };
}

export function lateRecord(l: LateOutput, dataset: string): LateEvent {
  return {
    dataset,
    event_id: l.eventId,
    event_time: l.eventTime,
    watermark: l.watermark,
    window_start: l.windowStart,
    source_seq: l.seq,
    reason: l.reason,
  };
}

export const msgIds = {
  /**
   * Final results: `<dataset>:<window_start>:<key>:<revision>`, one id per revision of a (window, key).
   * Provisional ones: `<dataset>:<window_start>:<key>:p<through_seq>`, one id per position it reflects
   * (a replay batched differently emits others, each with its own id).
   */
  window: (dataset: string, r: Pick<WindowResult, "start" | "keyId" | "revision" | "provisional" | "throughSeq">) =>
    `${dataset}:${r.start}:${r.keyId}:${r.provisional ? `p${r.throughSeq}` : r.revision}`,
  /** `pos:<dataset>:<through_seq>`: one id per input position a batch ended at. */
  position: (dataset: string, throughSeq: number) => `pos:${dataset}:${throughSeq}`,
  /** `late:<dataset>:<source seq>`: one id per source event that missed its windows. */
  late: (dataset: string, seq: number) => `late:${dataset}:${seq}`,
};
