// What catalog authentication costs on the read path, on this machine. Asserts nothing: it measures.
//   node --import tsx bench/catalog-auth.ts [--requests 1000] [--rounds 4] [--tokens 10]
//
// One lake commits some domain_events versions; then one catalog process at a time is started on the
// same projection (same SQLite file, same data), alternately without a tokens file and with one, and
// serves a few thousand sequential GET /v1/datasets/domain_events/versions/latest over one keep-alive
// connection. Rounds alternate so drift on the machine hits both sides alike. Also times
// authenticate + authorize (the route table lookup and the decision) in process, for 1, 10 and 100
// configured tokens.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { serviceEntry, startLake } from "@lake/app";
import { authenticate, authorize, parseTokensFile, tokenSha256 } from "@lake/catalog";
import { CatalogClient, sampleEvents, sendHttp } from "@lake/client";
import { type ServiceHandle, spawnService } from "@lake/testing";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    rounds: { type: "string", default: "4" },
    tokens: { type: "string", default: "10" },
    events: { type: "string", default: "20000" },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const TOKEN_COUNT = Math.max(3, Number(values.tokens));
const EVENTS = Number(values.events);
const WARMUP = 2000;
const DATASET = "domain_events";
const PATH = `/v1/datasets/${DATASET}/versions/latest`;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

// A tokens file like a real one: a few readers and operators, the admin last (every entry is compared anyway).
const READER_TOKEN = "bench-reader-token-5b0f3c7e";
const ADMIN_TOKEN = "bench-admin-token-91d2aa04";
function tokensFile(count: number): string {
  const entries: unknown[] = [{ name: "bi-dashboard", sha256: tokenSha256(READER_TOKEN), role: "reader", datasets: [DATASET, "daily_user_totals"] }];
  for (let i = 1; i < count - 1; i++)
    entries.push({ name: `svc-${i}`, sha256: tokenSha256(`other-${i}`), role: i % 2 ? "reader" : "operator", ...(i % 2 ? { datasets: ["payments"] } : {}) });
  entries.push({ name: "root", sha256: tokenSha256(ADMIN_TOKEN), role: "admin" });
  return JSON.stringify(entries);
}

