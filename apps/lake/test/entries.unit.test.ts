// Which file starts the CLI and each service: the compiled bundle only while it is fresh (no input
// changed after its build), else the TypeScript source. A stale bundle must never run.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { COMPACT_USAGE } from "../src/cli-compact.ts";
import { BUILD_INFO_FILE, type BuildInfo, bundleFreshness, entryOf } from "../src/entries.ts";
import { COMPACTION_DEFAULTS } from "../src/ops/compaction-plan.ts";

const root = mkdtempSync(join(tmpdir(), "lake-entries-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A fake repo with services/ingest built at `builtAt` from two sources. */
function layout(builtAt: number): { a: string; b: string; out: string } {
  const a = "services/ingest/src/main.ts";
  const b = "shared/x/src/index.ts";
  const out = "services/ingest/dist/main.js";
  for (const f of [a, b, out]) {
    mkdirSync(join(root, f, ".."), { recursive: true });
    writeFileSync(join(root, f), "//\n");
  }
  const past = new Date(builtAt - 60_000);
  for (const f of [a, b]) utimesSync(join(root, f), past, past);
  const info: BuildInfo = { built_at_ms: builtAt, bundles: { ingest: { out, inputs: [a, b] } } };
  writeFileSync(join(root, "services/ingest/dist", BUILD_INFO_FILE), JSON.stringify(info));
  return { a, b, out };
}

test("a bundle built after its inputs last changed runs; the source runs once an input changes", { timeout: 10_000 }, () => {
  const builtAt = Date.now();
  const { a, out } = layout(builtAt);
  assert.deepEqual(bundleFreshness(root, "ingest"), { fresh: true });
  assert.deepEqual(entryOf("ingest", root), { path: join(root, out), compiled: true });

  // An edit after the build (mtime now, later than the build's start): the source runs, saying why.
  const later = new Date(builtAt + 1000);
  utimesSync(join(root, a), later, later);
  assert.deepEqual(bundleFreshness(root, "ingest"), { fresh: false, why: `${a} changed after the build` });
  const e = entryOf("ingest", root);
  assert.equal(e.path, join(root, "services/ingest/src/main.ts"));
  assert.equal(e.compiled, false);
});

test("a missing build, output or input makes the bundle stale", { timeout: 10_000 }, () => {
  const { b, out } = layout(Date.now());
  rmSync(join(root, b));
  assert.deepEqual(bundleFreshness(root, "ingest"), { fresh: false, why: `${b} is gone` });
  layout(Date.now());
  rmSync(join(root, out));
  assert.deepEqual(bundleFreshness(root, "ingest"), { fresh: false, why: `${out} is missing` });
  rmSync(join(root, "services/ingest/dist"), { recursive: true });
  assert.deepEqual(bundleFreshness(root, "ingest"), { fresh: false, why: "services/ingest/dist is not built" });
  assert.deepEqual(bundleFreshness(root, "committer"), { fresh: false, why: "services/committer/dist is not built" });
});

test("lake compact's usage text states the defaults the compaction uses", () => {
  // Written out in the usage (so `lake --help` never loads the compaction code): checked here.
  assert.match(COMPACT_USAGE, new RegExp(`default ${COMPACTION_DEFAULTS.targetBytes / 1024 ** 2}MiB`));
  assert.match(COMPACT_USAGE, new RegExp(`default ${COMPACTION_DEFAULTS.maxFiles}\\)`));
});
