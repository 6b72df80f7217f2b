// `lake fsck` (apps/lake/src/cli-maintenance.ts) run as a user runs it, against the healed lake:
// it cross-checks the commit log, the object store and the catalog and exits 1 on any problem. Run as
// a process through the CLI (its stable interface), beside the harness's own cross-check (checks.ts
// checkStore).
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";

import type { LakeHandle } from "@lake/app";

import type { CheckResult } from "./checks.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const cli = join(repoRoot, "apps", "lake", "src", "cli.ts");

export async function runFsck(lake: LakeHandle, timeoutMs = 180_000): Promise<CheckResult> {
  const env = { ...process.env };
  for (const k of ["LAKE_TOKEN", "LAKE_CATALOG_URL", "LAKE_INGEST_URL", "NATS_URL", "LAKE_STORE", "LAKE_STORE_ROOT"]) delete env[k];
  const { code, out } = await new Promise<{ code: number | null; out: string }>((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", cli, "fsck", "--data-dir", lake.dataDir],
      { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const c = err ? ((err as { code?: unknown }).code as number | null | undefined) : 0;
        done({ code: typeof c === "number" ? c : null, out: `${stdout}${stderr}`.trim() });
      },
    );
  });
  const lines = out.split("\n").filter((l) => l.trim() !== "");
  return {
    name: "lake fsck clean",
    ok: code === 0,
    detail: code === 0 ? lines.slice(-2).join(" | ") || "exit 0" : `exit ${code}: ${lines.slice(-6).join(" | ")}`,
  };
}
