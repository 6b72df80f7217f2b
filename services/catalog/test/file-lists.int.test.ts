// The cache of versions' file lists the read API splices into its answers: equal to a fresh query at
// every version, unchanged by later versions (which only ever remove files after themselves), bounded
// in size, and reset when a rebuild swaps in another projection.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import type { LakeLog, LogRecord } from "@lake/contracts";

import { Projection } from "../src/db/projection.ts";
import { FileListCache } from "../src/http/file-lists.ts";
import { versionRecord } from "./fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-file-lists-"));
after(() => rmSync(root, { recursive: true, force: true }));

const file = (v: number, i: number): LakeLog.DataFile => ({
  key: `datasets/ds/data/dt=2026-06-01/w${v}-${i}.parquet`,
  partition: "dt=2026-06-01",
  rows: 10,
  bytes: 1000 + i,
  sha256: "b".repeat(64),
});

function version(v: number, added: LakeLog.DataFile[], removed: string[]): { seq: number; record: LogRecord } {
  return {
    seq: v,
    record: {
      kind: "VersionCommitted",
      body: versionRecord("ds", v, {
        committer_id: "c",
        committed_at: Date.UTC(2026, 5, 1) + v,
        added_files: added,
        removed_files: removed,
        source: { stream: "EVENTS", subject: "lake.events.ds", first_seq: v, last_seq: v },
      }),
    },
  };
}

test("a cached list equals a fresh query, before and after later versions remove files", () => {
  const p = new Projection(join(root, "a.db"));
  p.applyBatch([version(1, [file(1, 0), file(1, 1)], []), version(2, [file(2, 0)], [])]);
  const cache = new FileListCache();
  const v2 = cache.get(p, "ds", 2);
  assert.equal(v2, JSON.stringify(p.files("ds", 2)));
  assert.equal((JSON.parse(v2) as unknown[]).length, 3);
  // v3 compacts: removes v1's files, adds one.
  p.applyBatch([version(3, [file(3, 0)], [file(1, 0).key, file(1, 1).key])]);
  assert.equal(cache.get(p, "ds", 2), v2, "v2's list is served from the cache");
  assert.equal(v2, JSON.stringify(p.files("ds", 2)), "and is still what the projection says for v2");
  assert.deepEqual(
    (JSON.parse(cache.get(p, "ds", 3)) as { key: string }[]).map((f) => f.key),
    [file(2, 0).key, file(3, 0).key],
  );
  assert.deepEqual([cache.hits, cache.misses], [1, 2]);
  p.close();
});

test("the cache stays under its size bound, dropping the least recently used list", () => {
  const p = new Projection(join(root, "b.db"));
  p.applyBatch([version(1, [file(1, 0)], []), version(2, [file(2, 0)], []), version(3, [file(3, 0)], [])]);
  const one = JSON.stringify(p.files("ds", 1)).length;
  // Lists of 1, 2 and 3 files: room for v1 and v3 (4 files' worth), not all three.
  const cache = new FileListCache(one * 4 + 10);
  cache.get(p, "ds", 1);
  cache.get(p, "ds", 2);
  cache.get(p, "ds", 1); // v1 is now the most recently used
  cache.get(p, "ds", 3); // evicts v2
  const misses = cache.misses;
  cache.get(p, "ds", 1);
  assert.equal(cache.misses, misses, "v1 was kept");
  cache.get(p, "ds", 2);
  assert.equal(cache.misses, misses + 1, "v2 was dropped");
  p.close();
});

test("another projection (a rebuild) starts with an empty cache", () => {
  const a = new Projection(join(root, "c1.db"));
  const b = new Projection(join(root, "c2.db"));
  a.applyBatch([version(1, [file(1, 0)], [])]);
  b.applyBatch([version(1, [file(1, 5)], [])]);
  const cache = new FileListCache();
  assert.match(cache.get(a, "ds", 1), /w1-0/);
  assert.match(cache.get(b, "ds", 1), /w1-5/);
  a.close();
  b.close();
});
