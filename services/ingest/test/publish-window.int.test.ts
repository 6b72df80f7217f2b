// PublishWindow against a real nats-server, over the AckedPublisher ingest uses: publishes asked for
// from separate callbacks of one event-loop turn reach nats.js in one synchronous run (so nats.js writes them to its socket once),
// each caller gets its own ack in order, and a publish JetStream refuses fails only its own caller.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";

import { AckedPublisher, connectNats } from "@lake/messaging";
import { type NatsServerHandle, startNatsServer } from "@lake/testing";

import { PublishWindow } from "../src/nats/publisher.ts";

let server: NatsServerHandle;
let nc: NatsConnection;
let js: AckedPublisher;
before(async () => {
  server = await startNatsServer();
  nc = await connectNats({ url: server.url, name: "window-test" });
  await (await jetstreamManager(nc)).streams.add({ name: "WIN", subjects: ["win.>"] });
  js = new AckedPublisher(nc);
});
after(async () => {
  js?.close();
  await nc?.close();
  await server?.stop();
});

/**
 * The real client, recording for each publish the synchronous run it was made in: a run ends at the
 * next microtask checkpoint, so calls that share a number went to nats.js together.
 */
function recording(): { client: Pick<AckedPublisher, "publish">; runs: number[] } {
  const runs: number[] = [];
  let run = 0;
  let open = false;
  return {
    runs,
    client: {
      publish: (subject, data, opts) => {
        if (!open) {
          open = true;
          run++;
          queueMicrotask(() => (open = false));
        }
        runs.push(run);
        return js.publish(subject, data, opts);
      },
    },
  };
}

/**
 * Calls `fn(i)` from `n` separate setImmediate callbacks: queued together, they run in the same check
 * phase of one loop turn, each followed by its own microtask checkpoint, as separate I/O callbacks are.
 * (Timers would not do: two set a millisecond apart on a loaded machine fire in different turns.)
 */
function fromSeparateCallbacks<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise<T>((resolve, reject) => setImmediate(() => fn(i).then(resolve, reject)))));
}

test("publishes from separate callbacks of one turn reach nats.js in one run, each with its own ack", { timeout: 30_000 }, async () => {
  const direct = recording();
  await fromSeparateCallbacks(8, (i) => direct.client.publish("win.a", new Uint8Array([i]), { msgID: `direct-${i}` }));
  assert.equal(new Set(direct.runs).size, 8, "without the window each callback publishes in a run of its own");

  const viaWindow = recording();
  const window = new PublishWindow(viaWindow.client);
  const acks = await fromSeparateCallbacks(8, (i) => window.publish("win.a", new Uint8Array([i]), { msgID: `window-${i}` }));
  assert.equal(viaWindow.runs.length, 8);
  assert.equal(new Set(viaWindow.runs).size, 1, "through the window they went to nats.js together");
  assert.deepEqual(
    acks.map((a) => a.seq),
    Array.from({ length: 8 }, (_, i) => 9 + i),
    "acks in order, after the 8 direct ones",
  );
  assert.deepEqual(
    (await fromSeparateCallbacks(2, (i) => window.publish("win.a", new Uint8Array([i]), { msgID: `window-${i}` }))).map((a) => a.duplicate),
    [true, true],
    "the dedupe id goes through",
  );
});

test("a publish JetStream refuses fails only its own caller", { timeout: 30_000 }, async () => {
  const window = new PublishWindow(js);
  const wrongLast = natsHeaders();
  wrongLast.set("Nats-Expected-Last-Sequence", "1");
  const results = await Promise.allSettled([
    window.publish("win.b", new Uint8Array([1]), { msgID: "ok-1" }),
    window.publish("nostream.here", new Uint8Array([2]), { msgID: "nope", timeout: 2000 }),
    window.publish("win.b", new Uint8Array([3]), { msgID: "ok-2", headers: wrongLast }),
    window.publish("win.b", new Uint8Array([4]), { msgID: "ok-3" }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "rejected", "fulfilled"],
  );
});
