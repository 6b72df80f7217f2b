// The whole pipeline on S3: committers write Parquet and manifests to a bucket of a real S3 server
// (s3rver, a child process on a free port), quality and the query path read them back from it.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { sampleEvents, sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";
import { type S3ServerHandle, startS3Server, waitFor } from "@lake/testing";

import { assertExactlyOnce, covering, DATASET, withLake } from "./helpers.ts";

let s3: S3ServerHandle;
let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  s3 = await startS3Server({ buckets: ["lake"], silent: true });
  // The services (and this process, to read back) take credentials from the standard AWS variables.
  const aws = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: s3.region };
  Object.assign(process.env, aws);
  lake = await withLake({ s3: { endpoint: s3.endpoint, bucket: "lake", prefix: "prod", region: s3.region }, env: aws });
});
after(async () => {
  await lake?.cleanup();
  await s3?.stop();
});

test("events are committed to the bucket exactly once, judged by quality and queried back", async () => {
  const accepted = new Set<string>();
  let offset = 0;
  for (let i = 0; i < 3; i++) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(200, { prefix: `s3-${i}`, seed: i + 1 }));
    for (const x of r.results) accepted.add(x.event_id!);
    offset = r.max_offset!;
  }
  const v = await covering(lake, offset);
  await assertExactlyOnce(lake, accepted); // reads every referenced object from the bucket, queries with DuckDB

  const store = await openStore(lake.storeConfig);
  assert.equal(store.kind, "s3");
  const keys: string[] = [];
  for await (const o of store.list(`datasets/${DATASET}/`)) keys.push(o.key);
  for (const f of v.files) assert.ok(keys.includes(f.key), `${f.key} is in the bucket`);
  assert.ok(
    keys.some((k) => k.includes("/manifests/")),
    "manifests are in the bucket",
  );
  // Nothing went to local disk.
  const localData = join(lake.storeRoot, "datasets");
  assert.ok(!existsSync(localData) || readdirSync(localData).length === 0);

  // Quality read the version's files from the bucket too.
  const judged = await waitFor(
    "the verdict of the covering version",
    async () => {
      const now = await lake.catalog.version(DATASET, v.version);
      return now.quality === "pending" ? undefined : now.quality;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(judged, "passed");
});
