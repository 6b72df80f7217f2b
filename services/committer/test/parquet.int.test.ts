import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";

import { domainContract, loadDomainContract } from "@lake/contracts";

import { fromParquet, OFFSET_COLUMN, toParquet } from "../src/parquet.ts";

const contract = domainContract("domain_events");

let dir: string;
let instance: DuckDBInstance;
let con: DuckDBConnection;
let fileNo = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "lake-committer-parquet-"));
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
  await con.run("SET TimeZone = 'UTC'");
});
after(async () => {
  con?.closeSync();
  instance?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

/** Writes the bytes to a temp file and returns a read_parquet(...) source for it. */
async function source(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `f${fileNo++}.parquet`);
  await writeFile(path, bytes);
  return `read_parquet('${path.replaceAll("'", "''")}')`;
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

async function columnTypes(src: string): Promise<[string, string][]> {
  return (await rows(`DESCRIBE SELECT * FROM ${src}`)).map((r) => [r.column_name as string, r.column_type as string]);
}

describe("toParquet (domain_events)", () => {
  const input = [
    { event_id: "e-1", user_id: "alice", event_type: "view", timestamp: Date.UTC(2026, 5, 1, 0, 0, 0, 1), amount: 0 },
    { event_id: "e-2", user_id: "bób 🦆 'quoted'", event_type: "purchase", timestamp: Date.UTC(2026, 5, 1, 23, 59, 59, 999), amount: -1234.5678 },
    { event_id: "e-3", user_id: "carol", event_type: "refund", timestamp: 946684800000, amount: 1e9 },
  ];
  const offsets = [7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
  let src: string;

  before(async () => {
    const bytes = toParquet({ columns: contract.fields }, input, offsets);
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "PAR1", "starts with the Parquet magic");
    assert.equal(new TextDecoder().decode(bytes.subarray(-4)), "PAR1", "ends with the Parquet magic");
    src = await source(bytes);
  });

  test("has one column per contract field plus _offset, with the mapped types", async () => {
    assert.equal(OFFSET_COLUMN, "_offset");
    assert.deepEqual(await columnTypes(src), [
      ["event_id", "VARCHAR"],
      ["user_id", "VARCHAR"],
      ["event_type", "VARCHAR"],
      ["timestamp", "TIMESTAMP WITH TIME ZONE"],
      ["amount", "DOUBLE"],
      ["_offset", "BIGINT"],
    ]);
  });

  test("has one row per input row", async () => {
    assert.deepEqual(await rows(`SELECT count(*)::INTEGER AS n FROM ${src}`), [{ n: 3 }]);
  });

  test("keeps every value, in order, with timestamps at millisecond precision and offsets beyond 32 bits", async () => {
    const out = await rows(`SELECT event_id, user_id, event_type, epoch_ms("timestamp") AS ms, amount, _offset FROM ${src}`);
    assert.deepEqual(
      out,
      input.map((r, i) => ({
        event_id: r.event_id,
        user_id: r.user_id,
        event_type: r.event_type,
        ms: BigInt(r.timestamp),
        amount: r.amount,
        _offset: BigInt(offsets[i]!),
      })),
    );
  });

  test("timestamps are UTC instants", async () => {
    const out = await rows(`SELECT strftime("timestamp" AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%g') AS t FROM ${src} ORDER BY _offset`);
    assert.deepEqual(
      out.map((r) => r.t),
      ["2026-06-01 00:00:00.001", "2026-06-01 23:59:59.999", "2000-01-01 00:00:00.000"],
    );
  });

  test("is zstd-compressed", async () => {
    const out = await rows(`SELECT DISTINCT compression FROM parquet_metadata(${src.replace("read_parquet", "")})`);
    assert.deepEqual(out, [{ compression: "ZSTD" }]);
  });
});

describe("toParquet (other Avro types)", () => {
  // Contracts exercising the mappings domain_events does not use, including nullable fields.
  const domainMeta = { name: "wide", version: 1, key: "id", event_time: "at", partition_by: "day(at)", policy: "non-critical" };
  const wide = loadDomainContract({
    type: "record",
    name: "Wide",
    fields: [
      { name: "id", type: "string" },
      { name: "count", type: "int" },
      { name: "ratio", type: "float" },
      { name: "flag", type: "boolean" },
      { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
      { name: "note", type: ["null", "string"] },
      { name: "maybe_at", type: ["null", { type: "long", logicalType: "timestamp-millis" }] },
      { name: "maybe_count", type: ["null", "int"] },
      { name: "maybe_flag", type: ["null", "boolean"] },
    ],
    "lake.domain": domainMeta,
  });

  test("maps int, float, boolean, timestamps and nullable fields", async () => {
    const input = [
      {
        id: "a",
        count: -5,
        ratio: 0.5,
        flag: true,
        at: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
        note: "hello",
        maybe_at: Date.UTC(2026, 0, 1),
        maybe_count: 9,
        maybe_flag: false,
      },
      { id: "b", count: 2147483647, ratio: -2.25, flag: false, at: Date.UTC(2026, 0, 3), note: null, maybe_at: null, maybe_count: null, maybe_flag: null },
    ];
    const src = await source(toParquet({ columns: wide.fields }, input, [1, 2]));
    assert.deepEqual(await columnTypes(src), [
      ["id", "VARCHAR"],
      ["count", "INTEGER"],
      ["ratio", "FLOAT"],
      ["flag", "BOOLEAN"],
      ["at", "TIMESTAMP WITH TIME ZONE"],
      ["note", "VARCHAR"],
      ["maybe_at", "TIMESTAMP WITH TIME ZONE"],
      ["maybe_count", "INTEGER"],
      ["maybe_flag", "BOOLEAN"],
      ["_offset", "BIGINT"],
    ]);
    const out = await rows(
      `SELECT id, count, ratio, flag, epoch_ms("at") AS at, note, epoch_ms(maybe_at) AS maybe_at, maybe_count, maybe_flag, _offset FROM ${src}`,
    );
    assert.deepEqual(out, [
      {
        id: "a",
        count: -5,
        ratio: 0.5,
        flag: true,
        at: BigInt(input[0]!.at),
        note: "hello",
        maybe_at: BigInt(Date.UTC(2026, 0, 1)),
        maybe_count: 9,
        maybe_flag: false,
        _offset: 1n,
      },
      {
        id: "b",
        count: 2147483647,
        ratio: -2.25,
        flag: false,
        at: BigInt(input[1]!.at),
        note: null,
        maybe_at: null,
        maybe_count: null,
        maybe_flag: null,
        _offset: 2n,
      },
    ]);
  });

  test("strings keep every byte: empty, NUL, non-ASCII, surrogate pairs, nulls; a lone surrogate becomes U+FFFD", async () => {
    const strs = loadDomainContract({
      type: "record",
      name: "Strs",
      fields: [
        { name: "id", type: "string" },
        { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
        { name: "note", type: ["null", "string"] },
        { name: "kind", type: { type: "enum", name: "Kind", symbols: ["a", "b"] } },
      ],
      "lake.domain": domainMeta,
    });
    const values = ["", "x", "a\u0000b", "é", "日本語", "🦆", "e\u0301", "x".repeat(5000), "\uD800"];
    const input = values.map((v, i) => ({ id: v, at: Date.UTC(2026, 0, 1), note: i % 3 === 0 ? null : v, kind: i % 2 ? "a" : "b" }));
    const src = await source(
      toParquet(
        { columns: strs.fields },
        input,
        input.map((_, i) => i + 1),
      ),
    );
    const out = await rows(`SELECT id, note, kind::VARCHAR AS kind, octet_length(encode(id)) AS id_bytes FROM ${src} ORDER BY _offset`);
    const expected = (v: string) => v.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
    assert.deepEqual(
      out,
      input.map((r) => ({
        id: expected(r.id),
        note: r.note === null ? null : expected(r.note),
        kind: r.kind,
        id_bytes: BigInt(Buffer.byteLength(expected(r.id))),
      })),
    );
  });

  test("maps plain long fields (not timestamps), nullable or not, to BIGINT", async () => {
    // Avro longs arrive as JS numbers (validate checks Number.isSafeInteger); Arrow's Int64 wants bigint.
    const longs = loadDomainContract({
      type: "record",
      name: "Longs",
      fields: [
        { name: "id", type: "string" },
        { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
        { name: "quantity", type: "long" },
        { name: "maybe_quantity", type: ["null", "long"] },
      ],
      "lake.domain": domainMeta,
    });
    const input = [
      { id: "a", at: Date.UTC(2026, 0, 1), quantity: 2 ** 33, maybe_quantity: -7 },
      { id: "b", at: Date.UTC(2026, 0, 1), quantity: -1, maybe_quantity: null },
    ];
    const src = await source(toParquet({ columns: longs.fields }, input, [1, 2]));
    assert.deepEqual(
      (await columnTypes(src)).filter(([n]) => n.includes("quantity")),
      [
        ["quantity", "BIGINT"],
        ["maybe_quantity", "BIGINT"],
      ],
    );
    assert.deepEqual(await rows(`SELECT quantity, maybe_quantity FROM ${src}`), [
      { quantity: 2n ** 33n, maybe_quantity: -7n },
      { quantity: -1n, maybe_quantity: null },
    ]);
  });

  test("an Avro type without a Parquet mapping is refused with the field named", () => {
    const bytesContract = loadDomainContract({
      type: "record",
      name: "Blob",
      fields: [
        { name: "id", type: "string" },
        { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
        { name: "payload", type: "bytes" },
      ],
      "lake.domain": domainMeta,
    });
    assert.throws(() => toParquet({ columns: bytesContract.fields }, [{ id: "a", at: 0, payload: Buffer.from("x") }], [1]), {
      message: "field payload: Avro type bytes has no Parquet mapping yet",
    });
  });
});

describe("tombstones (upsert partitions)", () => {
  const cols = { columns: contract.fields };
  const row = { event_id: "a", user_id: "u", event_type: "view", timestamp: Date.UTC(2026, 5, 1), amount: 1 };

  test("travel in the file's footer: read back by the committer, invisible to a reader of the rows (DuckDB)", async () => {
    const tombs = new Map([
      ["gone-1", 20],
      ["gone-2", 2 ** 53 - 2],
    ]);
    const bytes = toParquet(cols, [row], [7], tombs);
    const back = fromParquet(cols, bytes);
    assert.deepEqual([...back.tombstones], [...tombs]);
    assert.deepEqual(back.offsets, [7]);
    const src = await source(bytes);
    assert.deepEqual(
      (await rows(`SELECT event_id FROM ${src}`)).map((r) => r.event_id),
      ["a"],
    );
    const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${src.slice("read_parquet('".length, -2)}')`);
    assert.deepEqual(JSON.parse(String(kv.find((r) => r.k === "lake.tombstones")!.v)), { "gone-1": 20, "gone-2": 2 ** 53 - 2 });
  });

  test("a partition whose every key is deleted is a file of no rows that still carries them", async () => {
    const bytes = toParquet(cols, [], [], new Map([["gone", 5]]));
    const back = fromParquet(cols, bytes);
    assert.equal(back.rows.length, 0);
    assert.deepEqual([...back.tombstones], [["gone", 5]]);
    assert.deepEqual(await rows(`SELECT count(*)::INT AS n FROM ${await source(bytes)}`), [{ n: 0 }]);
  });

  test("every file is zstd-compressed with the lake's created_by, not only the first one a process writes", async () => {
    for (let i = 0; i < 3; i++) {
      const src = await source(toParquet(cols, [row], [i], i === 1 ? new Map([["x", 1]]) : undefined));
      const path = src.slice("read_parquet('".length, -2);
      const meta = await rows(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
      assert.deepEqual(
        meta.map((r) => r.compression),
        ["ZSTD"],
        `file ${i}`,
      );
      const created = await rows(`SELECT created_by FROM parquet_file_metadata('${path}')`);
      assert.equal(created[0]!.created_by, "lake committer", `file ${i}`);
    }
  });
});
