import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  InvalidKeyError,
  ObjectNotFoundError,
  StorageError,
  isObjectNotFound,
  openLocalStore,
  validateKey,
  type LocalDiskStore,
  type ObjectInfo,
} from "../src/index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of it) out.push(info);
  return out;
}

describe("LocalDiskStore", () => {
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

  test("put then get round-trips bytes, creating parent directories", async () => {
    const body = new Uint8Array([0, 1, 2, 255, 254]);
    await store.put("rt/deep/nested/obj.bin", body);
    assert.deepEqual(await store.get("rt/deep/nested/obj.bin"), body);
  });

  test("put overwrites an existing object", async () => {
    await store.put("ow/x", enc.encode("first"));
    await store.put("ow/x", enc.encode("second, longer"));
    assert.equal(dec.decode(await store.get("ow/x")), "second, longer");
    assert.deepEqual(await store.head("ow/x"), { key: "ow/x", size: 14 });
  });

  test("putIfAbsent creates once, then returns false and leaves the content alone", async () => {
    assert.equal(await store.putIfAbsent("pia/k", enc.encode("original")), true);
    assert.equal(await store.putIfAbsent("pia/k", enc.encode("intruder")), false);
    assert.equal(dec.decode(await store.get("pia/k")), "original");
    assert.deepEqual(await readdir(path.join(root, "store", "pia")), ["k"], "no temp files left behind");
  });

  test("putIfAbsent on a key that is only a prefix of other keys fails loudly", async () => {
    await store.put("pfx/a/b", enc.encode("x"));
    await assert.rejects(store.putIfAbsent("pfx/a", enc.encode("y")), StorageError);
  });

  test("get of a missing key throws ObjectNotFoundError", async () => {
    await assert.rejects(store.get("missing/nope"), (e: unknown) => {
      assert.ok(isObjectNotFound(e));
      assert.ok(e instanceof StorageError);
      assert.equal(e.key, "missing/nope");
      assert.ok(e.cause, "the fs error is kept as cause");
      return true;
    });
    await store.put("dironly/child", enc.encode("x"));
    await assert.rejects(store.get("dironly"), ObjectNotFoundError);
    assert.equal(isObjectNotFound(new Error("object not found")), false);
  });

  test("head reports size, and undefined for missing keys and bare prefixes", async () => {
    await store.put("hd/obj", new Uint8Array(1234));
    assert.deepEqual(await store.head("hd/obj"), { key: "hd/obj", size: 1234 });
    assert.equal(await store.head("hd/none"), undefined);
    assert.equal(await store.head("hd"), undefined);
    assert.equal(await store.head("hd/obj/under-a-file"), undefined);
  });

  test("list recurses, sorts by key, honours partial prefixes and skips temp files", async () => {
    const keys = ["ls/b", "ls/a0", "ls/a/z", "ls/a/b/c", "ls/a-b", "ls/a.c", "ls/A", "ls/c/d/e/f", "lsx/other"];
    for (const key of keys) await store.put(key, enc.encode(key));
    // A crashed writer's leftovers and foreign files must never surface as keys.
    await writeFile(path.join(root, "store", "ls", ".tmp-b-deadbeef"), "partial");
    await writeFile(path.join(root, "store", "ls", "a", ".tmp-z-cafe"), "partial");
    await writeFile(path.join(root, "store", "ls", "has space"), "foreign");

    const all = await collect(store.list("ls/"));
    const expected = keys.filter((k) => k.startsWith("ls/")).sort();
    assert.deepEqual(
      all.map((o) => o.key),
      expected,
    );
    assert.deepEqual(expected, ["ls/A", "ls/a-b", "ls/a.c", "ls/a/b/c", "ls/a/z", "ls/a0", "ls/b", "ls/c/d/e/f"]);
    for (const o of all) assert.equal(o.size, o.key.length);

    assert.deepEqual(
      (await collect(store.list("ls/a"))).map((o) => o.key),
      ["ls/a-b", "ls/a.c", "ls/a/b/c", "ls/a/z", "ls/a0"],
    );
    assert.deepEqual(
      (await collect(store.list("ls/a/"))).map((o) => o.key),
      ["ls/a/b/c", "ls/a/z"],
    );
    assert.deepEqual(
      (await collect(store.list("ls"))).map((o) => o.key),
      [...expected, "lsx/other"],
    );
    assert.deepEqual(await collect(store.list("nothing-here/")), []);
    assert.deepEqual(await collect(store.list("ls/b/")), [], "a prefix through a file lists nothing");

    const everything = (await collect(store.list(""))).map((o) => o.key);
    assert.deepEqual(everything, [...everything].sort());
    assert.ok(everything.includes("rt/deep/nested/obj.bin"));
  });

  test("list rejects prefixes that could escape the root", async () => {
    await assert.rejects(collect(store.list("../")), InvalidKeyError);
    await assert.rejects(collect(store.list("/etc")), InvalidKeyError);
  });

  test("delete is idempotent and prunes directories left empty", async () => {
    await store.put("del/one/two/obj", enc.encode("x"));
    await store.put("del/keep", enc.encode("y"));
    await store.delete("del/one/two/obj");
    await store.delete("del/one/two/obj");
    await store.delete("del/never-existed");
    await store.delete("del/keep/under-a-file");
    await assert.rejects(store.get("del/one/two/obj"), ObjectNotFoundError);
    assert.deepEqual(await readdir(path.join(root, "store", "del")), ["keep"]);
    // The pruned path can now hold an object again at a shorter key.
    await store.put("del/one", enc.encode("z"));
    assert.equal(dec.decode(await store.get("del/one")), "z");
  });

  test("10 concurrent putIfAbsent calls on one key: exactly one wins", async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.putIfAbsent("race/winner", enc.encode(`writer-${i}`))),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    assert.equal(dec.decode(await store.get("race/winner")), `writer-${winner}`);
    assert.deepEqual(await readdir(path.join(root, "store", "race")), ["winner"]);
  });

  test("concurrent puts and deletes in one directory do not fail", async () => {
    await mkdir(path.join(root, "store", "churn"), { recursive: true });
    // Each delete may prune the shared directory while another put is between mkdir and open.
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

  test("operations validate keys before touching the disk", async () => {
    await assert.rejects(store.put("../escape", enc.encode("x")), InvalidKeyError);
    await assert.rejects(store.get("a//b"), InvalidKeyError);
    await assert.rejects(store.delete("/abs"), InvalidKeyError);
    assert.throws(() => store.localPath("a/../b"), InvalidKeyError);
  });
});

