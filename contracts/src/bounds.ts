// What every accepted value must satisfy so that nothing after validation can fail on it: event times
// a Date can hold (and not from the future), integers the Avro encoder takes, text that is valid
// Unicode, and ids that survive a trip through a NATS header unchanged. Validation checks these up
// front, so a record that can never be stored is refused with its path instead of failing later (a
// 503 the producer would retry forever, or a stalled consumer).

/** The largest |epoch millis| a JavaScript Date holds (±273,790 years around 1970). */
export const MAX_DATE_MS = 8_640_000_000_000_000;

/**
 * Default of a domain contract's `lake.domain.max_future_skew_ms`: how far past the ingest clock an
 * event time may be (producers' clocks drift; an event from next year is a bug or an attack). Old event
 * times have no clock-relative bound: backfills and CDC snapshots are normal.
 */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 3_600_000;

/** avsc encodes longs only within ±(2^53 − 2): one less than Number.MAX_SAFE_INTEGER. */
export const MAX_AVRO_LONG = 9_007_199_254_740_990;

/** Longest value taken into a NATS header (Nats-Msg-Id is built from the record's key). */
export const MAX_HEADER_VALUE_LENGTH = 128;

const DAY_MS = 86_400_000;

/**
 * The UTC calendar day (YYYY-MM-DD) of an epoch-millis instant, for every finite number, where
 * Date.toISOString() throws past ±8.64e15 ms. Proleptic Gregorian calendar: the same day as Date's
 * for every instant a Date holds. Years before 0 are -YYYYYY (ISO 8601's expanded form); years past
 * 9999 have more digits but no '+', so the day is usable in an object key (`dt=…`, keys take
 * letters, digits, '.', '_', '=', '-').
 */
export function utcDay(epochMillis: number): string {
  if (!Number.isFinite(epochMillis)) throw new RangeError(`not an instant: ${epochMillis}`);
  // Howard Hinnant's days_from_civil inverse, in floating point: exact for every integer day count
  // below 2^53 (epochs of 400 years = 146097 days).
  const z = Math.floor(epochMillis / DAY_MS) + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const year = y < 0 ? "-" + String(-y).padStart(6, "0") : String(y).padStart(4, "0");
  return `${year}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

/**
 * ISO-8601 text (YYYY-MM-DDTHH:mm:ss.sssZ) of any finite epoch-millis number, where Date.toISOString
 * throws past ±8.64e15 ms: an instant read from a log record or a file (which a forged record can set
 * to anything) must not stop whoever formats it. Non-finite numbers come back as their text.
 */
export function isoInstant(epochMillis: number): string {
  if (Math.abs(epochMillis) <= MAX_DATE_MS) return new Date(epochMillis).toISOString();
  if (!Number.isFinite(epochMillis)) return String(epochMillis);
  const inDay = ((epochMillis % DAY_MS) + DAY_MS) % DAY_MS;
  const p = (n: number, w: number) => String(Math.floor(n)).padStart(w, "0");
  // Years past 9999 in ISO 8601's expanded form, as Date writes them (+YYYYYY; utcDay leaves out the '+').
  const day = utcDay(epochMillis).replace(/^(\d{5,})-/, (_m, y: string) => `+${y.padStart(6, "0")}-`);
  return `${day}T${p(inDay / 3_600_000, 2)}:${p((inDay / 60_000) % 60, 2)}:${p((inDay / 1000) % 60, 2)}.${p(inDay % 1000, 3)}Z`;
}

/** ISO-8601 text of an instant for messages; never throws (an instant past the Date range says so). */
export function isoOrRaw(epochMillis: number): string {
  return Math.abs(epochMillis) <= MAX_DATE_MS ? new Date(epochMillis).toISOString() : `${epochMillis} ms (outside the date range)`;
}

/** Why an event time may not be accepted at `now`, or undefined if it may. */
export function futureEventTimeProblem(field: string, t: number, now: number, maxFutureSkewMs: number): string | undefined {
  if (t <= now + maxFutureSkewMs) return undefined;
  return (
    `${field} ${isoOrRaw(t)} is more than ${maxFutureSkewMs} ms ahead of the ingest clock (${isoOrRaw(now)}): ` +
    `events from the future are refused (lake.domain.max_future_skew_ms); send it again once its time has come, or fix the producer's clock`
  );
}

// A lone surrogate is a code point of category Cs only when it is unpaired: with the `u` flag a valid
// pair is one astral code point. ANY_SURROGATE (code units, no `u`) is the cheap first look: most text
// has no surrogate at all.
const LONE_SURROGATE = /\p{Cs}/u;
const ANY_SURROGATE = /[\ud800-\udfff]/;
const hasLoneSurrogate = (s: string) => ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);

/**
 * The first place in a JSON value where text is not valid Unicode (a UTF-16 surrogate without its
 * pair, e.g. from "\ud800" in JSON): a path suffix like `` (the value itself), `[3]`, `.name`, or
 * `["key"]` for an object key; undefined if there is none. Such text can't be stored as UTF-8 without
 * being changed (Avro and Parquet would write U+FFFD), so it is refused, never repaired.
 */
export function illFormedTextPath(v: unknown, depthLeft = 64): string | undefined {
  if (typeof v === "string") return hasLoneSurrogate(v) ? "" : undefined;
  if (typeof v !== "object" || v === null || depthLeft === 0) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = illFormedTextPath(v[i], depthLeft - 1);
      if (p !== undefined) return `[${i}]${p}`;
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    if (hasLoneSurrogate(k)) return `[${JSON.stringify(k)}]`;
    const p = illFormedTextPath(x, depthLeft - 1);
    if (p !== undefined) return `${pathSegment(k)}${p}`;
  }
  return undefined;
}

/** A field name as a path segment: `.name` when it reads as one, else `["…"]` (escaped, well-formed). */
export function pathSegment(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** At most `n` UTF-16 units of `s`, never cutting a surrogate pair in half. */
export function clipText(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

// C0 and C1 controls (CR and LF among them: they end a header line), and the Unicode line and
// paragraph separators.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const HEADER_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Why `s` can't be (part of) a NATS header value as it is, or undefined if it can. nats.js refuses CR
 * and LF and trims surrounding whitespace: " a" and "a" would share a dedupe id, so one of two distinct
 * events would be answered `duplicate` and lost. Checked at validation, with the field's path.
 */
export function headerValueProblem(field: string, s: string, maxLength = MAX_HEADER_VALUE_LENGTH): string | undefined {
  if (s.length > maxLength) return `${field} is longer than ${maxLength} characters (${s.length}); it is the record's id in a NATS header (Nats-Msg-Id)`;
  const bad = HEADER_UNSAFE.exec(s);
  if (bad) {
    const cp = bad[0].charCodeAt(0).toString(16).padStart(4, "0");
    return `${field} contains the control character U+${cp.toUpperCase()} at index ${bad.index}; it is the record's id in a NATS header (Nats-Msg-Id), which must be printable on one line`;
  }
  if (hasLoneSurrogate(s)) return `${field} is not valid Unicode (a lone UTF-16 surrogate); it is the record's id in a NATS header (Nats-Msg-Id)`;
  if (s.trim() !== s)
    return `${field} starts or ends with whitespace; it is the record's id in a NATS header (Nats-Msg-Id), where surrounding whitespace is trimmed`;
  return undefined;
}
