// Every environment variable the code reads is documented in docs/configuration.md. The code's env
// readers (`process.env.X`, `env.X`, `intEnv("X", …)`, `requiredEnv("X")`, password variables named in
// the NATS users table, …) all spell the variable out, so the check is: every LAKE_*, NATS_* and OTEL_*
// name in the source files of services, shared libraries, apps and deploy scripts is in the doc by
// its full name, except the few constants that share the prefix and are not variables.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..");
/** Names with an env-like prefix that are constants in the code, not variables anyone sets. */
const NOT_VARIABLES = new Set(["LAKE_ACCOUNT", "NATS_USERS"]);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "test") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("every LAKE_*, NATS_* and OTEL_* variable the code reads is in docs/configuration.md", () => {
  const dirs = ["services", "shared", "apps", "contracts/src", "deploy"].map((d) => join(root, d));
  const files = dirs.flatMap((d) => sourceFiles(d));
  assert.ok(files.length > 50, `source files found: ${files.length}`);
  const where = new Map<string, string>();
  for (const f of files) {
    for (const m of readFileSync(f, "utf8").matchAll(/\b(?:LAKE|NATS|OTEL)_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!NOT_VARIABLES.has(m[0]) && !where.has(m[0])) where.set(m[0], relative(root, f));
    }
  }
  assert.ok(where.size > 40, `variables found: ${where.size}`);
  const doc = readFileSync(join(root, "docs", "configuration.md"), "utf8");
  const documented = new Set(doc.match(/\b(?:LAKE|NATS|OTEL)_[A-Z0-9_]*[A-Z0-9]\b/g) ?? []);
  const missing = [...where].filter(([name]) => !documented.has(name)).map(([name, file]) => `${name} (read in ${file})`);
  assert.deepEqual(missing, [], "undocumented environment variables: add them to docs/configuration.md by their full name");
});
