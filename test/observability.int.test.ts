// The observability stack of the compose deployment (deploy/prometheus, deploy/grafana), checked with
// what runs here (no Docker engine): Prometheus scrapes every lake service's metrics port as compose
// configures it; promtool accepts the config and the rules and passes the rules' unit tests; the Grafana
// dashboard is well formed on the provisioned datasource; and every metric a rule or a panel names is
// one the real services export, scraped from a running lake that has seen accepted, refused and
// audit-failed data (so the new quality, ingest and quarantine series carry samples with their labels).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { parse } from "yaml";

import { sampleEvents, sendHttp } from "@lake/client";
import { waitFor } from "@lake/testing";

import { covering, withLake } from "./helpers.ts";

const root = resolve(import.meta.dirname, "..");
const deployDir = join(root, "deploy");
const run = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | null>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  restart?: string;
  healthcheck?: { test?: string[] };
}
const compose = parse(readFileSync(join(deployDir, "docker-compose.yml"), "utf8"), { merge: true }) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);
const envOf = (s: ComposeService) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));

interface PromConfig {
  rule_files?: string[];
  scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
}
const promConfig = parse(readFileSync(join(deployDir, "prometheus", "prometheus.yml"), "utf8")) as PromConfig;
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(join(deployDir, "prometheus", "alerts.yml"), "utf8")) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
}
const dashboard = JSON.parse(readFileSync(join(deployDir, "grafana", "dashboards", "lake.json"), "utf8")) as { uid: string; title: string; panels: Panel[] };
const datasources = (
  parse(readFileSync(join(deployDir, "grafana", "provisioning", "datasources", "prometheus.yml"), "utf8")) as {
    datasources: { uid: string; type: string; url: string }[];
  }
).datasources;

/** A lake service's metrics endpoint as compose runs it: LAKE_METRICS_PORT, else the one port it listens on. */
function metricsPortOf(name: string, s: ComposeService): string {
  const env = envOf(s);
  if (env.LAKE_METRICS_PORT) return env.LAKE_METRICS_PORT;
  const ports = Object.entries(env).filter(([k]) => k.endsWith("_PORT"));
  assert.equal(ports.length, 1, `${name}: one *_PORT variable (its /metrics listener), or LAKE_METRICS_PORT`);
  return ports[0]![1];
}
const scraped = new Set(promConfig.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets)));
/** Long-running services built from the lake image (the setup job exits). */
const lakeServices = services.filter(([, s]) => s.build !== undefined && s.restart !== "no");

function promtool(): string {
  const local = join(root, ".tools", "bin", "promtool");
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "promtool"))) return join(dir, "promtool");
  assert.fail("promtool not found: scripts/setup.sh unpacks it into .tools/bin");
}

/** The metric names an expression selects (ours are all lake_*; `up` is Prometheus' own). */
const metricNames = (expr: string): string[] => [...new Set([...expr.matchAll(/\b(lake_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!))];
/** Labels an expression groups by or matches on. */
const labelNames = (expr: string): string[] => {
  const out = new Set<string>();
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) for (const l of m[1]!.split(",")) if (l.trim()) out.add(l.trim());
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) for (const mm of m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!=|!~|=)/g)) out.add(mm[1]!);
  return [...out];
};

