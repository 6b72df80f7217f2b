// Per-file column metrics for manifest entries: value, null and NaN counts and lower/upper bounds in
// Iceberg's single-value binary serialization (spec, Appendix D), computed from the rows the file was
// written from, so they are exact (strings: bounds on a 16-character prefix, as Iceberg's default
// truncate(16) metrics mode does).
import { type ColumnLike, icebergType, OFFSET_FIELD_ID } from "./schema.ts";

export interface FileStats {
  valueCounts: Map<number, number>;
  nullCounts: Map<number, number>;
  nanCounts: Map<number, number>;
  lower: Map<number, Uint8Array>;
  upper: Map<number, Uint8Array>;
}

/** Longest string prefix kept in a bound, in code points. */
export const STRING_BOUND_CHARS = 16;

export function emptyStats(): FileStats {
  return { valueCounts: new Map(), nullCounts: new Map(), nanCounts: new Map(), lower: new Map(), upper: new Map() };
}

function int32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

function int64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v, true);
  return b;
}

function float64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return b;
}

function float32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return b;
}

const utf8 = new TextEncoder();

/** A lower bound of every string with this prefix: the prefix itself. */
function lowerString(s: string): Uint8Array {
  const cps = Array.from(s);
  return utf8.encode(cps.length <= STRING_BOUND_CHARS ? s : cps.slice(0, STRING_BOUND_CHARS).join(""));
}

/** An upper bound of every string with this prefix: the prefix with its last code point incremented (none if all are maximal). */
function upperString(s: string): Uint8Array | undefined {
  const cps = Array.from(s);
  if (cps.length <= STRING_BOUND_CHARS) return utf8.encode(s);
  const head = cps.slice(0, STRING_BOUND_CHARS);
  for (let i = head.length - 1; i >= 0; i--) {
    let cp = head[i]!.codePointAt(0)! + 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000; // surrogates are not characters
    if (cp <= 0x10ffff) return utf8.encode(head.slice(0, i).join("") + String.fromCodePoint(cp));
  }
  return undefined;
}

/** Orders doubles as IEEE 754 totalOrder does for non-NaN values: -0 before +0. */
function lessThan(a: number, b: number): boolean {
  return a < b || (a === b && Object.is(a, -0) && Object.is(b, 0));
}

/** The one column's metrics, from `value(i)` for each of `n` rows. */
function columnMetrics(type: string, n: number, value: (i: number) => unknown, id: number, out: FileStats): void {
  let nulls = 0;
  let nans = 0;
  let lo: unknown;
  let hi: unknown;
  for (let i = 0; i < n; i++) {
    const v = value(i);
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    if (typeof v === "number" && Number.isNaN(v)) {
      nans++;
      continue;
    }
    if (lo === undefined) {
      lo = hi = v;
      continue;
    }
    if (typeof v === "number") {
      if (lessThan(v, lo as number)) lo = v;
      if (lessThan(hi as number, v)) hi = v;
    } else if (typeof v === "string") {
      if (v < (lo as string)) lo = v;
      if (v > (hi as string)) hi = v;
    } else if (typeof v === "boolean") {
      if (!v) lo = false;
      if (v) hi = true;
    }
  }
  out.valueCounts.set(id, n);
  out.nullCounts.set(id, nulls);
  if (type === "double" || type === "float") out.nanCounts.set(id, nans);
  if (lo === undefined) return;
  const enc = (v: unknown, upper: boolean): Uint8Array | undefined => {
    switch (type) {
      case "string":
        return upper ? upperString(v as string) : lowerString(v as string);
      case "int":
        return int32(v as number);
      case "long":
        return int64(BigInt(v as number));
      case "timestamptz":
        return int64(BigInt(v as number) * 1000n);
      case "double":
        return float64(v as number);
      case "float":
        return float32(v as number);
      case "boolean":
        return Uint8Array.of(v ? 1 : 0);
      default:
        return undefined;
    }
  };
  const l = enc(lo, false);
  const u = enc(hi, true);
  if (l) out.lower.set(id, l);
  if (u) out.upper.set(id, u);
}

/**
 * Metrics of one data file: every contract column by its field id, and `_offset`. `rows` hold the
 * values as the contracts decode them (timestamps as epoch millis, longs as numbers).
 */
export function fileStats(
  columns: readonly ColumnLike[],
  ids: ReadonlyMap<string, number>,
  rows: readonly Record<string, unknown>[],
  offsets: readonly number[],
): FileStats {
  const out = emptyStats();
  const n = rows.length;
  for (const c of columns) {
    const id = ids.get(c.name);
    if (id === undefined) throw new Error(`column ${c.name} has no field id`);
    columnMetrics(icebergType(c), n, (i) => rows[i]![c.name], id, out);
  }
  columnMetrics("long", n, (i) => offsets[i], OFFSET_FIELD_ID, out);
  return out;
}
