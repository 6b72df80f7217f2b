import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

import {
  IncompatibleSchemaError,
  InvalidContractError,
  loadDomainContract,
  parseDomainSchema,
  type SchemaRegistered,
  schemaRegisteredCodec,
} from "@lake/contracts";
import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import { SchemaRegistry } from "../src/index.ts";

const v1 = JSON.parse(readFileSync(join(import.meta.dirname, "../../../contracts/avro/domains/domain_events.avsc"), "utf8")) as {
  fields: Record<string, unknown>[];
  "lake.domain": Record<string, unknown>;
};
const withField = (doc: typeof v1, field: Record<string, unknown>) => ({ ...doc, fields: [...doc.fields, field] });
const v2 = withField(v1, { name: "coupon", type: ["null", "string"], default: null });

let nats: NatsServerHandle;
let nc: NatsConnection;
let reg: SchemaRegistry;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  reg = await SchemaRegistry.open(nc);
});
after(async () => {
  reg?.close();
  await nc?.close();
  await nats?.stop();
});

test("opening the registry registers the repo's domain contracts as version 1, once", async () => {
  assert.ok(reg.domains().includes("domain_events"));
  assert.equal(reg.versions("domain_events").length, 1);
  const again = await SchemaRegistry.open(nc);
  assert.equal(again.versions("domain_events").length, 1, "a second service starting does not register again");
  again.close();
});

test("a backward-compatible version (optional field with a default) becomes v2; the same document again is a no-op", async () => {
  const r = await reg.register(v2, "alice", "add coupon");
  assert.deepEqual([r.version, r.changed], [2, true]);
  assert.equal(reg.latest("domain_events").fields.at(-1)!.name, "coupon");
  const same = await reg.register(v2, "alice", "again");
  assert.deepEqual([same.version, same.changed], [2, false]);
});

test("old events decode into the latest version through Avro resolution", () => {
  const old = reg.versions("domain_events")[0]!.contract;
  const bytes = old.encode({ event_id: "e1", user_id: "u", event_type: "view", timestamp: Date.UTC(2026, 5, 1), amount: 1 });
  const value = reg.decode("domain_events", bytes, old.fingerprint);
  assert.equal(value.coupon, null);
  assert.equal(value.event_id, "e1");
});

test("incompatible versions are refused with the exact reason and change nothing", async () => {
  const typeChange = { ...v2, fields: v2.fields.map((f) => (f.name === "amount" ? { ...f, type: "string" } : f)) };
  await assert.rejects(reg.register(typeChange, "mallory", "x"), (e: Error) => e instanceof IncompatibleSchemaError && /amount|double|string/.test(e.message));
  const noDefault = withField(v2, { name: "region", type: "string" });
  await assert.rejects(reg.register(noDefault, "mallory", "x"), (e: Error) => e instanceof IncompatibleSchemaError && /region/.test(e.message));
  const newKey = { ...v2, "lake.domain": { ...v2["lake.domain"], key: "user_id" } };
  await assert.rejects(reg.register(newKey, "mallory", "x"), (e: Error) => e instanceof IncompatibleSchemaError && /key changed/.test(e.message));
  const critical = { ...v2, "lake.domain": { ...v2["lake.domain"], policy: "critical" } };
  await assert.rejects(reg.register(critical, "mallory", "x"), (e: Error) => e instanceof IncompatibleSchemaError && /policy changed/.test(e.message));
  await assert.rejects(reg.register({ type: "record", fields: [] }, "mallory", "x"), InvalidContractError);
  await assert.rejects(reg.register("not json", "mallory", "x"), InvalidContractError);
  assert.equal(reg.versions("domain_events").length, 2);
});