// The lake's own services must not pick a tokens file up from the environment.
delete process.env.LAKE_CATALOG_TOKENS_FILE;
const dataDir = mkdtempSync(join(tmpdir(), "lake-bench-auth-"));
const lake = await startLake({ dataDir, without: ["quality", "aggregator"] });
let catalog: ServiceHandle | undefined;
try {
  // Data: EVENTS events in batches of 1000, so the latest version has a realistic file list.
  let maxOffset = 0;
  for (let i = 0; i < EVENTS; i += 1000) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(Math.min(1000, EVENTS - i), { prefix: `ba${i}`, seed: i + 1 }));
    maxOffset = Math.max(maxOffset, r.max_offset ?? 0);
  }
  const latest = await new CatalogClient(lake.catalogUrl).waitCovering(DATASET, maxOffset, 120_000);
  // Stop the lake's writers: from here the commit log doesn't change, so every catalog serves the same bytes.
  for (const [name, s] of lake.services) if (name !== "catalog") await s.stop();

  const file = join(dataDir, "tokens.json");
  writeFileSync(file, tokensFile(TOKEN_COUNT));
  const benchCatalogDir = join(dataDir, "bench-catalog");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  function get(port: number, headers: Record<string, string>): Promise<{ ms: number; status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      const t = performance.now();
      const req = request({ host: "127.0.0.1", port, path: PATH, agent, headers }, (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => resolve({ ms: performance.now() - t, status: res.statusCode ?? 0, bytes }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  }

  async function startCatalog(withTokens: boolean): Promise<{ handle: ServiceHandle; port: number }> {
    const env: Record<string, string> = { ...lake.natsEnv("catalog"), LAKE_CATALOG_DIR: benchCatalogDir, LAKE_CATALOG_PORT: "0" };
    if (withTokens) env.LAKE_CATALOG_TOKENS_FILE = file;
    const handle = await spawnService({ name: withTokens ? "catalog-auth-on" : "catalog-auth-off", entry: serviceEntry("catalog"), env });
    const port = Number(handle.ready.http_port);
    // Wait until it has projected the whole (now still) log.
    for (;;) {
      const h = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { projected_through_seq: number };
      if (h.projected_through_seq >= latest.commit_seq) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { handle, port };
  }

  const modes = {
    off: { label: "auth off", tokens: false, headers: {} as Record<string, string>, expect: 200 },
    // Control: the same header sent to a catalog that ignores it (what carrying the header costs).
    offHeader: { label: "auth off, Authorization header sent anyway", tokens: false, headers: { authorization: `Bearer ${READER_TOKEN}` }, expect: 200 },
    on: { label: `auth on, reader token (${TOKEN_COUNT} tokens configured)`, tokens: true, headers: { authorization: `Bearer ${READER_TOKEN}` }, expect: 200 },
    onAdmin: { label: "auth on, admin token (last entry of the file)", tokens: true, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, expect: 200 },
  };
  // Measured on its own after the others: each denial writes a log line the benchmark itself reads
  // (spawnService keeps the child's output), which would land in the neighbouring requests' times.
  const denied = { label: "auth on, no token (401 + log line + ring)", headers: {} as Record<string, string>, expect: 401 };
  const samples: Record<keyof typeof modes | "denied", number[]> = { off: [], offHeader: [], on: [], onAdmin: [], denied: [] };
  let bodyBytes = 0;

  for (let round = 0; round < ROUNDS; round++) {
    for (const withTokens of round % 2 === 0 ? [false, true] : [true, false]) {
      const c = await startCatalog(withTokens);
      catalog = c.handle;
      // This catalog's modes take turns request by request, after a warm-up of all of them: the JIT and
      // SQLite's cache keep warming long after start, and taking the modes one after another would
      // credit that to whichever ran last.
      const mine = (Object.keys(modes) as (keyof typeof modes)[]).filter((k) => modes[k].tokens === withTokens);
      for (let i = 0; i < WARMUP; i++) for (const key of mine) await get(c.port, modes[key].headers);
      for (let i = 0; i < REQUESTS; i++) {
        for (const key of mine) {
          const m = modes[key];
          const r = await get(c.port, m.headers);
          if (r.status !== m.expect) throw new Error(`${m.label}: expected ${m.expect}, got ${r.status}`);
          if (key === "off") bodyBytes = r.bytes;
          samples[key].push(r.ms);
        }
      }
      if (withTokens) {
        for (let i = 0; i < WARMUP; i++) await get(c.port, denied.headers);
        for (let i = 0; i < REQUESTS; i++) {
          const r = await get(c.port, denied.headers);
          if (r.status !== denied.expect) throw new Error(`${denied.label}: expected ${denied.expect}, got ${r.status}`);
          samples.denied.push(r.ms);
        }
      }
      agent.destroy();
      await c.handle.stop();
      catalog = undefined;
    }
  }

  const rows = ([...Object.keys(modes), "denied"] as (keyof typeof samples)[]).map((key) => {
    const xs = [...samples[key]].sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return { mode: key === "denied" ? denied.label : modes[key].label, n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), mean, rps: 1000 / mean };
  });
  console.log(`\nGET ${PATH}: version ${latest.version}, ${latest.files.length} files, ${bodyBytes} bytes per answer; sequential, one keep-alive connection`);
  console.log(
    `${ROUNDS} rounds × ${REQUESTS} requests per mode (after ${WARMUP} warm-up requests per mode at each catalog start; a catalog's modes take turns request by request; rounds alternate off/on)\n`,
  );
  const w = Math.max(...rows.map((r) => r.mode.length));
  console.log(
    `${"mode".padEnd(w)}  ${"requests".padStart(8)}  ${"p50 ms".padStart(8)}  ${"p99 ms".padStart(8)}  ${"mean ms".padStart(8)}  ${"req/s".padStart(7)}`,
  );
  console.log(`${"-".repeat(w)}  --------  --------  --------  --------  -------`);
  for (const r of rows)
    console.log(
      `${r.mode.padEnd(w)}  ${String(r.n).padStart(8)}  ${r.p50.toFixed(3).padStart(8)}  ${r.p99.toFixed(3).padStart(8)}  ${r.mean.toFixed(3).padStart(8)}  ${Math.round(r.rps).toString().padStart(7)}`,
    );
  const [off, on] = [rows[0]!, rows[2]!];
  const delta = (a: number, b: number) => `${((b - a) * 1000).toFixed(0)} µs (${(((b - a) / a) * 100).toFixed(1)}%)`;
  console.log(`\nauth on − off: p50 ${delta(off.p50, on.p50)}, p99 ${delta(off.p99, on.p99)}, mean ${delta(off.mean, on.mean)}`);

  // In process: the work auth adds to every request (hash the token, compare with every entry, decide).
  console.log(`\nauthenticate + authorize in process (sha256 of the token, constant-time compare with every entry, route lookup):`);
  const segments = PATH.split("/").filter(Boolean);
  for (const count of [1, 10, 100]) {
    const entries = parseTokensFile(tokensFile(Math.max(3, count)));
    const header = `Bearer ${READER_TOKEN}`;
    const N = 200_000;
    let allowed = 0;
    for (let i = 0; i < 20_000; i++) if (authorize(authenticate(entries, header), "GET", segments).kind === "allow") allowed++;
    const t = performance.now();
    for (let i = 0; i < N; i++) if (authorize(authenticate(entries, header), "GET", segments).kind === "allow") allowed++;
    const us = ((performance.now() - t) * 1000) / N;
    console.log(`  ${String(entries.length).padStart(3)} tokens: ${us.toFixed(2)} µs per request${allowed === N + 20_000 ? "" : " (unexpected denials!)"}`);
  }
} finally {
  await catalog?.stop();
  await lake.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
