// `lake versions D` and `lake audit D`: a dataset's history as an operator reads it. Which version is
// current, what made each one (operation), its verdict, whether retention expired it; and the audit
// trail filtered by kind, actor and time (the catalog filters: GET /v1/datasets/D/audit?kind=…).
import type { AuditEntry, CatalogClient } from "@lake/client";

import { OpsUsageError } from "./cli-ops.ts";

type Values = Record<string, string | boolean | undefined>;
type Print = (columns: string[], rows: Record<string, unknown>[]) => void;

export const HISTORY_USAGE = `  lake versions D [--limit N]     a dataset's versions: current (*), operation, rows, verdict, expired
  lake audit D [--kind K,K] [--actor A] [--since TIME] [--until TIME] [--limit N]
      promotions, rollbacks, tags, expiry, gc and failed verdicts (--kind all adds quality_passed)`;

/** What --kind takes (the audit trail's kinds), and the default: all but the per-version quality_passed. */
export const AUDIT_KINDS = ["promote", "rollback", "auto_promote", "tag", "quality_passed", "quality_failed", "expire", "gc"] as const;
const DEFAULT_KINDS = AUDIT_KINDS.filter((k) => k !== "quality_passed");

/** A name the catalog has no version of: the one-line error, naming the datasets it does have. */
export async function noDataset(catalog: CatalogClient, name: string): Promise<OpsUsageError> {
  const known = (await catalog.datasets()).datasets.map((d) => d.name).sort();
  return new OpsUsageError(`no dataset ${name} (the catalog has ${known.length ? known.join(", ") : "no dataset yet"})`);
}

function positive(v: Values, name: string, fallback: number, max: number): number {
  const raw = v[name] as string | undefined;
  if (raw === undefined) return fallback;
  if (!/^[1-9]\d{0,8}$/.test(raw) || Number(raw) > max) throw new OpsUsageError(`--${name} must be an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function instant(v: Values, name: string): number | undefined {
  const raw = v[name] as string | undefined;
  if (raw === undefined) return undefined;
  const at = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (Number.isNaN(at)) throw new OpsUsageError(`--${name} takes an ISO-8601 time or epoch milliseconds, got ${JSON.stringify(raw.slice(0, 40))}`);
  return at;
}

export async function cmdVersions(catalog: CatalogClient, dataset: string, v: Values, print: Print): Promise<void> {
  const limit = positive(v, "limit", 100, 1000);
  const page = await catalog.versions(dataset, 0, limit);
  if (page.versions.length === 0) throw await noDataset(catalog, dataset);
  const { dataset: ds } = await catalog.dataset(dataset);
  print(
    ["version", "current", "committed_at", "operation", "rows_added", "total_rows", "quality", "first_offset", "last_offset", "expired"],
    page.versions.map((x) => ({
      version: x.version,
      current: x.version === ds.current_version ? "*" : "",
      committed_at: x.committed_at,
      operation: x.operation ?? "append",
      rows_added: x.row_count,
      total_rows: x.total_rows,
      quality: x.quality,
      first_offset: x.source.first_offset,
      last_offset: x.source.last_offset,
      expired: x.expired ? `yes (seq ${x.expired_seq})` : "",
    })),
  );
  console.log(
    `current: ${ds.current_version ? `version ${ds.current_version}` : "none yet"}; latest: version ${ds.latest_version} (${ds.policy})${page.next_after !== null ? `; more: --limit ${Math.min(1000, limit * 2)}` : ""}`,
  );
}

/** The failed rules of a quality_failed entry, from its detail. */
function failedRules(e: AuditEntry): string {
  const rules = (e.detail as { rules?: { rule: string; passed: boolean }[] } | null)?.rules;
  return Array.isArray(rules)
    ? rules
        .filter((r) => !r.passed)
        .map((r) => r.rule)
        .join(", ")
    : "";
}

export async function cmdAudit(catalog: CatalogClient, dataset: string, v: Values, print: Print): Promise<void> {
  const raw = v.kind as string | undefined;
  const kinds = raw === undefined ? DEFAULT_KINDS : raw === "all" ? [] : raw.split(",").filter(Boolean);
  for (const k of kinds)
    if (!(AUDIT_KINDS as readonly string[]).includes(k))
      throw new OpsUsageError(`--kind ${JSON.stringify(k)}: expected all or any of ${AUDIT_KINDS.join(", ")}`);
  const limit = positive(v, "limit", 1000, 1000);
  const filter = {
    kinds,
    ...(v.actor === undefined ? {} : { actor: String(v.actor) }),
    ...(v.since === undefined ? {} : { since: instant(v, "since")! }),
    ...(v.until === undefined ? {} : { until: instant(v, "until")! }),
  };
  const r = await catalog.audit(dataset, 0, limit, filter);
  // An empty trail of a dataset that doesn't exist is a typo, not an answer.
  if (r.entries.length === 0) await catalog.dataset(dataset).catch(async () => Promise.reject(await noDataset(catalog, dataset)));
  print(
    ["seq", "at", "kind", "version", "previous_version", "actor", "reason"],
    r.entries.map((e) => ({ ...e, reason: e.kind === "quality_failed" && failedRules(e) ? `${e.reason} (failed: ${failedRules(e)})` : e.reason })),
  );
  if (raw === undefined) console.log("quality_passed verdicts left out: --kind all shows them");
  if (r.next_after !== null) console.log(`more: --since or --kind narrow it (${limit} entries shown)`);
}
