// Compiles the CLI and the services to JavaScript (esbuild), so they start without compiling TypeScript
// at run time: `npm run build`, run by scripts/setup.sh (`--if-stale`: only what a source change made stale).
//
// Each entry is bundled with the workspace packages (@lake/*) and whatever only a workspace's own
// node_modules holds (e.g. shared/telemetry's OpenTelemetry versions); packages in the root node_modules
// stay external (native addons, wasm, and Node resolves them from dist/ as from src/). The CLI's bundle
// is split: each command's heavy imports (DuckDB, NATS, Avro, Arrow) load when that command runs, so
// `lake --help` or `lake versions` load none of them. Workspace packages declare `"sideEffects": false`
// (no module does work at import time; only entries do), which lets esbuild leave unused modules out.
//
// A source reading files beside itself (import.meta.dirname / import.meta.url: the contracts' .avsc
// files, say) is rewritten to find them from the bundle's place, so a bundle reads the same files its
// sources do. Each dist dir gets build.json: the build's start time and every input, which
// entries.ts checks before it lets a bundle run (a stale bundle never runs).
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import type { Plugin } from "esbuild";

import { BUILD_INFO_FILE, type BuildInfo, bundleFreshness, type BundleName, BUNDLES, REPO_ROOT } from "./entries.ts";

const posix = (p: string) => p.split(sep).join("/");

/** A bare import's package name: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

// Defined at the top of every output file: `require` for the CommonJS packages bundled in, and the
// helpers the rewritten import.meta uses (paths relative to the output file, which sits in <pkg>/dist).
const BANNER = [
  `import { createRequire as __lakeCreateRequire } from "node:module";`,
  `import { fileURLToPath as __lakeFileURLToPath } from "node:url";`,
  `const require = __lakeCreateRequire(import.meta.url);`,
  `const __lakeUrl = (rel) => new URL(rel, import.meta.url).href;`,
  `const __lakeDir = (rel) => __lakeFileURLToPath(new URL(rel, import.meta.url));`,
].join("\n");

/** A specifier of an `import { … }` / `export { … } from` list: `name`, `type Name`, `name as alias`. */
interface Specifier {
  imported: string;
  local: string;
  typeOnly: boolean;
}

function specifiers(list: string): Specifier[] {
  return list
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const typeOnly = x.startsWith("type ");
      const [imported, local] = (typeOnly ? x.slice(5) : x).split(/\s+as\s+/).map((y) => y.trim());
      return { imported: imported!, local: local ?? imported!, typeOnly };
    });
}

const REEXPORT = /^export\s*\{([^}]*)\}\s*from\s*"(\.[^"]+)";/gm;
const WORKSPACE_IMPORT = /^(import|export)\s*\{([^}]*)\}\s*from\s*"(@lake\/[a-z-]+)";/gm;

/**
 * Where each name a workspace package's index re-exports comes from: name → [module, its name there].
 * Every index is a list of `export { … } from "./module.ts"` (the style guide's explicit public surface).
 */
type Barrels = Map<string, Map<string, [string, string]> | undefined>;

function barrelOf(root: string, pkg: string, cache: Barrels): Map<string, [string, string]> | undefined {
  if (cache.has(pkg)) return cache.get(pkg);
  let map: Map<string, [string, string]> | undefined;
  const link = join(root, "node_modules", pkg);
  try {
    const dir = realpathSync(link);
    const index = join(dir, (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { exports: Record<string, string> }).exports["."]!);
    map = new Map();
    for (const m of readFileSync(index, "utf8").matchAll(REEXPORT))
      for (const sp of specifiers(m[1]!)) map.set(sp.local, [join(dirname(index), m[2]!), sp.imported]);
  } catch {
    map = undefined;
  }
  cache.set(pkg, map);
  return map;
}

/**
 * `import { A, B } from "@lake/pkg"` → imports from the modules that define A and B. Splitting follows
 * every edge of a module it keeps, so a command's static import of one light name from a package index
 * would otherwise put all the index re-exports (DuckDB, NATS, Avro…) in the CLI's start. Names the
 * index does not re-export keep their import. Line count is kept, so source maps stay right.
 */
function skipBarrels(root: string, text: string, cache: Barrels): string {
  return text.replace(WORKSPACE_IMPORT, (whole, keyword: string, list: string, pkg: string) => {
    const barrel = barrelOf(root, pkg, cache);
    if (!barrel) return whole;
    const byModule = new Map<string, string[]>();
    for (const sp of specifiers(list)) {
      const found = barrel.get(sp.imported);
      const from = found ? found[0] : pkg;
      const name = found ? found[1] : sp.imported;
      const item = `${sp.typeOnly ? "type " : ""}${name === sp.local ? name : `${name} as ${sp.local}`}`;
      byModule.set(from, [...(byModule.get(from) ?? []), item]);
    }
    const lines = [...byModule].map(([from, items]) => `${keyword} { ${items.join(", ")} } from ${JSON.stringify(from)};`).join(" ");
    return lines + "\n".repeat(whole.split("\n").length - 1);
  });
}

