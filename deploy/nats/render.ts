// Writes deploy/nats/accounts.conf from shared/messaging/src/permissions.ts (the one source of truth for NATS users and
// their permissions). `--check` only compares, and exits 1 when the committed file is stale.
//   node --import tsx deploy/nats/render.ts [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { renderDeployAccountsConf } from "./permissions.ts";

export const ACCOUNTS_CONF = join(import.meta.dirname, "accounts.conf");

const wanted = renderDeployAccountsConf();
let current: string | undefined;
try {
  current = readFileSync(ACCOUNTS_CONF, "utf8");
} catch {
  current = undefined;
}
if (process.argv.includes("--check")) {
  if (current !== wanted) {
    process.stderr.write(`${ACCOUNTS_CONF} is stale: run node --import tsx deploy/nats/render.ts\n`);
    process.exit(1);
  }
  process.stdout.write(`${ACCOUNTS_CONF} is up to date\n`);
} else if (current === wanted) {
  process.stdout.write(`${ACCOUNTS_CONF} is up to date\n`);
} else {
  writeFileSync(ACCOUNTS_CONF, wanted);
  process.stdout.write(`wrote ${ACCOUNTS_CONF}\n`);
}
