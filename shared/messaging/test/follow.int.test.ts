// follow against a real nats-server: batches by count, when caught up and by age; the caller's position
// at the start and at every restart; a handler's throw (restart, or giving up); a consumer deleted under
// it; a server that comes back empty; stop and `until`. Each test follows a subject of its own.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { errors as natsErrors, type NatsConnection } from "@nats-io/nats-core";

import { type NatsServerHandle, startNatsServer, waitFor } from "@lake/testing";

import { connectNats, ConsumerStalledError, follow, type Follower, type FollowOptions, retryDelayMs } from "../src/index.ts";

const STREAM = "FOLLOW_TEST";
const T = { timeout: 60_000 };

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ url: nats.url, name: "follow-test", auth: {} });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ["follow.>"] });
});

const followers: Follower[] = [];
after(async () => {
  for (const f of followers) await f.stop();
  await nc?.close();
  await nats?.stop();
});

const text = (m: JsMsg) => new TextDecoder().decode(m.data);

/** Publishes `values` on `subject` in order; returns their stream sequences. */
async function publish(subject: string, values: readonly string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const v of values) seqs.push((await js.publish(subject, new TextEncoder().encode(v))).seq);
  return seqs;
}

/** What the server still holds for the consumer following `subject` (there is one per test at a time). */
async function serverPending(subject: string): Promise<number | undefined> {
  for await (const ci of jsm.consumers.list(STREAM))
    if (ci.config.filter_subject === subject || ci.config.filter_subjects?.includes(subject)) return ci.num_pending;
  return undefined;
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

/**
 * A caller that applies batches to a list and keeps its position (the last sequence applied), the way
 * a service keeps it in its store.
 */
function callerOf(subject: string, over: Partial<FollowOptions> = {}) {
  const c = {
    position: 0,
    applied: [] as { seq: number; value: string }[],
    batches: [] as { values: string[]; pending: number; at: number }[],
    starts: [] as number[],
    errors: [] as { err: unknown; next: { attempt: number; retryMs: number } | undefined }[],
    follower: undefined as Follower | undefined,
    async start(): Promise<Follower> {
      c.follower = await follow({
        nc,
        stream: STREAM,
        subject,
        position: () => c.position,
        handle: (batch, info) => {
          c.batches.push({ values: batch.map(text), pending: info.pending, at: Date.now() });
          for (const m of batch) c.applied.push({ seq: m.seq, value: text(m) });
          c.position = batch.at(-1)!.seq;
        },
        batch: { maxRecords: 100 },
        retry: { initialMs: 20, factor: 2, maxMs: 200 },
        onStart: (p) => void c.starts.push(p),
        onError: (err, next) => void c.errors.push({ err, next }),
        ...over,
      });
      followers.push(c.follower);
      return c.follower;
    },
    values: () => c.applied.map((a) => a.value),
    until: (n: number, what = `${n} records applied`) => waitFor(what, () => (c.applied.length >= n ? true : undefined), { timeoutMs: 30_000, intervalMs: 10 }),
  };
  return c;
}

for (const lingerMs of [undefined, 20]) {
  const linger = lingerMs === undefined ? {} : { lingerMs };
  /** This suite's subject `name` (each reader its own records). */
  const S = (name: string) => (lingerMs === undefined ? `follow.${name}` : `follow.lingering.${name}`);
  const caller = (subject: string, over: Partial<FollowOptions> = {}) => callerOf(subject, { ...linger, ...over });
  describe(lingerMs === undefined ? "follow" : "follow, with lingering pulls", () => {
    test("batches by count, then the rest as soon as nothing is pending; live records after that", T, async () => {
      const c = caller(S("count"), { batch: { maxRecords: 10 } });
      await publish(S("count"), range("a", 35));
      const f = await c.start();
      await c.until(35);
      assert.deepEqual(
        c.batches.map((b) => b.values.length),
        [10, 10, 10, 5],
      );
      assert.deepEqual(
        c.batches.map((b) => b.pending === 0),
        [false, false, false, true],
        "only the last batch leaves nothing pending",
      );
      assert.deepEqual(c.values(), range("a", 35), "in stream order, each once");
      await publish(S("count"), ["b1", "b2"]);
      await c.until(37);
      assert.deepEqual(c.values().slice(35), ["b1", "b2"]);
      await f.stop();
      assert.deepEqual(c.starts, [0]);
      assert.deepEqual(c.errors, []);
    });

    test("by age: without the caught-up rule, a batch waits for its oldest record to reach maxAgeMs, unless it fills first", T, async () => {
      const c = caller(S("age"), { batch: { maxRecords: 1000, whenCaughtUp: false, maxAgeMs: 400 } });
      const f = await c.start();
      const sent = Date.now();
      await Promise.all(["x1", "x2", "x3"].map((v) => js.publish(S("age"), new TextEncoder().encode(v))));
      await c.until(3);
      assert.equal(c.batches.length, 1, "one batch: the records came within its age");
      assert.deepEqual(c.batches[0]!.values.toSorted(), ["x1", "x2", "x3"]);
      assert.ok(c.batches[0]!.at - sent >= 390, `handed over ${c.batches[0]!.at - sent} ms after the first record was sent, not before 400 ms`);
      await f.stop();
      // The count ends a batch long before its age.
      const d = caller(S("age"), { batch: { maxRecords: 2, whenCaughtUp: false, maxAgeMs: 600_000 } });
      await d.start();
      await d.until(2);
      assert.equal(d.batches[0]!.values.length, 2);
      await d.follower!.stop();
    });

    test("by age, also when the client has just asked the server for more (nats.js counts its pull as pending)", T, async () => {
      // A small pull makes nats.js queue its next pull among the records; once run, its iterator still
      // reports one pending, so only the batch's age may end the wait for the next record.
      const c = caller(S("age-pull"), { batch: { maxRecords: 1000, whenCaughtUp: false, maxAgeMs: 200 }, pullAhead: 4 });
      await publish(S("age-pull"), range("q", 7));
      await c.start();
      await c.until(7);
      assert.deepEqual(c.values(), range("q", 7));
      assert.ok(c.batches.length <= 2, `by age: ${c.batches.map((b) => b.values.length).join(", ")}`);
    });

    test("stop hands over the records already delivered, the batch being formed included", T, async () => {
      const c = caller(S("stop"), { batch: { maxRecords: 1000, whenCaughtUp: false, maxAgeMs: 600_000 } });
      await publish(S("stop"), range("s", 3));
      const f = await c.start();
      // All three in this process (none left on the server, all counted here), none handed over yet.
      await waitFor("the records delivered to the client", async () => ((await serverPending(S("stop"))) === 0 && (await f.lag()) === 3 ? true : undefined), {
        timeoutMs: 30_000,
      });
      assert.equal(c.batches.length, 0, "nothing handed over before the stop");
      await f.stop();
      assert.deepEqual(
        c.batches.map((b) => b.values),
        [range("s", 3)],
      );
    });

    test("starts just after the caller's position, and restarts from it, not from the consumer's cursor", T, async () => {
      const c = caller(S("position"));
      const seqs = await publish(S("position"), range("p", 10));
      c.position = seqs[3]!;
      await c.start();
      await c.until(6);
      assert.deepEqual(c.values(), range("p", 10).slice(4), "from the record after the position");
      // The caller's store went back (as after a crash before its transaction committed): a restart reads from there.
      c.position = seqs[6]!;
      c.follower!.restart(new Error("store rolled back"), { delayMs: 0 });
      await c.until(9);
      assert.deepEqual(c.values(), [...range("p", 10).slice(4), "p8", "p9", "p10"]);
      assert.deepEqual(c.starts, [seqs[3], seqs[6]]);
      assert.equal(c.errors.length, 1);
      assert.equal((c.errors[0]!.err as Error).message, "store rolled back");
      assert.deepEqual(c.errors[0]!.next, { attempt: 1, retryMs: 0 });
    });

    test("a restart asked for while a batch is handled: no later batch of that consumer is handed over", T, async () => {
      await publish(S("restart-inside"), range("r", 6));
      const applied: string[] = [];
      const starts: number[] = [];
      let position = 0;
      let asked = false;
      const f: Follower = await follow({
        ...linger,
        nc,
        stream: STREAM,
        subject: S("restart-inside"),
        position: () => position,
        handle: async (batch) => {
          if (!asked) {
            // As a committer whose earlier write failed: this batch must not apply, nor any after it.
            asked = true;
            f.restart(new Error("an earlier write failed"), { delayMs: 0 });
            return;
          }
          applied.push(...batch.map(text));
          position = batch.at(-1)!.seq;
        },
        batch: { maxRecords: 2 },
        pullAhead: 10,
        onStart: (p) => void starts.push(p),
      });
      followers.push(f);
      await waitFor("all six", () => (applied.length === 6 ? true : undefined), { timeoutMs: 30_000 });
      assert.deepEqual(applied, range("r", 6), "from the caller's position again, in order: r3 and r4 did not slip in before r1");
      assert.deepEqual(starts, [0, 0]);
      await f.stop();
    });

    test("a handler's throw: the batch comes again from the caller's position after the policy's wait; the lag shows it meanwhile", T, async () => {
      let fail = 3;
      const c = caller(S("throw"));
      let lagWhileFailing: number | undefined;
      const seqs = await publish(S("throw"), range("t", 5));
      const f = await follow({
        ...linger,
        nc,
        stream: STREAM,
        subject: S("throw"),
        position: () => c.position,
        handle: async (batch) => {
          if (fail > 0) {
            fail--;
            if (fail === 0) lagWhileFailing = await f.lag();
            throw new Error(`not yet (${fail} more)`);
          }
          for (const m of batch) c.applied.push({ seq: m.seq, value: text(m) });
          c.position = batch.at(-1)!.seq;
        },
        batch: { maxRecords: 100 },
        retry: { initialMs: 30, factor: 2, maxMs: 100 },
        onStart: (p) => void c.starts.push(p),
        onError: (err, next) => void c.errors.push({ err, next }),
      });
      followers.push(f);
      await c.until(5);
      assert.deepEqual(c.values(), range("t", 5), "each record once, in order");
      assert.deepEqual(
        c.errors.map((e) => [(e.err as Error).message, e.next]),
        [
          ["not yet (2 more)", { attempt: 1, retryMs: 30 }],
          ["not yet (1 more)", { attempt: 2, retryMs: 60 }],
          ["not yet (0 more)", { attempt: 3, retryMs: 100 }],
        ],
      );
      assert.deepEqual(c.starts, [0, 0, 0, 0], "every restart from the caller's position");
      assert.equal(lagWhileFailing, 5, "the failing batch counts in the lag");
      assert.equal(await f.lag(), 0);
      assert.equal(seqs.length, 5);
      await f.stop();
    });

    test("with maxRestarts 0 a handler's throw ends following: done rejects with it and nothing more is handed over", T, async () => {
      await publish(S("giveup"), range("g", 5));
      const boom = new Error("cannot apply g3");
      const errors: { err: unknown; next: unknown }[] = [];
      const applied: string[] = [];
      const g = await follow({
        ...linger,
        nc,
        stream: STREAM,
        subject: S("giveup"),
        position: () => 0,
        handle: (batch) => {
          if (batch.some((m) => text(m) === "g3")) throw boom;
          applied.push(...batch.map(text));
        },
        batch: { maxRecords: 2 },
        retry: { initialMs: 10, factor: 1, maxMs: 10, maxRestarts: 0 },
        onError: (err, next) => void errors.push({ err, next }),
      });
      await assert.rejects(g.done, (e) => e === boom);
      assert.deepEqual(applied, ["g1", "g2"]);
      assert.deepEqual(errors, [{ err: boom, next: undefined }], "giving up is reported");
      await g.stop();
    });

    test("a consumer deleted under it: the stall is noticed and following goes on from the caller's position, nothing lost or doubled", T, async () => {
      const c = caller(S("deleted"), { stall: { missedHeartbeats: 2 } });
      await publish(S("deleted"), range("d", 3));
      await c.start();
      await c.until(3);
      const mine = await waitFor("the follower's consumer", async () => {
        for await (const ci of jsm.consumers.list(STREAM))
          if (ci.config.filter_subject === S("deleted") || ci.config.filter_subjects?.includes(S("deleted"))) return ci.name;
        return undefined;
      });
      await jsm.consumers.delete(STREAM, mine);
      await publish(S("deleted"), range("d", 6).slice(3));
      await c.until(6, "the records published after the delete");
      assert.deepEqual(c.values(), range("d", 6));
      assert.ok(
        c.errors.some((e) => e.err instanceof ConsumerStalledError),
        `the stall ended the consumer: ${c.errors.map((e) => String(e.err)).join("; ")}`,
      );
      assert.equal(c.starts.at(-1), c.applied[2]!.seq, "restarted just after the last record applied");
    });

    test("until: stops after the record at `seq` (later ones are never handed over), or once caught up", T, async () => {
      const seqs = await publish(S("until"), range("u", 6));
      const c = caller(S("until"), { until: { seq: seqs[3]! }, batch: { maxRecords: 2 } });
      const f = await c.start();
      await f.done;
      assert.deepEqual(c.values(), range("u", 4));
      const d = caller(S("until"), { until: { seq: Number.MAX_SAFE_INTEGER, whenCaughtUp: true } });
      await (
        await d.start()
      ).done;
      assert.deepEqual(d.values(), range("u", 6));
      const e = caller(S("until"), { until: { seq: seqs[5]! } });
      e.position = seqs[5]!;
      await (
        await e.start()
      ).done;
      assert.deepEqual(e.values(), [], "already there: nothing to read");
      assert.deepEqual(e.starts, [], "no consumer made");
    });

    test(
      "a position past the stream's end: the server starts the consumer at the end, and records up to the position are still not handed over",
      T,
      async () => {
        // A stream of its own, so its sequences are known: the caller has applied up to 5 of a stream (made again) that holds 2.
        const stream = "FOLLOW_AHEAD";
        await jsm.streams.add({ name: stream, subjects: ["ahead.>"] });
        try {
          for (const v of ["s1", "s2"]) await js.publish("ahead.x", new TextEncoder().encode(v));
          const c = caller("ahead.x", { stream });
          c.position = 5;
          const f = await c.start();
          for (const v of ["s3", "s4", "s5", "s6", "s7"]) await js.publish("ahead.x", new TextEncoder().encode(v));
          await c.until(2);
          await f.stop();
          assert.deepEqual(
            c.applied.map((a) => a.seq),
            [6, 7],
          );
          assert.deepEqual(c.values(), ["s6", "s7"]);
          assert.deepEqual(c.errors, []);
        } finally {
          await jsm.streams.delete(stream);
        }
      },
    );

    test("a server that comes back without the stream: the consumer can't pull after reconnecting, so it restarts until it can", T, async () => {
      // A server of its own, restarted empty on the same port: the old consumer and the stream are gone.
      let server = await startNatsServer();
      const ownNc = await connectNats({ url: server.url, name: "follow-test-restart", auth: {} });
      const ownJsm = await jetstreamManager(ownNc);
      const ownJs = jetstream(ownNc);
      const applied: string[] = [];
      const errors: unknown[] = [];
      const starts: number[] = [];
      let position = 0;
      let f: Follower | undefined;
      try {
        await ownJsm.streams.add({ name: STREAM, subjects: ["follow.>"] });
        for (const v of ["r1", "r2"]) await ownJs.publish(S("reconnect"), new TextEncoder().encode(v));
        f = await follow({
          ...linger,
          nc: ownNc,
          stream: STREAM,
          subject: S("reconnect"),
          position: () => position,
          handle: (batch) => {
            applied.push(...batch.map(text));
            position = batch.at(-1)!.seq;
          },
          batch: { maxRecords: 100 },
          retry: { initialMs: 50, factor: 2, maxMs: 500 },
          stall: { afterReconnectMs: 500 },
          onStart: (p) => void starts.push(p),
          onError: (err) => void errors.push(err),
        });
        await waitFor("r1, r2", () => (applied.length === 2 ? true : undefined), { timeoutMs: 10_000 });
        await server.stop();
        server = await startNatsServer({ port: server.port });
        await waitFor("a stall after reconnecting", () => (errors.some((e) => e instanceof ConsumerStalledError) ? true : undefined), { timeoutMs: 20_000 });
        // The stream comes back (as the setup job would make it): following resumes after the caller's position.
        await waitFor(
          "the stream made again",
          async () => ((await ownJsm.streams.add({ name: STREAM, subjects: ["follow.>"] }).catch(() => undefined)) ? true : undefined),
          { timeoutMs: 20_000 },
        );
        for (const v of ["r3", "r4", "r5"]) await ownJs.publish(S("reconnect"), new TextEncoder().encode(v));
        // The new stream numbers from 1 again, so r3 and r4 are at or below the caller's position (2)
        // and are not read: the position is the caller's to keep, never the consumer's.
        await waitFor("r5", () => (applied.includes("r5") ? true : undefined), { timeoutMs: 20_000 });
        assert.deepEqual(applied, ["r1", "r2", "r5"]);
        assert.equal(starts.at(-1), 2);
      } finally {
        await f?.stop();
        await ownNc.close();
        await server.stop();
      }
    });
  });
}

test("retryDelayMs grows by the factor up to the cap", () => {
  const p = { initialMs: 250, factor: 2, maxMs: 5000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(p, a)),
    [250, 500, 1000, 2000, 4000, 5000, 5000],
  );
  assert.deepEqual(
    [1, 2, 3].map((a) => retryDelayMs({ initialMs: 1000, factor: 1, maxMs: 1000 }, a)),
    [1000, 1000, 1000],
  );
});