describe("deploy/prometheus and deploy/grafana, read", () => {
  test("compose runs Prometheus and Grafana from pinned images with their config mounted, on loopback", () => {
    const prom = compose.services.prometheus;
    const grafana = compose.services.grafana;
    assert.ok(prom && grafana, "compose has prometheus and grafana");
    for (const [name, s] of [
      ["prometheus", prom],
      ["grafana", grafana],
    ] as const) {
      assert.match(s.image ?? "", /^[\w./-]+:v?\d+\.\d+\.\d+$/, `${name}: image pinned to a release (${s.image})`);
      for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: ${p} on the host's loopback only`);
    }
    const mounts = prom.volumes ?? [];
    assert.ok(mounts.includes("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"));
    for (const f of promConfig.rule_files ?? [])
      assert.ok(mounts.includes(`./prometheus/${f}:/etc/prometheus/${f}:ro`), `rule file ${f} is mounted beside the config`);
    const provider = (
      parse(readFileSync(join(deployDir, "grafana", "provisioning", "dashboards", "lake.yml"), "utf8")) as { providers: { options: { path: string } }[] }
    ).providers[0]!;
    const g = grafana.volumes ?? [];
    assert.ok(g.includes(`./grafana/dashboards:${provider.options.path}:ro`), "the dashboards directory is mounted where the provider reads");
    assert.ok(g.includes("./grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro"));
    assert.ok(g.includes("./grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro"));
    assert.equal(new URL(datasources[0]!.url).host, `prometheus:${(prom.ports ?? [])[0]!.split(":").at(-1)}`, "the datasource is the compose Prometheus");
  });

  test("every lake service's metrics port is scraped, and every target is a lake service's metrics port", () => {
    assert.ok(lakeServices.length >= 7);
    const expected = new Set<string>();
    for (const [name, s] of lakeServices) {
      const target = `${name}:${metricsPortOf(name, s)}`;
      expected.add(target);
      assert.ok(scraped.has(target), `prometheus.yml scrapes ${target}`);
      const open = [...(s.expose ?? []), ...(s.ports ?? []).map((p) => p.split(":").at(-1)!)];
      assert.ok(open.includes(target.split(":")[1]!), `${name} exposes its metrics port ${target.split(":")[1]}`);
    }
    assert.deepEqual(
      [...scraped].filter((t) => !expected.has(t)),
      [],
      "no target names a service or port compose doesn't run",
    );
    for (const j of promConfig.scrape_configs) assert.equal(j.metrics_path ?? "/metrics", "/metrics");
  });

  test("promtool accepts the config and rules, and the rules pass their unit tests; every alert has one", async () => {
    const bin = promtool();
    const config = await run(bin, ["check", "config", join(deployDir, "prometheus", "prometheus.yml")]);
    assert.match(config.stdout, /SUCCESS: .* is valid prometheus config file syntax/);
    const unit = await run(bin, ["test", "rules", join(deployDir, "prometheus", "alerts.test.yml")], { cwd: join(deployDir, "prometheus") });
    assert.match(`${unit.stdout}${unit.stderr}`, /SUCCESS/);
    const unitTests = parse(readFileSync(join(deployDir, "prometheus", "alerts.test.yml"), "utf8")) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const tested = new Set(unitTests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    for (const r of rules) if (r.alert) assert.ok(tested.has(r.alert), `alerts.test.yml shows ${r.alert} firing`);
    // The kinds the deployment promises.
    const exprs = rules.map((r) => r.expr).join("\n");
    for (const m of ["up", "lake_committer_consumer_lag", "lake_catalog_freshness_seconds", "lake_quality_rule_failures_total", "lake_ingest_rejected_total"])
      assert.ok(metricNames(exprs).includes(m), `an alert on ${m}`);
    for (const r of rules) assert.ok(r.annotations?.summary && r.labels?.severity, `${r.alert}: a severity and a summary`);
  });

  test("the dashboard: unique panel ids on a grid, every panel and query on the provisioned datasource", () => {
    const uid = datasources[0]!.uid;
    assert.equal(datasources[0]!.type, "prometheus");
    assert.ok(dashboard.uid && dashboard.title);
    assert.ok(dashboard.panels.length >= 8);
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, "panel ids are unique");
    for (const p of dashboard.panels) {
      assert.equal(p.datasource?.uid, uid, `${p.title}: on datasource ${uid}`);
      assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: on the 24-column grid`);
      assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`);
      for (const t of p.targets!) {
        assert.equal(t.datasource?.uid ?? uid, uid);
        assert.ok(metricNames(t.expr).length > 0, `${p.title}: ${t.expr} names a metric`);
      }
    }
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(" | ");
    for (const want of ["throughput", "lag", "freshness", "verdict", "quarantine"]) assert.match(titles, new RegExp(want), `a ${want} panel`);
  });
});

