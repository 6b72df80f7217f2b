// Which file starts the CLI and each service: the compiled bundle in <package>/dist when it is fresh
// (built after every source it was made from last changed), else the TypeScript source run through tsx.
// Compiled, a command starts in a fraction of a second instead of seconds of run-time compilation; the
// freshness check (a stat of each input, a few milliseconds) makes sure an edited source is never
// shadowed by an old build. `npm run build` (scripts/setup.sh runs it) writes the bundles (build.ts).
// This file imports node builtins only: the launcher (apps/lake/bin/lake.js) loads its compiled copy first.
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Everything that is compiled: the CLI and every service, each an entry and the dist dir it goes to. */
export const BUNDLES = {
  lake: { entry: "apps/lake/src/cli.ts", outDir: "apps/lake/dist", out: "cli.js" },
  ingest: { entry: "services/ingest/src/main.ts", outDir: "services/ingest/dist", out: "main.js" },
  committer: { entry: "services/committer/src/main.ts", outDir: "services/committer/dist", out: "main.js" },
  catalog: { entry: "services/catalog/src/main.ts", outDir: "services/catalog/dist", out: "main.js" },
  aggregator: { entry: "services/aggregator/src/main.ts", outDir: "services/aggregator/dist", out: "main.js" },
  quality: { entry: "services/quality/src/main.ts", outDir: "services/quality/dist", out: "main.js" },
} as const;

export type BundleName = keyof typeof BUNDLES;

/** What a build leaves in each dist dir (build.json): when it started and what each bundle was made from. */
export interface BuildInfo {
  /** When the build started reading sources: a source changed after this makes the build stale. */
  built_at_ms: number;
  bundles: Record<string, { out: string; inputs: string[] }>;
}

export const BUILD_INFO_FILE = "build.json";

/** The repository root, from this file's place (apps/lake/src, or apps/lake/dist once compiled). */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");

export type Freshness = { fresh: true } | { fresh: false; why: string };

/**
 * Whether the bundle `name` under `root` may run: its build.json names it, its output exists, and no
 * input (a source, the build settings, a package.json) was modified after the build started.
 */
export function bundleFreshness(root: string, name: BundleName): Freshness {
  const b = BUNDLES[name];
  let info: BuildInfo;
  try {
    info = JSON.parse(readFileSync(join(root, b.outDir, BUILD_INFO_FILE), "utf8")) as BuildInfo;
  } catch {
    return { fresh: false, why: `${b.outDir} is not built` };
  }
  const bundle = info.bundles?.[name];
  if (!bundle || !Array.isArray(bundle.inputs) || bundle.inputs.length === 0) return { fresh: false, why: `${b.outDir}/${BUILD_INFO_FILE} has no ${name}` };
  try {
    statSync(join(root, bundle.out));
  } catch {
    return { fresh: false, why: `${bundle.out} is missing` };
  }
  for (const input of bundle.inputs) {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(join(root, input)).mtimeMs;
    } catch {
      return { fresh: false, why: `${input} is gone` };
    }
    if (mtimeMs > info.built_at_ms) return { fresh: false, why: `${input} changed after the build` };
  }
  return { fresh: true };
}

export interface Entry {
  /** The file to run: a .js bundle (plain node) or a .ts source (node --import tsx). */
  path: string;
  compiled: boolean;
  /** Why the source runs instead of the bundle. */
  why?: string;
}

/** The file that starts `name`: its compiled bundle when fresh, else its TypeScript source. */
export function entryOf(name: BundleName, root = REPO_ROOT): Entry {
  const b = BUNDLES[name];
  const f = bundleFreshness(root, name);
  if (f.fresh) return { path: join(root, b.outDir, b.out), compiled: true };
  return { path: join(root, b.entry), compiled: false, why: f.why };
}

/** The file `lake up` (and the tests, through startLake) starts service `name` from. */
export function serviceEntry(name: string): string {
  if (!(name in BUNDLES) || name === "lake") throw new Error(`no service ${name}`);
  return entryOf(name as BundleName).path;
}
