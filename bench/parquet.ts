// Parquet: the files the lake writes beside DuckDB's own writer, and what the row order buys a reader.
//
// Size and scan: for each sample dataset, a day's rows are written with the committer's toParquet (the
// dataset's settings, its natural order), then DuckDB reads that file and writes exactly the same rows,
// in the same order, with `COPY ... (FORMAT parquet, COMPRESSION zstd)`. Bytes per row of both, and the
// time DuckDB takes to scan every column of each.
//
// Pruning: a one-hour range over a day of domain_events, with the sort and without it (the rows as they
// arrived), for two arrival patterns: live (roughly in event-time order, up to 2 minutes out) and mixed
// (a day backfilled from several sources: any order). Two figures each: the share of the file's bytes
// DuckDB actually read for the query (the `rchar` of this process around it, /proc/self/io: DuckDB
// runs in-process, so that is DuckDB's reads), and the share of the column chunks' bytes whose row
// groups the footer's statistics can't rule out (parquet_metadata, what any statistics-pruning reader
// must read at least).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";

import { rng, sampleEvents } from "@lake/client";
import { cdcSpec, type ContractSource, type DatasetSpec, derivedSpec, domainSpec, toParquet } from "@lake/committer";
import { derivedContract, domainContract, PARQUET_CODECS } from "@lake/contracts";

import { pct, round, type Row } from "./lib.ts";

const SECTION = "7 parquet";
const DAY_MS = 86_400_000;
const DAY = Date.UTC(2026, 0, 1);
const CURRENCIES = ["EUR", "USD", "GBP"];
const COUNTRIES = ["DE", "FR", "GB", "US", "NL", "ES", "IT", null];

type Data = { rows: Record<string, unknown>[]; offsets: number[] };

function staticSource(name: string): ContractSource {
  const c = domainContract(name);
  return { latest: () => c, writer: () => c, versions: () => [{ version: 1, fingerprint: c.fingerprint }], decode: (_d, b) => c.decode(b) };
}

function events(n: number, seed = 1): Data {
  const rows = sampleEvents(n, { seed, prefix: `d${seed}`, users: 10_000, startMs: DAY + 180_000, spanMs: DAY_MS - 360_000 }) as unknown as Record<
    string,
    unknown
  >[];
  return { rows, offsets: rows.map((_, i) => i + 1) };
}

function payments(n: number): Data {
  const r = rng(2);
  const rows = Array.from({ length: n }, (_, i) => ({
    payment_id: `pay-${i.toString(36)}-${Math.floor(r() * 1e9).toString(36)}`,
    user_id: `user-${Math.floor(r() * 10_000)}`,
    timestamp: DAY + Math.floor((i / n) * DAY_MS) + Math.floor(r() * 60_000),
    amount: Math.round(r() * 50_000) / 100,
    currency: CURRENCIES[Math.floor(r() * CURRENCIES.length)],
    card_country: COUNTRIES[Math.floor(r() * COUNTRIES.length)],
  }));
  return { rows, offsets: rows.map((_, i) => i + 1) };
}

/** A CDC table's state: one row per customer, the latest change of each (as the committer keeps it). */
function customers(n: number): Data {
  const r = rng(3);
  const rows = Array.from({ length: n }, (_, i) => {
    const at = DAY + Math.floor(r() * DAY_MS);
    return {
      customer_id: `cust-${String(Math.floor(r() * 1e9)).padStart(9, "0")}-${i}`,
      name: `Customer ${i}`,
      email: r() < 0.9 ? `c${i}@example.com` : null,
      country: COUNTRIES[Math.floor(r() * COUNTRIES.length)],
      updated_at: at,
      _op: r() < 0.1 ? "c" : "u",
      _lsn: 1_000_000 + i * 7,
      _ts_ms: at,
    };
  });
  return { rows, offsets: rows.map((_, i) => i + 1) };
}

/** A week of per-user daily totals. */
function totals(users: number): Data {
  const r = rng(4);
  const rows: Record<string, unknown>[] = [];
  for (let d = 0; d < 7; d++) {
    for (let u = 0; u < users; u++) {
      const start = DAY + d * DAY_MS;
      const count = 1 + Math.floor(r() * 20);
      rows.push({
        user_id: `user-${u}`,
        window_start: start,
        window_end: start + DAY_MS,
        day: new Date(start).toISOString().slice(0, 10),
        total_amount: Math.round(r() * 1e6) / 100,
        event_count: count,
        min_amount: Math.round(r() * 1000) / 100,
        max_amount: Math.round(r() * 1e5) / 100,
        revision: 1 + Math.floor(r() * 1.2),
        watermark: start + DAY_MS + 60_000,
      });
    }
  }
  return { rows, offsets: rows.map((_, i) => i + 1) };
}

