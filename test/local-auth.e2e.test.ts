// A lake started by startLake (`lake up`, every e2e test) runs as a deployment does: nats-server with
// the deployment's users and permissions, each service logged in as its own user, credentials generated
// into the data dir for its owner only, and ingest's HTTP API behind bearer tokens (producers send,
// operators read and replay the quarantine). Without it any process on the machine could write the
// commit log.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";

import { sampleEvents, sendHttp } from "@lake/client";
import { connectNats, subjects } from "@lake/messaging";

import { covering, DATASET, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
});
after(async () => {
  await lake?.cleanup();
});

test("credentials are generated into the data dir, readable by their owner only; run.json names them and holds none", () => {
  assert.ok(lake.secrets, "startLake authenticates by default");
  const dir = lake.secrets.dir;
  assert.equal(statSync(dir).mode & 0o777, 0o700, `${dir} is 0700`);
  const files = readdirSync(dir);
  for (const f of ["nats.conf", "accounts.conf", "passwords.json", "ingest-tokens.json", "tokens.json"]) assert.ok(files.includes(f), `${f} is there`);
  for (const f of files) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  const run = readFileSync(join(lake.dataDir, "run.json"), "utf8");
  assert.equal((JSON.parse(run) as { secrets_dir: string }).secrets_dir, dir);
  for (const secret of [...Object.values(lake.secrets.nats!.passwords), lake.secrets.tokens.producer, lake.secrets.tokens.operator])
    assert.ok(!run.includes(secret), "run.json holds no password or token");
  assert.ok(!readFileSync(lake.secrets.ingestTokensFile, "utf8").includes(lake.secrets.tokens.producer), "ingest's tokens file holds hashes only");
});

test("NATS refuses anyone without a user's password; the users have the deployment's permissions", async () => {
  await assert.rejects(connectNats({ url: lake.natsUrl, name: "anonymous", auth: {} }), /Authorization Violation/i);
  await assert.rejects(connectNats({ url: lake.natsUrl, name: "guess", auth: { user: "admin", pass: "admin" } }), /Authorization Violation/i);
  // The commit log takes no record from a user that isn't one of its writers.
  for (const user of ["ingest", "producer", "aggregator"]) {
    const nc = await lake.connect(user);
    try {
      await assert.rejects(
        jetstream(nc).publish(subjects.commits(DATASET), "forged", { timeout: 3000 }),
        /permissions violation/i,
        `${user} cannot append to the commit log`,
      );
    } finally {
      await nc.close();
    }
  }
});

test("every service runs as its own user: events go end to end with no permissions violation in the server's log", async () => {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(20, { prefix: "local-auth" }));
  assert.equal(r.accepted, 20, JSON.stringify(r));
  const v = await covering(lake, r.max_offset!);
  assert.ok(v.total_rows >= 20);
  const violations = lake
    .nats!.output()
    .split("\n")
    .filter((l) => /violation/i.test(l) && !/User "(ingest|producer|aggregator)", Subject "lake\.commits\./.test(l));
  assert.deepEqual(violations, [], "the services were refused nothing (only this test's forged appends were)");
});

test("ingest's HTTP API: producers send, operators read and replay the quarantine, nobody else", async () => {
  const url = (path: string) => new URL(path, lake.ingestUrl);
  const post = (path: string, token: string | undefined, body: unknown) =>
    fetch(url(path), {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
  const get = (path: string, token: string | undefined) => fetch(url(path), { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const { producer, operator } = lake.secrets!.tokens;
  const event = sampleEvents(1, { prefix: "local-auth-http" })[0];
  const events = `/v1/domains/${DATASET}/events`;
  const quarantine = `/v1/domains/${DATASET}/quarantine`;

  const anonymous = await post(events, undefined, event);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="lake-ingest"');
  assert.equal(((await anonymous.json()) as { error: string }).error, "missing_token");
  assert.equal((await post(events, "not-a-token", event)).status, 401);
  assert.equal((await get(quarantine, undefined)).status, 401, "the raw records of the quarantine are not open");
  assert.equal((await get("/healthz", undefined)).status, 200, "health stays open");

  assert.equal((await post(events, producer, event)).status, 200);
  assert.equal((await get(quarantine, producer)).status, 403, "a producer may not read the quarantine");
  assert.equal((await post(`${quarantine}/replay`, producer, { items: [{ seq: 1 }] })).status, 403, "nor replay it");
  assert.equal((await post(events, operator, event)).status, 403, "an operator sends no events");
  assert.equal((await get(quarantine, operator)).status, 200);
  assert.match(lake.services.get("ingest")!.logs(), /"msg":"request denied".*"status":403.*"token":"lake-up-producer"/);
});
