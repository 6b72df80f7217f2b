// follow's lingering pulls against a real nats-server, beyond the follow suite it also passes: records
// that come while it lingers arrive in one delivery; messages another client sends to its inbox are
// not taken for records; its consumer is gone once it stops; a reconnect to the same server doesn't
// start a new consumer, one to a server that lost the consumer does.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/nats-core";

import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { connectNats, ConsumerStalledError, follow, type Follower } from "../src/index.ts";

const STREAM = "LINGER_TEST";
const T = { timeout: 60_000 };
const enc = new TextEncoder();
const text = (m: JsMsg) => new TextDecoder().decode(m.data);

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const followers: Follower[] = [];

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "lingering-pull-test", auth: {} });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ["linger.>"] });
});

after(async () => {
  for (const f of followers) await f.stop();
  await nc?.close();
  await nats?.stop();
});

/** A caller applying batches to a list, its position the last sequence applied (on this file's server, or `on`'s). */
async function start(subject: string, lingerMs: number, on: { nc: NatsConnection; stream: string } = { nc, stream: STREAM }) {
  const c = {
    position: 0,
    batches: [] as string[][],
    applied: [] as string[],
    errors: [] as unknown[],
    starts: [] as number[],
    follower: undefined as unknown as Follower,
  };
  c.follower = await follow({
    nc: on.nc,
    stream: on.stream,
    subject,
    lingerMs,
    position: () => c.position,
    handle: (batch) => {
      c.batches.push(batch.map(text));
      c.applied.push(...batch.map(text));
      c.position = batch.at(-1)!.seq;
    },
    batch: { maxRecords: 100 },
    retry: { initialMs: 20, factor: 2, maxMs: 200 },
    onStart: (p) => void c.starts.push(p),
    onError: (err) => void c.errors.push(err),
  });
  followers.push(c.follower);
  return c;
}

/** The names of the stream's consumers reading `subject`. */
async function consumersOf(subject: string): Promise<string[]> {
  const names: string[] = [];
  for await (const ci of jsm.consumers.list(STREAM)) if (ci.config.filter_subject === subject) names.push(ci.name);
  return names;
}

const applied = (c: { applied: string[] }, n: number) =>
  waitFor(`${n} records applied`, () => (c.applied.length >= n ? true : undefined), { timeoutMs: 30_000, intervalMs: 10 });

