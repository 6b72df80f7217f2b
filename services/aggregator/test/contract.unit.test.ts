// The derived-contract loader: the sample contract loads, and every kind of mistake in a job spec or
// output schema stops the service with a message that names the field.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { safeTypeForSchema } from "@lake/contracts";

import {
  DEFAULT_ALLOWED_LATENESS_MS,
  derivedContract,
  DerivedContractError,
  derivedNames,
  isDerivedContractError,
  lateEventCodec,
  loadDerivedContract,
  UnknownDerivedDatasetError,
  windowPositionCodec,
} from "../src/contract.ts";

const sample = JSON.parse(readFileSync(fileURLToPath(new URL("../../../contracts/avro/derived/daily_user_totals.avsc", import.meta.url)), "utf8")) as Record<
  string,
  unknown
>;

/** The sample contract with `lake.derived` and the fields changed by `edit`. */
function variant(edit: (meta: Record<string, unknown>, fields: { name: string; type: unknown }[]) => void): Record<string, unknown> {
  const copy = structuredClone(sample);
  edit(copy["lake.derived"] as Record<string, unknown>, copy.fields as { name: string; type: unknown }[]);
  return copy;
}

function refused(schema: Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => loadDerivedContract(schema),
    (e: unknown) => {
      assert.ok(e instanceof DerivedContractError, `expected DerivedContractError, got ${String(e)}`);
      assert.match(e.message, message);
      return true;
    },
  );
}

