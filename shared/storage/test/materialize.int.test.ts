import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { type S3ServerHandle, startS3Server } from "@lake/testing";

import { InvalidKeyError, materialize, ObjectNotFoundError, openLocalStore, S3Store, StorageError } from "../src/index.ts";

const BUCKET = "lake-materialize";

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe("materialize", () => {
  let server: S3ServerHandle;
  let store: S3Store;
  let work: string;
  let gets = 0;
  let heads = 0;
  const bodies = new Map<string, Uint8Array>([
    ["datasets/d/data/dt=2026-06-01/w1-part-0.parquet", new Uint8Array(randomBytes(70_000))],
    ["datasets/d/data/dt=2026-06-02/w1-part-0.parquet", new Uint8Array(randomBytes(1_234))],
    ["datasets/d/manifests/v1.json", new TextEncoder().encode('{"version":1}')],
    ["datasets/d/empty", new Uint8Array(0)],
  ]);
  const keys = [...bodies.keys()];

  before(async () => {
    server = await startS3Server({ buckets: [BUCKET], silent: true });
    store = new S3Store({
      bucket: BUCKET,
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: server.credentials,
    });
    // Counts the requests that reach the wire: a cache hit must not download again.
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "GetObjectCommand") gets++;
        if (context.commandName === "HeadObjectCommand") heads++;
        return next(args);
      },
      { step: "finalizeRequest", name: "lakeTestCountRequests" },
    );
    for (const [key, body] of bodies) await store.put(key, body);
    work = await mkdtemp(path.join(tmpdir(), "lake-materialize-test-"));
  });
  after(async () => {
    store.close();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("downloads each object once into cacheDir/<key>, in the order asked, leaving no temp files", async () => {
    const cache = path.join(work, "round-trip");
    gets = 0;
    const asked = [keys[1]!, keys[0]!, keys[1]!, keys[2]!, keys[3]!];
    const paths = await materialize(store, asked, cache);
    assert.deepEqual(
      paths,
      asked.map((k) => path.join(cache, ...k.split("/"))),
    );
    for (const [i, p] of paths.entries()) assert.deepEqual(new Uint8Array(await readFile(p)), bodies.get(asked[i]!));
    assert.equal(gets, 4, "a key asked twice is downloaded once");
    assert.deepEqual(await filesUnder(cache), keys.map((k) => k.split("/").join(path.sep)).sort());

    // Cached: known sizes make a hit free; unknown sizes cost one HEAD each, never a download.
    gets = 0;
    heads = 0;
    const sized = keys.map((key) => ({ key, size: bodies.get(key)!.byteLength }));
    assert.deepEqual(
      await materialize(store, sized, cache),
      keys.map((k) => path.join(cache, ...k.split("/"))),
    );
    assert.equal(gets + heads, 0);
    await materialize(store, keys, cache);
    assert.equal(gets, 0);
    assert.equal(heads, keys.length);
  });

  test("a cached copy of the wrong size (a torn or foreign file) is replaced", async () => {
    const cache = path.join(work, "repair");
    const key = keys[0]!;
    const [p] = await materialize(store, [key], cache);
    await truncate(p!, 10);
    gets = 0;
    await materialize(store, [key], cache);
    assert.equal(gets, 1);
    assert.deepEqual(new Uint8Array(await readFile(p!)), bodies.get(key));
  });

  test("a size or sha256 that does not match the download fails and caches nothing", async () => {
    const cache = path.join(work, "verify");
    const key = keys[1]!;
    const body = bodies.get(key)!;
    await assert.rejects(materialize(store, [{ key, size: body.byteLength + 1 }], cache), (e: unknown) => {
      assert.ok(e instanceof StorageError);
      assert.match(e.message, /returned 1234 bytes, expected 1235/);
      return true;
    });
    await assert.rejects(materialize(store, [{ key, sha256: "0".repeat(64) }], cache), /sha256 .* differs/);
    assert.deepEqual(await filesUnder(cache).catch(() => []), [], "nothing cached, not even a temp file");

    const sha256 = createHash("sha256").update(body).digest("hex");
    const [p] = await materialize(store, [{ key, size: body.byteLength, sha256 }], cache);
    assert.deepEqual(new Uint8Array(await readFile(p!)), body);
  });

  test("a missing object is ObjectNotFoundError; an invalid key is refused before any request", async () => {
    const cache = path.join(work, "missing");
    await assert.rejects(materialize(store, ["datasets/d/nope"], cache), ObjectNotFoundError);
    await assert.rejects(materialize(store, [{ key: "datasets/d/nope", size: 3 }], cache), ObjectNotFoundError);
    await assert.rejects(materialize(store, ["../etc/passwd"], cache), InvalidKeyError);
  });

  test("many objects with bounded concurrency", async () => {
    const cache = path.join(work, "many");
    const many = Array.from({ length: 30 }, (_, i) => `many/f-${String(i).padStart(2, "0")}`);
    for (const key of many) await store.put(key, new TextEncoder().encode(key));
    const paths = await materialize(store, many, cache, { concurrency: 3 });
    for (const [i, p] of paths.entries()) assert.equal(await readFile(p, "utf8"), many[i]);
  });

  test("a local store's own paths are returned and nothing is copied", async () => {
    const local = openLocalStore(path.join(work, "local-store"));
    await local.put("t/a", new Uint8Array([1]));
    const cache = path.join(work, "unused-cache");
    assert.deepEqual(await materialize(local, ["t/a"], cache), [local.localPath("t/a")]);
    assert.equal((await readdir(work)).includes("unused-cache"), false);
    assert.deepEqual(await materialize(store, [], cache), []);
  });
});