test("records stored while it lingers come in one delivery: the first alone, the rest as one batch", T, async () => {
  const c = await start("linger.burst", 2000);
  await js.publish("linger.burst", enc.encode("r1"));
  await applied(c, 1);
  // Nine records stored one by one, 40 ms apart, within the linger: with a pull kept open the server would send each
  // as it is stored (each handed over alone, as nothing else is pending); here none is sent until the
  // linger ends, then all nine in one burst.
  for (let i = 2; i <= 10; i++) {
    await js.publish("linger.burst", enc.encode(`r${i}`));
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  await applied(c, 10);
  assert.equal(c.batches.length, 2, `batches: ${JSON.stringify(c.batches)}`);
  assert.deepEqual(c.batches[0], ["r1"]);
  assert.deepEqual(c.batches[1], ["r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"]);
  assert.deepEqual(c.errors, []);
  await c.follower.stop();
});

/** The name of the consumer reading `subject` now. */
async function consumerOf(subject: string): Promise<string | undefined> {
  for await (const ci of jsm.consumers.list(STREAM)) if (ci.config.filter_subject === subject) return ci.name;
  return undefined;
}

test("messages another client sends to its inbox are not records: none is handed over, and the read goes on", T, async () => {
  // Another client (the lake's connections don't hear their own publishes) learns the reader's inbox
  // and consumer the way any client on the server could: from its pulls.
  const hostile = await connectNats({ url: nats.url, name: "hostile", auth: {} });
  const pulls: { consumer: string; inbox: string }[] = [];
  const spy = hostile.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${STREAM}.>`, {
    callback: (_e, m) => void (m.reply && pulls.push({ consumer: m.subject.split(".").at(-1)!, inbox: m.reply })),
  });
  await hostile.flush();
  try {
    const c = await start("linger.forged", 20);
    await js.publish("linger.forged", enc.encode("f1"));
    await applied(c, 1);
    const name = await consumerOf("linger.forged");
    const { inbox } = pulls.findLast((p) => p.consumer === name)!;
    const forge = (data: string, reply?: string) => hostile.publish(inbox, enc.encode(data), reply === undefined ? {} : { reply });
    forge("no reply subject");
    forge("a reply inbox", "_INBOX.hostile.1");
    forge("a reply subject of its own", "lake.commits.orders");
    // A JetStream delivery's reply subject: the server itself refuses it from a client (checked below
    // on a plain subscriber). It is what lets the reader take a delivery for a record: one a client
    // could send with the next consumer sequence would pass the reader's own check, as it would pass
    // nats.js's ordered consumer's.
    forge("a forged delivery", `$JS.ACK.${STREAM}.${name}.1.200.2.1796615461289864939.0`);
    const heard: string[] = [];
    const plain = nc.subscribe("linger.plain", { callback: (_e, m) => void heard.push(m.reply ?? "") });
    await nc.flush();
    hostile.publish("linger.plain", enc.encode("x"), { reply: `$JS.ACK.${STREAM}.${name}.1.200.2.1796615461289864939.0` });
    hostile.publish("linger.plain", enc.encode("y"), { reply: "_INBOX.hostile.2" });
    await hostile.flush();
    await js.publish("linger.forged", enc.encode("f2"));
    await applied(c, 2);
    await waitFor("the plain message", () => (heard.length > 0 ? true : undefined), { timeoutMs: 10_000 });
    plain.unsubscribe();
    assert.deepEqual(heard, ["_INBOX.hostile.2"], "the server delivered the plain reply subject only");
    assert.deepEqual(c.applied, ["f1", "f2"], "none of the forged messages was handed over");
    assert.deepEqual(c.errors, []);
    await c.follower.stop();
  } finally {
    spy.unsubscribe();
    await hostile.close();
  }
});

test("its consumer is deleted when it stops", T, async () => {
  const c = await start("linger.gone", 20);
  await js.publish("linger.gone", enc.encode("g1"));
  await applied(c, 1);
  assert.equal((await consumersOf("linger.gone")).length, 1);
  await c.follower.stop();
  await waitFor("the consumer deleted", async () => ((await consumersOf("linger.gone")).length === 0 ? true : undefined), { timeoutMs: 10_000 });
});

test("a stopped reader leaves nothing on the connection: its status listener goes with it", T, async () => {
  const listeners = () => (nc as unknown as { protocol: { listeners: unknown[] } }).protocol.listeners.length;
  const before = listeners();
  for (let i = 0; i < 10; i++) {
    const c = await start("linger.listeners", 20);
    await c.follower.stop();
  }
  assert.equal(listeners(), before, "as many status listeners as before ten readers came and went");
});

/** Resolves at the connection's next `reconnect` status. */
function nextReconnect(c: NatsConnection): Promise<void> {
  const statuses = c.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
  return (async () => {
    for await (const s of statuses) if (s.type === "reconnect") break;
    statuses.stop?.();
  })();
}

test("a reconnect to the same server: the read goes on with the same consumer, every record once and in order", T, async () => {
  const c = await start("linger.reconnect", 20);
  const pubNc = await connectNats({ url: nats.url, name: "lingering-pull-test-producer", auth: {} });
  try {
    const pub = jetstream(pubNc);
    for (let i = 1; i <= 5; i++) await pub.publish("linger.reconnect", enc.encode(`r${i}`));
    await applied(c, 5);
    const [consumer] = await consumersOf("linger.reconnect");
    // The pulls the reader asks on its consumer, seen from another connection.
    let pulls = 0;
    const spy = pubNc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${consumer}`, { callback: () => void pulls++ });
    await pubNc.flush();
    const back = nextReconnect(nc);
    await nc.reconnect();
    await back;
    const before = pulls;
    // The pull lost with the old connection is asked again, before any new record could prompt one.
    await waitFor("a pull after the reconnect", () => (pulls > before ? true : undefined), { timeoutMs: 20_000, intervalMs: 10 });
    spy.unsubscribe();
    for (let i = 6; i <= 10; i++) await pub.publish("linger.reconnect", enc.encode(`r${i}`));
    await applied(c, 10);
    assert.deepEqual(
      c.applied,
      Array.from({ length: 10 }, (_, i) => `r${i + 1}`),
    );
    assert.deepEqual(c.starts, [0], "one consumer, the first, read everything: no restart");
    assert.deepEqual(await consumersOf("linger.reconnect"), [consumer]);
    assert.deepEqual(
      c.errors.filter((e) => e instanceof ConsumerStalledError),
      [],
    );
  } finally {
    await pubNc.close();
  }
});