test("another service sees a new version live, and racing registrations stay dense", async () => {
  const other = await SchemaRegistry.open(nc);
  const seen = new Promise<void>((resolve) => {
    const off = other.onChange(() => {
      if (other.versions("domain_events").length === 4) {
        off();
        resolve();
      }
    });
  });
  const a = withField(v2, { name: "a", type: ["null", "int"], default: null });
  const b = withField(a, { name: "b", type: ["null", "int"], default: null });
  // Both start from v2; one wins v3, the other catches up and lands as v4 on top of it.
  const [ra, rb] = await Promise.all([reg.register(a, "x", "a"), other.register(b, "y", "b")]);
  assert.deepEqual([ra.version, rb.version].sort(), [3, 4]);
  await seen;
  assert.deepEqual(
    other.versions("domain_events").map((v) => v.version),
    [1, 2, 3, 4],
  );
  other.close();
});

test("records published straight onto the schemas subject are applied only if they pass the registration checks; every follower agrees", async () => {
  const js = jetstream(nc);
  const skippedBefore = reg.skipped;
  const latest = reg.versions("domain_events").at(-1)!;
  const latestDoc = JSON.parse(latest.canonical) as typeof v1;
  const fingerprintOf = (doc: unknown) => loadDomainContract(parseDomainSchema(doc)).fingerprint;
  const record = (doc: unknown, over: Partial<SchemaRegistered> = {}): Uint8Array =>
    schemaRegisteredCodec.encode({
      domain: "domain_events",
      version: latest.version + 1,
      schema: JSON.stringify(doc),
      fingerprint: fingerprintOf(doc),
      registered_at: Date.now(),
      actor: "mallory",
      reason: "bypassing register()",
      ...over,
    });
  const incompatible = { ...latestDoc, fields: latestDoc.fields.map((f) => (f.name === "amount" ? { ...f, type: "string" } : f)) };
  const compatible = withField(latestDoc, { name: "forged", type: ["null", "string"], default: null });
  const payments = JSON.parse(readFileSync(join(import.meta.dirname, "../../../contracts/avro/domains/payments.avsc"), "utf8")) as typeof v1;
  const paymentsNext = withField(payments, { name: "forged", type: ["null", "string"], default: null });
  const hostile: [string, Uint8Array][] = [
    ["junk that does not decode", new Uint8Array([0x02, 0xff, 0xff, 0xff])],
    ["an incompatible schema (amount: double -> string)", record(incompatible)],
    ["a compatible schema that lies about its fingerprint", record(compatible, { fingerprint: "0".repeat(64) })],
    ["a record of payments on the domain_events subject", record(paymentsNext, { domain: "payments", version: reg.versions("payments").length + 1 })],
    ["a compatible schema that skips a version", record(compatible, { version: latest.version + 2 })],
    ["a copy of the latest version", record(latestDoc)],
  ];
  for (const [, data] of hostile) await js.publish("lake.schemas.domain_events", data);
  await reg.refresh();

  assert.equal(reg.skipped - skippedBefore, hostile.length, "each hostile record is skipped and counted");
  assert.equal(reg.versions("domain_events").length, latest.version, "nothing was applied to domain_events");
  assert.equal(
    reg.latest("domain_events").fields.find((f) => f.name === "amount")!.avroType,
    latest.contract.fields.find((f) => f.name === "amount")!.avroType,
  );
  assert.equal(reg.versions("payments").length, 1, "nothing was applied to payments");

  // A follower reading the same log from the start reaches the same state by the same rule.
  const fresh = await SchemaRegistry.open(nc, { seed: false });
  try {
    const view = (r: SchemaRegistry) => r.domains().map((d) => [d, r.versions(d).map((v) => [v.version, v.fingerprint, v.seq])]);
    assert.deepEqual(view(fresh), view(reg));
    assert.equal(fresh.skipped, reg.skipped);

    // Registration still works on top of the skipped records (its compare-and-set names the subject's
    // real tail), and the new version is the next one, everywhere.
    const r = await reg.register(compatible, "alice", "a real v" + (latest.version + 1));
    assert.deepEqual([r.version, r.changed], [latest.version + 1, true]);
    await fresh.refresh();
    assert.deepEqual(view(fresh), view(reg));
    assert.equal(fresh.latest("domain_events").fields.at(-1)!.name, "forged");
  } finally {
    fresh.close();
  }
});
