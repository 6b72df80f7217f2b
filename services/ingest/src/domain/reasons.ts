// Pure: the class of a refusal, for metrics. A refusal's reason is text written for a person and may
// quote the producer's input (an unknown key, an offending value), so it can never be a metric label:
// every reason maps onto this fixed, small set instead, and the label's cardinality is bounded by it
// (times the known domains). No I/O.

export const REJECT_REASONS = {
  /** The record is not a JSON object (or a change event is not one). */
  notAnObject: "not_an_object",
  /** A key the contract doesn't have. */
  unknownField: "unknown_field",
  /** A required field is null or missing. */
  missingField: "missing_field",
  /** A value of the wrong JSON type, or one Avro refuses. */
  wrongType: "wrong_type",
  /** A number outside its contract range (or Avro int range). */
  outOfRange: "out_of_range",
  /** A string shorter or longer than its contract allows. */
  badLength: "bad_length",
  /** A string not matching its contract pattern. */
  patternMismatch: "pattern_mismatch",
  /** Not one of an enum's symbols. */
  notInEnum: "not_in_enum",
  /** A timestamp that is no date (unparseable, no zone, outside the range of dates). */
  badTimestamp: "bad_timestamp",
  /** An event time further in the future than the contract's skew allows. */
  futureEventTime: "future_event_time",
  /** Text that is not valid Unicode. */
  invalidText: "invalid_text",
  /** A key that can't travel as the record's dedupe id (NATS header). */
  badKey: "bad_key",
  /** A record too large for a NATS message. */
  tooLarge: "too_large",
  /** A change event (CDC) without what a change needs (op, position, images). */
  invalidChange: "invalid_change",
  /** A reason no rule above recognises: a new refusal whose class is still to be added here. */
  other: "other",
} as const;

export type RejectReason = (typeof REJECT_REASONS)[keyof typeof REJECT_REASONS];

/**
 * First match wins. Reasons start with a field name from the contract (never producer text), except
 * "unknown field <key>", which is matched first so a hostile key quoting another reason can't steer it.
 * The phrases are the ones contracts/src (domain.ts, cdc.ts, bounds.ts) and classify.ts write; the unit
 * test sends a record of every kind through the real validators, so a reworded reason shows up there.
 */
const RULES: readonly (readonly [RegExp, RejectReason])[] = [
  [/^unknown field /, REJECT_REASONS.unknownField],
  [/^expected a (JSON object|change event object)/, REJECT_REASONS.notAnObject],
  [/^required field /, REJECT_REASONS.missingField],
  [/it is the record's id in a NATS header/, REJECT_REASONS.badKey],
  [/events from the future are refused/, REJECT_REASONS.futureEventTime],
  [/^the record is \d+ bytes as Avro, more than/, REJECT_REASONS.tooLarge],
  [
    /^(op must be one of [^;]*$|op \w+ needs the \w+ image|source\.lsn |ts_ms \(epoch|a delete needs |does not conform to the change schema)/,
    REJECT_REASONS.invalidChange,
  ],
  [/ is not valid Unicode/, REJECT_REASONS.invalidText],
  [/ must be one of .*; got /, REJECT_REASONS.notInEnum],
  [/ is (shorter|longer) than \d+ characters/, REJECT_REASONS.badLength],
  [/ does not match /, REJECT_REASONS.patternMismatch],
  [/ is (below the minimum|above the maximum|out of int range)/, REJECT_REASONS.outOfRange],
  [/ (must be epoch milliseconds or an ISO-8601|is not a valid date|is outside the range of dates)/, REJECT_REASONS.badTimestamp],
  [/ must be (a string|an integer|a finite number|a boolean), got |does not conform to the Avro schema/, REJECT_REASONS.wrongType],
];

export function rejectReason(reason: string): RejectReason {
  for (const [re, cls] of RULES) if (re.test(reason)) return cls;
  return REJECT_REASONS.other;
}
