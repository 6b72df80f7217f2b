// startNatsServer with a configuration file: the file's settings apply (users, permissions), while the
// launcher's own port, store dir and server name still win over whatever the file says.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

import { freePort, startNatsServer } from "../src/index.ts";

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lake-testing-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("startNatsServer({ config })", () => {
  test("applies the file (auth, env references) while port, store dir and server name stay the launcher's, also after restart()", async () => {
    const filePort = await freePort();
    const config = path.join(dir, "auth.conf");
    await writeFile(
      config,
      [
        `port: ${filePort}`,
        "server_name: from_the_file",
        "jetstream { max_memory_store: 64MB }",
        "authorization { users: [ { user: alice, password: $ALICE_PASSWORD } ] }",
        "",
      ].join("\n"),
    );
    const server = await startNatsServer({ config, env: { ALICE_PASSWORD: "s3cret" } });
    try {
      assert.notEqual(server.port, filePort, "the launcher's port wins over the file's");
      await assert.rejects(connect({ servers: server.url, reconnect: false }), /Authorization Violation/i, "the file's authorization applies");

      const nc = await connect({ servers: server.url, user: "alice", pass: "s3cret", reconnect: false });
      try {
        assert.match(nc.info?.server_name ?? "", /^lake-test-/, "the launcher's server name wins over the file's");
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "CONFIGURED", subjects: ["configured.>"] });
        await jetstream(nc).publish("configured.x", "stored in the launcher's store dir");
      } finally {
        await nc.close();
      }
      assert.ok((await readdir(path.join(server.storeDir, "jetstream"))).length > 0, "JetStream writes into the launcher's store dir");

      await server.restart();
      await assert.rejects(connect({ servers: server.url, reconnect: false }), /Authorization Violation/i, "restart() keeps the file");
      const nc2 = await connect({ servers: server.url, user: "alice", pass: "s3cret", reconnect: false });
      try {
        const msg = await (await jetstreamManager(nc2)).streams.getMessage("CONFIGURED", { seq: 1 });
        assert.equal(msg?.subject, "configured.x");
      } finally {
        await nc2.close();
      }
    } finally {
      await server.stop();
    }
  });

  test("a file that sets jetstream.store_dir is refused with the reason", async () => {
    const config = path.join(dir, "store.conf");
    await writeFile(config, `jetstream { store_dir: ${JSON.stringify(path.join(dir, "elsewhere"))} }\n`);
    await assert.rejects(startNatsServer({ config }), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /sets jetstream\.store_dir/);
      assert.match(e.message, /Duplicate 'store_dir'/, "nats-server's own complaint is in the message");
      return true;
    });
  });

  test("a missing file or a missing environment reference stops the start with nats-server's complaint", async () => {
    await assert.rejects(startNatsServer({ config: path.join(dir, "no-such.conf") }), /exited during startup[\s\S]*no-such\.conf/);
    const config = path.join(dir, "needs-env.conf");
    await writeFile(config, "authorization { user: bob, password: $LAKE_TEST_UNSET_PASSWORD }\n");
    await assert.rejects(startNatsServer({ config }), /LAKE_TEST_UNSET_PASSWORD/);
  });
});
