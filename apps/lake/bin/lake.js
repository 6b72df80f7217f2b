#!/usr/bin/env node
// The `lake` command (`npm run lake`, and the package's bin). Runs the compiled CLI, apps/lake/dist/cli.js,
// when it is fresh: no TypeScript compiled at start, so a command answers in a fraction of a second.
// When a source changed after the last build (or there is none), it rebuilds what is stale first
// (apps/lake/src/build.ts, through tsx: a second or two, once), and if that fails it runs the TypeScript
// source. An old build never runs: apps/lake/src/entries.ts says when a bundle is fresh.
const dist = new URL("../dist/", import.meta.url);

async function freshness() {
  try {
    const { bundleFreshness, REPO_ROOT } = await import(new URL("entries.js", dist).href);
    return bundleFreshness(REPO_ROOT, "lake");
  } catch {
    return { fresh: false, why: "apps/lake/dist is not built" };
  }
}

// Stack traces (LAKE_DEBUG=1) point into the TypeScript sources.
if (process.env.LAKE_DEBUG) process.setSourceMapsEnabled(true);
let f = await freshness();
if (!f.fresh) {
  const { register } = await import("tsx/esm/api");
  register();
  try {
    const { build } = await import("../src/build.ts");
    process.stderr.write(`lake: ${f.why}; building (npm run build)...\n`);
    await build({ ifStale: true });
    f = await freshness();
  } catch (e) {
    process.stderr.write(`lake: could not build (${e instanceof Error ? e.message : String(e)}); running the TypeScript source\n`);
  }
  if (!f.fresh) await import("../src/cli.ts");
}
if (f.fresh) await import(new URL("cli.js", dist).href);
