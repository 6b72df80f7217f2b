// The files toParquet writes, as readers we did not write see them: hyparquet (a pure-JS Parquet
// reader, with its own decompressors) for the footer, the page index and the rows; DuckDB for the
// rows and its own metadata view. Codec per dataset, the lake's created_by on every file of a process,
// rows in the dataset's natural order, row groups of the configured size with statistics and a page
// index on every column, a dictionary only where values repeat.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { type FileMetaData, parquetMetadata, parquetReadObjects, readColumnIndex } from "hyparquet";
import { compressors } from "hyparquet-compressors";

import { derivedContract, domainContract, PARQUET_CODECS, parquetCodecName, type ParquetSettings } from "@lake/contracts";

import { derivedSpec, domainSpec } from "../src/domain/spec.ts";
import { CREATED_BY, OFFSET_COLUMN, rowOrder, toParquet } from "../src/parquet.ts";

const events = domainSpec(domainContract("domain_events"), { stream: "EVENTS", subject: "lake.events.domain_events" });
const payments = domainSpec(domainContract("payments"), { stream: "EVENTS", subject: "lake.events.payments" });
const totals = derivedSpec(
  derivedContract("daily_user_totals"),
  { stream: "WINDOWS", subject: "lake.windows.daily_user_totals" },
  { stream: "EVENTS", subject: "lake.events.domain_events" },
);
const DAY = Date.UTC(2026, 2, 1);
const TYPES = ["view", "click", "purchase", "refund", "signup"];