describe("every metric a rule or panel names is exported by a running lake", () => {
  let lake: Awaited<ReturnType<typeof withLake>>;
  /** metric name → label names seen on its samples (empty: exported, no sample yet). */
  const exported = new Map<string, Set<string>>();
  let scrapes = new Map<string, string>();

  const scrapeAll = async () => {
    const out = new Map<string, string>();
    for (const [name, h] of lake.services) {
      const url = String(h.ready.metrics_url ?? h.ready.url);
      const res = await fetch(new URL("/metrics", url));
      assert.equal(res.status, 200, `${name} serves /metrics`);
      out.set(name, await res.text());
    }
    return out;
  };

  before(async () => {
    lake = await withLake({ env: { LAKE_COMMIT_MAX_AGE_MS: "500" } });
    // Accepted events in two versions (drift needs a previous one), a refused one, and a payments batch
    // whose card_country is all null: it fails its audit, is reverted, and its rows go to quarantine.
    const a = await sendHttp(lake.producer, "domain_events", sampleEvents(20, { prefix: "obs-a" }));
    await covering(lake, a.max_offset!);
    const b = await sendHttp(lake.producer, "domain_events", [...sampleEvents(10, { prefix: "obs-b" }), { event_id: "obs-bad", amount: 1 }]);
    assert.equal(b.rejected, 1);
    await covering(lake, b.max_offset!);
    const bad = Array.from({ length: 10 }, (_, i) => ({
      payment_id: `obs-p${i}`,
      user_id: `u${i}`,
      timestamp: Date.UTC(2026, 5, 1) + i,
      amount: 10,
      currency: "EUR",
      card_country: null,
    }));
    assert.equal((await sendHttp(lake.producer, "payments", bad)).accepted, 10);
    // What the scrapes must show before the names are collected; the ones still missing are named on a timeout.
    const wanted: [string, string, RegExp][] = [
      ["quality", "the failed rule", /^lake_quality_rule_failures_total\{dataset="payments",rule="max_null_ratio\(card_country\)"/m],
      ["committer:payments", "the audit's 10 rows in quarantine", /^lake_committer_quarantined_rows\{dataset="payments",service="committer"\} 10$/m],
      // The revert is committed after its rows are in quarantine: wait for both.
      ["committer:payments", "the revert", /^lake_committer_reverts\{dataset="payments",service="committer"\} [1-9]/m],
      ["quality", "domain_events' row-count drift", /^lake_quality_row_count_drop_ratio\{dataset="domain_events"/m],
    ];
    let missing: string[] = [];
    try {
      scrapes = await waitFor(
        "the failed audit in quality's and the payments committer's metrics",
        async () => {
          const s = await scrapeAll();
          missing = wanted.filter(([svc, , re]) => !re.test(s.get(svc)!)).map(([svc, what]) => `${svc}: ${what}`);
          return missing.length === 0 ? s : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 500 },
      );
    } catch (e) {
      throw new Error(`still missing from the scrapes: ${missing.join("; ")}`, { cause: e });
    }
    for (const text of scrapes.values()) {
      for (const m of text.matchAll(/^# TYPE (\w+) (\w+)$/gm)) {
        const names = m[2] === "histogram" ? [m[1]!, `${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`] : [m[1]!];
        for (const n of names) if (!exported.has(n)) exported.set(n, new Set());
      }
      for (const m of text.matchAll(/^(\w+)\{([^}]*)\} /gm)) {
        const labels = exported.get(m[1]!) ?? new Set();
        for (const l of m[2]!.matchAll(/(\w+)="/g)) labels.add(l[1]!);
        exported.set(m[1]!, labels);
      }
    }
    // Prometheus adds these to every scraped series.
    for (const labels of exported.values()) labels.add("job").add("instance");
    exported.set("up", new Set(["job", "instance"]));
  });
  after(async () => {
    await lake?.cleanup();
  });

  test("the new series carry what happened: a refusal by class, the failed rule, the audit's quarantine, drift", () => {
    assert.match(scrapes.get("ingest")!, /^lake_ingest_rejected_total\{domain="domain_events",reason="missing_field",service="ingest"\} 1$/m);
    const q = scrapes.get("quality")!;
    assert.match(q, /^lake_quality_verdicts_total\{dataset="payments",outcome="failed",service="quality"\} [1-9]/m);
    assert.match(q, /^lake_quality_null_ratio\{dataset="payments",column="card_country",service="quality"\} 1$/m);
    assert.match(q, /^lake_quality_verdict_latency_seconds_count\{service="quality",dataset="domain_events"\} [1-9]/m);
    assert.match(scrapes.get("committer:payments")!, /^lake_committer_reverts\{dataset="payments",service="committer"\} [1-9]/m);
  });

  const queries = [
    ...rules.map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: r.expr })),
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr }))),
  ];
  for (const { where, expr } of queries) {
    test(`${where}: its metrics and labels exist`, () => {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${expr} names a metric`);
      for (const n of names) assert.ok(exported.has(n), `${where}: no service exports ${n}`);
      // A label it groups by or matches on must be on the samples of one of its metrics (those with samples).
      const sampled = names.map((n) => exported.get(n)!).filter((l) => l.size > 2);
      if (sampled.length === 0) return;
      for (const l of labelNames(expr)) {
        if (l === "le" && names.some((n) => n.endsWith("_bucket"))) continue;
        assert.ok(
          sampled.some((s) => s.has(l)),
          `${where}: label ${l} is on none of ${names.join(", ")}`,
        );
      }
    });
  }
});