const rchar = () => Number(/rchar:\s+(\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1] ?? NaN);
const q = (path: string) => `'${path.replaceAll("'", "''")}'`;

async function all(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

/** Median ms of `repeats` runs of `sql` (after one warm-up run). */
async function timeQuery(con: DuckDBConnection, sql: string, repeats: number): Promise<number> {
  await con.run(sql);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await con.runAndReadAll(sql);
    times.push(performance.now() - t);
  }
  return pct(times, 50);
}

export async function parquet(o: { dayEvents: number; pruneDayEvents: number; repeats: number }): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), "lake-bench-parquet-"));
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    await con.run("SET TimeZone = 'UTC'");
    // Measure file reads, not a cache of them (the setting exists from DuckDB 1.3).
    await con.run("SET enable_external_file_cache = false").catch(() => undefined);
    const n = o.dayEvents;
    const src = (dataset: string) => ({ stream: "EVENTS", subject: `lake.events.${dataset}` });
    const datasets: { name: string; spec: DatasetSpec; data: Data; what: string }[] = [
      {
        name: "domain_events",
        spec: domainSpec(domainContract("domain_events"), src("domain_events")),
        data: events(n),
        what: `a day of events, ${n.toLocaleString("en-US")} rows (as compaction writes a day)`,
      },
      {
        name: "domain_events (commit)",
        spec: domainSpec(domainContract("domain_events"), src("domain_events")),
        data: events(2_000, 7),
        what: "2,000 rows (one committer batch)",
      },
      {
        name: "payments",
        spec: domainSpec(domainContract("payments"), src("payments")),
        data: payments(Math.round(n / 2)),
        what: `${Math.round(n / 2).toLocaleString("en-US")} rows over a day`,
      },
      {
        name: "customers",
        spec: cdcSpec(staticSource("customers"), "customers", src("customers")),
        data: customers(Math.round(n / 5)),
        what: `CDC table state, ${Math.round(n / 5).toLocaleString("en-US")} keys`,
      },
      {
        name: "daily_user_totals",
        spec: derivedSpec(
          derivedContract("daily_user_totals"),
          { stream: "WINDOWS", subject: "lake.windows.daily_user_totals" },
          { stream: "EVENTS", subject: "lake.events.domain_events" },
        ),
        data: totals(10_000),
        what: "a week of 10,000 users' totals, 70,000 rows",
      },
    ];
    let worst = 0;
    for (const d of datasets) {
      const slug = d.name.replace(/\W+/g, "_");
      const t = performance.now();
      const bytes = toParquet(d.spec, d.data.rows, d.data.offsets);
      const writeMs = performance.now() - t;
      const ours = join(dir, `${slug}.lake.parquet`);
      writeFileSync(ours, bytes);
      const duck = join(dir, `${slug}.duckdb.parquet`);
      await con.run(`COPY (SELECT * FROM read_parquet(${q(ours)})) TO ${q(duck)} (FORMAT parquet, COMPRESSION zstd)`);
      const count = Number((await all(con, `SELECT count(*) AS n FROM read_parquet(${q(duck)})`))[0]!.n);
      if (count !== d.data.rows.length) throw new Error(`${d.name}: DuckDB copied ${count} rows of ${d.data.rows.length}`);
      const duckBytes = statSync(duck).size;
      const ratio = bytes.byteLength / duckBytes;
      worst = Math.max(worst, ratio);
      const scan = (p: string) => `SELECT count(*), sum(hash(COLUMNS(*))) FROM read_parquet(${q(p)})`;
      const [scanOurs, scanDuck] = [await timeQuery(con, scan(ours), o.repeats), await timeQuery(con, scan(duck), o.repeats)];
      rows.push({
        key: `parquet_${slug}_size_ratio`,
        section: SECTION,
        figure: `${d.name}: size, ours ÷ DuckDB's (same rows, same order)`,
        value: round(ratio, 2),
        unit: "×",
        target: "≤ 1.1×",
        meets: ratio <= 1.1,
        note:
          `${d.what}: ${round(bytes.byteLength / d.data.rows.length, 2)} vs ${round(duckBytes / d.data.rows.length, 2)} bytes/row; ` +
          `full scan of every column ${round(scanOurs, 1)} vs ${round(scanDuck, 1)} ms (median of ${o.repeats}); written in ${Math.round(writeMs)} ms`,
      });
    }
    rows.push({
      key: "parquet_worst_size_ratio",
      section: SECTION,
      figure: "largest size ratio to DuckDB's writer, all datasets",
      value: round(worst, 2),
      unit: "×",
      target: "≤ 1.1×",
      meets: worst <= 1.1,
    });

    // The codec is the per-dataset knob (lake.parquet.compression): the writer fixes zstd at its
    // default level, so a dataset that wants denser files picks gzip or brotli and pays in write time.
    const day = datasets[0]!;
    for (const codec of PARQUET_CODECS) {
      const layout = { ...day.spec, parquet: { ...day.spec.parquet, compression: codec } };
      const t = performance.now();
      const bytes = toParquet(layout, day.data.rows, day.data.offsets);
      const writeMs = performance.now() - t;
      const p = join(dir, `codec-${codec}.parquet`);
      writeFileSync(p, bytes);
      const scanMs = await timeQuery(con, `SELECT count(*), sum(hash(COLUMNS(*))) FROM read_parquet(${q(p)})`, o.repeats);
      rows.push({
        key: `parquet_codec_${codec}_bytes_per_row`,
        section: SECTION,
        figure: `domain_events day with compression ${codec}: bytes per row`,
        value: round(bytes.byteLength / day.data.rows.length, 2),
        unit: "B/row",
        note: `written in ${Math.round(writeMs)} ms (${Math.round(day.data.rows.length / (writeMs / 1000)).toLocaleString("en-US")} rows/s); full scan ${round(scanMs, 1)} ms`,
      });
    }

    // Pruning: a one-hour range of a day of events.
    const lo = DAY + 12 * 3_600_000;
    const hi = lo + 3_600_000;
    const spec = domainSpec(domainContract("domain_events"), src("domain_events"));
    const live = events(o.pruneDayEvents, 11);
    const r = rng(12);
    const mixed: Data = { rows: live.rows.map((e) => ({ ...e, timestamp: DAY + Math.floor(r() * DAY_MS) })), offsets: live.offsets };
    const hour = (p: string) =>
      `SELECT count(*) AS n, sum(amount) AS s FROM read_parquet(${q(p)}) WHERE "timestamp" >= make_timestamptz(${lo * 1000}::BIGINT) AND "timestamp" < make_timestamptz(${hi * 1000}::BIGINT)`;
    for (const [arrival, data] of [
      ["live", live],
      ["mixed", mixed],
    ] as const) {
      const expected = data.rows.filter((e) => (e.timestamp as number) >= lo && (e.timestamp as number) < hi).length;
      for (const sorted of [true, false]) {
        const layout = sorted ? spec : { columns: spec.columns, parquet: spec.parquet };
        const bytes = toParquet(layout, data.rows, data.offsets);
        const p = join(dir, `hour-${arrival}-${sorted}.parquet`);
        writeFileSync(p, bytes);
        await con.run(hour(p)); // warm-up (page cache)
        const before = rchar();
        const t = performance.now();
        const res = await all(con, hour(p));
        const ms = performance.now() - t;
        const read = rchar() - before;
        if (Number(res[0]!.n) !== expected) throw new Error(`the hour query counted ${String(res[0]!.n)} rows, expected ${expected}`);
        const stats = await all(
          con,
          `WITH g AS (SELECT row_group_id, sum(total_compressed_size) AS b, max(CASE WHEN path_in_schema = 'timestamp' THEN stats_min END) AS lo, max(CASE WHEN path_in_schema = 'timestamp' THEN stats_max END) AS hi
             FROM parquet_metadata(${q(p)}) GROUP BY row_group_id)
           SELECT sum(b) AS total, sum(CASE WHEN hi::TIMESTAMPTZ >= make_timestamptz(${lo * 1000}::BIGINT) AND lo::TIMESTAMPTZ < make_timestamptz(${hi * 1000}::BIGINT) THEN b ELSE 0 END) AS touched, count(*) AS groups FROM g`,
        );
        const readShare = (100 * read) / bytes.byteLength;
        const statsShare = (100 * Number(stats[0]!.touched)) / Number(stats[0]!.total);
        rows.push({
          key: `parquet_hour_${arrival}_${sorted ? "sorted" : "unsorted"}_read_pct`,
          section: SECTION,
          figure: `one hour of a day (${arrival} arrival, ${sorted ? "sorted by event time" : "as arrived, no sort"}): bytes DuckDB read`,
          value: round(readShare, 1),
          unit: "% of file",
          ...(sorted ? { target: "≤ 10%", meets: readShare <= 10 } : {}),
          note: `${Math.round(read / 1024)} of ${Math.round(bytes.byteLength / 1024)} KiB in ${round(ms, 1)} ms; row groups the statistics can't rule out hold ${round(statsShare, 1)}% of the column bytes (${String(stats[0]!.groups)} groups); ${expected} rows in the hour`,
        });
      }
    }
  } finally {
    con.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
