// endWhenStalled against a real nats-server: a consumer that silently stopped working ends with a
// ConsumerStalledError, so its caller's loop can start a new one. Two ways it shows: no heartbeat
// (the consumer was deleted under it) and no pull after reconnecting (the server came back without it).
import assert from "node:assert/strict";
import { test } from "node:test";

import { type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { startNatsServer, waitFor } from "@lake/testing";

import { connectNats, ConsumerStalledError, endWhenStalled, LIVE_PULL_EXPIRES_MS } from "../src/index.ts";

const T = { timeout: 60_000 };

/** Reads `messages` to their end; resolves with the error they ended with (undefined: a plain stop). */
async function readToEnd(messages: ConsumerMessages, seen: string[]): Promise<unknown> {
  try {
    for await (const m of messages) seen.push(new TextDecoder().decode(m.data));
    return undefined;
  } catch (err) {
    return err;
  }
}

async function consume(nc: NatsConnection, subject: string): Promise<ConsumerMessages> {
  const consumer = await jetstream(nc).consumers.get("STALL_TEST", { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
  return consumer.consume({ max_messages: 10, expires: LIVE_PULL_EXPIRES_MS });
}

test("a consumer deleted under its reader: no heartbeat comes, and the messages end with a ConsumerStalledError", T, async () => {
  const nats = await startNatsServer();
  const nc = await connectNats({ url: nats.url, name: "stall-test", auth: {} });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "STALL_TEST", subjects: ["stall.>"] });
    await jetstream(nc).publish("stall.deleted", new TextEncoder().encode("one"));
    const messages = await consume(nc, "stall.deleted");
    const stalls: ConsumerStalledError[] = [];
    endWhenStalled(messages, nc, (err) => stalls.push(err), { missedHeartbeats: 2 });
    const seen: string[] = [];
    const ended = readToEnd(messages, seen);
    await waitFor("the first record", () => (seen.length === 1 ? true : undefined), { timeoutMs: 10_000 });
    for await (const ci of jsm.consumers.list("STALL_TEST")) await jsm.consumers.delete("STALL_TEST", ci.name);
    const err = await ended;
    assert.ok(err instanceof ConsumerStalledError, `ended with ${String(err)}`);
    assert.match(err.why, /no message or heartbeat from the server for \d+ heartbeat intervals/);
    assert.deepEqual(stalls, [err], "the caller is told once, with the same error");
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test("a server that comes back without the consumer: no pull within afterReconnectMs ends the messages", T, async () => {
  let nats = await startNatsServer();
  const nc = await connectNats({ url: nats.url, name: "stall-test-reconnect", auth: {} });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "STALL_TEST", subjects: ["stall.>"] });
    const messages = await consume(nc, "stall.reconnect");
    const stalls: ConsumerStalledError[] = [];
    endWhenStalled(messages, nc, (err) => stalls.push(err), { afterReconnectMs: 500 });
    const ended = readToEnd(messages, []);
    // Same port, an empty store: the client reconnects, but the stream and its consumer are gone.
    await nats.stop();
    nats = await startNatsServer({ port: nats.port });
    const err = await ended;
    assert.ok(err instanceof ConsumerStalledError, `ended with ${String(err)}`);
    assert.match(err.why, /no pull within 500 ms of reconnecting/);
    assert.equal(stalls.length, 1);
  } finally {
    await nc.close();
    await nats.stop();
  }
});
