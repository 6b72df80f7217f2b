import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import { after, describe, test } from "node:test";

import { PutObjectCommand } from "@aws-sdk/client-s3";

import { startS3Server } from "@lake/testing";

import {
  BucketNotFoundError,
  InvalidKeyError,
  isBucketNotFound,
  isObjectNotFound,
  isStoreAccessDenied,
  openStore,
  S3Store,
  type S3StoreConfig,
  StorageError,
  StoreAccessDeniedError,
  StoreConfigError,
} from "../src/index.ts";
import { keysOf, storeContract } from "./contract.ts";

// One s3rver child process for this file; suites isolate themselves with unique key prefixes.
const BUCKET = "lake-test";
const server = await startS3Server({ buckets: [BUCKET], silent: true });
after(async () => {
  await server.stop();
});

const enc = new TextEncoder();
const dec = new TextDecoder();
const stores: S3Store[] = [];
after(() => {
  for (const s of stores) s.close();
});

const uniquePrefix = (what: string) => `${what}-${randomBytes(4).toString("hex")}`;

function s3rverConfig(over: Partial<S3StoreConfig> = {}): S3StoreConfig {
  return {
    bucket: BUCKET,
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: server.credentials,
    ...over,
  };
}

function makeStore(over: Partial<S3StoreConfig> = {}): S3Store {
  const store = new S3Store(s3rverConfig(over));
  stores.push(store);
  return store;
}

interface SeenRequest {
  command: string;
  method: string;
  headers: Record<string, string>;
}

// Records every request the client sends, as it goes on the wire (after serialization and
// signing). s3rver does not store SSE or conditional headers, so this is where they are visible.
function captureRequests(store: S3Store): SeenRequest[] {
  const seen: SeenRequest[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { method: string; headers: Record<string, string> };
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
      seen.push({ command: context.commandName ?? "?", method: req.method, headers });
      return next(args);
    },
    { step: "finalizeRequest", name: "lakeTestCaptureRequests", priority: "low" },
  );
  return seen;
}

