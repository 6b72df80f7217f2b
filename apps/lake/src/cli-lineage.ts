// `lake lineage`: what a version was made from, and which versions hold a source offset, as the
// catalog answers them (GET /v1/datasets/<d>/versions/<v>/lineage and GET /v1/lineage).
import type { CatalogLineage, CatalogSourceLineage } from "@lake/client";

import { catalogClient, OpsUsageError } from "./cli-ops.ts";

type Values = Record<string, string | boolean | undefined>;
type Print = (columns: string[], rows: Record<string, unknown>[]) => void;

export const LINEAGE_USAGE = `  lake lineage D [VERSION] [--files] [--json]
      what a version (a number, latest (default), current or a tag) was made from: operation, files,
      source offsets, upstream positions and watermark (derived datasets), quality verdict; --files
      lists every file's key
  lake lineage --source-offset X [--dataset D] [--stream S] [--subject T] [--json]
      which versions hold source offset X (stream EVENTS by default): for each dataset you may read,
      the version that added it, or the first derived version reflecting it`;

const usage = () => new OpsUsageError(`usage:\n${LINEAGE_USAGE}`);

export async function cmdLineage(rest: string[], v: Values, catalogUrl: () => string, print: Print): Promise<void> {
  const json = Boolean(v.json);
  if (v["source-offset"] !== undefined) {
    if (rest.length > 0) throw new OpsUsageError(`lake lineage --source-offset X takes no dataset argument (use --dataset ${rest[0]})`);
    const raw = String(v["source-offset"]);
    if (!/^[1-9]\d{0,15}$/.test(raw) || !Number.isSafeInteger(Number(raw)))
      throw new OpsUsageError(`--source-offset must be a positive integer (a source stream sequence), got ${JSON.stringify(raw)}`);
    const r = await catalogClient(catalogUrl()).sourceLineage(Number(raw), {
      stream: v.stream as string | undefined,
      subject: v.subject as string | undefined,
      dataset: v.dataset as string | undefined,
    });
    if (json) return console.log(JSON.stringify(r, null, 2));
    return printSourceLineage(r, print);
  }
  const [dataset, version = "latest", ...extra] = rest;
  if (!dataset || extra.length > 0) throw usage();
  const l = await catalogClient(catalogUrl()).lineage(dataset, version, v.files ? { files: "list" } : undefined);
  if (json) return console.log(JSON.stringify(l, null, 2));
  printLineage(l);
}

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A range of partitions as its ends: a year of days is one line. */
function partitionsText(p: readonly string[]): string {
  if (p.length === 0) return "no partitions";
  if (p.length <= 3) return `${p.length} partition${p.length === 1 ? "" : "s"} (${p.join(", ")})`;
  return `${p.length} partitions (${p[0]} … ${p.at(-1)})`;
}

export function printLineage(l: CatalogLineage): void {
  const out: [string, string][] = [];
  const status = [l.current ? "current" : "not current", l.expired ? `expired (commit-log seq ${l.expired_seq})` : "served"];
  if (l.tags.length > 0) status.push(`tags ${l.tags.join(", ")}`);
  out.push(["status", status.join("; ")]);
  out.push(["schema", `${l.schema.name} v${l.schema.version} (${l.schema.fingerprint.slice(0, 16)}…)`]);
  const f = l.files;
  out.push([
    "files",
    `${f.count} file${f.count === 1 ? "" : "s"}, ${f.rows} rows, ${fmtBytes(f.bytes)} in ${partitionsText(f.partitions)}; this version added ${f.added}, removed ${f.removed}`,
  ]);
  out.push(["manifest", f.manifest.key]);
  if (f.manifest_list !== null) out.push(["manifest list", f.manifest_list]);
  const s = l.source;
  out.push([
    "source",
    s.first_offset > s.last_offset
      ? `no new source data (${s.stream} ${s.subject}, after offset ${s.last_offset})`
      : `${s.stream} ${s.subject} offsets ${s.first_offset}-${s.last_offset} (${s.rows_added} rows added)`,
  ]);
  if (l.base_version !== null) out.push(["base version", String(l.base_version)]);
  if (l.reverted_version !== null) out.push(["reverted version", `${l.reverted_version} (its batch is taken out)`]);
  for (const u of l.upstream) {
    const where =
      u.status === "covered"
        ? `first in ${u.dataset} version ${u.version}`
        : u.status === "not_yet"
          ? `no ${u.dataset} version reaches it yet`
          : u.status === "not_readable"
            ? `${u.dataset} versions not shown (no read access)`
            : `${u.dataset} is not a dataset the catalog knows`;
    out.push(["upstream", `${u.dataset}: ${u.stream} ${u.subject} through offset ${u.through_seq}; ${where}`]);
  }
  if (l.upstream_recorded_in !== null && l.upstream_recorded_in !== l.version)
    out.push(["", `(positions recorded in version ${l.upstream_recorded_in}: same rows)`]);
  if (l.watermark !== null) out.push(["watermark", l.watermark]);
  const q = l.quality;
  out.push(["quality", q.checked_at === null ? q.status : `${q.status} (checked ${q.checked_at} by ${q.checker_id})`]);
  for (const r of q.failed_rules) out.push(["", `failed ${r.rule}: measured ${r.measured}, expected ${r.expected}${r.message ? ` (${r.message})` : ""}`]);
  console.log(
    `${l.dataset} version ${l.version}: ${l.operation}, parent ${l.parent_version}, committed ${l.committed_at} by ${l.committer_id} (write ${l.write_id}, commit-log seq ${l.commit_seq})`,
  );
  const width = Math.max(...out.map(([k]) => k.length));
  for (const [k, text] of out) console.log(`  ${k ? `${k}:`.padEnd(width + 1) : "".padEnd(width + 1)}  ${text}`);
  for (const key of f.keys ?? []) console.log(`    ${key}`);
}

export function printSourceLineage(r: CatalogSourceLineage, print: Print): void {
  console.log(`source offset ${r.source.offset} on ${r.source.stream}${r.source.subject ? ` ${r.source.subject}` : " (any subject)"}`);
  print(
    ["dataset", "relation", "subject", "version", "operation", "committed_at", "holds"],
    r.datasets.map((d) => {
      const v = d.version;
      let holds: string;
      if (!v) holds = `no version yet (latest ${d.latest_version})`;
      else if (d.relation === "source")
        holds = `added it (offsets ${v.first_offset}-${v.last_offset})${v.reverted_by !== null ? `; reverted by version ${v.reverted_by}` : ""}`;
      else holds = `first through offset ${v.through_seq}; every later version too`;
      if (v?.expired) holds += " (expired)";
      return {
        dataset: d.dataset,
        relation: d.relation,
        subject: d.subject,
        version: v?.version ?? "-",
        operation: v?.operation ?? "-",
        committed_at: v?.committed_at ?? "-",
        holds,
      };
    }),
  );
}
