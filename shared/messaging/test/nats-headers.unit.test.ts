// The nats.js header patch (src/nats-patches.ts) changes no result and no error: every header block
// below (well formed, with a status, malformed, random) and every sequence of header calls gives the
// same outcome before the patch (nats.js as shipped) and after it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { headers, Match } from "@nats-io/nats-core";
import { MsgHdrsImpl } from "@nats-io/nats-core/internal";

import { natsHeadersPatchApplied, patchNatsHeaders } from "../src/index.ts";

type Outcome = { ok: true; code: number; description: string; entries: [string, string[]][] } | { ok: false; error: string };

const decode = (raw: string): Outcome => {
  try {
    const h = MsgHdrsImpl.decode(new TextEncoder().encode(raw));
    return { ok: true, code: h.code, description: h.description, entries: [...h].map(([k, v]) => [k, [...v]]) };
  } catch (e) {
    return { ok: false, error: `${(e as Error).name}: ${(e as Error).message}` };
  }
};

const BLOCKS = [
  "NATS/1.0\r\nNats-Msg-Id: domain_events:e-1\r\nLake-Schema: 5b1e0c3f2a9d7e61\r\n\r\n",
  "NATS/1.0 503\r\n\r\n",
  "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 10\r\n\r\n",
  "NATS/1.0 abc\r\n\r\n",
  "NATS/1.0   100   Idle Heartbeat  \r\n\r\n",
  "NATS/1.0\r\nA: 1\r\nA: 2\r\na: 3\r\n\r\n",
  "NATS/1.0\r\n  no colon here\r\n:empty name\r\nK:\r\nK2:   spaced   \r\n\r\n",
  "NATS/1.0\r\nBad Key: v\r\n\r\n",
  "NATS/1.0\r\nK: a\nb\r\n\r\n",
  "NATS/1.0\r\nK: a\rb\r\n\r\n",
  "NATS/1.0",
  "NATS/1.0\r\nK: v",
  "",
  "garbage\r\nK: v\r\n\r\n",
  "NATS/1.0\r\nK: ü∂ 🦆\r\n\r\n",
  "NATS/1.0\r\nK: v:with:colons\r\n\r\n",
  "NATS/1.0\r\nKéy: v\r\n\r\n",
  "NATS/1.0\r\n\r\n\r\nK: after blank lines\r\n\r\n",
  "NATS/1.0\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
];

// Random blocks from pieces that matter to the parser.
function randomBlocks(n: number, seed: number): string[] {
  const pieces = ["NATS/1.0", " ", "503", "A", "b", "-", ":", ": ", "\r", "\n", "\r\n", "\r\n\r\n", "é", "1", "Nats-Msg-Id", "x y"];
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
  return Array.from({ length: n }, () => {
    let out = next() < 0.8 ? "NATS/1.0\r\n" : "";
    const k = 1 + Math.floor(next() * 12);
    for (let i = 0; i < k; i++) out += pieces[Math.floor(next() * pieces.length)]!;
    return out;
  });
}

// Calls on headers built in code, each step's result or error recorded.
function calls(): unknown[] {
  const out: unknown[] = [];
  const step = (f: () => unknown) => {
    try {
      const v = f();
      out.push(v instanceof Uint8Array ? new TextDecoder().decode(v) : v);
    } catch (e) {
      out.push(`throws ${(e as Error).message}`);
    }
  };
  const h = headers();
  const impl = h as unknown as MsgHdrsImpl;
  step(() => h.set("Lake-Schema", "x"));
  step(() => h.append("lake-schema", "y"));
  step(() => h.append("Lake-Schema", "  z  "));
  step(() => h.get("Lake-Schema"));
  step(() => h.get("lake-schema"));
  step(() => h.get("LAKE-SCHEMA"));
  step(() => h.get("LAKE-SCHEMA", Match.IgnoreCase));
  step(() => h.values("Lake-Schema"));
  step(() => h.values("lake-schema", Match.IgnoreCase));
  step(() => h.has("Lake-Schema"));
  step(() => h.has("nope"));
  step(() => h.keys());
  step(() => h.set("content-type", "a", Match.CanonicalMIME));
  step(() => h.get("Content-Type"));
  step(() => h.set("Lake-Schema", "w"));
  step(() => h.values("Lake-Schema"));
  step(() => h.delete("lake-schema"));
  step(() => h.keys());
  step(() => h.set("Bad Key", "v"));
  step(() => h.set("K", "a\nb"));
  step(() => h.set("Ké", "v"));
  step(() => h.append("", "empty name"));
  step(() => impl.encode());
  step(() => impl.toRecord());
  return out;
}

test("the header patch gives the same decoded headers, errors and call results as nats.js", () => {
  assert.equal(natsHeadersPatchApplied(), false, "not patched before the test patches it");
  const inputs = [...BLOCKS, ...randomBlocks(2000, 7)];
  const before = inputs.map(decode);
  const callsBefore = calls();
  assert.ok(
    before.some((o) => !o.ok),
    "some inputs make nats.js throw",
  );
  assert.ok(before.some((o) => o.ok && o.code === 503));

  assert.equal(patchNatsHeaders(), true);
  assert.equal(natsHeadersPatchApplied(), true);
  assert.equal(patchNatsHeaders(), true, "idempotent");
  inputs.forEach((raw, i) => assert.deepEqual(decode(raw), before[i], JSON.stringify(raw)));
  assert.deepEqual(calls(), callsBefore);
});
