import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnknownDomainError, domainContract, domainNames, type ValidationResult } from "../src/domain.ts";

const contract = domainContract("domain_events");

/** A record that satisfies every rule of domain_events v1; tests change one field at a time. */
function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_id: "evt-0001", user_id: "u-42", event_type: "purchase", timestamp: Date.UTC(2026, 5, 1, 12, 0, 0), amount: 19.99, ...overrides };
}

function refused(r: ValidationResult): { reason: string; path: string; eventId: string | null } {
  assert.equal(r.ok, false, `expected a refusal, got ${JSON.stringify(r)}`);
  if (r.ok) throw new Error("unreachable");
  return r;
}

function accepted(r: ValidationResult): { value: Record<string, unknown>; eventId: string; eventTime: number } {
  assert.equal(r.ok, true, `expected acceptance, got ${JSON.stringify(r)}`);
  if (!r.ok) throw new Error("unreachable");
  return r;
}

describe("domainContract", () => {
  test("loads domain_events with the metadata from its .avsc", () => {
    assert.equal(contract.name, "domain_events");
    assert.equal(contract.version, 1);
    assert.equal(contract.keyField, "event_id");
    assert.equal(contract.eventTimeField, "timestamp");
    assert.equal(contract.policy, "non-critical");
    assert.match(contract.fingerprint, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      contract.fields.map((f) => [f.name, f.avroType, f.timestampMillis, f.nullable]),
      [
        ["event_id", "string", false, false],
        ["user_id", "string", false, false],
        ["event_type", "enum", false, false],
        ["timestamp", "long", true, false],
        ["amount", "double", false, false],
      ],
    );
  });

  test("returns the cached contract on a second call", () => {
    assert.equal(domainContract("domain_events"), contract);
  });

  test("domainNames lists the .avsc files without extension", () => {
    assert.ok(domainNames().includes("domain_events"));
    assert.ok(domainNames().every((n) => !n.endsWith(".avsc")));
  });

  for (const name of ["no_such_domain", "../x", "../domains/domain_events", "domain_events/../domain_events", "Domain_Events", "domain_events.avsc", "", "/etc/passwd", "domain_events\n"]) {
    test(`refuses ${JSON.stringify(name)} with UnknownDomainError`, () => {
      assert.throws(
        () => domainContract(name),
        (e: unknown) => e instanceof UnknownDomainError && e.name === "UnknownDomainError" && e.domain === name,
      );
    });
  }
});

