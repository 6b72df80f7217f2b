import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { illFormedTextPath } from "../src/bounds.ts";
import {
  domainContract,
  domainNames,
  InvalidContractError,
  loadDomainContract,
  parseDomainSchema,
  UnknownDomainError,
  type ValidationResult,
} from "../src/domain.ts";

const contract = domainContract("domain_events");
/** The ingest clock these tests validate at: after every sample time they use. */
const NOW = Date.UTC(2026, 6, 1);
const validate = (record: unknown, now = NOW) => contract.validate(record, now);

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

  for (const name of [
    "no_such_domain",
    "../x",
    "../domains/domain_events",
    "domain_events/../domain_events",
    "Domain_Events",
    "domain_events.avsc",
    "",
    "/etc/passwd",
    "domain_events\n",
  ]) {
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
    const r = accepted(validate(input));
    assert.deepEqual(r.value, input);
    assert.equal(r.eventId, "evt-0001");
    assert.equal(r.eventTime, Date.UTC(2026, 5, 1, 12, 0, 0));
  });

  test("the value keeps the contract's field order, whatever order the input used", () => {
    const r = accepted(validate({ amount: 1, timestamp: Date.UTC(2026, 0, 1), event_type: "view", user_id: "u", event_id: "e" }));
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
      const r = accepted(validate(valid({ timestamp: text })));
      assert.equal(r.value.timestamp, millis);
      assert.equal(r.eventTime, millis);
    });
  }

  test("boundaries of every range and length are inclusive", () => {
    for (const overrides of [
      { timestamp: 946684800000 },
      { amount: -1000000000 },
      { amount: 1000000000 },
      { amount: 0 },
      { event_id: "a" },
      { event_id: "x".repeat(128) },
      { event_id: "A-z_0.9:x" },
      { user_id: "u" },
      { user_id: "ü".repeat(128) },
    ]) {
      accepted(validate(valid(overrides)));
    }
    // The contract's upper bound is reachable once the clock allows it (see "event time" below).
    accepted(validate(valid({ timestamp: 4102444800000 }), 4102444800000));
  });

  test("every enum symbol is accepted", () => {
    for (const s of ["view", "click", "purchase", "refund", "signup"]) accepted(validate(valid({ event_type: s })));
  });
});