let dir: string;
let instance: DuckDBInstance;
let con: DuckDBConnection;
let fileNo = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "lake-parquet-layout-"));
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
  await con.run("SET TimeZone = 'UTC'");
});
after(async () => {
  con?.closeSync();
  instance?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

const buffer = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const meta = (b: Uint8Array): FileMetaData => parquetMetadata(buffer(b));
const readRows = (b: Uint8Array) => parquetReadObjects({ file: buffer(b), compressors, utf8: true }) as Promise<Record<string, unknown>[]>;
const colIndex = (m: FileMetaData, name: string) => m.schema.slice(1).findIndex((e) => e.name === name);

async function duck(sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}
async function onDisk(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `f${fileNo++}.parquet`);
  await writeFile(path, bytes);
  return path.replaceAll("'", "''");
}

/** A small deterministic generator (the same rows every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** `n` domain events over one day in random arrival order: offsets are arrival order, event times are not. */
function dayOfEvents(n: number, seed = 1) {
  const r = rng(seed);
  const rows = Array.from({ length: n }, (_, i) => ({
    event_id: `ev-${seed}-${i}`,
    user_id: `user-${Math.floor(r() * 200)}`,
    event_type: TYPES[Math.floor(r() * TYPES.length)]!,
    timestamp: DAY + Math.floor(r() * 86_400_000),
    amount: Math.round(r() * 1e7) / 100,
  }));
  return { rows, offsets: rows.map((_, i) => 1000 + i) };
}

function withSettings<T extends object>(spec: T, parquet: Partial<ParquetSettings>): T & { parquet: ParquetSettings } {
  return { ...spec, parquet: { compression: "zstd", rowGroupRows: 65_536, ...parquet } };
}

describe("compression", () => {
  test("every file one process writes has every column chunk compressed as its dataset says, and the lake's created_by", async () => {
    // Three rounds over every codec, alternating datasets: a writer that consumed its properties on
    // the first file (the old defect) would write the later ones with the library's defaults.
    const { rows, offsets } = dayOfEvents(500);
    for (let round = 0; round < 3; round++) {
      for (const codec of PARQUET_CODECS) {
        const bytes = toParquet(withSettings(events, { compression: codec }), rows, offsets);
        const m = meta(bytes);
        const codecs = new Set(m.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)));
        assert.deepEqual([...codecs], [parquetCodecName(codec)], `round ${round}, ${codec}: column chunk codecs`);
        assert.equal(m.created_by, CREATED_BY, `round ${round}, ${codec}: created_by`);
        // DuckDB agrees on the codec, and both readers get every row back.
        const path = await onDisk(bytes);
        assert.deepEqual(
          (await duck(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`)).map((r) => r.compression),
          [parquetCodecName(codec)],
        );
        const back = await readRows(bytes);
        assert.equal(back.length, rows.length);
        assert.deepEqual(new Set(back.map((r) => r.event_id)), new Set(rows.map((r) => r.event_id)));
        assert.deepEqual(await duck(`SELECT count(*)::INT AS n, count(DISTINCT event_id)::INT AS d FROM read_parquet('${path}')`), [{ n: 500, d: 500 }]);
      }
      const p = toParquet(payments, [{ payment_id: "p", user_id: "u", timestamp: DAY, amount: 1, currency: "EUR", card_country: null }], [1]);
      assert.deepEqual(new Set(meta(p).row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec))), new Set(["ZSTD"]), "payments: the default codec");
    }
  });

  test("zstd files are smaller than uncompressed ones of the same rows, and snappy ones sit between", () => {
    const { rows, offsets } = dayOfEvents(5000, 3);
    const size = (c: ParquetSettings["compression"]) => toParquet(withSettings(events, { compression: c }), rows, offsets).byteLength;
    const [zstd, snappy, none] = [size("zstd"), size("snappy"), size("uncompressed")];
    assert.ok(zstd < snappy && snappy < none, `zstd ${zstd} < snappy ${snappy} < uncompressed ${none}`);
  });
});

describe("row order", () => {
  test("an append dataset's file is in event-time order; each row keeps its own offset", async () => {
    const { rows, offsets } = dayOfEvents(3000, 5);
    const bytes = toParquet(events, rows, offsets);
    const back = await readRows(bytes);
    const times = back.map((r) => Number((r.timestamp as Date).getTime()));
    for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]! <= times[i]!, `row ${i} is out of event-time order`);
    const offsetOf = new Map(rows.map((r, i) => [r.event_id, offsets[i]!]));
    for (const r of back) assert.equal(Number(r[OFFSET_COLUMN]), offsetOf.get(r.event_id as string), `offset of ${String(r.event_id)}`);
    // Ties in event time: offset order.
    const tied = [0, 1, 2].map((i) => ({ ...rows[0]!, event_id: `tie-${i}` }));
    const tiedBack = await readRows(toParquet(events, tied, [30, 10, 20]));
    assert.deepEqual(
      tiedBack.map((r) => [r.event_id, Number(r[OFFSET_COLUMN])]),
      [
        ["tie-1", 10],
        ["tie-2", 20],
        ["tie-0", 30],
      ],
    );
  });

  test("an upsert dataset's file is in key order (daily_user_totals: window_start, then user_id)", async () => {
    const r = rng(9);
    const rows = Array.from({ length: 400 }, (_, i) => {
      const start = DAY + Math.floor(r() * 3) * 86_400_000;
      return {
        user_id: `user-${String(Math.floor(r() * 1000)).padStart(4, "0")}-${i}`,
        window_start: start,
        window_end: start + 86_400_000,
        day: new Date(start).toISOString().slice(0, 10),
        total_amount: r() * 100,
        event_count: 1,
        min_amount: 0,
        max_amount: 1,
        revision: 1,
        watermark: start,
      };
    });
    const bytes = toParquet(
      totals,
      rows,
      rows.map((_, i) => i + 1),
    );
    // The key's string column is front-coded (sorted neighbours share prefixes), not a dictionary.
    const m = meta(bytes);
    const userId = new Set(m.row_groups[0]!.columns[colIndex(m, "user_id")]!.meta_data!.encodings);
    assert.ok(userId.has("DELTA_BYTE_ARRAY") && !userId.has("RLE_DICTIONARY"), `user_id encodings: ${[...userId].join(", ")}`);
    const back = await readRows(bytes);
    const keys = back.map((x) => [Number((x.window_start as Date).getTime()), x.user_id as string] as const);
    for (let i = 1; i < keys.length; i++) {
      const [a, b] = [keys[i - 1]!, keys[i]!];
      assert.ok(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `row ${i}: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
    }
  });

  test("rowOrder: input already in order is not copied; ties fall back to offset, then input position", () => {
    const rows = [{ t: 1 }, { t: 2 }, { t: 2 }, { t: null }];
    assert.equal(rowOrder(["t"], rows.slice(0, 3), [1, 2, 3]), undefined);
    assert.deepEqual(rowOrder(["t"], rows, [1, 3, 2, 9]), [3, 0, 2, 1], "nulls first, then by value, ties by offset");
    assert.deepEqual(rowOrder(undefined, rows, [4, 3, 2, 1]), [3, 2, 1, 0], "no sort columns: offset order");
  });
});

describe("row groups, statistics, page index, encodings", () => {
  const n = 150_000;
  let bytes: Uint8Array;
  let m: FileMetaData;
  before(() => {
    const { rows, offsets } = dayOfEvents(n, 11);
    bytes = toParquet(events, rows, offsets);
    m = meta(bytes);
  });

  test("row groups hold at most row_group_rows rows (65,536 by default; the contract's setting otherwise)", () => {
    assert.deepEqual(
      m.row_groups.map((g) => Number(g.num_rows)),
      [65_536, 65_536, n - 2 * 65_536],
    );
    const { rows, offsets } = dayOfEvents(10_000, 12);
    const small = meta(toParquet(withSettings(events, { rowGroupRows: 4096 }), rows, offsets));
    assert.deepEqual(
      small.row_groups.map((g) => Number(g.num_rows)),
      [4096, 4096, 10_000 - 8192],
    );
  });

  test("every column of every row group has min/max statistics, and the row groups' event-time ranges follow each other", () => {
    for (const [g, rg] of m.row_groups.entries()) {
      for (const c of rg.columns) {
        const s = c.meta_data!.statistics;
        assert.ok(
          s && s.min_value !== undefined && s.max_value !== undefined && s.null_count !== undefined,
          `row group ${g}, ${c.meta_data!.path_in_schema.join(".")}: statistics`,
        );
      }
    }
    const ts = colIndex(m, "timestamp");
    const ms = (v: unknown) => new Date(v as Date).getTime();
    const ranges = m.row_groups.map((g) => [ms(g.columns[ts]!.meta_data!.statistics!.min_value), ms(g.columns[ts]!.meta_data!.statistics!.max_value)] as const);
    for (let i = 1; i < ranges.length; i++)
      assert.ok(ranges[i - 1]![1] <= ranges[i]![0], `row group ${i - 1} ends before ${i} starts: ${JSON.stringify(ranges)}`);
  });

  test("every column chunk has a page index (column index and offset index); the event-time pages are in order", () => {
    for (const rg of m.row_groups)
      for (const c of rg.columns)
        assert.ok(c.column_index_offset !== undefined && c.offset_index_offset !== undefined, `${c.meta_data!.path_in_schema.join(".")}: page index`);
    const ts = colIndex(m, "timestamp");
    const chunk = m.row_groups[0]!.columns[ts]!;
    const view = new DataView(buffer(bytes), Number(chunk.column_index_offset), chunk.column_index_length);
    const index = readColumnIndex({ view, offset: 0 }, m.schema[ts + 1]!);
    assert.ok(index.min_values.length >= 2, `pages in the first row group's timestamp chunk: ${index.min_values.length}`);
    const mins = index.min_values.map((v) => new Date(v as unknown as Date).getTime());
    for (let i = 1; i < mins.length; i++) assert.ok(mins[i - 1]! <= mins[i]!, "page minimums ascend");
  });

  test("a dictionary where values repeat (event_type, user_id), delta for distinct integers (timestamp, _offset), plain for distinct strings and doubles", () => {
    const enc = (name: string) => new Set(m.row_groups[0]!.columns[colIndex(m, name)]!.meta_data!.encodings);
    assert.ok(enc("event_type").has("RLE_DICTIONARY"), "event_type");
    assert.ok(enc("user_id").has("RLE_DICTIONARY"), "user_id");
    assert.ok(!enc("event_id").has("RLE_DICTIONARY") && enc("event_id").has("PLAIN"), "event_id");
    assert.ok(!enc("amount").has("RLE_DICTIONARY") && enc("amount").has("PLAIN"), "amount");
    assert.ok(enc("timestamp").has("DELTA_BINARY_PACKED"), "timestamp");
    assert.ok(enc(OFFSET_COLUMN).has("DELTA_BINARY_PACKED"), "_offset");
  });

  test("a one-hour range touches at most 2 of the day's row groups by their statistics (DuckDB's view of the footer), and DuckDB reads its rows", async () => {
    const path = await onDisk(bytes);
    const lo = DAY + 12 * 3_600_000;
    const hi = lo + 3_600_000;
    const groups = await duck(
      `SELECT row_group_id, epoch_ms(stats_min::TIMESTAMPTZ) AS lo, epoch_ms(stats_max::TIMESTAMPTZ) AS hi FROM parquet_metadata('${path}') WHERE path_in_schema = 'timestamp' ORDER BY row_group_id`,
    );
    assert.equal(groups.length, 3);
    const touched = groups.filter((g) => Number(g.hi) >= lo && Number(g.lo) < hi);
    assert.ok(touched.length >= 1 && touched.length <= 2, `row groups overlapping the hour: ${touched.length}`);
    const inHour = await duck(`SELECT count(*)::INT AS n FROM read_parquet('${path}') WHERE epoch_ms("timestamp") >= ${lo} AND epoch_ms("timestamp") < ${hi}`);
    const { rows } = dayOfEvents(n, 11);
    assert.equal(inHour[0]!.n, rows.filter((r) => r.timestamp >= lo && r.timestamp < hi).length);
  });
});
