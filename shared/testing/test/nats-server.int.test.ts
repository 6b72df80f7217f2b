import assert from "node:assert/strict";
import { access, mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { acceptsConnections, findNatsServer, freePort, isNatsServerMissing, NatsServerMissingError, startNatsServer } from "../src/index.ts";

const dec = new TextDecoder();

// Binding succeeds only if nothing (not even a lingering listener) holds the port.
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

describe("startNatsServer", () => {
  test("serves request/reply, and stop() frees the port and removes the temp store", async () => {
    const server = await startNatsServer();
    assert.notEqual(server.port, 4222);
    assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
    assert.ok(server.storeDir.startsWith(tmpdir()));
    assert.ok(await exists(server.storeDir));

    const nc = await connect({ servers: server.url });
    try {
      const sub = nc.subscribe("echo", {
        callback: (err, msg) => {
          if (err === null) msg.respond(`echo: ${msg.string()}`);
        },
      });
      const reply = await nc.request("echo", "ping", { timeout: 2_000 });
      assert.equal(reply.string(), "echo: ping");
      sub.unsubscribe();
    } finally {
      await nc.close();
    }

    await server.stop();
    assert.equal(await canBind(server.port), true, "port is free after stop()");
    assert.equal(await exists(server.storeDir), false, "temp store dir removed");
    await server.stop(); // idempotent
  });

  test("restart() after kill9() keeps JetStream data, port and store dir", async () => {
    const server = await startNatsServer();
    try {
      const stream = `RESTART_${process.pid}_${Date.now()}`;
      const subject = `restart.${process.pid}.${Date.now()}`;
      const nc = await connect({ servers: server.url });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: stream, subjects: [subject] });
        const ack = await jetstream(nc).publish(subject, "survives a crash");
        assert.equal(ack.seq, 1);
      } finally {
        await nc.close();
      }

      const firstPid = server.pid;
      await server.kill9();
      assert.equal(await acceptsConnections(server.port), false, "server is down after kill9()");
      assert.ok(await exists(server.storeDir), "kill9() keeps the store");

      await server.restart();
      assert.notEqual(server.pid, firstPid);
      const nc2 = await connect({ servers: server.url });
      try {
        const jsm = await jetstreamManager(nc2);
        const msg = await jsm.streams.getMessage(stream, { seq: 1 });
        assert.ok(msg !== null);
        assert.equal(msg.subject, subject);
        assert.equal(dec.decode(msg.data), "survives a crash");
      } finally {
        await nc2.close();
      }
    } finally {
      await server.stop();
    }
  });

  test("keepStore and caller-provided store dirs survive stop()", async () => {
    const kept = await startNatsServer({ keepStore: true });
    await kept.stop();
    assert.ok(await exists(kept.storeDir));
    await rm(kept.storeDir, { recursive: true, force: true });

    const mine = await mkdtemp(path.join(tmpdir(), "lake-testing-own-store-"));
    try {
      const server = await startNatsServer({ storeDir: mine });
      assert.equal(server.storeDir, mine);
      await server.stop();
      assert.ok(await exists(mine), "a store dir the caller owns is never deleted");
    } finally {
      await rm(mine, { recursive: true, force: true });
    }
  });

  test("an explicit port is used, and port 4222 or 0 is refused", async () => {
    const port = await freePort();
    const server = await startNatsServer({ port });
    try {
      assert.equal(server.port, port);
    } finally {
      await server.stop();
    }
    await assert.rejects(startNatsServer({ port: 4222 }), /reserved/);
    await assert.rejects(startNatsServer({ port: 0 }), /treats 0 as 4222/);
  });

  test("a server name given in args is respected (and used to recognise the server)", async () => {
    const server = await startNatsServer({ args: ["--server_name", "caller-named"] });
    try {
      const nc = await connect({ servers: server.url });
      assert.equal(nc.info?.server_name, "caller-named");
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  test("a server that dies during start-up is reported with its output", async () => {
    await assert.rejects(startNatsServer({ args: ["--no-such-flag"] }), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /exited during startup/);
      assert.match(e.message, /no-such-flag/, "the server's own complaint is in the message");
      return true;
    });
  });

  test("a port already taken by someone else is not mistaken for our server", async () => {
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    const address = squatter.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      await assert.rejects(startNatsServer({ port: address.port }), /address already in use/);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});

describe("findNatsServer", () => {
  test("finds the binary (Debian puts it in /usr/sbin)", () => {
    assert.match(findNatsServer(), /\/nats-server$/);
  });

  test("throws NatsServerMissingError with install advice when absent", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "lake-testing-empty-bin-"));
    try {
      assert.throws(
        () => findNatsServer([empty]),
        (e: unknown) => {
          assert.ok(e instanceof NatsServerMissingError);
          assert.ok(isNatsServerMissing(e));
          assert.ok(e.message.startsWith("nats-server not found on PATH; install it with `apt-get install -y nats-server` (Debian) or put the binary on PATH"));
          return true;
        },
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe("freePort", () => {
  test("returns a bindable port that is never 4222", async () => {
    const port = await freePort();
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
    assert.notEqual(port, 4222);
    assert.equal(await canBind(port), true);
  });
});
