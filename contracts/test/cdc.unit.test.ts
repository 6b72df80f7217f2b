import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { MAX_AVRO_LONG } from "../src/bounds.ts";
import { cdcChangeCodec, type CdcValidation, validateChange } from "../src/cdc.ts";
import { domainContract, loadDomainContract, parseDomainSchema } from "../src/domain.ts";

const customers = domainContract("customers");
const NOW = Date.UTC(2026, 6, 1);
const HOUR = 3_600_000;

const row = (id: string, over: Record<string, unknown> = {}) => ({
  customer_id: id,
  name: "Ada",
  email: null,
  country: "NL",
  updated_at: Date.UTC(2026, 5, 1),
  ...over,
});
const upsert = (id: string, over: Record<string, unknown> = {}, lsn = 10, ts = Date.UTC(2026, 5, 1)) => ({
  op: "c",
  before: null,
  after: row(id, over),
  source: { lsn },
  ts_ms: ts,
});
const del = (before: unknown, lsn = 11, ts = Date.UTC(2026, 5, 1)) => ({ op: "d", before, after: null, source: { lsn }, ts_ms: ts });

function refused(r: CdcValidation): { reason: string; path: string } {
  assert.equal(r.ok, false, `expected a refusal, got ${JSON.stringify(r)}`);
  if (r.ok) throw new Error("unreachable");
  return r;
}

/** Whatever validateChange accepts, the change codec encodes: nothing can fail after validation. */
function acceptedAndEncodable(r: CdcValidation) {
  assert.equal(r.ok, true, `expected acceptance, got ${JSON.stringify(r)}`);
  if (!r.ok) throw new Error("unreachable");
  assert.ok(cdcChangeCodec(customers).encode(r.change).byteLength > 0);
  return r;
}

describe("validateChange: a delete's key is checked against the contract", () => {
  test("a key the contract refuses (pattern, length) is refused at $.before.<key>, as it would be in an upsert", () => {
    for (const id of ["has space", "c1\n", "x".repeat(65), "", "a/b"]) {
      const d = refused(validateChange(customers, del({ customer_id: id }), NOW));
      assert.equal(d.path, "$.before.customer_id", JSON.stringify(id));
      const u = refused(validateChange(customers, upsert(id), NOW));
      assert.equal(u.path, "$.after.customer_id", JSON.stringify(id));
    }
  });

  test("a missing or non-string delete key is refused as before", () => {
    for (const before of [{}, { customer_id: 7 }, { customer_id: null }]) {
      assert.match(refused(validateChange(customers, del(before), NOW)).reason, /a delete needs customer_id in before/);
    }
  });

  test("a valid delete is accepted and encodable", () => {
    const r = acceptedAndEncodable(validateChange(customers, del({ customer_id: "c-1", name: "ignored" }), NOW));
    assert.equal(r.key, "c-1");
    assert.equal(r.op, "d");
  });

  test("with a key field that has no pattern, a key that can't be a header value is still refused (not a 503 at publish)", () => {
    const doc = structuredClone(customers.schema) as unknown as { fields: { name: string; "lake.constraints"?: object }[] };
    doc.fields[0]!["lake.constraints"] = { minLength: 1, maxLength: 64 };
    const open = loadDomainContract(parseDomainSchema(doc));
    for (const id of ["c1\n", "c\r1", " c1", "c\u00001"]) {
      assert.equal(refused(validateChange(open, del({ customer_id: id }), NOW)).path, "$.before.customer_id", JSON.stringify(id));
      assert.equal(refused(validateChange(open, upsert(id), NOW)).path, "$.after.customer_id", JSON.stringify(id));
    }
    acceptedAndEncodable(validateChange(open, del({ customer_id: "c 1" }), NOW));
  });
});

describe("validateChange: positions and times the encoder and readers can take", () => {
  test("an lsn the Avro encoder refuses (2^53 − 1) is refused at $.source.lsn; its largest encodable one is accepted", () => {
    assert.throws(() => cdcChangeCodec(customers).encode({ ...row("c-1"), _op: "c", _lsn: Number.MAX_SAFE_INTEGER, _ts_ms: 0 }));
    assert.equal(refused(validateChange(customers, upsert("c-1", {}, Number.MAX_SAFE_INTEGER), NOW)).path, "$.source.lsn");
    assert.equal(refused(validateChange(customers, del({ customer_id: "c-1" }, Number.MAX_SAFE_INTEGER), NOW)).path, "$.source.lsn");
    acceptedAndEncodable(validateChange(customers, upsert("c-1", {}, MAX_AVRO_LONG), NOW));
  });

  test("ts_ms more than the skew past the clock is refused at $.ts_ms; within it, or old, is accepted", () => {
    for (const ts of [NOW + HOUR + 1, Date.UTC(2099, 0, 1), 9e15]) {
      assert.equal(refused(validateChange(customers, upsert("c-1", {}, 10, ts), NOW)).path, "$.ts_ms", String(ts));
      assert.equal(refused(validateChange(customers, del({ customer_id: "c-1" }, 11, ts), NOW)).path, "$.ts_ms", String(ts));
    }
    for (const ts of [NOW + HOUR, NOW, 0, Date.UTC(1995, 0, 1)]) acceptedAndEncodable(validateChange(customers, upsert("c-1", {}, 10, ts), NOW));
  });

  test("the row's event time is bounded too (after.updated_at)", () => {
    assert.equal(refused(validateChange(customers, upsert("c-1", { updated_at: Date.UTC(2099, 0, 1) }), NOW)).path, "$.after.updated_at");
  });

  test("a lone surrogate in the after image is refused with its path", () => {
    assert.equal(refused(validateChange(customers, upsert("c-1", { name: "A\ud800" }), NOW)).path, "$.after.name");
  });
});
