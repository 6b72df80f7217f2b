// `lake quarantine list` and `lake quarantine replay` as a user runs them, against a running lake
// found through its data dir.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { sendHttp } from "@lake/client";
import { HEADERS } from "@lake/messaging";

import { DATASET, withLake } from "./helpers.ts";

const cli = resolve(import.meta.dirname, "../apps/lake/src/cli.ts");
const tsx = import.meta.resolve("tsx");
const run = promisify(execFile);
// The CLI must find this lake through --data-dir, not through anything in the environment.
const env = { ...process.env };
delete env.NATS_URL;
delete env.LAKE_CATALOG_URL;
delete env.LAKE_INGEST_URL;
delete env.LAKE_STORE_ROOT;

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
  const r = await sendHttp(lake.producer, DATASET, [
    { event_id: "cli-bad-1", user_id: "u1", event_type: "view", timestamp: "2026-06-01T10:00:00Z", amount: "7" },
    { event_id: "cli-bad-2", user_id: "u1", event_type: "nope", timestamp: "2026-06-01T10:00:00Z", amount: 1 },
  ]);
  assert.deepEqual(
    r.results.map((x) => x.status),
    ["rejected", "rejected"],
  );
});
after(async () => {
  await lake?.cleanup();
});

function lakeCli(args: string[]) {
  return run(process.execPath, ["--import", tsx, cli, ...args, "--data-dir", lake.dataDir], { timeout: 60_000, env });
}

/** `code`: 1 for a refusal, 2 for a usage error or an unknown name (docs/cli.md). */
async function lakeCliFails(args: string[], code = 1): Promise<string> {
  const e = await lakeCli(args).then(
    () => assert.fail(`lake ${args.join(" ")} should have failed`),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(e.code, code, e.stderr);
  return e.stderr;
}

test("lake quarantine list shows refused records as a table; replay fixes one, once", async () => {
  const listed = await lakeCli(["quarantine", "list"]);
  const lines = listed.stdout.split("\n");
  assert.match(lines[0]!, /^seq\s+event_id\s+reason\s+path\s+replayed\s*$/);
  const row1 = lines.find((l) => l.includes("cli-bad-1"));
  assert.ok(row1, listed.stdout);
  assert.match(row1, /^(\d+)\s+cli-bad-1\s+amount must be a finite number, got string\s+\$\.amount\s+no\s*$/);
  assert.match(
    lines.find((l) => l.includes("cli-bad-2"))!,
    /\$\.event_type\s+no\s*$/,
  );
  assert.match(listed.stdout, /\(2 rows\)/);
  const seq = Number(/^(\d+)/.exec(row1)![1]);

  const paged = await lakeCli(["quarantine", "list", "--limit", "1", "--domain", DATASET]);
  assert.match(paged.stdout, /\(1 row\)/);
  assert.match(paged.stdout, new RegExp(`more: lake quarantine list --domain ${DATASET} --after ${seq}`));

  const file = join(lake.dataDir, "corrected.json");
  writeFileSync(file, JSON.stringify({ event_id: "cli-bad-1", user_id: "u1", event_type: "view", timestamp: "2026-06-01T10:00:00Z", amount: 7 }));
  const replayed = await lakeCli(["quarantine", "replay", "--seq", String(seq), "--record-file", file]);
  const offset = Number(/event cli-bad-1 accepted at offset (\d+)/.exec(replayed.stdout)?.[1]);
  assert.ok(offset > 0, replayed.stdout);

  const again = await lakeCli(["quarantine", "replay", "--seq", String(seq)]);
  assert.match(again.stdout, new RegExp(`already in the lake; event cli-bad-1 is at offset ${offset}`));
  assert.match((await lakeCli(["quarantine", "list"])).stdout, new RegExp(`cli-bad-1 .* offset ${offset}\\s*$`, "m"));

  assert.match(await lakeCliFails(["quarantine", "replay", "--seq", String(seq + 1)]), /stays in quarantine: .*must be one of.*\(at \$\.event_type\)/);
  assert.match(await lakeCliFails(["quarantine", "replay", "--seq", "999999"]), /no quarantined record of domain domain_events at seq 999999/);
  assert.match(await lakeCliFails(["quarantine", "replay", "--seq", "abc"], 2), /--seq must be an integer ≥ 1/);
  assert.match(await lakeCliFails(["quarantine", "replay"], 2), /usage: lake quarantine list/);
  assert.match(await lakeCliFails(["quarantine", "list", "--domain", "no_such_domain"], 2), /lake: ingest: unknown domain/);
  assert.match(
    await lakeCliFails(["quarantine", "replay", "--seq", "1", "--record-file", join(lake.dataDir, "missing.json")], 2),
    /--record-file .*missing\.json/,
  );
});

test("a junk message on the quarantine subject is listed as undecodable beside the rest; replaying it is one clear line and exit 1", async () => {
  const nc = await lake.connect();
  try {
    const h = natsHeaders();
    h.set(HEADERS.record, "QuarantinedRecord");
    const junk = await jetstream(nc).publish(`lake.quarantine.${DATASET}`, new Uint8Array([0xff, 0xff, 0xff]), { headers: h });
    const listed = await lakeCli(["quarantine", "list"]);
    assert.match(listed.stdout, new RegExp(`^${junk.seq}\\s+\\?\\s+undecodable \\(3 bytes\\): cannot decode QuarantinedRecord.*\\s-\\s+never\\s*$`, "m"));
    assert.match(listed.stdout, /cli-bad-2/);
    const stderr = await lakeCliFails(["quarantine", "replay", "--seq", String(junk.seq)]);
    assert.match(
      stderr,
      new RegExp(
        `^lake: the quarantine message at seq ${junk.seq} is not a readable quarantined record \\(cannot decode QuarantinedRecord[^\\n]*\\); it cannot be replayed\\n$`,
      ),
    );
  } finally {
    await nc.close();
  }
});
