// fsck's footer check (parquet-check.ts) on files the committer writes: a file of each sample dataset
// matches its own schema exactly, every Avro type maps to the type the committer writes, and each kind
// of difference (a missing, an extra, a retyped column; another codec; another writer) is named.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { toParquet } from "@lake/committer";
import { cdcChangeCodec, derivedContract, domainContract, loadDomainContract } from "@lake/contracts";

import { expectedParquetType, parquetFacts, schemaDifferences, settingsDrift } from "../src/parquet-check.ts";

const T = Date.UTC(2026, 5, 1);
const wide = loadDomainContract({
  type: "record",
  name: "Wide",
  fields: [
    { name: "id", type: "string" },
    { name: "kind", type: { type: "enum", name: "Kind", symbols: ["a", "b"] } },
    { name: "count", type: "int" },
    { name: "big", type: "long" },
    { name: "ratio", type: "float" },
    { name: "value", type: "double" },
    { name: "flag", type: "boolean" },
    { name: "at", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "note", type: ["null", "string"], default: null },
    { name: "maybe_at", type: ["null", { type: "long", logicalType: "timestamp-millis" }], default: null },
  ],
  "lake.domain": { name: "wide", version: 1, key: "id", event_time: "at", partition_by: "day(at)", policy: "non-critical" },
});
const wideRow = { id: "x", kind: "a", count: 1, big: 2 ** 40, ratio: 0.5, value: 1.25, flag: true, at: T, note: null, maybe_at: T };

describe("parquet-check", () => {
  test("a file of every sample dataset (and one of every Avro type) has exactly its schema's columns and types", () => {
    const events = domainContract("domain_events");
    const cdc = cdcChangeCodec(domainContract("customers"));
    const totals = derivedContract("daily_user_totals");
    const cases = [
      { name: "domain_events", columns: events.fields, row: { event_id: "e", user_id: "u", event_type: "view", timestamp: T, amount: 1 } },
      { name: "wide", columns: wide.fields, row: wideRow },
      {
        name: "customers (CDC)",
        columns: cdc.fields,
        row: Object.fromEntries(
          cdc.fields.map((f) => [
            f.name,
            f.nullable
              ? null
              : f.timestampMillis || f.avroType === "long" || f.avroType === "int"
                ? 1
                : f.avroType === "double"
                  ? 1.5
                  : f.name === "_op"
                    ? "u"
                    : "s",
          ]),
        ),
      },
      {
        name: "daily_user_totals",
        columns: totals.columns,
        row: {
          user_id: "u",
          window_start: T,
          window_end: T + 1,
          day: "2026-06-01",
          total_amount: 1,
          event_count: 1,
          min_amount: 1,
          max_amount: 1,
          revision: 1,
          watermark: T,
        },
      },
    ];
    for (const c of cases) {
      const facts = parquetFacts(toParquet({ columns: c.columns }, [c.row], [1]));
      assert.deepEqual(schemaDifferences(facts, c.columns), [], c.name);
      assert.deepEqual(settingsDrift(facts, { compression: "zstd", rowGroupRows: 65_536 }), [], c.name);
    }
    assert.deepEqual(
      parquetFacts(toParquet({ columns: wide.fields }, [wideRow], [1])).columns.map((c) => `${c.name}:${c.type}`),
      [...wide.fields.map((f) => `${f.name}:${expectedParquetType(f)}`), "_offset:INT64"],
    );
  });

  test("each difference is named: a missing, an extra and a retyped column", () => {
    const events = domainContract("domain_events");
    const fewer = events.fields.filter((f) => f.name !== "user_id");
    const retyped = events.fields.map((f) => (f.name === "amount" ? { ...f, avroType: "long" } : f));
    const extra = [...events.fields, { name: "coupon", avroType: "string", timestampMillis: false, nullable: true, constraints: undefined }];
    const row = { event_id: "e", user_id: "u", event_type: "view", timestamp: T, amount: 1, coupon: "c" };
    const file = (cols: typeof events.fields) => parquetFacts(toParquet({ columns: cols }, [row], [1]));
    assert.deepEqual(schemaDifferences(file(fewer), events.fields), ["column user_id (BYTE_ARRAY/STRING) is missing"]);
    assert.deepEqual(schemaDifferences(file(extra), events.fields), ["column coupon (BYTE_ARRAY/STRING) is not in the schema"]);
    assert.deepEqual(schemaDifferences(file(events.fields), retyped), ["column amount is DOUBLE, the schema says INT64"]);
  });

  test("another codec than the dataset's setting is drift; so is another writer", () => {
    const events = domainContract("domain_events");
    const row = { event_id: "e", user_id: "u", event_type: "view", timestamp: T, amount: 1 };
    const snappy = parquetFacts(toParquet({ columns: events.fields, parquet: { compression: "snappy", rowGroupRows: 65_536 } }, [row], [1]));
    assert.deepEqual(settingsDrift(snappy, { compression: "zstd", rowGroupRows: 65_536 }), [
      "codec SNAPPY, the dataset's setting is ZSTD (lake.parquet.compression)",
    ]);
    assert.deepEqual(settingsDrift(snappy, { compression: "snappy", rowGroupRows: 65_536 }), []);
    assert.deepEqual(settingsDrift({ ...snappy, createdBy: "parquet-rs version 55" }, { compression: "snappy", rowGroupRows: 65_536 }), [
      'written by "parquet-rs version 55", not by the lake\'s committer',
    ]);
  });

  test("bytes that are not Parquet are refused with the reader's reason", () => {
    assert.throws(() => parquetFacts(new TextEncoder().encode("not a parquet file at all")), /parquet/i);
    assert.throws(() => parquetFacts(new Uint8Array(0)));
  });
});
