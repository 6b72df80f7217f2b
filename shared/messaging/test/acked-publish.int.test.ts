// AckedPublisher against a real nats-server: every publish gets the ack of its own message (checked by
// reading the stored message at the acked sequence), dedupe ids go through, and each way a publish can
// end without an ack ends as js.publish's would, for that caller only: refused by the stream, no
// stream on the subject, no answer in time, a closed connection.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import { AckedPublisher, connectNats, PublishAckError } from "../src/index.ts";

let server: NatsServerHandle;
let nc: NatsConnection;
before(async () => {
  server = await startNatsServer();
  nc = await connectNats({ url: server.url, name: "acked-test" });
  await (await jetstreamManager(nc)).streams.add({ name: "ACK", subjects: ["ack.>"] });
});
after(async () => {
  await nc?.close().catch(() => {});
  await server?.stop();
});

const rejection = async (p: Promise<unknown>): Promise<PublishAckError> => {
  const r = await Promise.allSettled([p]);
  assert.equal(r[0]!.status, "rejected");
  const e = (r[0] as PromiseRejectedResult).reason as unknown;
  assert.ok(e instanceof PublishAckError, String(e));
  return e;
};

test("2,000 publishes in flight: each ack names the sequence its own message is stored at", { timeout: 60_000 }, async () => {
  const pub = new AckedPublisher(nc);
  const n = 2000;
  const acks = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const h = natsHeaders();
      h.set("Lake-Schema", `s${i}`);
      return pub.publish("ack.many", new TextEncoder().encode(`m${i}`), { msgID: `many-${i}`, headers: h });
    }),
  );
  assert.equal(new Set(acks.map((a) => a.seq)).size, n, "distinct sequences");
  assert.ok(acks.every((a) => a.stream === "ACK" && !a.duplicate));
  const jsm = await jetstreamManager(nc);
  for (const i of [0, 1, 977, n - 1]) {
    const m = await jsm.streams.getMessage("ACK", { seq: acks[i]!.seq });
    assert.equal(new TextDecoder().decode(m!.data), `m${i}`);
    assert.equal(m!.header.get("Nats-Msg-Id"), `many-${i}`);
    assert.equal(m!.header.get("Lake-Schema"), `s${i}`, "the caller's headers are stored");
  }
  assert.equal(pub.inFlight, 0);
  pub.close();
});

test("a dedupe id seen before gives the first message's sequence, marked duplicate", { timeout: 30_000 }, async () => {
  const pub = new AckedPublisher(nc);
  const first = await pub.publish("ack.dup", new Uint8Array([1]), { msgID: "dup-1" });
  const again = await pub.publish("ack.dup", new Uint8Array([2]), { msgID: "dup-1" });
  assert.deepEqual([again.seq, again.duplicate, first.duplicate], [first.seq, true, false]);
  pub.close();
});

test("refused, no stream, no answer in time: each fails only its own caller, with why", { timeout: 30_000 }, async () => {
  const pub = new AckedPublisher(nc, { sweepMs: 20 });
  const silent = nc.subscribe("quiet.x"); // takes messages, never answers
  const wrongLast = natsHeaders();
  wrongLast.set("Nats-Expected-Last-Sequence", "1");
  const started = performance.now();
  // The three failures are taken up at once (whichever answer comes first, none is an unhandled rejection).
  const [ok1, refused, noStream, timedOut, ok2] = [
    pub.publish("ack.mixed", new Uint8Array([1]), { msgID: "mixed-1" }),
    rejection(pub.publish("ack.mixed", new Uint8Array([2]), { headers: wrongLast })),
    rejection(pub.publish("nostream.here", new Uint8Array([3]), { timeout: 10_000 })),
    rejection(pub.publish("quiet.x", new Uint8Array([4]), { timeout: 300 })),
    pub.publish("ack.mixed", new Uint8Array([5]), { msgID: "mixed-2" }),
  ];
  assert.ok((await ok1).seq > 0);
  assert.ok((await ok2).seq > 0);
  const r = await refused;
  assert.equal(r.kind, "refused");
  assert.equal(r.outcomeUnknown, false);
  assert.equal(r.api?.err_code, 10071, r.message); // JSStreamWrongLastSequenceErr
  assert.match(r.message, /JetStream refused the message on ack\.mixed: wrong last sequence/);
  const ns = await noStream;
  assert.deepEqual([ns.kind, ns.outcomeUnknown], ["no_stream", false]);
  assert.ok(performance.now() - started < 5000, "no stream is known at once, not after the timeout");
  const to = await timedOut;
  assert.deepEqual([to.kind, to.outcomeUnknown], ["timeout", true]);
  assert.match(to.message, /no ack for quiet\.x in time/);
  assert.equal(pub.inFlight, 0);
  silent.unsubscribe();
  pub.close();
});

test("a closed connection fails what waits and what comes after", { timeout: 30_000 }, async () => {
  const own = await connectNats({ url: server.url, name: "acked-close" });
  const pub = new AckedPublisher(own);
  const quiet = own.subscribe("quiet.y");
  const waiting = pub.publish("quiet.y", new Uint8Array([1]), { timeout: 20_000 });
  await own.flush();
  quiet.unsubscribe();
  await own.close();
  const e = await rejection(waiting);
  assert.deepEqual([e.kind, e.outcomeUnknown], ["closed", true]);
  await assert.rejects(pub.publish("ack.after", new Uint8Array([2])));
});

test("close() fails what waits, as outcome unknown", { timeout: 30_000 }, async () => {
  const pub = new AckedPublisher(nc);
  const quiet = nc.subscribe("quiet.z");
  const waiting = pub.publish("quiet.z", new Uint8Array([1]), { timeout: 20_000 });
  pub.close();
  const e = await rejection(waiting);
  assert.deepEqual([e.kind, e.outcomeUnknown], ["closed", true]);
  quiet.unsubscribe();
});

test(
  "publishes lost with the connection: those with a dedupe id are sent again at the reconnect, stored once; the others fail at once",
  { timeout: 60_000 },
  async () => {
    const own = await startNatsServer();
    const c = await connectNats({ url: own.url, name: "acked-reconnect" });
    try {
      const jsm = await jetstreamManager(c);
      await jsm.streams.add({ name: "RECON", subjects: ["recon.>"] });
      const pub = new AckedPublisher(c);
      await pub.publish("recon.a", new Uint8Array([0]), { msgID: "r0" });
      await own.kill9();
      // Sent while the connection is down: nats.js loses them with it, and no ack would ever come.
      const kept = [1, 2, 3].map((i) => pub.publish("recon.a", new Uint8Array([i]), { msgID: `r${i}`, timeout: 45_000 }));
      const plain = rejection(pub.publish("recon.a", new Uint8Array([9]), { timeout: 45_000 }));
      await own.restart();
      const acks = await Promise.all(kept);
      assert.deepEqual(
        acks.map((a) => a.duplicate),
        [false, false, false],
      );
      const e = await plain;
      assert.deepEqual([e.kind, e.outcomeUnknown], ["timeout", true]);
      assert.match(e.message, /connection to NATS was lost/);
      // Each acked message is stored once, at its acked sequence.
      const info = await jsm.streams.info("RECON");
      assert.equal(info.state.messages, 4, "r0 and the three sent again; the one without a dedupe id was not sent again");
      for (const [i, a] of acks.entries()) assert.deepEqual([...(await jsm.streams.getMessage("RECON", { seq: a.seq }))!.data], [i + 1]);
      pub.close();
    } finally {
      await c.close().catch(() => {});
      await own.stop();
    }
  },
);