storeContract(
  "S3Store on s3rver (with a key prefix)",
  async () => {
    const prefix = uniquePrefix("contract");
    const store = makeStore({ prefix });
    return {
      store,
      // s3rver ignores If-None-Match on PUT; see "conditional writes" below for a server that honours it.
      atomicPutIfAbsent: false,
      async putForeign(rawKey, body) {
        await store.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/${rawKey}`, Body: enc.encode(body) }));
      },
      async cleanup() {
        for await (const o of store.list("")) await store.delete(o.key);
      },
    };
  },
  { atomicPutIfAbsent: false },
);

describe("S3Store on s3rver", () => {
  test("kind is s3, there are no local paths (keys are still validated), uri names the object", () => {
    const store = makeStore({ prefix: "lake/prod/" });
    assert.equal(store.kind, "s3");
    assert.equal(store.localPath("t/a.parquet"), undefined);
    assert.throws(() => store.localPath("a/../b"), InvalidKeyError);
    assert.equal(store.keyPrefix, "lake/prod/", "a trailing '/' on the prefix is normalised");
    assert.equal(store.uri("t/a.parquet"), `s3://${BUCKET}/lake/prod/t/a.parquet`);
  });

  test("the prefix is prepended on write and stripped on list; other prefixes are invisible", async () => {
    const p1 = uniquePrefix("iso");
    const p2 = uniquePrefix("iso");
    const a = makeStore({ prefix: p1 });
    const b = makeStore({ prefix: p2 });
    const whole = makeStore();
    await a.put("t/x", enc.encode("from a"));
    await b.put("t/x", enc.encode("from b"));
    assert.equal(dec.decode(await a.get("t/x")), "from a");
    assert.equal(dec.decode(await b.get("t/x")), "from b");
    assert.deepEqual(await keysOf(a.list("")), ["t/x"]);
    assert.deepEqual(await keysOf(whole.list(`${p1}/`)), [`${p1}/t/x`]);
    assert.equal(dec.decode(await whole.get(`${p2}/t/x`)), "from b");
  });

  test("a key can be an object and a prefix of other keys at once (unlike the local store)", async () => {
    const store = makeStore({ prefix: uniquePrefix("both") });
    await store.put("a/b", enc.encode("child"));
    assert.equal(await store.putIfAbsent("a", enc.encode("parent")), true);
    assert.deepEqual(await keysOf(store.list("")), ["a", "a/b"]);
    assert.equal(dec.decode(await store.get("a")), "parent");
  });

  // A small page size stands in for S3's 1000-key pages: the same continuation-token loop without
  // writing thousands of objects (1003 objects at the default take ~4 s against s3rver).
  test("list pages through ListObjectsV2 continuation tokens and yields every key once, in order", async () => {
    const prefix = uniquePrefix("pages");
    const store = makeStore({ prefix, listPageSize: 7 });
    const keys = Array.from({ length: 45 }, (_, i) => `pg/k-${String(i).padStart(4, "0")}`);
    // Written in a scrambled order: the order of the listing must not depend on it.
    for (const key of [...keys].reverse()) await store.put(key, enc.encode(key));
    await store.put("pg-other/x", enc.encode("outside"));

    const seen = captureRequests(store);
    const listed = await keysOf(store.list("pg/"));
    assert.deepEqual(listed, keys);
    const lists = seen.filter((r) => r.command === "ListObjectsV2Command");
    assert.equal(lists.length, Math.ceil(keys.length / 7), "one request per page of 7");
    assert.equal(lists[0]!.headers["x-amz-content-sha256"] !== undefined, true, "requests are signed");

    // A page boundary can fall anywhere; a prefix that splits the set still lists exactly its keys.
    assert.deepEqual(await keysOf(store.list("pg/k-001")), keys.slice(10, 20));
    assert.deepEqual(await keysOf(makeStore({ prefix, listPageSize: 1 }).list("pg/k-004")), keys.slice(40, 45));
  });

  test("listPageSize outside 1..1000 is a config error", () => {
    assert.throws(() => makeStore({ listPageSize: 0 }), StoreConfigError);
    assert.throws(() => makeStore({ listPageSize: 1001 }), StoreConfigError);
  });

  test("writes carry SSE headers when configured (AES256, aws:kms with a key id) and none otherwise", async () => {
    const prefix = uniquePrefix("sse");
    const aes = makeStore({ prefix, sse: { mode: "AES256" } });
    const kms = makeStore({ prefix, sse: { mode: "aws:kms", kmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/test-key" } });
    const kmsDefault = makeStore({ prefix, sse: { mode: "aws:kms" } });
    const plain = makeStore({ prefix });
    const seen = new Map([aes, kms, kmsDefault, plain].map((s) => [s, captureRequests(s)] as const));

    await aes.put("a", enc.encode("a"));
    await aes.putIfAbsent("a2", enc.encode("a2"));
    await kms.put("k", enc.encode("k"));
    await kmsDefault.put("kd", enc.encode("kd"));
    await plain.put("p", enc.encode("p"));
    const puts = (s: S3Store) => seen.get(s)!.filter((r) => r.command === "PutObjectCommand");

    for (const r of puts(aes)) {
      assert.equal(r.headers["x-amz-server-side-encryption"], "AES256");
      assert.equal(r.headers["x-amz-server-side-encryption-aws-kms-key-id"], undefined);
    }
    assert.equal(puts(aes).length, 2, "put and putIfAbsent both write with SSE");
    const [k] = puts(kms);
    assert.equal(k!.headers["x-amz-server-side-encryption"], "aws:kms");
    assert.equal(k!.headers["x-amz-server-side-encryption-aws-kms-key-id"], "arn:aws:kms:us-east-1:111122223333:key/test-key");
    const [kd] = puts(kmsDefault);
    assert.equal(kd!.headers["x-amz-server-side-encryption"], "aws:kms");
    assert.equal(kd!.headers["x-amz-server-side-encryption-aws-kms-key-id"], undefined, "no key id: the account's aws/s3 key");
    const [p] = puts(plain);
    assert.equal(p!.headers["x-amz-server-side-encryption"], undefined);

    for (const r of [...puts(aes), k!, kd!, p!]) {
      assert.ok(r.headers["content-md5"], "every write carries Content-MD5 for the server to verify");
      // WHEN_REQUIRED: no flexible-checksum trailer that s3rver would store as part of the object.
      assert.equal(Object.keys(r.headers).filter((h) => h.startsWith("x-amz-checksum-") || h === "x-amz-trailer").length, 0);
    }
    // GET is not affected by SSE-S3/KMS: the objects read back as written.
    assert.equal(dec.decode(await plain.get("k")), "k");

    assert.throws(() => makeStore({ sse: { mode: "AES256", kmsKeyId: "x" } }), StoreConfigError);
    assert.throws(() => makeStore({ sse: { mode: "aws:fancy" as never } }), StoreConfigError);
  });

  test("putIfAbsent checks with HEAD, then writes with If-None-Match: * (unless conditionalWrites is off)", async () => {
    const prefix = uniquePrefix("cond");
    const store = makeStore({ prefix });
    const seen = captureRequests(store);
    assert.equal(await store.putIfAbsent("c", enc.encode("1")), true);
    assert.deepEqual(
      seen.map((r) => r.command),
      ["HeadObjectCommand", "PutObjectCommand"],
    );
    assert.equal(seen[1]!.headers["if-none-match"], "*");
    seen.length = 0;
    assert.equal(await store.putIfAbsent("c", enc.encode("2")), false);
    assert.deepEqual(
      seen.map((r) => r.command),
      ["HeadObjectCommand"],
      "an existing key costs one HEAD and no upload",
    );

    const plain = makeStore({ prefix, conditionalWrites: false });
    const plainSeen = captureRequests(plain);
    assert.equal(await plain.putIfAbsent("d", enc.encode("1")), true);
    assert.equal(plainSeen.find((r) => r.command === "PutObjectCommand")!.headers["if-none-match"], undefined);
  });

  test("a missing bucket is BucketNotFoundError naming it, never ObjectNotFoundError", async () => {
    const store = makeStore({ bucket: "no-such-bucket" });
    const named = (e: unknown) => {
      assert.ok(isBucketNotFound(e), String(e));
      assert.ok(e instanceof StorageError);
      assert.equal(e.bucket, "no-such-bucket");
      assert.match(e.message, /bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+/);
      assert.ok(e.cause);
      assert.equal(isObjectNotFound(e), false);
      return true;
    };
    await assert.rejects(store.put("a", enc.encode("x")), named);
    await assert.rejects(store.putIfAbsent("a", enc.encode("x")), named);
    await assert.rejects(store.get("a"), named);
    await assert.rejects(keysOf(store.list("")), named);
    await assert.rejects(store.delete("a"), named);
    await assert.rejects(store.checkBucket(), named);
    await assert.rejects(openStore({ kind: "s3", ...s3rverConfig({ bucket: "no-such-bucket" }) }), BucketNotFoundError);
    // HEAD responses have no body, so a missing bucket reads as a missing key; openStore guards this.
    assert.equal(await store.head("a"), undefined);
  });

  test("openStore checks the bucket and returns a working S3 store", async () => {
    const store = await openStore({ kind: "s3", ...s3rverConfig({ prefix: uniquePrefix("open") }) });
    assert.ok(store instanceof S3Store);
    stores.push(store);
    await store.put("x", enc.encode("y"));
    assert.equal(dec.decode(await store.get("x")), "y");
    // verify: false skips the round trip (e.g. for a CLI that only prints where the store is).
    const unchecked = await openStore({ kind: "s3", ...s3rverConfig({ bucket: "no-such-bucket" }) }, { verify: false });
    assert.ok(unchecked instanceof S3Store);
    unchecked.close();
  });

  test("credentials the server does not know are StoreAccessDeniedError", async () => {
    const store = makeStore({ credentials: { accessKeyId: "NOBODY", secretAccessKey: "wrong" } });
    await assert.rejects(store.put("a", enc.encode("x")), (e: unknown) => {
      assert.ok(isStoreAccessDenied(e), String(e));
      assert.ok(e instanceof StoreAccessDeniedError);
      assert.match(e.message, /InvalidAccessKeyId \(HTTP 403\)/);
      return true;
    });
    await assert.rejects(store.head("a"), StoreAccessDeniedError);
  });

  test("an unreachable server is a StorageError with the network error as cause, not a hang", async () => {
    const gone = await startS3Server({ buckets: [BUCKET], silent: true });
    const store = makeStore({ endpoint: gone.endpoint, maxAttempts: 1 });
    await store.put("a", enc.encode("x"));
    await gone.stop();
    for (const op of [() => store.get("a"), () => store.head("a"), () => store.put("b", enc.encode("x")), () => keysOf(store.list(""))]) {
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(e instanceof StorageError);
        assert.equal(isObjectNotFound(e), false);
        assert.ok(e.cause instanceof Error);
        assert.match(e.message, /ECONNREFUSED/);
        return true;
      });
    }
  });

  test("invalid keys and keys too long once prefixed are refused before any request", async () => {
    const store = makeStore({ prefix: "p".repeat(100) });
    const seen = captureRequests(store);
    const key = Array.from({ length: 10 }, () => "s".repeat(99)).join("/"); // 999 characters: valid alone
    await assert.rejects(store.put(key, enc.encode("x")), (e: unknown) => {
      assert.ok(e instanceof InvalidKeyError);
      assert.match(e.message, /S3's limit is 1024/);
      return true;
    });
    await assert.rejects(store.get("../x"), InvalidKeyError);
    assert.deepEqual(seen, []);
    assert.throws(() => makeStore({ prefix: "bad prefix" }), StoreConfigError);
    assert.throws(() => makeStore({ bucket: "Not_A_Bucket" }), StoreConfigError);
  });
});

// Neither s3rver nor anything installable offline implements conditional writes, so this suite
// runs the store against a small HTTP server that answers exactly as AWS S3 documents for
// `If-None-Match: *` (412 PreconditionFailed when the key exists, 409 ConditionalRequestConflict
// when another conditional write is in flight), to check the store reads those answers right.
describe("S3Store conditional writes (S3 semantics)", () => {
  async function conditionalServer(answers: number[]): Promise<{ endpoint: string; puts: () => number; close: () => Promise<void> }> {
    let puts = 0;
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "HEAD") {
          res.writeHead(404).end();
          return;
        }
        if (req.method === "PUT" && req.headers["if-none-match"] === "*") {
          const status = answers[puts++] ?? 200;
          if (status === 200) {
            res.writeHead(200, { ETag: '"abc"' }).end();
            return;
          }
          const code = status === 412 ? "PreconditionFailed" : "ConditionalRequestConflict";
          res
            .writeHead(status, { "Content-Type": "application/xml" })
            .end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`);
          return;
        }
        res.writeHead(400).end();
      });
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const { port } = srv.address() as { port: number };
    return {
      endpoint: `http://127.0.0.1:${port}`,
      puts: () => puts,
      close: () => new Promise((resolve) => srv.close(() => resolve())),
    };
  }

  test("412 PreconditionFailed (the key appeared after the HEAD) means false", async () => {
    const fake = await conditionalServer([412]);
    try {
      const store = makeStore({ endpoint: fake.endpoint, maxAttempts: 1 });
      assert.equal(await store.putIfAbsent("k", enc.encode("x")), false);
      assert.equal(fake.puts(), 1);
    } finally {
      await fake.close();
    }
  });

  test("409 ConditionalRequestConflict is retried; the outcome is then decided by the server", async () => {
    const fake = await conditionalServer([409, 409, 200]);
    try {
      const store = makeStore({ endpoint: fake.endpoint, maxAttempts: 1 });
      assert.equal(await store.putIfAbsent("k", enc.encode("x")), true);
      assert.equal(fake.puts(), 3);
    } finally {
      await fake.close();
    }
    const stuck = await conditionalServer([409, 409, 409, 409, 409]);
    try {
      const store = makeStore({ endpoint: stuck.endpoint, maxAttempts: 1 });
      await assert.rejects(store.putIfAbsent("k", enc.encode("x")), (e: unknown) => {
        assert.ok(e instanceof StorageError);
        assert.match(e.message, /ConditionalRequestConflict \(HTTP 409\)/);
        return true;
      });
    } finally {
      await stuck.close();
    }
  });
});
