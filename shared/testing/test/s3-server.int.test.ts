import assert from "node:assert/strict";
import { access, mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";

import { acceptsConnections, freePort, isS3ServerStartError, S3ServerStartError, startS3Server } from "../src/index.ts";

// s3rver serves anonymous (unsigned) requests, so plain fetch is enough to check the launcher
// without pulling the AWS SDK into this package; @lake/storage's tests drive it through the SDK.

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function listPage(endpoint: string, bucket: string, maxKeys: number, token?: string): Promise<Response> {
  const q = new URLSearchParams({ "list-type": "2", "max-keys": String(maxKeys) });
  if (token !== undefined) q.set("continuation-token", token);
  return fetch(`${endpoint}/${bucket}?${q}`);
}

describe("startS3Server", () => {
  test("creates the buckets, serves objects, and stop() frees the port and removes the temp dir", async () => {
    const s3 = await startS3Server({ buckets: ["alpha", "beta"] });
    try {
      assert.equal(s3.endpoint, `http://127.0.0.1:${s3.port}`);
      assert.notEqual(s3.port, 4222);
      assert.ok(s3.directory.startsWith(tmpdir()));
      assert.equal(s3.region, "us-east-1");

      const buckets = await (await fetch(`${s3.endpoint}/`)).text();
      assert.match(buckets, /<Name>alpha<\/Name>/);
      assert.match(buckets, /<Name>beta<\/Name>/);

      const put = await fetch(`${s3.endpoint}/alpha/some/key.bin`, { method: "PUT", body: new Uint8Array([1, 2, 3]) });
      assert.equal(put.status, 200, await put.text());
      const got = await fetch(`${s3.endpoint}/alpha/some/key.bin`);
      assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array([1, 2, 3]));

      const missing = await fetch(`${s3.endpoint}/no-such-bucket/x`);
      assert.equal(missing.status, 404);
      assert.match(await missing.text(), /NoSuchBucket/);
    } finally {
      await s3.stop();
    }
    assert.equal(await canBind(s3.port), true, "port is free after stop()");
    assert.equal(await exists(s3.directory), false, "temp dir removed");
    await s3.stop(); // idempotent
  });

  test("paginated listings work (continuation tokens need the legacy OpenSSL provider)", async () => {
    const s3 = await startS3Server({ buckets: ["pages"], silent: true });
    try {
      for (const k of ["k1", "k2", "k3"]) {
        assert.equal((await fetch(`${s3.endpoint}/pages/${k}`, { method: "PUT", body: k })).status, 200);
      }
      const keys: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await listPage(s3.endpoint, "pages", 2, token);
        const xml = await res.text();
        assert.equal(res.status, 200, xml);
        keys.push(...[...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!));
        token = /<NextContinuationToken>([^<]+)<\/NextContinuationToken>/.exec(xml)?.[1];
        if (token === undefined) break;
      }
      assert.deepEqual(keys, ["k1", "k2", "k3"]);
    } finally {
      await s3.stop();
    }
  });

  test("without the legacy OpenSSL provider, a listing that needs a second page fails (why the flag exists)", async () => {
    const s3 = await startS3Server({ buckets: ["pages"], opensslLegacyProvider: false, silent: true });
    try {
      for (const k of ["k1", "k2", "k3"]) await fetch(`${s3.endpoint}/pages/${k}`, { method: "PUT", body: k });
      const single = await listPage(s3.endpoint, "pages", 1000);
      assert.equal(single.status, 200, "a one-page listing needs no token");
      await single.text();
      const first = await listPage(s3.endpoint, "pages", 2);
      assert.equal(first.status, 500, "creating the DES continuation token fails under OpenSSL 3");
      await first.text();
    } finally {
      await s3.stop();
    }
  });

  test("an explicit port and directory are used; the directory is kept; 4222 is refused", async () => {
    const port = await freePort();
    const dir = await mkdtemp(path.join(tmpdir(), "lake-testing-own-s3-"));
    try {
      const s3 = await startS3Server({ port, directory: dir, buckets: ["b"] });
      assert.equal(s3.port, port);
      assert.equal(s3.directory, dir);
      await s3.stop();
      assert.ok(await exists(path.join(dir, "b")), "a directory the caller owns is never deleted");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await assert.rejects(startS3Server({ port: 4222 }), /reserved/);
  });

  test("a port taken by someone else is a start error with s3rver's complaint", async () => {
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    const address = squatter.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      await assert.rejects(startS3Server({ port: address.port }), (e: unknown) => {
        assert.ok(e instanceof S3ServerStartError);
        assert.ok(isS3ServerStartError(e));
        assert.match(e.message, /exited during startup/);
        assert.match(e.output, /EADDRINUSE/);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  test("kill9() takes the server down without touching this process, and keeps its directory", async () => {
    const s3 = await startS3Server({ buckets: ["b"] });
    try {
      await s3.kill9();
      assert.equal(await acceptsConnections(s3.port), false);
      assert.ok(await exists(s3.directory));
      await assert.rejects(fetch(`${s3.endpoint}/`));
    } finally {
      await s3.stop();
    }
    assert.equal(await exists(s3.directory), false, "stop() after kill9() still cleans up");
  });
});
