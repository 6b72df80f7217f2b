// The behaviour every ObjectStore promises (src/store.ts), as one suite each implementation runs:
// test/local.int.test.ts against a temp directory, test/s3.e2e.test.ts against s3rver in a child process.
// Implementation-specific behaviour (file layout, S3 headers) is tested beside each of those.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { InvalidKeyError, isObjectNotFound, type ObjectInfo, ObjectNotFoundError, type ObjectStore, StorageError } from "../src/index.ts";

export interface StoreFixture {
  store: ObjectStore;
  /**
   * Writes `body` under a raw name that bypasses the key grammar (relative to the store's root or
   * prefix), as a crashed writer's temp file or another tool would; list must never yield it.
   */
  putForeign(rawKey: string, body: string): Promise<void>;
  /** False where the server cannot make conditional creates atomic (s3rver ignores If-None-Match). */
  atomicPutIfAbsent: boolean;
  cleanup(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of it) out.push(info);
  return out;
}

export async function keysOf(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  return (await collect(it)).map((o) => o.key);
}

/**
 * The object-store contract. `atomicPutIfAbsent: false` (a server that ignores conditional writes,
 * like s3rver) leaves out the one test that needs the server to arbitrate concurrent creates.
 */
/** Key and size as written, and a modification time close to now (S3 has second precision). */
function assertInfo(info: { key: string; size: number; modifiedAt?: number } | undefined, key: string, size: number): void {
  assert.ok(info, `${key} exists`);
  assert.deepEqual({ key: info.key, size: info.size }, { key, size });
  assert.ok(info.modifiedAt !== undefined && Math.abs(info.modifiedAt - Date.now()) < 5000, `${key} was modified just now (${info.modifiedAt})`);
}

