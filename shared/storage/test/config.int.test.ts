import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";

import { describeStore, isStoreConfigError, LocalDiskStore, openStore, StoreConfigError, storeConfigFromEnv } from "../src/index.ts";

describe("storeConfigFromEnv", () => {
  test("local is the default and needs LAKE_STORE_ROOT", () => {
    assert.deepEqual(storeConfigFromEnv({ LAKE_STORE_ROOT: "/data/store" }), { kind: "local", root: "/data/store" });
    assert.deepEqual(storeConfigFromEnv({ LAKE_STORE: "local", LAKE_STORE_ROOT: "/d" }), { kind: "local", root: "/d" });
    assert.deepEqual(storeConfigFromEnv({ LAKE_STORE: "", LAKE_STORE_ROOT: "/d", LAKE_S3_BUCKET: "" }), { kind: "local", root: "/d" }, "empty counts as unset");
  });

  test("s3 with only a bucket: us-east-1, virtual-hosted style, no SSE, the SDK's credential chain", () => {
    assert.deepEqual(storeConfigFromEnv({ LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake-prod" }), {
      kind: "s3",
      bucket: "lake-prod",
      region: "us-east-1",
      forcePathStyle: false,
    });
  });

  test("s3 with everything", () => {
    assert.deepEqual(
      storeConfigFromEnv({
        LAKE_STORE: "s3",
        LAKE_STORE_ROOT: "/ignored/for/s3",
        LAKE_S3_BUCKET: "lake",
        LAKE_S3_PREFIX: "prod/v1/",
        LAKE_S3_ENDPOINT: "http://minio:9000",
        LAKE_S3_REGION: "eu-central-1",
        LAKE_S3_FORCE_PATH_STYLE: "false",
        LAKE_S3_SSE: "aws:kms",
        LAKE_S3_SSE_KMS_KEY_ID: "alias/lake",
        AWS_ACCESS_KEY_ID: "read by the SDK, not here",
      }),
      {
        kind: "s3",
        bucket: "lake",
        prefix: "prod/v1",
        endpoint: "http://minio:9000",
        region: "eu-central-1",
        forcePathStyle: false,
        sse: { mode: "aws:kms", kmsKeyId: "alias/lake" },
      },
    );
    const minio = storeConfigFromEnv({ LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_ENDPOINT: "https://minio.local", LAKE_S3_SSE: "AES256" });
    assert.equal(minio.kind === "s3" && minio.forcePathStyle, true, "an endpoint defaults to path-style addressing");
    assert.deepEqual(minio.kind === "s3" && minio.sse, { mode: "AES256" });
  });

  const bad: Array<[string, Record<string, string>, string, RegExp]> = [
    ["an unknown store kind", { LAKE_STORE: "gcs" }, "LAKE_STORE", /LAKE_STORE="gcs": expected local or s3/],
    ["local without a root", {}, "LAKE_STORE_ROOT", /LAKE_STORE_ROOT is required with LAKE_STORE=local \(the default\)/],
    [
      "an S3 variable while the store is local",
      { LAKE_STORE_ROOT: "/d", LAKE_S3_BUCKET: "lake" },
      "LAKE_S3_BUCKET",
      /LAKE_S3_BUCKET is set but LAKE_STORE is local/,
    ],
    ["s3 without a bucket", { LAKE_STORE: "s3" }, "LAKE_S3_BUCKET", /LAKE_S3_BUCKET is required with LAKE_STORE=s3/],
    ["a bad bucket name", { LAKE_STORE: "s3", LAKE_S3_BUCKET: "My_Bucket" }, "LAKE_S3_BUCKET", /LAKE_S3_BUCKET="My_Bucket": a bucket name is 3-63/],
    [
      "a prefix outside the key grammar",
      { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_PREFIX: "a/../b" },
      "LAKE_S3_PREFIX",
      /LAKE_S3_PREFIX="a\/\.\.\/b" is not a valid key prefix/,
    ],
    [
      "an endpoint that is not a URL",
      { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_ENDPOINT: "minio:9000" },
      "LAKE_S3_ENDPOINT",
      /expected an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "path style not a boolean",
      { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_FORCE_PATH_STYLE: "yes" },
      "LAKE_S3_FORCE_PATH_STYLE",
      /expected true or false/,
    ],
    [
      "an unknown SSE mode",
      { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_SSE: "aes256" },
      "LAKE_S3_SSE",
      /LAKE_S3_SSE="aes256": expected AES256 or aws:kms/,
    ],
    [
      "a KMS key without aws:kms",
      { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_SSE: "AES256", LAKE_S3_SSE_KMS_KEY_ID: "k" },
      "LAKE_S3_SSE_KMS_KEY_ID",
      /only applies with LAKE_S3_SSE=aws:kms/,
    ],
    ["a KMS key without SSE", { LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_SSE_KMS_KEY_ID: "k" }, "LAKE_S3_SSE_KMS_KEY_ID", /LAKE_S3_SSE is unset/],
  ];
  for (const [what, env, variable, message] of bad) {
    test(`refuses ${what}, naming ${variable}`, () => {
      assert.throws(
        () => storeConfigFromEnv(env),
        (e: unknown) => {
          assert.ok(isStoreConfigError(e));
          assert.ok(e instanceof StoreConfigError);
          assert.equal(e.variable, variable);
          assert.match(e.message, message);
          assert.ok(e.message.includes(variable), "the message names the variable");
          return true;
        },
      );
    });
  }
});

describe("openStore / describeStore", () => {
  test("a local config opens a LocalDiskStore, creating the root", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "lake-storage-config-"));
    try {
      const root = path.join(dir, "nested", "store");
      const store = await openStore(storeConfigFromEnv({ LAKE_STORE_ROOT: root }));
      assert.ok(store instanceof LocalDiskStore);
      await store.put("a/b", new Uint8Array([1]));
      assert.equal(store.localPath("a/b"), path.join(root, "a", "b"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("describeStore says where the data goes", () => {
    assert.equal(describeStore({ kind: "local", root: "/data/store" }), "/data/store");
    assert.equal(describeStore(storeConfigFromEnv({ LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_PREFIX: "prod" })), "s3://lake/prod/");
    assert.equal(
      describeStore(storeConfigFromEnv({ LAKE_STORE: "s3", LAKE_S3_BUCKET: "lake", LAKE_S3_ENDPOINT: "http://127.0.0.1:9000" })),
      "s3://lake/ at http://127.0.0.1:9000",
    );
  });
});