function lakePlugin(root: string, outDir: string): Plugin {
  const barrels: Barrels = new Map();
  const homes = new Map<string, boolean>();
  /** Whether `name`, imported from `from`, resolves to the root node_modules (then it stays external). */
  const atRoot = (name: string, from: string): boolean => {
    const key = `${name}\0${from}`;
    let found = homes.get(key);
    if (found === undefined) {
      found = false;
      for (let d = from; ; d = dirname(d)) {
        if (existsSync(join(d, "node_modules", name, "package.json"))) {
          found = d === root;
          break;
        }
        if (d === dirname(d)) break;
      }
      homes.set(key, found);
    }
    return found;
  };
  return {
    name: "lake",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (a) => {
        if (isBuiltin(a.path)) return { path: a.path, external: true };
        const name = packageName(a.path);
        if (name.startsWith("@lake/")) return undefined;
        return atRoot(name, a.resolveDir) ? { path: a.path, external: true } : undefined;
      });
      b.onLoad({ filter: /\.ts$/ }, (a) => {
        if (a.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = readFileSync(a.path, "utf8");
        const fromOut = (p: string) => JSON.stringify(posix(relative(outDir, p)));
        const contents = skipBarrels(root, text, barrels)
          .replaceAll("import.meta.dirname", `__lakeDir(${fromOut(dirname(a.path))})`)
          .replaceAll("import.meta.url", `__lakeUrl(${fromOut(a.path)})`);
        return contents === text ? undefined : { loader: "ts", contents };
      });
    },
  };
}

/** The package.json files that shape a bundle (its packages' `sideEffects`, `exports`), as inputs. */
function packageFiles(root: string, inputs: string[]): string[] {
  const out = new Set<string>(["package.json", "apps/lake/src/build.ts"]);
  for (const input of inputs) {
    for (let d = dirname(join(root, input)); d.startsWith(root) && d !== root; d = dirname(d)) {
      if (existsSync(join(d, "package.json"))) {
        out.add(posix(relative(root, join(d, "package.json"))));
        break;
      }
    }
  }
  return [...out];
}

export interface BuildOptions {
  /** Build only what is stale (what entries.ts would refuse to run). */
  ifStale?: boolean;
  only?: readonly BundleName[];
  log?: (line: string) => void;
  root?: string;
}

/** Builds the bundles; returns the names built. */
export async function build(o: BuildOptions = {}): Promise<BundleName[]> {
  const root = o.root ?? REPO_ROOT;
  const log = o.log ?? (() => {});
  const { build: esbuild } = await import("esbuild");
  const names = (o.only ?? (Object.keys(BUNDLES) as BundleName[])).filter((n) => !o.ifStale || !bundleFreshness(root, n).fresh);
  await Promise.all(
    names.map(async (name) => {
      const spec = BUNDLES[name];
      const outDir = join(root, spec.outDir);
      const startedAt = Date.now();
      // Splitting (the CLI's lazy commands) needs an outdir; chunks stay in it, beside the entries, so
      // every output file sits at the same depth (the import.meta rewrite counts on it).
      const entryPoints: Record<string, string> =
        name === "lake" ? { cli: join(root, spec.entry), entries: join(root, "apps/lake/src/entries.ts") } : { main: join(root, spec.entry) };
      const tmpDir = `${outDir}.tmp-${process.pid}`;
      rmSync(tmpDir, { recursive: true, force: true });
      const result = await esbuild({
        entryPoints,
        outdir: tmpDir,
        bundle: true,
        splitting: name === "lake",
        chunkNames: "chunk-[hash]",
        platform: "node",
        format: "esm",
        target: "node20",
        sourcemap: true,
        metafile: true,
        logLevel: "warning",
        absWorkingDir: root,
        banner: { js: BANNER },
        // The rewrite resolves paths against the final dir, which the temporary one sits beside.
        plugins: [lakePlugin(root, outDir)],
      });
      const inputs = Object.keys(result.metafile!.inputs)
        .map((p) => posix(p))
        .filter((p) => !p.includes("node_modules/"));
      const info: BuildInfo = {
        built_at_ms: startedAt,
        bundles: { [name]: { out: posix(join(spec.outDir, spec.out)), inputs: [...inputs, ...packageFiles(root, inputs)] } },
      };
      writeFileSync(join(tmpDir, BUILD_INFO_FILE), JSON.stringify(info, null, 1));
      // esbuild's metafile: what each output holds and imports (`esbuild --analyze`; the start-time test reads it).
      writeFileSync(join(tmpDir, "meta.json"), JSON.stringify(result.metafile));
      // Swap the new dist in whole: a process starting meanwhile finds no build.json and runs the source.
      rmSync(outDir, { recursive: true, force: true });
      renameSync(tmpDir, outDir);
      log(
        `built ${spec.outDir}/${spec.out} (${readdirSync(outDir).filter((f) => f.endsWith(".js")).length} files, ${inputs.length} sources) in ${Date.now() - startedAt} ms`,
      );
    }),
  );
  return names;
}

// Run as a script: `node --import tsx apps/lake/src/build.ts [--if-stale]` (npm run build, setup.sh).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes("--if-stale");
  const started = Date.now();
  const built = await build({ ifStale, log: (l) => console.error(`build: ${l}`) });
  console.error(built.length ? `build: ${built.length} bundle(s) in ${Date.now() - started} ms` : "build: every bundle is fresh");
}
