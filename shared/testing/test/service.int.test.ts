import assert from "node:assert/strict";
import { realpath } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { isServiceStartError, ServiceStartError, spawnService } from "../src/index.ts";

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function readGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setEncoding("utf8");
    socket.on("data", (s: string) => (text += s));
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

describe("spawnService", () => {
  test("resolves with the ready line, keeps logs, and stop() exits cleanly", async () => {
    // A cwd outside the repo proves the tsx loader is resolved from this package, not the cwd.
    const cwd = await realpath(tmpdir());
    const svc = await spawnService({
      name: "ready-fixture",
      entry: fixture("ready-service.ts"),
      env: { FIXTURE_GREETING: "hi from env" },
      cwd,
    });
    try {
      assert.equal(svc.name, "ready-fixture");
      assert.ok(Number.isInteger(svc.pid));
      assert.equal(svc.ready["msg"], "ready");
      assert.equal(svc.ready["cwd"], cwd);
      const port = svc.ready["port"];
      assert.ok(typeof port === "number" && port > 0);
      assert.equal(await readGreeting(port), "hello\n", "the advertised port is really served");

      const logs = svc.logs();
      assert.match(logs, /"greeting":"hi from env"/);
      assert.match(logs, /a line on stderr/);
      assert.match(logs, /not json/);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    assert.equal(await svc.exited, 0);
    assert.match(svc.logs(), /"msg":"stopping"/);
  });

  test("kill9() kills it: exited resolves null, exitStatus names the signal; onOutput saw stdout and stderr", async () => {
    let seen = "";
    const svc = await spawnService({ name: "doomed", entry: fixture("ready-service.ts"), env: {}, onOutput: (c) => (seen += c) });
    await svc.kill9();
    assert.equal(await svc.exited, null);
    assert.deepEqual(await svc.exitStatus, { code: null, signal: "SIGKILL" });
    assert.match(seen, /a line on stderr/);
    assert.match(seen, /"msg":"ready"/);
    assert.doesNotMatch(svc.logs(), /"msg":"stopping"/, "SIGKILL gives no chance to clean up");
  });

  test("exiting before ready rejects with name, exit code and output", async () => {
    await assert.rejects(spawnService({ name: "bad-config", entry: fixture("exit-early-service.ts"), env: {} }), (e: unknown) => {
      assert.ok(isServiceStartError(e));
      assert.equal(e.service, "bad-config");
      assert.equal(e.exitCode, 3);
      assert.match(e.message, /service bad-config exited before logging a ready line \(exit code 3/);
      assert.match(e.message, /"msg":"starting"/);
      assert.match(e.message, /fatal: FIXTURE_REQUIRED_VAR is not set/);
      return true;
    });
  });

  test("no ready line within the timeout: the child is killed and the error says so", async () => {
    await assert.rejects(spawnService({ name: "stuck", entry: fixture("never-ready-service.ts"), env: {}, readyTimeoutMs: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof ServiceStartError);
      assert.match(e.message, /service stuck did not log a ready line within 10000 ms/);
      assert.equal(e.exitSignal, "SIGKILL", "the stuck child was killed, not leaked");
      assert.match(e.logTail, /waiting for a dependency/);
      return true;
    });
  });

  test("a missing entry file is reported with node's error", async () => {
    await assert.rejects(spawnService({ name: "typo", entry: fixture("does-not-exist.ts"), env: {} }), (e: unknown) => {
      assert.ok(e instanceof ServiceStartError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /does-not-exist\.ts/);
      return true;
    });
  });
});
