// The web console in a real browser (Debian's Chromium, driven by playwright-core) against a whole lake
// whose catalog has tokens: what a person sees. The dataset appears in the list; a new version appears
// live, without a reload, once events are produced; an operator's rollback shows in the timeline; a
// failed verdict names its rule; a reader sees no quarantine (the catalog refuses it anyway) while an
// operator replays a quarantined record; the lineage view shows the derived dataset's upstream. Also
// measured: the page's weight and its time to first data.
//
// With CONSOLE_SCREENSHOTS=<dir> (scripts/console-screenshots.sh) it saves the screenshots of docs/console.md.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { jetstream } from "@nats-io/jetstream";
import { type Browser, chromium, type Page } from "playwright-core";

import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { alertChangedCodec } from "@lake/contracts";
import { waitFor } from "@lake/testing";

import { DATASET, withLake } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Without the background-networking flags Chromium keeps calling home, on a machine with no network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TOKENS = { reader: "rdr-console-3f1d9c", operator: "op-console-8a2b7e" };
const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const SHOTS = process.env.CONSOLE_SCREENSHOTS;
/** How long a person would wait for something to show up. */
const SEEN_MS = 30_000;

const dir = mkdtempSync(join(tmpdir(), "lake-console-"));
const tokensFile = join(dir, "tokens.json");
writeFileSync(
  tokensFile,
  JSON.stringify([
    { name: "bi-reader", sha256: sha256(TOKENS.reader), role: "reader", datasets: [DATASET, "daily_user_totals"] },
    { name: "alice", sha256: sha256(TOKENS.operator), role: "operator" },
  ]),
);

let lake: Awaited<ReturnType<typeof withLake>>;
let catalog: CatalogClient;
let browser: Browser;
let batch = 0;

async function produce(n: number): Promise<number> {
  const r = await sendHttp(lake.producer, DATASET, sampleEvents(n, { prefix: `console${batch}`, seed: ++batch }));
  assert.equal(r.accepted, n);
  return (await catalog.covering(DATASET, r.max_offset!, 30_000)).version;
}

/** A new tab signed in with `token` (typed into the sign-in form, as a person would). */
async function signedIn(token: string, hash = "#/"): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("pageerror", (e) => assert.fail(`the page threw: ${e.message}`));
  await page.goto(`${lake.catalogUrl.replace(/\/$/, "")}/console${hash}`);
  await page.getByLabel("Catalog token").fill(token);
  await page.getByRole("button", { name: "Open" }).click();
  await page
    .locator("#who")
    .getByText(/\((reader|operator)\)/)
    .waitFor({ timeout: SEEN_MS });
  return page;
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

