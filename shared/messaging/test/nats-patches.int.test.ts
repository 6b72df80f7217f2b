// The nats.js request patch (src/nats-patches.ts) against a real nats-server: an answered request no
// longer builds a "cancelled" RequestError (counted by swapping the class nats.js constructs), and every
// way a request can end still ends the same: an answer, a timeout, no responders, a closed connection,
// and JetStream publishes with their acks.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { errors as natsErrors, type NatsConnection } from "@nats-io/nats-core";

import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import { connectNats, natsHeadersPatchApplied, natsRequestPatchApplied } from "../src/index.ts";

// nats.js constructs RequestError through its errors module's exports at call time: a counting subclass
// put there sees every construction.
const require = createRequire(import.meta.url);
const errorsModule = require(join(dirname(require.resolve("@nats-io/nats-core")), "errors.js")) as { RequestError: typeof natsErrors.RequestError };
let constructed = 0;
const Original = errorsModule.RequestError;
class Counting extends Original {
  constructor(...args: ConstructorParameters<typeof Original>) {
    super(...args);
    constructed++;
  }
}

let server: NatsServerHandle;
let nc: NatsConnection;
before(async () => {
  server = await startNatsServer();
  nc = await connectNats({ url: server.url, name: "patch-test" });
  errorsModule.RequestError = Counting;
});
after(async () => {
  errorsModule.RequestError = Original;
  await nc?.close().catch(() => {});
  await server?.stop();
});

test("connectNats installs the patch", { timeout: 10_000 }, () => {
  assert.equal(natsRequestPatchApplied(), true, "the nats.js request class no longer has the shape the patch expects: look at src/nats-patches.ts");
  assert.equal(natsHeadersPatchApplied(), true, "the nats.js headers class no longer has the shape the header patch expects: look at src/nats-patches.ts");
});

test("answered requests resolve with their answers and build no error", { timeout: 30_000 }, async () => {
  const sub = nc.subscribe("echo", { callback: (_e, m) => void m.respond(m.data) });
  constructed = 0;
  const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => nc.request("echo", new TextEncoder().encode(`n${i}`), { timeout: 5000 })));
  assert.deepEqual(
    answers.map((m) => m.string()),
    Array.from({ length: 500 }, (_, i) => `n${i}`),
  );
  assert.equal(constructed, 0, "an answered request built an error");
  sub.unsubscribe();
});

test("JetStream publishes are acknowledged in order, and build no error", { timeout: 30_000 }, async () => {
  await (await jetstreamManager(nc)).streams.add({ name: "PATCH", subjects: ["patch.>"] });
  const js = jetstream(nc);
  constructed = 0;
  const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => js.publish("patch.x", new Uint8Array([i % 256]), { msgID: `m${i}` })));
  assert.deepEqual(
    acks.map((a) => a.seq),
    Array.from({ length: 300 }, (_, i) => i + 1),
  );
  assert.equal((await js.publish("patch.x", new Uint8Array([0]), { msgID: "m0" })).duplicate, true);
  assert.equal(constructed, 0);
});

test("a request nobody answers times out", { timeout: 30_000 }, async () => {
  const sub = nc.subscribe("silent", { callback: () => undefined });
  await assert.rejects(nc.request("silent", new Uint8Array(), { timeout: 200 }), (e: unknown) => e instanceof natsErrors.TimeoutError);
  sub.unsubscribe();
});

test("a request to a subject nobody listens to is refused with no responders", { timeout: 30_000 }, async () => {
  await assert.rejects(
    nc.request("nobody.here", new Uint8Array(), { timeout: 2000 }),
    (e: unknown) => e instanceof natsErrors.RequestError && e.isNoResponders(),
  );
});

test("closing the connection rejects a request still waiting", { timeout: 30_000 }, async () => {
  const other = await connectNats({ url: server.url, name: "patch-test-close" });
  const sub = other.subscribe("slow", { callback: () => undefined });
  await other.flush();
  const waiting = other.request("slow", new Uint8Array(), { timeout: 10_000 });
  const settled = waiting.then(
    () => "answered",
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
  sub.unsubscribe();
  await other.close();
  assert.match(await settled, /closed/);
});
