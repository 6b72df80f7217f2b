// The `lake` CLI's answer to a typo or a stopped lake: one line on stderr saying what is wrong and what
// to do, no stack trace, a non-zero exit. (A stopped lake: its run.json is still there, nothing listens.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";

import { freePort } from "@lake/testing";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
const env = { ...process.env };
for (const k of ["NATS_URL", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "LAKE_STORE_ROOT", "LAKE_DEBUG"]) delete env[k];
const dataDir = mkdtempSync(join(tmpdir(), "lake-cli-errors-"));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/**
 * Runs `lake args`, which must fail with exit `code` (docs/cli.md: 1 failed, 2 usage, 3 not running);
 * returns its stderr after checking it is one line without a stack.
 */
async function fails(args: string[], code: 1 | 2 | 3): Promise<string> {
  const e = await run(process.execPath, ["--import", tsx, cli, ...args], { timeout: 60_000, env }).then(
    (r) => assert.fail(`lake ${args.join(" ")} should have failed; stdout: ${r.stdout}`),
    (err: { code: number | null; stderr: string }) => err,
  );
  assert.equal(e.code, code, e.stderr);
  assert.equal(e.stderr.split("\n").filter(Boolean).length, 1, `one line, got:\n${e.stderr}`);
  assert.doesNotMatch(e.stderr, /\n\s+at |TypeError|ERR_PARSE_ARGS/);
  return e.stderr;
}

test("an unknown option, or an option without its value, is one usage line", async () => {
  assert.equal(await fails(["versions", "--foo"], 2), "lake: unknown option --foo (see lake --help)\n");
  assert.equal(await fails(["-x"], 2), "lake: unknown option -x (see lake --help)\n");
  assert.match(await fails(["versions", "--limit"], 2), /^lake: option --limit <value> argument missing \(see lake --help\)\n$/);
  assert.equal(await fails(["nope"], 2), 'lake: unknown command "nope" (see lake --help)\n');
  // No lake at all: no run.json and no URL.
  assert.match(await fails(["versions", "--data-dir", join(dataDir, "none")], 3), /^lake: no running lake found: .*run\.json does not exist/);
});

test("a stopped lake (run.json left behind) is one line naming the service, its URL and `lake up`", async () => {
  const [catalogPort, ingestPort, natsPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(dataDir, "run.json"),
    JSON.stringify({
      nats_url: `nats://127.0.0.1:${natsPort}`,
      ingest_url: `http://127.0.0.1:${ingestPort}`,
      catalog_url: `http://127.0.0.1:${catalogPort}`,
      store_root: join(dataDir, "store"),
    }),
  );
  const dd = ["--data-dir", dataDir];
  assert.match(await fails(["versions", "--limit", "0x5", ...dd], 2), /^lake: --limit must be an integer from 1 to 1000, got "0x5"\n$/);
  assert.equal(
    await fails(["versions", "domain_events", ...dd], 3),
    `lake: lake is not running (no answer from the catalog at http://127.0.0.1:${catalogPort}; start it with \`lake up\`)\n`,
  );
  assert.equal(
    await fails(["datasets", ...dd], 3),
    `lake: lake is not running (no answer from the catalog at http://127.0.0.1:${catalogPort}; start it with \`lake up\`)\n`,
  );
  assert.equal(
    await fails(["quarantine", "list", ...dd], 3),
    `lake: lake is not running (no answer from the ingest at http://127.0.0.1:${ingestPort}; start it with \`lake up\`)\n`,
  );
  // The same run.json, its `lake up` still running (this process's pid stands in): one service is down, not the lake.
  writeFileSync(
    join(dataDir, "run.json"),
    JSON.stringify({ catalog_url: `http://127.0.0.1:${catalogPort}`, store_root: join(dataDir, "store"), pid: process.pid }),
  );
  assert.equal(
    await fails(["versions", "domain_events", ...dd], 3),
    `lake: no answer from the catalog at http://127.0.0.1:${catalogPort}, though \`lake up\` (pid ${process.pid}) is running: see \`lake status\` and the service's log\n`,
  );
  writeFileSync(
    join(dataDir, "run.json"),
    JSON.stringify({ nats_url: `nats://127.0.0.1:${natsPort}`, catalog_url: `http://127.0.0.1:${catalogPort}`, store_root: join(dataDir, "store") }),
  );
  assert.match(await fails(["schema", "list", ...dd], 3), /^lake: lake is not running \(no answer from NATS: connection refused; start it with `lake up`\)\n$/);
});