before(async () => {
  lake = await withLake({ env: { LAKE_CATALOG_TOKENS_FILE: tokensFile, LAKE_COMMIT_MAX_AGE_MS: "1000" } });
  catalog = new CatalogClient(lake.catalogUrl, TOKENS.operator);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  await produce(300);
});
after(async () => {
  await browser?.close();
  await lake?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("the page is small, asks for a token, and shows the datasets a token may read with their freshness", { timeout: 120_000 }, async () => {
  // Page weight, as a browser fetches it (gzip).
  let total = 0;
  for (const f of ["console", "console/console.js", "console/console.css"]) {
    const res = await fetch(new URL(f, lake.catalogUrl), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200, f);
    total += Number(res.headers.get("content-length"));
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  }
  assert.ok(total < 30_000, `the console weighs ${total} bytes gzipped`);

  const page = await signedIn(TOKENS.reader);
  await page.locator(`#datasets tr[data-dataset="${DATASET}"]`).waitFor({ timeout: SEEN_MS });
  const row = await page.locator(`#datasets tr[data-dataset="${DATASET}"]`).innerText();
  assert.match(row, /non_critical|critical/);
  assert.match(row, /v\d+/);
  // A reader sees only its datasets, and no quarantine.
  assert.equal(await page.locator('#datasets tr[data-dataset="payments"]').count(), 0);
  assert.equal(await page.getByRole("link", { name: "Quarantine" }).isVisible(), false);

  // Time to first data: a reload (the token is kept for the tab) until the table is drawn.
  await page.reload();
  await page.locator(`#datasets tr[data-dataset="${DATASET}"]`).waitFor({ timeout: SEEN_MS });
  const firstData = await page.evaluate(() => performance.getEntriesByName("lake:first-data")[0]?.startTime ?? -1);
  assert.ok(firstData > 0 && firstData < 10_000, `first data after ${firstData} ms`);
  process.stdout.write(`# console: ${total} bytes gzipped, first data ${Math.round(firstData)} ms after navigation\n`);
  await shot(page, "console-datasets");
  await page.context().close();
});

test("a new version appears live, without a reload, and an operator's rollback shows in the timeline", { timeout: 120_000 }, async () => {
  const page = await signedIn(TOKENS.operator, `#/d/${DATASET}`);
  const latest = (await catalog.dataset(DATASET)).dataset.latest_version;
  await page.locator(`#timeline tr[data-version="${latest}"]`).waitFor({ timeout: SEEN_MS });
  await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
  await page.locator("#live").getByText("live").waitFor({ timeout: SEEN_MS });

  const next = await produce(200);
  assert.ok(next > latest);
  await page.locator(`#timeline tr[data-version="${next}"]`).waitFor({ timeout: SEEN_MS });
  assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42, "the page was not reloaded");
  assert.equal((await page.locator("#latest-version").innerText()).trim(), `v${next}`);

  // Roll back to the version before: the timeline shows the rollback and the current badge moves.
  const to = latest;
  page.once("dialog", (d) => void d.accept("bad deploy, back to the previous version"));
  await page.getByRole("button", { name: `Roll back to v${to}` }).click();
  const event = page.locator('#timeline tr[data-event="rollback"]');
  await event.waitFor({ timeout: SEEN_MS });
  assert.match(await event.innerText(), new RegExp(`rollback: current v${next} → v${to}.*by alice: bad deploy`, "s"));
  await page.locator(`#timeline tr[data-version="${to}"]`).getByText("current", { exact: true }).waitFor({ timeout: SEEN_MS });
  assert.equal((await page.locator("#current-version").innerText()).trim(), `v${to}`);
  await shot(page, "console-timeline");

  // The diff of the two versions: the second one's files, added.
  await page.getByLabel("from version").selectOption(String(latest));
  await page.getByLabel("to version").selectOption(String(next));
  await page.getByRole("button", { name: "Compare" }).click();
  const answer = new RegExp(`v${latest} → v${next}: rows .* \\(\\+200\\)`);
  await page.locator("#diff").getByText(answer).waitFor({ timeout: SEEN_MS });
  // A live update redraws the view: the versions picked and the answer stay.
  const newer = await produce(10);
  await page.locator(`#timeline tr[data-version="${newer}"]`).waitFor({ timeout: SEEN_MS });
  assert.equal((await page.locator("#latest-version").innerText()).trim(), `v${newer}`, "the view was redrawn");
  assert.match(await page.locator("#diff").innerText(), answer);
  assert.deepEqual([await page.getByLabel("from version").inputValue(), await page.getByLabel("to version").inputValue()], [String(latest), String(next)]);
  // Back to the newest, so the lake's later tests read it as current.
  await catalog.promote(DATASET, newer, "alice", "console test done");
  await page.context().close();
});

test("a failed verdict names its rule; an operator replays a quarantined record, a reader can't", { timeout: 180_000 }, async () => {
  const pay = (prefix: string, n: number, nulls: number) =>
    Array.from({ length: n }, (_, i) => ({
      payment_id: `${prefix}-${i}`,
      user_id: `u${i % 7}`,
      timestamp: Date.UTC(2026, 5, 1) + i,
      amount: 10 + i,
      currency: ["EUR", "USD", "GBP"][i % 3]!,
      card_country: i < nulls ? null : ["DE", "FR", "GB"][i % 3]!,
    }));
  const good = await sendHttp(lake.producer, "payments", pay("good", 20, 2));
  await catalog.covering("payments", good.max_offset!, 30_000);
  // More than half the card countries missing: the null-ratio rule fails and the batch goes to quarantine.
  const bad = await sendHttp(lake.producer, "payments", pay("bad", 40, 38));
  assert.equal(bad.accepted, 40);
  const failed = await waitFor(
    "a failed payments version and its revert",
    async () => {
      const vs = (await catalog.versions("payments", 0, 100)).versions as { version: number; quality: string }[];
      const f = vs.find((v) => v.quality === "failed");
      return f && vs.some((v) => v.version > f.version) ? f.version : undefined;
    },
    { timeoutMs: 60_000 },
  );

  // A refused record crafted as markup: shown as text, never run.
  const hostile = "<img src=x onerror=globalThis.pwned=1>";
  const refusedRecord = await sendHttp(lake.producer, "payments", [{ payment_id: "h-1", user_id: hostile, timestamp: Date.UTC(2026, 5, 1), currency: "EUR" }]);
  assert.equal(refusedRecord.rejected, 1);

  const page = await signedIn(TOKENS.operator, `#/d/payments/v/${failed}`);
  const row = page.locator(`#timeline tr[data-version="${failed}"]`);
  await row.waitFor({ timeout: SEEN_MS });
  assert.match(await row.innerText(), /failed: max_null_ratio\(card_country\)/);
  assert.match(await page.locator(`#timeline tr[data-version="${failed + 1}"]`).innerText(), new RegExp(`revert of v${failed}`));
  const rule = page.locator('#quality tr[data-rule="max_null_ratio(card_country)"]');
  await rule.waitFor({ timeout: SEEN_MS });
  assert.match(await rule.innerText(), /failed/);
  await shot(page, "console-verdict");

  // The operator's quarantine: the failed batch's rows, each with a replay button. One replayed as it
  // is (alone, its missing country is within the rule) is accepted.
  await page.getByRole("link", { name: "Quarantine" }).click();
  await page.getByLabel("domain").selectOption("payments");
  const first = page.locator("#quarantine tbody tr").filter({ hasText: "audit" }).first();
  await first.waitFor({ timeout: SEEN_MS });
  await first.getByRole("button", { name: "Replay", exact: true }).click();
  await first
    .locator(".replay-result")
    .getByText(/accepted: offset \d+/)
    .waitFor({ timeout: SEEN_MS });
  await page.locator("#quarantine").getByText(hostile).first().waitFor({ timeout: SEEN_MS });
  assert.equal(await page.locator("#quarantine img").count(), 0, "a quarantined record is never markup");
  assert.equal(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned), undefined);
  await shot(page, "console-quarantine", false);
  await page.context().close();

  // A reader: no quarantine link, no replay button, and the catalog refuses the quarantine outright.
  const reader = await signedIn(TOKENS.reader, "#/quarantine/payments");
  await reader.getByText("The quarantine is for operators.").waitFor({ timeout: SEEN_MS });
  assert.equal(await reader.getByRole("button", { name: "Replay" }).count(), 0);
  assert.equal(await reader.getByRole("link", { name: "Quarantine" }).isVisible(), false);
  const refused = await fetch(new URL("/v1/domains/payments/quarantine", lake.catalogUrl), { headers: { authorization: `Bearer ${TOKENS.reader}` } });
  assert.equal(refused.status, 403);
  const replay = await fetch(new URL("/v1/domains/payments/quarantine/replay", lake.catalogUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${TOKENS.reader}`, "content-type": "application/json" },
    body: JSON.stringify({ items: [{ seq: 1 }] }),
  });
  assert.equal(replay.status, 403);
  await reader.context().close();
});

test("the lineage view shows a derived dataset's upstream version", { timeout: 120_000 }, async () => {
  const derived = "daily_user_totals";
  const v = await waitFor(
    `a ${derived} version with an upstream position`,
    async () => {
      const ds = await catalog.dataset(derived).catch(() => undefined);
      if (!ds) return undefined;
      const l = (await (
        await fetch(new URL(`/v1/datasets/${derived}/versions/latest/lineage`, lake.catalogUrl), { headers: { authorization: `Bearer ${TOKENS.reader}` } })
      ).json()) as {
        version: number;
        upstream: { dataset: string; version: number | null }[];
      };
      return l.upstream.some((u) => u.dataset === DATASET && u.version !== null) ? l : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const page = await signedIn(TOKENS.reader, `#/d/${derived}/v/${v.version}`);
  const up = page.locator(`#lineage [data-upstream="${DATASET}"]`);
  await up.waitFor({ timeout: SEEN_MS });
  const upVersion = v.upstream.find((u) => u.dataset === DATASET)!.version;
  assert.match(await up.innerText(), new RegExp(`${DATASET} v${upVersion}`));
  assert.match(await page.locator("#lineage-self").innerText(), new RegExp(`${derived} v${v.version}`));
  // From the upstream side: the derived dataset downstream of the domain's version.
  await up.getByRole("link").click();
  await page.locator(`#lineage [data-downstream="${derived}"]`).waitFor({ timeout: SEEN_MS });
  await shot(page, "console-lineage");
  await page.context().close();
});

test("an alert shows up live on the alerts page, for a reader of its dataset", { timeout: 60_000 }, async () => {
  const page = await signedIn(TOKENS.reader, "#/alerts");
  await page.getByText("Nothing is firing.").waitFor({ timeout: SEEN_MS });
  await page.locator("#live").getByText("live").waitFor({ timeout: SEEN_MS });
  // What the catalog's freshness check publishes when a dataset goes stale (shared/messaging alerts.ts).
  const nc = await lake.connect();
  try {
    const message = `freshness of ${DATASET} is 9000000 ms (threshold 60000 ms): firing`;
    const alert = {
      alert: "freshness",
      state: "firing" as const,
      service: "catalog",
      subject: DATASET,
      value: 9e6,
      threshold: 60_000,
      message,
      at: Date.now(),
    };
    await jetstream(nc).publish("lake.alerts.freshness", alertChangedCodec.encode(alert));
    await jetstream(nc).publish("lake.alerts.freshness", alertChangedCodec.encode({ ...alert, subject: "payments", message: "not for this reader" }));
  } finally {
    await nc.close();
  }
  const firing = page.locator('#firing tr[data-alert="freshness"]');
  await firing.waitFor({ timeout: SEEN_MS });
  assert.match(await firing.innerText(), new RegExp(`firing.*freshness.*${DATASET}`, "s"));
  assert.equal(await page.getByText("not for this reader").count(), 0);
  await shot(page, "console-alerts", false);
  await page.context().close();
});
