// A contract's `lake.parquet` settings: defaults when absent, each setting read, every malformed
// value refused with the attribute's path and what is allowed (domain and derived contracts alike).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { derivedContract, DerivedContractError, loadDerivedContract } from "../src/derived.ts";
import { domainContract, InvalidContractError, loadDomainContract, parseDomainSchema } from "../src/domain.ts";
import { DEFAULT_PARQUET_SETTINGS, PARQUET_CODECS, parseParquetSettings } from "../src/parquet.ts";

const base = domainContract("domain_events").schema;
const withParquet = (p: unknown) => ({ ...structuredClone(base), "lake.parquet": p });

describe("lake.parquet", () => {
  test("absent: zstd, 65,536 rows per row group (the sample contracts)", () => {
    assert.deepEqual(DEFAULT_PARQUET_SETTINGS, { compression: "zstd", rowGroupRows: 65_536 });
    for (const c of [domainContract("domain_events"), domainContract("payments"), domainContract("customers")])
      assert.deepEqual(c.parquet, DEFAULT_PARQUET_SETTINGS, c.name);
    assert.deepEqual(derivedContract("daily_user_totals").parquet, DEFAULT_PARQUET_SETTINGS);
  });

  test("each codec and a row group size are read from a domain contract", () => {
    for (const codec of PARQUET_CODECS) {
      const c = loadDomainContract(parseDomainSchema(withParquet({ compression: codec, row_group_rows: 8192 })));
      assert.deepEqual(c.parquet, { compression: codec, rowGroupRows: 8192 });
    }
    assert.deepEqual(loadDomainContract(parseDomainSchema(withParquet({ compression: "snappy" }))).parquet, { compression: "snappy", rowGroupRows: 65_536 });
  });

  test("the settings do not change the schema's fingerprint (they say how files are written, not what rows are)", () => {
    const c = loadDomainContract(parseDomainSchema(withParquet({ compression: "gzip" })));
    assert.equal(c.fingerprint, domainContract("domain_events").fingerprint);
  });

  const refusals: [unknown, RegExp][] = [
    ["zstd", /"lake\.parquet" must be an object, got "zstd"/],
    [[], /"lake\.parquet" must be an object/],
    [null, /"lake\.parquet" must be an object, got null/],
    [{ compression: "lzo" }, /"lake\.parquet"\.compression must be one of zstd, snappy, gzip, brotli, lz4_raw, uncompressed, got "lzo"/],
    [{ compression: 5 }, /"lake\.parquet"\.compression must be one of .*, got 5/],
    [{ row_group_rows: 0 }, /"lake\.parquet"\.row_group_rows must be an integer from 1024 to 16777216, got 0/],
    [{ row_group_rows: 1.5e3 + 0.5 }, /row_group_rows must be an integer/],
    [{ row_group_rows: 2 ** 40 }, /row_group_rows must be an integer from 1024 to 16777216/],
    [{ row_group_rows: "65536" }, /row_group_rows must be an integer .*, got "65536"/],
    [{ zstd_level: 9 }, /"lake\.parquet" has an unknown setting "zstd_level" \(known: compression, row_group_rows\)/],
  ];

  test("malformed settings are refused by the domain contract parser (what the schema registry runs) with the path", () => {
    for (const [p, message] of refusals)
      assert.throws(
        () => parseDomainSchema(withParquet(p)),
        (e: unknown) => e instanceof InvalidContractError && message.test(e.message),
        JSON.stringify(p),
      );
  });

  test("and by the derived contract loader", () => {
    const schema = structuredClone(derivedContract("daily_user_totals").schema) as Record<string, unknown>;
    for (const [p, message] of refusals) {
      assert.throws(
        () => loadDerivedContract({ ...schema, "lake.parquet": p }, { fileName: "daily_user_totals" }),
        (e: unknown) => e instanceof DerivedContractError && message.test(e.message),
        JSON.stringify(p),
      );
    }
    assert.deepEqual(loadDerivedContract({ ...schema, "lake.parquet": { compression: "brotli" } }, { fileName: "daily_user_totals" }).parquet, {
      compression: "brotli",
      rowGroupRows: 65_536,
    });
  });

  test("parseParquetSettings takes the caller's error type", () => {
    class Mine extends Error {}
    assert.throws(() => parseParquetSettings({ compression: "x" }, (why) => new Mine(why)), Mine);
  });
});
