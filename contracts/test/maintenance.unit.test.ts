// A contract's `lake.maintenance` policy: the defaults when absent, each key read, null switching a
// bound off, and every malformed value (an unknown key above all) refused with its path, for domain and
// derived contracts alike.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { derivedContract, DerivedContractError, loadDerivedContract } from "../src/derived.ts";
import { domainContract, InvalidContractError, loadDomainContract, parseDomainSchema } from "../src/domain.ts";
import { DEFAULT_MAINTENANCE_POLICY, parseMaintenancePolicy } from "../src/maintenance.ts";

const base = domainContract("domain_events").schema;
const withPolicy = (p: unknown) => ({ ...structuredClone(base), "lake.maintenance": p });
const parse = (raw: unknown) => parseMaintenancePolicy(raw, (why) => new Error(why));

describe("lake.maintenance", () => {
  test("absent (the sample contracts) or null: the defaults, every task on", () => {
    for (const c of [domainContract("domain_events"), domainContract("payments"), domainContract("customers")])
      assert.deepEqual(c.maintenance, DEFAULT_MAINTENANCE_POLICY, c.name);
    assert.deepEqual(derivedContract("daily_user_totals").maintenance, DEFAULT_MAINTENANCE_POLICY);
    assert.deepEqual(parse(null), DEFAULT_MAINTENANCE_POLICY);
    assert.deepEqual(DEFAULT_MAINTENANCE_POLICY, {
      enabled: true,
      compaction: { enabled: true, maxFilesPerPartition: 32, targetFileBytes: 134_217_728, maxFilesPerRun: 1000 },
      expiry: { enabled: true, keepLast: 100, keepMs: 604_800_000, maxVersionsPerRun: 1000 },
      gc: { enabled: true, graceMs: 3_600_000, intervalMs: 600_000, maxDeletesPerRun: 10_000 },
    });
  });

  test("each key is read from a domain contract; absent keys keep their defaults", () => {
    const c = loadDomainContract(
      parseDomainSchema(
        withPolicy({
          compaction: { max_files_per_partition: 4, target_file_bytes: 1_048_576, max_files_per_run: 50 },
          expiry: { keep_last: 10, keep_ms: null, max_versions_per_run: 5 },
          gc: { grace_ms: 60_000, interval_ms: 5_000, max_deletes_per_run: 100 },
        }),
      ),
    );
    assert.deepEqual(c.maintenance, {
      enabled: true,
      compaction: { enabled: true, maxFilesPerPartition: 4, targetFileBytes: 1_048_576, maxFilesPerRun: 50 },
      expiry: { enabled: true, keepLast: 10, keepMs: null, maxVersionsPerRun: 5 },
      gc: { enabled: true, graceMs: 60_000, intervalMs: 5_000, maxDeletesPerRun: 100 },
    });
    assert.equal(c.fingerprint, domainContract("domain_events").fingerprint, "the policy says how a dataset is kept, not what its rows are");
    const partial = parse({ gc: { grace_ms: 1000 } });
    assert.deepEqual(partial.compaction, DEFAULT_MAINTENANCE_POLICY.compaction);
    assert.equal(partial.gc.graceMs, 1000);
    assert.equal(partial.gc.intervalMs, DEFAULT_MAINTENANCE_POLICY.gc.intervalMs);
  });

  test("switches: the whole policy, or one task", () => {
    assert.equal(parse({ enabled: false }).enabled, false);
    const p = parse({ expiry: { enabled: false, keep_last: null, keep_ms: null }, gc: { enabled: false } });
    assert.equal(p.expiry.enabled, false);
    assert.equal(p.gc.enabled, false);
    assert.equal(p.compaction.enabled, true);
  });

  test("a derived contract carries its policy too", () => {
    const raw = JSON.parse(JSON.stringify(derivedContract("daily_user_totals").schema)) as Record<string, unknown>;
    const c = loadDerivedContract({ ...raw, "lake.maintenance": { compaction: { enabled: false } } }, { fileName: "daily_user_totals" });
    assert.equal(c.maintenance.compaction.enabled, false);
    assert.throws(
      () => loadDerivedContract({ ...raw, "lake.maintenance": { compacton: {} } }, { fileName: "daily_user_totals" }),
      (e: unknown) => e instanceof DerivedContractError && /"lake\.maintenance" has an unknown key "compacton"/.test(e.message),
    );
  });

  const refusals: [unknown, RegExp][] = [
    ["on", /"lake\.maintenance" must be an object, got "on"/],
    [[], /"lake\.maintenance" must be an object/],
    [{ enable: true }, /"lake\.maintenance" has an unknown key "enable" \(known: enabled, compaction, expiry, gc\)/],
    [{ enabled: "yes" }, /"lake\.maintenance"\.enabled must be true or false, got "yes"/],
    [{ compaction: 32 }, /"lake\.maintenance"\.compaction must be an object, got 32/],
    [{ compaction: { max_files: 8 } }, /"lake\.maintenance"\.compaction has an unknown key "max_files" \(known: enabled, max_files_per_partition/],
    [{ compaction: { max_files_per_partition: 0 } }, /\.compaction\.max_files_per_partition must be an integer from 1 to 1000000, got 0/],
    [{ compaction: { max_files_per_partition: 2.5 } }, /\.compaction\.max_files_per_partition must be an integer/],
    [{ compaction: { max_files_per_run: 1 } }, /\.compaction\.max_files_per_run must be an integer from 2 to/],
    [{ compaction: { target_file_bytes: "128MiB" } }, /\.compaction\.target_file_bytes must be an integer from 1024 to/],
    [{ expiry: { keep_last: 0 } }, /\.expiry\.keep_last must be an integer from 1 to/],
    [{ expiry: { keep_ms: -1 } }, /\.expiry\.keep_ms must be an integer from 0 to/],
    [{ expiry: { keep_last: null, keep_ms: null } }, /\.expiry keeps nothing \(keep_last and keep_ms are both null\)/],
    [{ expiry: { max_versions_per_run: 20_000 } }, /\.expiry\.max_versions_per_run must be an integer from 1 to 10000/],
    [{ gc: { grace_ms: null } }, /\.gc\.grace_ms must be an integer from 0 to/],
    [{ gc: { grace: 1 } }, /\.gc has an unknown key "grace"/],
  ];
  for (const [raw, message] of refusals) {
    test(`refused: ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parse(raw), message);
      // At registration too (the registry parses every contract it is given), as the contract's error.
      assert.throws(
        () => parseDomainSchema(withPolicy(raw)),
        (e: unknown) => e instanceof InvalidContractError && message.test(e.message),
      );
    });
  }
});
