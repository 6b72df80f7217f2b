import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";

import type { QuarantinedRecord, VersionCommitted } from "../src/generated.ts";
import { DecodeError, PayloadTooLargeError, quarantinedRecordCodec, versionCommittedCodec } from "../src/log.ts";

/** avsc decodes records into class instances; compare plain data. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const committed: VersionCommitted = {
  dataset: "domain_events",
  version: 7,
  parent_version: 6,
  policy: "non-critical",
  write_id: "w-7f3a",
  committer_id: "committer-1",
  committed_at: Date.UTC(2026, 5, 1, 12, 0, 0, 123),
  schema_name: "domain_events",
  schema_version: 1,
  schema_fingerprint: "a".repeat(64),
  manifest: { key: "datasets/domain_events/manifests/v000000000007-w-7f3a.json", sha256: "b".repeat(64), bytes: 2048 },
  added_files: [
    { key: "datasets/domain_events/data/dt=2026-05-31/w-7f3a-000.parquet", partition: "dt=2026-05-31", rows: 3, bytes: 900, sha256: "c".repeat(64) },
    { key: "datasets/domain_events/data/dt=2026-06-01/w-7f3a-001.parquet", partition: "dt=2026-06-01", rows: 40, bytes: 4100, sha256: "d".repeat(64) },
  ],
  removed_files: ["datasets/domain_events/data/dt=2026-05-30/w-0001-000.parquet"],
  source: { stream: "EVENTS", subject: "lake.events.domain_events", first_seq: 1001, last_seq: 1043 },
  row_count: 43,
  total_rows: 2_000_000_043,
  min_event_time: Date.UTC(2026, 4, 31, 22),
  max_event_time: Date.UTC(2026, 5, 1, 11, 59),
  max_source_position: null,
  iceberg: null,
  lineage: null,
  operation: null,
};

const quarantined: QuarantinedRecord = {
  domain: "domain_events",
  event_id: "evt-9",
  reason: "amount must be a finite number, got string",
  path: "$.amount",
  raw: '{"event_id":"evt-9","amount":"lots"}',
  truncated: false,
  received_at: Date.UTC(2026, 5, 1, 12),
  source: "http",
};

describe("versionCommittedCodec", () => {
  test("round-trips a record with files, removals and event times", () => {
    const decoded = versionCommittedCodec.decode(versionCommittedCodec.encode(committed));
    assert.deepEqual(plain(decoded), committed);
  });

  test("round-trips the empty first version with null event times", () => {
    const first: VersionCommitted = {
      ...committed,
      version: 1,
      parent_version: 0,
      added_files: [],
      removed_files: [],
      row_count: 0,
      total_rows: 0,
      min_event_time: null,
      max_event_time: null,
    };
    assert.deepEqual(plain(versionCommittedCodec.decode(versionCommittedCodec.encode(first))), first);
  });

  test("decodes from a view into a larger buffer (respects byteOffset)", () => {
    const bytes = versionCommittedCodec.encode(committed);
    const padded = new Uint8Array(bytes.byteLength + 16);
    padded.set(bytes, 5);
    assert.deepEqual(plain(versionCommittedCodec.decode(padded.subarray(5, 5 + bytes.byteLength))), committed);
  });

  test("has a name and a sha256 fingerprint", () => {
    assert.equal(versionCommittedCodec.name, "VersionCommitted");
    assert.match(versionCommittedCodec.fingerprint, /^[0-9a-f]{64}$/);
    assert.notEqual(versionCommittedCodec.fingerprint, quarantinedRecordCodec.fingerprint);
  });

  test("encode refuses a value that does not fit the schema", () => {
    assert.throws(() => versionCommittedCodec.encode({ ...committed, version: "7" } as unknown as VersionCommitted));
  });
});

describe("quarantinedRecordCodec", () => {
  test("round-trips a record", () => {
    assert.deepEqual(plain(quarantinedRecordCodec.decode(quarantinedRecordCodec.encode(quarantined))), quarantined);
  });

  test("round-trips a record without an event id, truncated", () => {
    const r: QuarantinedRecord = { ...quarantined, event_id: null, truncated: true, raw: "x".repeat(70_000), source: "nats" };
    assert.deepEqual(plain(quarantinedRecordCodec.decode(quarantinedRecordCodec.encode(r))), r);
  });

  test("has its own name", () => {
    assert.equal(quarantinedRecordCodec.name, "QuarantinedRecord");
  });
});

describe("decode of bad bytes", () => {
  const isDecodeError = (what: string) => (e: unknown) => {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.name, "DecodeError");
    assert.ok(e.message.startsWith(`cannot decode ${what}: `), e.message);
    assert.ok(e.cause instanceof Error, "the avsc error is kept as the cause");
    return true;
  };

  test("empty bytes throw DecodeError", () => {
    assert.throws(() => versionCommittedCodec.decode(new Uint8Array(0)), isDecodeError("VersionCommitted"));
    assert.throws(() => quarantinedRecordCodec.decode(new Uint8Array(0)), isDecodeError("QuarantinedRecord"));
  });

  test("garbage bytes throw DecodeError", () => {
    const garbage = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      new TextEncoder().encode('{"dataset":"domain_events","version":1}'),
      new Uint8Array([0x02, 0x61]),
    ];
    for (const bytes of garbage) {
      assert.throws(() => versionCommittedCodec.decode(bytes), isDecodeError("VersionCommitted"));
      assert.throws(() => quarantinedRecordCodec.decode(bytes), isDecodeError("QuarantinedRecord"));
    }
  });

  test("a truncated record throws DecodeError", () => {
    const bytes = versionCommittedCodec.encode(committed);
    for (const cut of [1, 10, bytes.byteLength - 1]) {
      assert.throws(() => versionCommittedCodec.decode(bytes.subarray(0, cut)), isDecodeError("VersionCommitted"));
    }
  });

  test("trailing bytes after a valid record throw DecodeError", () => {
    const bytes = quarantinedRecordCodec.encode(quarantined);
    const longer = new Uint8Array(bytes.byteLength + 1);
    longer.set(bytes);
    assert.throws(() => quarantinedRecordCodec.decode(longer), isDecodeError("QuarantinedRecord"));
  });

  test("a record of the other kind throws DecodeError", () => {
    assert.throws(() => versionCommittedCodec.decode(quarantinedRecordCodec.encode(quarantined)), isDecodeError("VersionCommitted"));
  });

  test("a payload over 8 MiB throws PayloadTooLargeError before decoding", () => {
    const limit = 8 * 1024 * 1024;
    const huge = new Uint8Array(limit + 1);
    assert.throws(
      () => versionCommittedCodec.decode(huge),
      (e: unknown) =>
        e instanceof PayloadTooLargeError &&
        e.name === "PayloadTooLargeError" &&
        e.what === "VersionCommitted" &&
        e.bytes === limit + 1 &&
        e.limit === limit &&
        e.message === `VersionCommitted payload of ${limit + 1} bytes exceeds the ${limit}-byte limit`,
    );
    assert.throws(() => quarantinedRecordCodec.decode(huge), PayloadTooLargeError);
  });

  test("exactly 8 MiB is not refused for size (it fails as garbage instead)", () => {
    assert.throws(() => quarantinedRecordCodec.decode(new Uint8Array(8 * 1024 * 1024)), DecodeError);
  });

  test("a tiny payload claiming 2^31 array items throws DecodeError instead of exhausting memory", () => {
    // The 8 MiB cap does not bound item counts: avsc loops over the claimed count. Run in a child with a
    // small heap so a failure shows up as a crashed child, not a crashed test runner.
    const child = spawnSync(process.execPath, ["--max-old-space-size=128", "--import", "tsx", join(import.meta.dirname, "fixtures", "decode-hostile.ts")], {
      cwd: join(import.meta.dirname, ".."),
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(child.signal, null, `child was killed by ${child.signal}; stderr tail: ${child.stderr.slice(-400)}`);
    assert.equal(child.status, 0, `child exited with ${child.status}; stderr tail: ${child.stderr.slice(-400)}`);
    assert.deepEqual(JSON.parse(child.stdout.trim()), { outcome: "threw", name: "DecodeError", bytes: 17 });
  });
});