describe("validate: accepted records", () => {
  test("a valid record is accepted unchanged, with its event id and event time", () => {
    const input = valid();
    const r = accepted(contract.validate(input));
    assert.deepEqual(r.value, input);
    assert.equal(r.eventId, "evt-0001");
    assert.equal(r.eventTime, Date.UTC(2026, 5, 1, 12, 0, 0));
  });

  test("the value keeps the contract's field order, whatever order the input used", () => {
    const r = accepted(contract.validate({ amount: 1, timestamp: Date.UTC(2026, 0, 1), event_type: "view", user_id: "u", event_id: "e" }));
    assert.deepEqual(Object.keys(r.value), ["event_id", "user_id", "event_type", "timestamp", "amount"]);
  });

  const iso: [string, number][] = [
    ["2026-06-01T12:00:00Z", Date.UTC(2026, 5, 1, 12, 0, 0)],
    ["2026-06-01T12:00Z", Date.UTC(2026, 5, 1, 12, 0, 0)],
    ["2026-06-01T12:00:00.250Z", Date.UTC(2026, 5, 1, 12, 0, 0, 250)],
    ["2026-06-01T12:00:00.5Z", Date.UTC(2026, 5, 1, 12, 0, 0, 500)],
    ["2026-06-01T14:00:00+02:00", Date.UTC(2026, 5, 1, 12, 0, 0)],
    ["2026-06-01T07:30:00-04:30", Date.UTC(2026, 5, 1, 12, 0, 0)],
    ["2026-06-01T00:30:00+01:00", Date.UTC(2026, 4, 31, 23, 30, 0)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
  ];
  for (const [text, millis] of iso) {
    test(`ISO-8601 timestamp ${text} is normalised to epoch millis ${millis}`, () => {
      const r = accepted(contract.validate(valid({ timestamp: text })));
      assert.equal(r.value.timestamp, millis);
      assert.equal(r.eventTime, millis);
    });
  }

  test("boundaries of every range and length are inclusive", () => {
    for (const overrides of [
      { timestamp: 946684800000 },
      { timestamp: 4102444800000 },
      { amount: -1000000000 },
      { amount: 1000000000 },
      { amount: 0 },
      { event_id: "a" },
      { event_id: "x".repeat(128) },
      { event_id: "A-z_0.9:x" },
      { user_id: "u" },
      { user_id: "ü".repeat(128) },
    ]) {
      accepted(contract.validate(valid(overrides)));
    }
  });

  test("every enum symbol is accepted", () => {
    for (const s of ["view", "click", "purchase", "refund", "signup"]) accepted(contract.validate(valid({ event_type: s })));
  });
});

describe("validate: refused records", () => {
  test("a record that is not an object is refused at $", () => {
    for (const [input, what] of [[[], "an array"], [null, "null"], ["text", "string"], [42, "number"], [undefined, "undefined"]] as const) {
      const r = refused(contract.validate(input));
      assert.equal(r.path, "$");
      assert.equal(r.eventId, null);
      assert.match(r.reason, new RegExp(`expected a JSON object, got ${what}`));
    }
  });

  test("a timestamp without a zone is refused with a message asking for one", () => {
    for (const ts of ["2026-06-01T12:00:00", "2026-06-01T12:00", "2026-06-01T12:00:00.123"]) {
      const r = refused(contract.validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp");
      assert.match(r.reason, /ISO-8601 timestamp with a zone/);
      assert.ok(r.reason.includes(JSON.stringify(ts)), r.reason);
    }
  });

  test("other non-ISO timestamp texts are refused", () => {
    for (const ts of ["2026-06-01", "2026-06-01 12:00:00Z", "1780315200000", "June 1, 2026", "2026-06-01T12:00:00z", "2026-06-01T12:00:00.1234567890Z", ""]) {
      const r = refused(contract.validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp", ts);
    }
  });

  test("a timestamp in the ISO shape but naming no real instant is refused", () => {
    for (const ts of ["2026-13-01T00:00:00Z", "2026-06-01T12:60:00Z", "2026-06-01T12:00:00+99:99"]) {
      const r = refused(contract.validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp");
      assert.match(r.reason, /not a valid date/, ts);
    }
  });

  test("a day that does not exist in its month is refused, not rolled over into the next month", () => {
    // Date.parse("2026-02-30T00:00:00Z") yields 2 March: accepting it would file the event under the wrong day.
    for (const ts of ["2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-02-31T10:00:00+02:00", "2026-04-31T00:00:00Z"]) {
      const r = refused(contract.validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp", ts);
      assert.match(r.reason, /not a valid date/, ts);
    }
  });

  test("a timestamp in seconds or fractional millis is refused", () => {
    assert.match(refused(contract.validate(valid({ timestamp: 1780315200 }))).reason, /below the minimum 946684800000/);
    assert.match(refused(contract.validate(valid({ timestamp: 1780315200000.5 }))).reason, /timestamp must be an integer/);
  });

  const constraintCases: [string, Record<string, unknown>, string, RegExp][] = [
    ["min (timestamp)", { timestamp: 946684799999 }, "$.timestamp", /timestamp 946684799999 is below the minimum 946684800000/],
    ["max (timestamp)", { timestamp: 4102444800001 }, "$.timestamp", /timestamp 4102444800001 is above the maximum 4102444800000/],
    ["min via ISO (timestamp)", { timestamp: "1999-12-31T23:59:59Z" }, "$.timestamp", /below the minimum/],
    ["min (amount)", { amount: -1000000000.01 }, "$.amount", /amount -1000000000.01 is below the minimum -1000000000/],
    ["max (amount)", { amount: 1000000001 }, "$.amount", /amount 1000000001 is above the maximum 1000000000/],
    ["minLength (event_id)", { event_id: "" }, "$.event_id", /event_id is shorter than 1 characters/],
    ["maxLength (event_id)", { event_id: "x".repeat(129) }, "$.event_id", /event_id is longer than 128 characters \(129\)/],
    ["pattern (event_id)", { event_id: "../etc/passwd" }, "$.event_id", /does not match \^\[A-Za-z0-9\._:-\]\+\$/],
    ["pattern with a space (event_id)", { event_id: "a b" }, "$.event_id", /does not match/],
    ["minLength (user_id)", { user_id: "" }, "$.user_id", /user_id is shorter than 1 characters/],
    ["maxLength (user_id)", { user_id: "u".repeat(129) }, "$.user_id", /user_id is longer than 128 characters \(129\)/],
    ["enum symbol (event_type)", { event_type: "hover" }, "$.event_type", /event_type must be one of view, click, purchase, refund, signup; got "hover"/],
    ["enum case (event_type)", { event_type: "VIEW" }, "$.event_type", /must be one of/],
    ["string type (event_type)", { event_type: 1 }, "$.event_type", /event_type must be a string, got number/],
    ["string type (user_id)", { user_id: 7 }, "$.user_id", /user_id must be a string, got number/],
    ["string type (event_id)", { event_id: ["e1"] }, "$.event_id", /event_id must be a string, got object/],
    ["long type (timestamp)", { timestamp: true }, "$.timestamp", /timestamp must be an integer, got boolean/],
    ["long beyond safe integers (timestamp)", { timestamp: 2 ** 53 }, "$.timestamp", /timestamp must be an integer, got 9007199254740992/],
    ["double type (amount)", { amount: "19.99" }, "$.amount", /amount must be a finite number, got string/],
    ["finite double (amount)", { amount: Number.POSITIVE_INFINITY }, "$.amount", /amount must be a finite number, got Infinity/],
    ["NaN (amount)", { amount: Number.NaN }, "$.amount", /amount must be a finite number, got NaN/],
  ];
  for (const [kind, overrides, path, reason] of constraintCases) {
    test(`${kind} is enforced`, () => {
      const r = refused(contract.validate(valid(overrides)));
      assert.equal(r.path, path);
      assert.match(r.reason, reason);
    });
  }

  test("a refused record still reports its event id when it has a usable one", () => {
    assert.equal(refused(contract.validate(valid({ amount: "x" }))).eventId, "evt-0001");
    assert.equal(refused(contract.validate(valid({ event_id: 5 }))).eventId, null);
    assert.equal(refused(contract.validate(valid({ event_id: "x".repeat(129) }))).eventId, null);
  });

  test("an unknown field is refused, naming the field and the contract", () => {
    const r = refused(contract.validate(valid({ colour: "red" })));
    assert.equal(r.path, "$.colour");
    assert.match(r.reason, /unknown field "colour" \(contract DomainEvent v1\)/);
  });

  test("an unknown field with a giant name is clipped in the path and the reason", () => {
    const name = "k".repeat(10_000);
    const r = refused(contract.validate(valid({ [name]: 1 })));
    assert.equal(r.path, `$.${"k".repeat(64)}`);
    assert.ok(r.reason.length < 200, `reason is ${r.reason.length} characters`);
  });

  test("a __proto__ key from JSON is an unknown field, not a prototype change", () => {
    const r = refused(contract.validate(JSON.parse(`{"__proto__":{"x":1},"event_id":"e","user_id":"u","event_type":"view","timestamp":1780315200000,"amount":1}`)));
    assert.equal(r.path, "$.__proto__");
  });

  for (const field of ["event_id", "user_id", "event_type", "timestamp", "amount"]) {
    test(`null for required field ${field} is refused as null`, () => {
      const r = refused(contract.validate(valid({ [field]: null })));
      assert.equal(r.path, `$.${field}`);
      assert.equal(r.reason, `required field ${field} is null`);
    });
    test(`a missing required field ${field} is refused as missing`, () => {
      const input = valid();
      delete input[field];
      const r = refused(contract.validate(input));
      assert.equal(r.path, `$.${field}`);
      assert.equal(r.reason, `required field ${field} is missing`);
    });
  }
});

describe("encode / decode", () => {
  test("round-trips a validated value", () => {
    const { value } = accepted(contract.validate(valid({ timestamp: "2026-06-01T12:00:00.250Z", amount: -0.125, user_id: "ünïcødé 🦆" })));
    const bytes = contract.encode(value);
    assert.ok(bytes instanceof Uint8Array);
    assert.deepEqual({ ...contract.decode(bytes) }, value);
  });

  test("decodes from a view into a larger buffer (respects byteOffset)", () => {
    const value = accepted(contract.validate(valid())).value;
    const bytes = contract.encode(value);
    const padded = new Uint8Array(bytes.byteLength + 10);
    padded.set(bytes, 7);
    assert.deepEqual({ ...contract.decode(padded.subarray(7, 7 + bytes.byteLength)) }, value);
  });

  test("encoding is deterministic: equal values give equal bytes", () => {
    const a = accepted(contract.validate(valid({ timestamp: "2026-06-01T14:00:00+02:00" }))).value;
    const b = accepted(contract.validate(valid({ timestamp: Date.UTC(2026, 5, 1, 12) }))).value;
    assert.deepEqual(contract.encode(a), contract.encode(b));
  });
});