test("a record its consumer delivered while the connection was down: the read ends stalled at the reconnect, and a new consumer brings it", T, async () => {
  // A long linger: after the first record the reader keeps no pull open for 10 s.
  const c = await start("linger.lost", 10_000);
  const other = await connectNats({ url: nats.url, name: "lingering-pull-test-other", auth: {} });
  try {
    const l1 = await jetstream(other).publish("linger.lost", enc.encode("l1"));
    await applied(c, 1);
    const [consumer] = await consumersOf("linger.lost");
    await jetstream(other).publish("linger.lost", enc.encode("l2"));
    // Another client takes l2 off the reader's consumer (on an inbox of its own: request() did not hand the
    // delivery back), as a delivery to a connection that died would
    // be lost: the consumer counts it delivered, the reader never sees it, and no later record shows the gap.
    const inbox = createInbox();
    const sub = other.subscribe(inbox, { max: 1, timeout: 5000 });
    other.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${consumer}`, JSON.stringify({ batch: 1, no_wait: true }), { reply: inbox });
    let taken: Msg | undefined;
    for await (const m of sub) taken = m;
    assert.equal(new TextDecoder().decode(taken!.data), "l2", "the other client took l2 while the reader lingered");
    const back = nextReconnect(nc);
    await nc.reconnect();
    await back;
    await applied(c, 2);
    assert.deepEqual(c.applied, ["l1", "l2"]);
    const stall = c.errors.find((e): e is ConsumerStalledError => e instanceof ConsumerStalledError);
    assert.match(stall?.why ?? "", /reconnected.*delivered meanwhile were lost/);
    assert.equal(c.starts.at(-1), l1.seq, "the new consumer starts after l1, the last record applied");
  } finally {
    await other.close();
  }
});

test("a server that comes back without the consumer: the read ends stalled at the reconnect, and a new consumer goes on from the position", T, async () => {
  const own = await startNatsServer();
  const ownNc = await connectNats({ url: own.url, name: "lingering-pull-test-restart", auth: {} });
  try {
    await (await jetstreamManager(ownNc)).streams.add({ name: "LINGER_RESTART", subjects: ["restart.>"] });
    const c = await start("restart.one", 20, { nc: ownNc, stream: "LINGER_RESTART" });
    try {
      const ownJs = jetstream(ownNc);
      for (const v of ["s1", "s2"]) await ownJs.publish("restart.one", enc.encode(v));
      await applied(c, 2);
      // Same port and store: the stream and its records come back, the in-memory consumer doesn't.
      const back = nextReconnect(ownNc);
      await own.restart();
      await back;
      await waitFor("a stall after reconnecting", () => (c.errors.some((e) => e instanceof ConsumerStalledError) ? true : undefined), {
        timeoutMs: 20_000,
      });
      const stall = c.errors.find((e): e is ConsumerStalledError => e instanceof ConsumerStalledError)!;
      assert.match(stall.why, /reconnected.*the consumer is gone/, "found at the reconnect, not by a later pull");
      for (const v of ["s3", "s4"]) await ownJs.publish("restart.one", enc.encode(v));
      await applied(c, 4);
      assert.deepEqual(c.applied, ["s1", "s2", "s3", "s4"]);
      assert.equal(c.starts.at(-1), 2, "the new consumer starts after the last record applied");
    } finally {
      await c.follower.stop();
    }
  } finally {
    await ownNc.close();
    await own.stop();
  }
});