describe("validateKey", () => {
  test("accepts keys made of valid segments", () => {
    for (const key of ["a", "tables/t1/data/part-00001.parquet", "x/dt=2024-01-01/f_1.json", "A9", "a".repeat(200)]) {
      assert.equal(validateKey(key), key);
    }
    const longest = Array.from({ length: 8 }, () => "s".repeat(127)).join("/");
    assert.equal(longest.length, 1023);
    assert.equal(validateKey(longest), longest);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["parent escape", "../x", /'\.\.'/],
    ["empty segment", "a//b", /segment 2 is empty/],
    ["absolute", "/abs", /must not start with '\/'/],
    ["dot-dot in the middle", "a/../b", /'\.\.'/],
    ["space in a segment", "a/b c", /segment "b c" must match/],
    ["backslash in a segment", "a\\b", /segment "a\\\\b" must match/],
    ["trailing slash", "a/", /segment 2 is empty/],
    ["empty", "", /empty/],
    ["leading dot (temp-file namespace)", "a/.tmp-x", /segment "\.tmp-x" must match/],
    ["segment over 200 chars", "a".repeat(201), /must match/],
    ["key over 1024 chars", Array.from({ length: 11 }, () => "s".repeat(100)).join("/"), /limit is 1024/],
    ["non-ASCII", "caf\u00e9", /must match/],
  ];
  for (const [what, key, reason] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(
        () => validateKey(key),
        (e: unknown) => {
          assert.ok(e instanceof InvalidKeyError);
          assert.ok(e instanceof StorageError);
          assert.equal(e.key, key);
          assert.match(e.message, reason);
          if (key.length <= 120) assert.ok(e.message.includes(JSON.stringify(key)), "message names the key");
          return true;
        },
      );
    });
  }
});
