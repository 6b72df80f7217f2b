// What a maintenance round did, as log lines (the worker process) and as text (`lake maintain`).
import type { Logger } from "@lake/telemetry";

import type { DatasetRoundReport, RoundReport } from "./worker.ts";

/** Did the round do (or fail at) anything for this dataset? Quiet rounds log nothing. */
function eventful(d: DatasetRoundReport): boolean {
  return Boolean((d.compaction && d.compaction.outcome !== "nothing_to_do") || d.expired || (d.gc && (d.gc.deleted > 0 || d.gc.deferred > 0)) || d.error);
}

export function logRound(log: Logger, r: RoundReport): void {
  for (const d of r.datasets) {
    if (!eventful(d)) continue;
    if (d.error) continue; // the worker logged it with its cause
    log.info("maintenance", {
      dataset: d.dataset,
      max_files_per_partition: d.maxFilesPerPartition,
      ...(d.compaction ? { compaction: d.compaction } : {}),
      ...(d.expired ? { expired: d.expired } : {}),
      ...(d.gc ? { gc: d.gc } : {}),
      round_ms: Math.round(r.ms),
    });
  }
}

export function formatRound(r: RoundReport): string[] {
  const out: string[] = [];
  for (const d of r.datasets) {
    if (d.skipped) {
      out.push(`${d.dataset}: skipped (${d.skipped})`);
      continue;
    }
    const parts: string[] = [];
    if (d.maxFilesPerPartition !== undefined) parts.push(`at most ${d.maxFilesPerPartition} file(s) per partition`);
    const c = d.compaction;
    if (c) {
      if (c.outcome === "committed")
        parts.push(
          `compacted ${c.filesRemoved} file(s) into ${c.filesAdded} as version ${c.version} (live files ${c.filesBefore} → ${c.filesAfter})` +
            (c.deferredFiles ? `, ${c.deferredFiles} left for the next round` : ""),
        );
      else parts.push(`compaction ${c.outcome.replace(/_/g, " ")}`);
    }
    if (d.expired) parts.push(`expired ${d.expired.count} version(s) (${d.expired.versions})`);
    if (d.gc)
      parts.push(
        `gc deleted ${d.gc.deleted} object(s) (${d.gc.bytes} bytes)` +
          (d.gc.deferred ? `, ${d.gc.deferred} left for the next pass` : "") +
          (d.gc.youngOrphans ? `, kept ${d.gc.youngOrphans} young orphan(s)` : ""),
      );
    if (d.error) parts.push(`FAILED at ${d.error.task}: ${d.error.message}`);
    if (!c && !d.expired && !d.gc && !d.error) parts.push("nothing due");
    out.push(`${d.dataset}: ${parts.join("; ")}`);
  }
  out.push(`round done in ${(r.ms / 1000).toFixed(1)} s`);
  return out;
}
