// The quality checker's Prometheus metrics: verdicts by outcome, the rules that failed, the drift it
// measured (row-count drop, null ratios) and how long a version waited for its verdict. Labels are
// bounded: datasets and rule names come from the contracts (a rule names a contract field), columns are
// capped by MAX_DRIFT_COLUMNS. Fed by the checker's onVerdict hook, after the verdict is in the log.
import { Counter, Gauge, Histogram, type Registry } from "@lake/telemetry";

import type { Drift } from "./domain/drift.ts";
import type { RuleResult } from "./domain/rules.ts";

export interface VerdictObservation {
  dataset: string;
  outcome: "passed" | "failed";
  rules: readonly RuleResult[];
  /** Reading, measuring and appending, in ms. */
  judgeMs: number;
  /** From the commit record's append to the verdict's, in ms; undefined when the commit's time is unknown. */
  sinceCommitMs: number | undefined;
  /** undefined for a verdict that measured nothing (a revert). */
  drift: Drift | undefined;
}

// Up to half an hour: the LakeVerdictsSlow alert (p95 above 300 s) needs buckets above its threshold.
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class QualityMetrics {
  private readonly verdicts: Counter;
  private readonly failures: Counter;
  private readonly judgeSeconds: Histogram;
  private readonly latency: Histogram;
  private readonly rowDrop: Gauge;
  private readonly nullRatio: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.verdicts = new Counter({
      name: "lake_quality_verdicts_total",
      help: "Verdicts this checker appended, by outcome",
      labelNames: ["dataset", "outcome"],
      registers,
    });
    this.failures = new Counter({
      name: "lake_quality_rule_failures_total",
      help: "Failed rules in the verdicts this checker appended (one verdict can fail several)",
      labelNames: ["dataset", "rule"],
      registers,
    });
    this.judgeSeconds = new Histogram({
      name: "lake_quality_judge_seconds",
      help: "Time to judge a version: read its files, decide, append the verdict",
      labelNames: ["dataset"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.latency = new Histogram({
      name: "lake_quality_verdict_latency_seconds",
      help: "Time from a version's commit to its verdict in the log (how long a gated version waits to be published)",
      labelNames: ["dataset"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.rowDrop = new Gauge({
      name: "lake_quality_row_count_drop_ratio",
      help: "Last measured fraction of the previous version's rows a version lost (0 when it grew)",
      labelNames: ["dataset"],
      registers,
    });
    this.nullRatio = new Gauge({
      name: "lake_quality_null_ratio",
      help: "Last measured null ratio of a column over the whole version",
      labelNames: ["dataset", "column"],
      registers,
    });
  }

  observe(o: VerdictObservation): void {
    this.verdicts.inc({ dataset: o.dataset, outcome: o.outcome });
    for (const r of o.rules) if (!r.passed) this.failures.inc({ dataset: o.dataset, rule: r.rule });
    this.judgeSeconds.observe({ dataset: o.dataset }, o.judgeMs / 1000);
    if (o.sinceCommitMs !== undefined) this.latency.observe({ dataset: o.dataset }, Math.max(0, o.sinceCommitMs) / 1000);
    if (!o.drift) return;
    if (o.drift.rowCountDrop !== undefined) this.rowDrop.set({ dataset: o.dataset }, o.drift.rowCountDrop);
    for (const [column, ratio] of Object.entries(o.drift.nullRatios)) this.nullRatio.set({ dataset: o.dataset, column }, ratio);
  }
}