describe("derived contracts", () => {
  test("daily_user_totals loads with its job resolved against domain_events", () => {
    assert.deepEqual(derivedNames(), ["daily_user_totals"], "late_event.avsc and window_position.avsc are not derived datasets");
    const c = derivedContract("daily_user_totals");
    assert.equal(c.name, "daily_user_totals");
    assert.match(c.fingerprint, /^[0-9a-f]{64}$/);
    assert.deepEqual(c.job, {
      name: "daily_user_totals",
      version: 2,
      source: "domain_events",
      key: ["user_id"],
      window: { type: "tumbling", sizeMs: 86_400_000, slideMs: 86_400_000 },
      valueField: "amount",
      eventTimeField: "timestamp",
      eventIdField: "event_id",
      outOfOrdernessMs: 60_000,
      allowedLatenessMs: 300_000,
      policy: "critical",
      mergeKey: ["window_start", "user_id"],
    });
    const row = {
      user_id: "u",
      window_start: 0,
      window_end: 1,
      day: "1970-01-01",
      total_amount: 1.5,
      event_count: 2,
      min_amount: 0.5,
      max_amount: 1,
      revision: 1,
      watermark: 1,
      provisional: false,
      through_seq: 7,
    };
    assert.deepEqual({ ...c.decode(c.encode(row)) }, row);
    assert.throws(() => c.encode({ ...row, revision: "1" }), "a row that does not fit the schema is refused");
  });

  test("results written with version 1 (history/) still decode, their new fields null; an unknown writer is refused", () => {
    const c = derivedContract("daily_user_totals");
    assert.deepEqual(
      c.history.map((h) => h.version),
      [1, 2],
    );
    const v1 = c.history[0]!;
    assert.deepEqual(
      c.history[1]!.columns.map((f) => f.name).slice(0, v1.columns.length),
      v1.columns.map((f) => f.name),
      "version 2 only adds columns, after the old ones (their Iceberg field ids stay)",
    );
    const oldType = safeTypeForSchema(
      JSON.parse(readFileSync(join(import.meta.dirname, "../../../contracts/avro/derived/history/daily_user_totals.v1.avsc"), "utf8")) as Parameters<
        typeof safeTypeForSchema
      >[0],
    );
    assert.equal(oldType.fingerprint("sha256").toString("hex"), v1.fingerprint);
    const old = {
      user_id: "u",
      window_start: 0,
      window_end: 1,
      day: "1970-01-01",
      total_amount: 1,
      event_count: 1,
      min_amount: 1,
      max_amount: 1,
      revision: 3,
      watermark: 9,
    };
    assert.deepEqual({ ...c.decode(oldType.toBuffer(old), v1.fingerprint) }, { ...old, provisional: null, through_seq: null });
    assert.throws(
      () => c.decode(oldType.toBuffer(old), "f".repeat(64)),
      (e: unknown) => isDerivedContractError(e) && /no version of the contract has schema fingerprint/.test(e.message),
    );
  });

  test("the position marker has its own codec", () => {
    const p = windowPositionCodec();
    const v = { dataset: "daily_user_totals", through_seq: 42, watermark: null };
    assert.deepEqual({ ...p.decode(p.encode(v)) }, v);
    assert.notEqual(p.fingerprint, derivedContract("daily_user_totals").fingerprint);
  });

  test("unknown or hostile names are refused before any file is read", () => {
    for (const name of ["nope", "../domains/domain_events", "late_event", "Daily_user_totals", ""]) {
      assert.throws(() => derivedContract(name), UnknownDerivedDatasetError, name);
    }
  });

  test("a sliding window and a missing allowed lateness (default 5 minutes) load", () => {
    const c = loadDerivedContract(
      variant((m) => {
        m.window = { type: "sliding", size_ms: 3_600_000, slide_ms: 600_000 };
        delete m.allowed_lateness_ms;
      }),
    );
    assert.deepEqual(c.job.window, { type: "sliding", sizeMs: 3_600_000, slideMs: 600_000 });
    assert.equal(c.job.allowedLatenessMs, DEFAULT_ALLOWED_LATENESS_MS);
  });

  test("the late-event codec round-trips", () => {
    const late = { dataset: "d", event_id: "e", event_time: 1, watermark: 2, window_start: 0, source_seq: 9, reason: "r" };
    assert.deepEqual({ ...lateEventCodec().decode(lateEventCodec().encode(late)) }, late);
  });

  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "no job",
      (() => {
        const c = structuredClone(sample);
        delete c["lake.derived"];
        return c;
      })(),
      /has no lake\.derived object/,
    ],
    ["file name mismatch", sample, /does not match the file name "other"/],
    ["unknown source", variant((m) => (m.source = "nowhere")), /lake\.derived\.source "nowhere" is not a known domain/],
    ["key not in source", variant((m) => (m.key = ["account"])), /lake\.derived\.key field "account" is not a field of domain_events/],
    ["key of the wrong type", variant((m) => (m.key = ["amount"])), /key field "amount" must be a non-null string, int or long/],
    ["empty key", variant((m) => (m.key = [])), /lake\.derived\.key must be a non-empty array/],
    ["bad window type", variant((m) => (m.window = { type: "session", size_ms: 1 })), /window\.type must be "tumbling" or "sliding", got "session"/],
    ["zero size", variant((m) => (m.window = { type: "tumbling", size_ms: 0 })), /window\.size_ms must be a positive integer/],
    ["slide larger than size", variant((m) => (m.window = { type: "sliding", size_ms: 10, slide_ms: 20 })), /slide_ms \(20\) must not exceed size_ms \(10\)/],
    ["too many windows per event", variant((m) => (m.window = { type: "sliding", size_ms: 100_000, slide_ms: 1 })), /more than 1000 windows/],
    ["value field not numeric", variant((m) => (m.value_field = "user_id")), /value_field "user_id" must be a non-null number/],
    ["negative out-of-orderness", variant((m) => (m.out_of_orderness_ms = -1)), /out_of_orderness_ms must be an integer ≥ 0/],
    ["fractional lateness", variant((m) => (m.allowed_lateness_ms = 1.5)), /allowed_lateness_ms must be an integer ≥ 0/],
    ["bad policy", variant((m) => (m.policy = "gated")), /policy must be "critical" or "non-critical"/],
    [
      "missing output field",
      variant((_, f) =>
        f.splice(
          f.findIndex((x) => x.name === "max_amount"),
          1,
        ),
      ),
      /output fields missing: max_amount/,
    ],
    ["extra output field", variant((_, f) => f.push({ name: "avg_amount", type: "double" })), /output field "avg_amount" is not produced by the aggregator/],
    ["wrong output type", variant((_, f) => (f.find((x) => x.name === "event_count")!.type = "int")), /output field "event_count" must be long, got int/],
    [
      "provisional not optional",
      variant((_, f) => (f.find((x) => x.name === "provisional")!.type = "boolean")),
      /output field "provisional" must be \["null", "boolean"\] \(optional\), got "boolean"/,
    ],
    [
      "window_start not a timestamp",
      variant((_, f) => (f.find((x) => x.name === "window_start")!.type = "long")),
      /output field "window_start" must be timestamp-millis, got long/,
    ],
    ["merge key without the key", variant((m) => (m.merge_key = ["window_start"])), /merge_key must include "user_id"/],
    ["merge key with an unknown field", variant((m) => (m.merge_key = ["window_start", "user_id", "zone"])), /merge_key field "zone" is not an output field/],
  ];
  for (const [label, schema, message] of cases) {
    test(`refused: ${label}`, () => {
      if (label === "file name mismatch") {
        assert.throws(() => loadDerivedContract(schema, { fileName: "other" }), message);
        return;
      }
      refused(schema, message);
    });
  }
});