export function storeContract(
  name: string,
  makeFixture: () => Promise<StoreFixture>,
  opts: { atomicPutIfAbsent: boolean } = { atomicPutIfAbsent: true },
): void {
  describe(`${name}: ObjectStore contract`, () => {
    let fx: StoreFixture;
    let store: ObjectStore;

    before(async () => {
      fx = await makeFixture();
      store = fx.store;
    });
    after(async () => {
      await fx.cleanup();
    });

    test("put then get round-trips bytes under nested keys", async () => {
      const body = new Uint8Array([0, 1, 2, 255, 254]);
      await store.put("rt/deep/nested/obj.bin", body);
      assert.deepEqual(await store.get("rt/deep/nested/obj.bin"), body);
      await store.put("rt/empty", new Uint8Array(0));
      assert.deepEqual(await store.get("rt/empty"), new Uint8Array(0));
      assertInfo(await store.head("rt/empty"), "rt/empty", 0);
    });

    test("putAll writes every object, across directories, overwriting as put does; an invalid key writes none of them", async () => {
      await store.put("pa/a/x", enc.encode("old"));
      await store.putAll([
        { key: "pa/a/x", body: enc.encode("new x") },
        { key: "pa/a/y", body: enc.encode("y") },
        { key: "pa/b/z", body: new Uint8Array([1, 2, 3]) },
      ]);
      assert.equal(dec.decode(await store.get("pa/a/x")), "new x");
      assert.equal(dec.decode(await store.get("pa/a/y")), "y");
      assert.deepEqual(await store.get("pa/b/z"), new Uint8Array([1, 2, 3]));
      await assert.rejects(
        store.putAll([
          { key: "pa/c/ok", body: enc.encode("ok") },
          { key: "../escape", body: enc.encode("no") },
        ]),
      );
      assert.equal(await store.head("pa/c/ok"), undefined, "the batch with a bad key wrote nothing");
      const left: string[] = [];
      for await (const o of store.list("pa/")) left.push(o.key);
      assert.deepEqual(left, ["pa/a/x", "pa/a/y", "pa/b/z"], "no temporary file is left behind");
    });

    test("put overwrites an existing object", async () => {
      await store.put("ow/x", enc.encode("first"));
      await store.put("ow/x", enc.encode("second, longer"));
      assert.equal(dec.decode(await store.get("ow/x")), "second, longer");
      assertInfo(await store.head("ow/x"), "ow/x", 14);
    });

    test("putIfAbsent creates once, then returns false and leaves the content alone", async () => {
      assert.equal(await store.putIfAbsent("pia/k", enc.encode("original")), true);
      assert.equal(await store.putIfAbsent("pia/k", enc.encode("intruder")), false);
      assert.equal(dec.decode(await store.get("pia/k")), "original");
      assert.deepEqual(await keysOf(store.list("pia/")), ["pia/k"]);
    });

    test("get of a missing key throws ObjectNotFoundError with the cause", async () => {
      await assert.rejects(store.get("missing/nope"), (e: unknown) => {
        assert.ok(isObjectNotFound(e));
        assert.ok(e instanceof StorageError);
        assert.equal(e.key, "missing/nope");
        assert.ok(e.cause, "the underlying error is kept as cause");
        return true;
      });
      await store.put("dironly/child", enc.encode("x"));
      await assert.rejects(store.get("dironly"), ObjectNotFoundError);
      assert.equal(isObjectNotFound(new Error("object not found")), false);
    });

    test("head reports size, and undefined for missing keys and bare prefixes", async () => {
      await store.put("hd/obj", new Uint8Array(1234));
      assertInfo(await store.head("hd/obj"), "hd/obj", 1234);
      assert.equal(await store.head("hd/none"), undefined);
      assert.equal(await store.head("hd"), undefined);
      assert.equal(await store.head("hd/obj/under-a-file"), undefined);
    });

    test("list recurses, sorts by key, honours partial prefixes and skips non-key names", async () => {
      const keys = ["ls/b", "ls/a0", "ls/a/z", "ls/a/b/c", "ls/a-b", "ls/a.c", "ls/A", "ls/c/d/e/f", "lsx/other"];
      for (const key of keys) await store.put(key, enc.encode(key));
      // A crashed writer's leftovers and foreign names must never surface as keys.
      await fx.putForeign("ls/.tmp-b-deadbeef", "partial");
      await fx.putForeign("ls/a/.tmp-z-cafe", "partial");
      await fx.putForeign("ls/has space", "foreign");

      const all = await collect(store.list("ls/"));
      const expected = keys.filter((k) => k.startsWith("ls/")).sort();
      assert.deepEqual(
        all.map((o) => o.key),
        expected,
      );
      assert.deepEqual(expected, ["ls/A", "ls/a-b", "ls/a.c", "ls/a/b/c", "ls/a/z", "ls/a0", "ls/b", "ls/c/d/e/f"]);
      for (const o of all) assert.equal(o.size, o.key.length);

      assert.deepEqual(await keysOf(store.list("ls/a")), ["ls/a-b", "ls/a.c", "ls/a/b/c", "ls/a/z", "ls/a0"]);
      assert.deepEqual(await keysOf(store.list("ls/a/")), ["ls/a/b/c", "ls/a/z"]);
      assert.deepEqual(await keysOf(store.list("ls")), [...expected, "lsx/other"]);
      assert.deepEqual(await collect(store.list("nothing-here/")), []);
      assert.deepEqual(await collect(store.list("ls/b/")), [], "a prefix through an object lists nothing");

      const everything = await keysOf(store.list(""));
      assert.deepEqual(everything, [...everything].sort());
      assert.ok(everything.includes("rt/deep/nested/obj.bin"));
    });

    test("list rejects prefixes that could escape the root", async () => {
      await assert.rejects(collect(store.list("../")), InvalidKeyError);
      await assert.rejects(collect(store.list("/etc")), InvalidKeyError);
    });

    test("delete is idempotent", async () => {
      await store.put("del/one/two/obj", enc.encode("x"));
      await store.put("del/keep", enc.encode("y"));
      await store.delete("del/one/two/obj");
      await store.delete("del/one/two/obj");
      await store.delete("del/never-existed");
      await store.delete("del/keep/under-a-file");
      await assert.rejects(store.get("del/one/two/obj"), ObjectNotFoundError);
      assert.equal(await store.head("del/one/two/obj"), undefined);
      assert.deepEqual(await keysOf(store.list("del/")), ["del/keep"]);
      // The deleted path can hold an object again at a shorter key.
      await store.put("del/one", enc.encode("z"));
      assert.equal(dec.decode(await store.get("del/one")), "z");
    });

    if (opts.atomicPutIfAbsent)
      test("10 concurrent putIfAbsent calls on one key: exactly one wins", async () => {
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.putIfAbsent("race/winner", enc.encode(`writer-${i}`))));
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal(dec.decode(await store.get("race/winner")), `writer-${winner}`);
        assert.deepEqual(await keysOf(store.list("race/")), ["race/winner"]);
      });

    test("concurrent puts, then concurrent deletes, under one prefix", async () => {
      const keys = Array.from({ length: 8 }, (_, w) => Array.from({ length: 15 }, (_, r) => `conc/shared/sub/w${w}-${String(r).padStart(2, "0")}`));
      await Promise.all(
        keys.map(async (mine) => {
          for (const key of mine) await store.put(key, enc.encode(key));
        }),
      );
      assert.deepEqual(await keysOf(store.list("conc/")), keys.flat().sort());
      await Promise.all(
        keys.map(async (mine) => {
          for (const key of mine) await store.delete(key);
        }),
      );
      assert.deepEqual(await collect(store.list("conc/")), []);
    });

    test("operations validate keys before touching storage", async () => {
      await assert.rejects(store.put("../escape", enc.encode("x")), InvalidKeyError);
      await assert.rejects(store.putIfAbsent("a b", enc.encode("x")), InvalidKeyError);
      await assert.rejects(store.get("a//b"), InvalidKeyError);
      await assert.rejects(store.head("a/"), InvalidKeyError);
      await assert.rejects(store.delete("/abs"), InvalidKeyError);
      assert.throws(() => store.localPath("a/../b"), InvalidKeyError);
      assert.deepEqual(await keysOf(store.list("")).then((ks) => ks.filter((k) => k.includes("escape"))), []);
    });
  });
}
