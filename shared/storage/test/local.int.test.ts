import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { type LocalDiskStore, openLocalStore, StorageError } from "../src/index.ts";
import { collect, storeContract } from "./contract.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

storeContract("LocalDiskStore", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "lake-storage-test-"));
  const store = openLocalStore(path.join(root, "store"));
  return {
    store,
    atomicPutIfAbsent: true,
    async putForeign(rawKey, body) {
      const file = path.join(root, "store", ...rawKey.split("/"));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe("LocalDiskStore: on disk", () => {
  let root: string;
  let store: LocalDiskStore;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "lake-storage-test-"));
    store = openLocalStore(path.join(root, "store"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("kind is local and localPath points inside the root", () => {
    assert.equal(store.kind, "local");
    assert.equal(store.localPath("t/a.parquet"), path.join(root, "store", "t", "a.parquet"));
  });

  test("putIfAbsent leaves no temp files behind, win or lose", async () => {
    assert.equal(await store.putIfAbsent("pia/k", enc.encode("original")), true);
    assert.equal(await store.putIfAbsent("pia/k", enc.encode("intruder")), false);
    assert.deepEqual(await readdir(path.join(root, "store", "pia")), ["k"]);
  });

  test("putIfAbsent on a key that is only a prefix of other keys fails loudly", async () => {
    await store.put("pfx/a/b", enc.encode("x"));
    await assert.rejects(store.putIfAbsent("pfx/a", enc.encode("y")), StorageError);
  });

  test("delete prunes directories left empty", async () => {
    await store.put("del/one/two/obj", enc.encode("x"));
    await store.put("del/keep", enc.encode("y"));
    await store.delete("del/one/two/obj");
    assert.deepEqual(await readdir(path.join(root, "store", "del")), ["keep"]);
    await store.put("del/one", enc.encode("z"));
    assert.equal(dec.decode(await store.get("del/one")), "z");
  });

  test("racing putIfAbsent leaves exactly the winner's file and no temp files", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.putIfAbsent("race/winner", enc.encode(`writer-${i}`))));
    assert.equal(results.filter(Boolean).length, 1);
    assert.deepEqual(await readdir(path.join(root, "store", "race")), ["winner"]);
  });

  // Interleaving puts and deletes is local-specific: a delete prunes the directory it empties, which
  // races a put between its mkdir and its open (s3rver has the same race and crashes on it, which is
  // why it runs in a child process and the S3 contract does not interleave).
  test("concurrent puts and deletes while the shared directory is pruned do not fail", async () => {
    await mkdir(path.join(root, "store", "churn"), { recursive: true });
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let round = 0; round < 40; round++) {
          const key = `churn/shared/sub/w${worker}-${round}`;
          await store.put(key, enc.encode(key));
          await store.delete(key);
        }
      }),
    );
    assert.deepEqual(await collect(store.list("churn/")), []);
  });
});