test("after JetStream left a consumer's making unanswered, the next consumer takes the stream's replicas (a lingering pull)", T, async () => {
  const subject = "follow.unanswered";
  let failNext = false;
  const c = callerOf(subject);
  const caller = c as { position: number };
  // The caller's position read is where the restart below meets a JetStream that does not answer.
  const positionOf = () => {
    if (failNext) {
      failNext = false;
      throw new natsErrors.TimeoutError();
    }
    return caller.position;
  };
  const g = await follow({
    nc,
    stream: STREAM,
    subject,
    position: positionOf,
    handle: (batch) => {
      for (const m of batch) c.applied.push({ seq: m.seq, value: text(m) });
      caller.position = batch.at(-1)!.seq;
    },
    batch: { maxRecords: 100 },
    retry: { initialMs: 20, factor: 2, maxMs: 200 },
    onError: (err, next) => void c.errors.push({ err, next }),
  });
  followers.push(g);
  await publish(subject, ["a1", "a2"]);
  await c.until(2);
  const before = await consumersOn(subject);
  assert.deepEqual(
    before.map((ci) => ci.name.startsWith("lp_")),
    [false],
    "an ordered consumer while JetStream answers",
  );

  failNext = true;
  g.restart(new Error("a restart, its position read unanswered"));
  await waitFor(
    "a consumer made after the unanswered attempt",
    async () => ((await consumersOn(subject)).some((ci) => ci.name.startsWith("lp_")) ? true : undefined),
    {
      timeoutMs: 30_000,
    },
  );
  const after = (await consumersOn(subject)).filter((ci) => ci.name.startsWith("lp_"));
  assert.deepEqual(
    after.map((ci) => ci.config.num_replicas),
    [0],
    "the stream's own replicas (0: inherit)",
  );
  assert.ok(
    c.errors.some((e) => e.err instanceof natsErrors.TimeoutError),
    "the unanswered attempt was reported",
  );
  await publish(subject, ["a3"]);
  await c.until(3);
  assert.deepEqual(c.values(), ["a1", "a2", "a3"]);
});

/** The consumers the server holds for `subject`. */
async function consumersOn(subject: string) {
  const out = [];
  for await (const ci of jsm.consumers.list(STREAM)) if (ci.config.filter_subject === subject || ci.config.filter_subjects?.includes(subject)) out.push(ci);
  return out;
}