describe("validate: refused records", () => {
  test("a record that is not an object is refused at $", () => {
    for (const [input, what] of [
      [[], "an array"],
      [null, "null"],
      ["text", "string"],
      [42, "number"],
      [undefined, "undefined"],
    ] as const) {
      const r = refused(validate(input));
      assert.equal(r.path, "$");
      assert.equal(r.eventId, null);
      assert.match(r.reason, new RegExp(`expected a JSON object, got ${what}`));
    }
  });

  test("a timestamp without a zone is refused with a message asking for one", () => {
    for (const ts of ["2026-06-01T12:00:00", "2026-06-01T12:00", "2026-06-01T12:00:00.123"]) {
      const r = refused(validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp");
      assert.match(r.reason, /ISO-8601 timestamp with a zone/);
      assert.ok(r.reason.includes(JSON.stringify(ts)), r.reason);
    }
  });

  test("other non-ISO timestamp texts are refused", () => {
    for (const ts of ["2026-06-01", "2026-06-01 12:00:00Z", "1780315200000", "June 1, 2026", "2026-06-01T12:00:00z", "2026-06-01T12:00:00.1234567890Z", ""]) {
      const r = refused(validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp", ts);
    }
  });

  test("a timestamp in the ISO shape but naming no real instant is refused", () => {
    for (const ts of ["2026-13-01T00:00:00Z", "2026-06-01T12:60:00Z", "2026-06-01T12:00:00+99:99"]) {
      const r = refused(validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp");
      assert.match(r.reason, /not a valid date/, ts);
    }
  });

  test("a day that does not exist in its month is refused, not rolled over into the next month", () => {
    // Date.parse("2026-02-30T00:00:00Z") yields 2 March: accepting it would file the event under the wrong day.
    for (const ts of ["2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-02-31T10:00:00+02:00", "2026-04-31T00:00:00Z"]) {
      const r = refused(validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp", ts);
      assert.match(r.reason, /not a valid date/, ts);
    }
  });

  test("a timestamp in seconds or fractional millis is refused", () => {
    assert.match(refused(validate(valid({ timestamp: 1780315200 }))).reason, /below the minimum 946684800000/);
    assert.match(refused(validate(valid({ timestamp: 1780315200000.5 }))).reason, /timestamp must be an integer/);
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
      const r = refused(validate(valid(overrides)));
      assert.equal(r.path, path);
      assert.match(r.reason, reason);
    });
  }

  test("a refused record still reports its event id when it has a usable one", () => {
    assert.equal(refused(validate(valid({ amount: "x" }))).eventId, "evt-0001");
    assert.equal(refused(validate(valid({ event_id: 5 }))).eventId, null);
    assert.equal(refused(validate(valid({ event_id: "x".repeat(129) }))).eventId, null);
  });

  test("an unknown field is refused, naming the field and the contract", () => {
    const r = refused(validate(valid({ colour: "red" })));
    assert.equal(r.path, "$.colour");
    assert.match(r.reason, /unknown field "colour" \(contract DomainEvent v1\)/);
  });

  test("an unknown field with a giant name is clipped in the path and the reason", () => {
    const name = "k".repeat(10_000);
    const r = refused(validate(valid({ [name]: 1 })));
    assert.equal(r.path, `$.${"k".repeat(64)}`);
    assert.ok(r.reason.length < 200, `reason is ${r.reason.length} characters`);
  });

  test("a __proto__ key from JSON is an unknown field, not a prototype change", () => {
    const r = refused(validate(JSON.parse(`{"__proto__":{"x":1},"event_id":"e","user_id":"u","event_type":"view","timestamp":1780315200000,"amount":1}`)));
    assert.equal(r.path, "$.__proto__");
  });

  for (const field of ["event_id", "user_id", "event_type", "timestamp", "amount"]) {
    test(`null for required field ${field} is refused as null`, () => {
      const r = refused(validate(valid({ [field]: null })));
      assert.equal(r.path, `$.${field}`);
      assert.equal(r.reason, `required field ${field} is null`);
    });
    test(`a missing required field ${field} is refused as missing`, () => {
      const input = valid();
      delete input[field];
      const r = refused(validate(input));
      assert.equal(r.path, `$.${field}`);
      assert.equal(r.reason, `required field ${field} is missing`);
    });
  }
});

describe("encode / decode", () => {
  test("round-trips a validated value", () => {
    const { value } = accepted(validate(valid({ timestamp: "2026-06-01T12:00:00.250Z", amount: -0.125, user_id: "ünïcødé 🦆" })));
    const bytes = contract.encode(value);
    assert.ok(bytes instanceof Uint8Array);
    assert.deepEqual({ ...contract.decode(bytes) }, value);
  });

  test("decodes from a view into a larger buffer (respects byteOffset)", () => {
    const value = accepted(validate(valid())).value;
    const bytes = contract.encode(value);
    const padded = new Uint8Array(bytes.byteLength + 10);
    padded.set(bytes, 7);
    assert.deepEqual({ ...contract.decode(padded.subarray(7, 7 + bytes.byteLength)) }, value);
  });

  test("encoding is deterministic: equal values give equal bytes", () => {
    const a = accepted(validate(valid({ timestamp: "2026-06-01T14:00:00+02:00" }))).value;
    const b = accepted(validate(valid({ timestamp: Date.UTC(2026, 5, 1, 12) }))).value;
    assert.deepEqual(contract.encode(a), contract.encode(b));
  });
});

describe("validate: event time bounds", () => {
  const HOUR = 3_600_000;

  test("the default skew is one hour past the clock that is passed in", () => {
    assert.equal(contract.maxFutureSkewMs, HOUR);
  });

  test("an event time more than the skew past the clock is refused at $.timestamp, with the reason", () => {
    for (const ts of [NOW + HOUR + 1, Date.UTC(2099, 0, 1), "2099-12-31T23:59:59Z"]) {
      const r = refused(validate(valid({ timestamp: ts })));
      assert.equal(r.path, "$.timestamp", String(ts));
      assert.match(r.reason, /ahead of the ingest clock/);
      assert.match(r.reason, /max_future_skew_ms/);
      assert.equal(r.eventId, "evt-0001", "the refusal still names the event, so its quarantined copy can be replayed");
    }
  });

  test("an event time within the skew is accepted, up to the boundary", () => {
    for (const ts of [NOW, NOW + 1, NOW + HOUR - 1, NOW + HOUR]) accepted(validate(valid({ timestamp: ts })));
  });

  test("the bound moves with the clock: refused now, accepted by a later clock (a replay after its time has come)", () => {
    const ts = Date.UTC(2099, 0, 1);
    refused(validate(valid({ timestamp: ts })));
    accepted(validate(valid({ timestamp: ts }), ts));
  });

  test("very old event times are accepted: the past bound is the contract's fixed range, not the clock", () => {
    for (const ts of [946684800000, Date.UTC(2001, 0, 1), NOW - 20 * 365 * 24 * HOUR]) accepted(validate(valid({ timestamp: ts }), Date.UTC(2040, 0, 1)));
  });

  test("9e15 ms (beyond the range of a Date) is refused at $.timestamp, whatever the contract's range", () => {
    assert.equal(refused(validate(valid({ timestamp: 9e15 }))).path, "$.timestamp");
    // A contract without a range of its own still refuses times no Date holds (readers format them).
    const open = loadDomainContract(parseDomainSchema(domainDoc({ timestamp: undefined })));
    for (const ts of [9e15, -9e15]) {
      const r = refused(open.validate(valid({ timestamp: ts }), Number.MAX_SAFE_INTEGER));
      assert.equal(r.path, "$.timestamp");
      assert.match(r.reason, /outside the range of dates/);
    }
    assert.match(refused(open.validate(valid({ timestamp: 9e15 }), NOW)).reason, /outside the range of dates/);
  });

  test("only the event-time field is bounded by the clock; other fields keep their own ranges", () => {
    const c = loadDomainContract(parseDomainSchema(domainDoc({}, [{ name: "due_at", type: { type: "long", logicalType: "timestamp-millis" } }])));
    accepted(c.validate({ ...valid(), due_at: Date.UTC(2099, 0, 1) }, NOW));
    assert.equal(refused(c.validate({ ...valid(), due_at: 9e15 }, NOW)).path, "$.due_at");
  });

  test("the skew is configured per contract in lake.domain.max_future_skew_ms", () => {
    const strict = loadDomainContract(parseDomainSchema(domainDoc({}, [], { max_future_skew_ms: 1000 })));
    assert.equal(strict.maxFutureSkewMs, 1000);
    accepted(strict.validate(valid({ timestamp: NOW + 1000 }), NOW));
    refused(strict.validate(valid({ timestamp: NOW + 1001 }), NOW));
    const lax = loadDomainContract(parseDomainSchema(domainDoc({}, [], { max_future_skew_ms: 7 * 24 * HOUR })));
    accepted(lax.validate(valid({ timestamp: NOW + 6 * 24 * HOUR }), NOW));
  });

  test("a bad max_future_skew_ms is refused when the contract is parsed", () => {
    for (const bad of [-1, 1.5, "3600000", null, 1e20]) {
      assert.throws(
        () => parseDomainSchema(domainDoc({}, [], { max_future_skew_ms: bad })),
        (e: unknown) => e instanceof InvalidContractError && /max_future_skew_ms/.test(e.message),
        String(bad),
      );
    }
  });

  test("validate needs the caller's clock: no clock is a programming error, not a refusal", () => {
    assert.throws(() => contract.validate(valid(), undefined as unknown as number), TypeError);
    assert.throws(() => contract.validate(valid(), Number.NaN), TypeError);
  });
});

describe("validate: text is stored as it was sent", () => {
  test("a lone UTF-16 surrogate in a string is refused with the field's path, never stored as U+FFFD", () => {
    for (const [field, text] of [
      ["user_id", "u\ud800"],
      ["user_id", "\udc00"],
      ["user_id", "a\udbffb"],
      ["event_id", "e\ud800"],
    ] as const) {
      const r = refused(validate(valid({ [field]: text })));
      assert.equal(r.path, `$.${field}`, JSON.stringify(text));
    }
    assert.match(
      refused(validate(JSON.parse(String.raw`{"event_id":"e","user_id":"x\ud83d","event_type":"view","timestamp":1780315200000,"amount":1}`))).reason,
      /not valid Unicode/,
    );
  });

  test("surrogate pairs (astral characters) are valid and kept as they are", () => {
    const { value } = accepted(validate(valid({ user_id: "🦆\ud83e\udd86" })));
    assert.equal(value.user_id, "🦆🦆");
    assert.deepEqual({ ...contract.decode(contract.encode(value)) }, value, "round-trips through Avro unchanged");
  });

  test("a lone surrogate in an object key is refused, and the path stays valid Unicode", () => {
    const r = refused(validate(JSON.parse(String.raw`{"event_id":"e","user_id":"u","event_type":"view","timestamp":1780315200000,"amount":1,"k\udc00":1}`)));
    assert.equal(r.path, String.raw`$["k\udc00"]`);
    assert.equal(illFormedTextPath(r.path), undefined);
    assert.equal(illFormedTextPath(r.reason), undefined);
  });

  test("clipping a long unknown field name never cuts a surrogate pair in half", () => {
    const name = "k".repeat(63) + "🦆".repeat(10);
    const r = refused(validate(valid({ [name]: 1 })));
    assert.equal(illFormedTextPath(r.path), undefined, r.path);
  });

  test("a refused record with an ill-formed id reports no id (it could not be kept as sent)", () => {
    assert.equal(refused(validate(valid({ event_id: "e\ud800", amount: "x" }))).eventId, null);
  });
});

describe("validate: the key becomes a NATS header value", () => {
  // No pattern on the key, so only the header rules stand between a producer and Nats-Msg-Id.
  const open = loadDomainContract(parseDomainSchema(domainDoc({ event_id: { minLength: 1 } })));
  for (const [what, id] of [
    ["a newline", "a\nb"],
    ["a carriage return", "a\rb"],
    ["a trailing newline", "ab\n"],
    ["a NUL", "a\u0000b"],
    ["a DEL", "a\u007fb"],
    ["a C1 control", "a\u0085b"],
    ["a line separator", "a\u2028b"],
    ["leading whitespace (trimmed in a header: would share a dedupe id)", " ab"],
    ["trailing whitespace", "ab\u00a0"],
    ["more than 128 characters", "x".repeat(129)],
  ] as const) {
    test(`a key with ${what} is refused at its path`, () => {
      const r = refused(open.validate(valid({ event_id: id }), NOW));
      assert.equal(r.path, "$.event_id");
      assert.match(r.reason, /NATS header/);
    });
  }

  test("printable keys, inner spaces and non-ASCII ones included, are accepted unchanged", () => {
    for (const id of ["a b", "ünï-cødé", "🦆", "x".repeat(128), "a:b@c/d"]) assert.equal(accepted(open.validate(valid({ event_id: id }), NOW)).eventId, id);
  });

  test("validateField checks one value with the same rules", () => {
    assert.deepEqual(contract.validateField("event_id", "ok-1", NOW), { ok: true, value: "ok-1" });
    assert.equal((contract.validateField("event_id", "a b", NOW) as { path: string }).path, "$.event_id");
    assert.equal(open.validateField("event_id", "a\nb", NOW).ok, false);
    assert.equal(contract.validateField("timestamp", Date.UTC(2099, 0, 1), NOW).ok, false);
    assert.equal(contract.validateField("nope", 1, NOW).ok, false);
  });
});

/**
 * A domain_events-like contract document: `constraints` replaces (or with undefined drops) a field's
 * lake.constraints, `extra` adds fields, `meta` adds lake.domain settings.
 */
function domainDoc(constraints: Record<string, object | undefined>, extra: object[] = [], meta: Record<string, unknown> = {}): unknown {
  const doc = structuredClone(contract.schema) as unknown as {
    fields: { name: string; "lake.constraints"?: object }[];
    "lake.domain": Record<string, unknown>;
  };
  for (const f of doc.fields) {
    if (!(f.name in constraints)) continue;
    const c = constraints[f.name];
    if (c === undefined) delete f["lake.constraints"];
    else f["lake.constraints"] = c;
  }
  doc.fields.push(...(extra as typeof doc.fields));
  Object.assign(doc["lake.domain"], meta);
  return doc;
}
