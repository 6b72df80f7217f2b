// Schema evolution while events flow: a backward-compatible version (an optional field) is registered,
// ingest and the committer pick it up without restarting, and no event is lost; an incompatible
// version is refused with the reason.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import type { NatsConnection } from "@nats-io/nats-core";

import { queryVersion, sampleEvents, sendHttp } from "@lake/client";
import { IncompatibleSchemaError } from "@lake/contracts";
import { SchemaRegistry } from "@lake/registry";
import { openLocalStore } from "@lake/storage";

import { assertExactlyOnce, covering, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;
let nc: NatsConnection;
const v1 = JSON.parse(readFileSync(join(import.meta.dirname, "../contracts/avro/domains/domain_events.avsc"), "utf8")) as { fields: unknown[] };
const v2 = { ...v1, fields: [...v1.fields, { name: "coupon", type: ["null", "string"], default: null, "lake.constraints": { maxLength: 32 } }] };

before(async () => {
  lake = await withLake();
  nc = await lake.connect();
});
after(async () => {
  await nc?.close();
  await lake?.cleanup();
});

test("adding an optional field while events flow: no restart, no lost event, old rows read the default", async () => {
  const accepted = new Set<string>();
  let stop = false;
  let maxOffset = 0;
  let round = 0;
  const flow = (async () => {
    while (!stop) {
      const r = await sendHttp(lake.producer, DATASET, sampleEvents(50, { prefix: `flow${round++}`, seed: round }));
      assert.equal(r.status, 200);
      for (const x of r.results) if (x.status === "accepted") accepted.add(x.event_id!);
      maxOffset = Math.max(maxOffset, r.max_offset ?? 0);
    }
  })();
  await covering(lake, 1);
  const reg = await SchemaRegistry.open(nc, { seed: false });
  const r = await reg.register(v2, "alice", "coupon codes");
  assert.equal(r.version, 2);
  // Ingest follows the registry: wait until it validates with v2 (a coupon is no longer an unknown field).
  let withCoupon: Awaited<ReturnType<typeof sendHttp>> | undefined;
  for (let i = 0; i < 100; i++) {
    const e = { ...sampleEvents(1, { prefix: `coupon${i}`, seed: 500 + i })[0]!, coupon: "SPRING" };
    withCoupon = await sendHttp(lake.producer, DATASET, e);
    if (withCoupon.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(withCoupon!.status, 200, JSON.stringify(withCoupon));
  accepted.add(withCoupon!.results[0]!.event_id!);
  stop = true;
  await flow;
  reg.close();
  const v = await covering(lake, Math.max(maxOffset, withCoupon!.max_offset!));
  await assertExactlyOnce(lake, accepted);
  const q = await queryVersion(
    openLocalStore(lake.storeRoot),
    v,
    `SELECT count(*) FILTER (WHERE coupon = 'SPRING') AS spring, count(*) FILTER (WHERE coupon IS NULL) AS without FROM ${DATASET}`,
  );
  assert.equal(Number(q.rows[0]!.spring), 1);
  assert.equal(Number(q.rows[0]!.without), accepted.size - 1);
});

test("an incompatible version is refused with the exact reason, and ingest keeps the latest good one", async () => {
  const reg = await SchemaRegistry.open(nc, { seed: false });
  const bad = { ...v2, fields: (v2.fields as { name: string }[]).map((f) => (f.name === "amount" ? { ...f, type: "string" } : f)) };
  await assert.rejects(reg.register(bad, "mallory", "oops"), (e: Error) => e instanceof IncompatibleSchemaError && /not compatible/.test(e.message));
  assert.equal(reg.versions(DATASET).length, 2);
  reg.close();
  const ok = await sendHttp(lake.producer, DATASET, { ...sampleEvents(1, { prefix: "after-bad", seed: 9 })[0]!, coupon: "X" });
  assert.equal(ok.status, 200);
});
