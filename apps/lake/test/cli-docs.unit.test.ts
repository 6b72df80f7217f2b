// docs/cli.md covers every command and option the CLI's usage text names: the usage (lake --help) is
// built from the *_USAGE texts in apps/lake/src, so a command or option added there without its line
// in the manual fails here.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const src = join(import.meta.dirname, "..", "src");
const doc = readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "cli.md"), "utf8");

/** Usage text: the template literals and strings assigned to a *USAGE constant. */
function usageTexts(): string {
  let out = "";
  for (const f of readdirSync(src).filter((n) => n.startsWith("cli") && n.endsWith(".ts"))) {
    const text = readFileSync(join(src, f), "utf8");
    for (const m of text.matchAll(/_?USAGE = (`[^`]*`|"[^"]*")/g)) out += m[1] + "\n";
  }
  return out;
}

test("every command of the usage text has its line in docs/cli.md, with every option it names", () => {
  const usage = usageTexts();
  const lines = [...usage.matchAll(/(?:^|\n|\| |usage: |`)\s*lake ([a-z]+)(?: ([a-z]+))?(?:(?! \| )[^\n])*/g)];
  assert.ok(lines.length >= 20, `usage lines found: ${lines.length}`);
  const missing: string[] = [];
  for (const m of lines) {
    const sub = m[2] && ["list", "register", "replay", "rebuild"].includes(m[2]) ? ` ${m[2]}` : "";
    const command = `lake ${m[1]}${sub}`;
    if (!doc.includes(`\`${command}`)) missing.push(`${command} (command)`);
    for (const o of m[0].matchAll(/--[a-z][a-z-]*/g)) if (!doc.includes(o[0])) missing.push(`${command} ${o[0]}`);
  }
  assert.deepEqual([...new Set(missing)], []);
});
