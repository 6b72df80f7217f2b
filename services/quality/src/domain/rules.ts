// Pure: the verdict on one committed version, given what was measured about it. The shell measures
// (hashes, DuckDB over the Parquet files, stats from its SQLite state) and passes the clock in; this
// module decides. Every rule that runs appears in the verdict with what it measured and expected, so
// a failed version explains itself.
import type { DomainContract, FieldConstraints, LakeLog } from "@lake/contracts";
import { isoInstant } from "@lake/contracts";

import type { QualityConfig } from "./config.ts";
import { type ColumnStats, type Measured, nullRatio } from "./stats.ts";

export type RuleResult = LakeLog.RuleResult;
export type Outcome = LakeLog.QualityOutcome;

/** The contract as the rules need it: fields with their constraints and enum symbols. */
export interface ContractView {
  name: string;
  version: number;
  fields: readonly FieldView[];
}

export interface FieldView {
  name: string;
  avroType: string;
  timestampMillis: boolean;
  nullable: boolean;
  constraints: FieldConstraints | undefined;
  symbols: readonly string[] | undefined;
}

export function contractView(contract: DomainContract): ContractView {
  const raw = contract.schema.fields as readonly { name: string; type: unknown }[];
  const symbolsOf = (name: string): string[] | undefined => {
    let t = raw.find((f) => f.name === name)?.type;
    if (Array.isArray(t)) t = t.find((b) => b !== "null");
    return typeof t === "object" && t !== null && (t as { type?: unknown }).type === "enum" ? (t as { symbols: string[] }).symbols : undefined;
  };
  return {
    name: contract.name,
    version: contract.version,
    fields: contract.fields.map((f) => ({ ...f, symbols: symbolsOf(f.name) })),
  };
}

/**
 * Columns the committer adds to every file besides the contract's fields (`_offset`: the source stream
 * sequence of each row, mirroring @lake/committer's OFFSET_COLUMN), with their DuckDB types.
 */
export const SYSTEM_COLUMNS: Readonly<Record<string, string>> = { _offset: "BIGINT" };

/** The DuckDB type a contract field has when read back from the committer's Parquet. */
export function expectedColumnType(f: Pick<FieldView, "avroType" | "timestampMillis">): string {
  if (f.timestampMillis) return "TIMESTAMP WITH TIME ZONE";
  switch (f.avroType) {
    case "string":
    case "enum":
      return "VARCHAR";
    case "long":
      return "BIGINT";
    case "int":
      return "INTEGER";
    case "double":
      return "DOUBLE";
    case "float":
      return "FLOAT";
    case "boolean":
      return "BOOLEAN";
    default:
      return `(no Parquet mapping for Avro ${f.avroType})`;
  }
}

export interface Column {
  name: string;
  type: string;
}

/** One file the version adds, as inspected: `problem` set if it is missing, altered or unreadable. */
export interface AddedFile {
  key: string;
  problem: string | undefined;
  /** Parquet columns (DuckDB names and types); undefined when the file could not be read. */
  columns: readonly Column[] | undefined;
}

/** Row-level measurements of one field over the rows the version adds. */
export interface FieldMeasure {
  nulls: number;
  /** Observed extremes of a numeric field (epoch ms for timestamps); null when no value or not measured. */
  min: number | null;
  max: number | null;
  belowMin: number;
  aboveMax: number;
  tooShort: number;
  tooLong: number;
  patternMismatch: number;
  notInEnum: number;
  /** An offending value per check, for the message. */
  examples: { range?: number; length?: string; pattern?: string; enum?: string };
}

export const cleanField = (nulls = 0): FieldMeasure => ({
  nulls,
  min: null,
  max: null,
  belowMin: 0,
  aboveMax: 0,
  tooShort: 0,
  tooLong: 0,
  patternMismatch: 0,
  notInEnum: 0,
  examples: {},
});

export interface JudgeInput {
  dataset: string;
  version: number;
  schemaName: string;
  /** From the VersionCommitted record. */
  recordedTotalRows: number;
  maxEventTime: number | null;
  /** undefined: no domain contract has this schema name (a derived dataset); only generic rules run. */
  contract: ContractView | undefined;
  config: QualityConfig;
  files: readonly AddedFile[];
  /** Rows the version adds, counted in its files; unmeasured when a file could not be read. */
  addedRows: Measured<number>;
  /** Per field, over the added rows; undefined when not measured (unreadable files or a schema mismatch). */
  fields: Readonly<Record<string, FieldMeasure>> | undefined;
  /** Stats of the whole version (its full file set). */
  stats: Measured<ColumnStats>;
  /** The parent version's stats; undefined for the first version. */
  previous: { version: number; stats: Measured<ColumnStats> } | undefined;
  /** Passed in: domain code never reads the clock. */
  now: number;
  /** The version's manifest checked against the size and sha256 its commit record names; undefined: not checked. */
  manifest?: { key: string; problem: string | undefined };
}

export interface Judgement {
  outcome: Outcome;
  rules: RuleResult[];
}

const fmtRatio = (r: number) => r.toFixed(4);

function clip(s: string): string {
  return s.length > 40 ? JSON.stringify(s.slice(0, 40)) + "…" : JSON.stringify(s);
}

function fmtValue(f: Pick<FieldView, "timestampMillis">, v: number): string {
  if (f.timestampMillis) {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
  }
  return String(v);
}

function rule(name: string, passed: boolean, measured: string, expected: string, message: string): RuleResult {
  return { rule: name, passed, measured, expected, message };
}

/** Judges one version. The outcome is "failed" as soon as one rule fails. */
export function judge(input: JudgeInput): Judgement {
  const rules: RuleResult[] = [];
  const c = input.config;

  if (!input.contract) {
    rules.push(
      rule(
        "contract",
        true,
        "none",
        `domain contract ${JSON.stringify(input.schemaName)}`,
        `no domain contract named ${JSON.stringify(input.schemaName)} (a derived dataset?): schema, nullability and constraint rules skipped; only generic rules run`,
      ),
    );
  }

  if (input.manifest) {
    const m = input.manifest;
    rules.push(
      rule(
        "manifest",
        m.problem === undefined,
        m.problem ?? "matches",
        `${m.key} with the size and sha256 of the commit record`,
        m.problem ? `manifest ${m.problem}` : "ok",
      ),
    );
  }
  rules.push(filesRule(input.files));
  if (input.contract) rules.push(schemaRule(input.contract, input.files));
  if (input.contract && input.fields && input.addedRows.ok) rules.push(...fieldRules(input.contract, input.fields, input.addedRows.value));

  rules.push(totalRowsRule(input));
  if (c.rowCountMin !== undefined) {
    const min = c.rowCountMin;
    rules.push(
      input.addedRows.ok
        ? rule(
            "row_count_min",
            input.addedRows.value >= min,
            `${input.addedRows.value} rows added`,
            `>= ${min}`,
            input.addedRows.value >= min ? "ok" : `version ${input.version} adds ${input.addedRows.value} rows, fewer than ${min}`,
          )
        : rule("row_count_min", false, "unknown", `>= ${min}`, `cannot count the added rows: ${input.addedRows.reason}`),
    );
  }
  if (c.maxRowCountDropRatio !== undefined) rules.push(rowCountDriftRule(input, c.maxRowCountDropRatio));

  for (const [column, max] of Object.entries(c.maxNullRatio).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const name = `max_null_ratio(${column})`;
    if (!input.stats.ok) {
      rules.push(rule(name, false, "unknown", `<= ${max}`, `cannot compute the version's null ratio: ${input.stats.reason}`));
      continue;
    }
    const s = input.stats.value;
    const r = nullRatio(s, column);
    const nulls = s.nulls[column] ?? s.rows;
    rules.push(
      rule(
        name,
        r <= max,
        `${fmtRatio(r)} (${nulls} of ${s.rows} rows null)`,
        `<= ${max}`,
        r <= max ? "ok" : `${column} is null in ${fmtRatio(r)} of version ${input.version}'s rows, above ${max}`,
      ),
    );
  }

  if (c.maxNullRatioIncrease !== undefined && input.contract) {
    for (const f of input.contract.fields.filter((x) => x.nullable)) rules.push(nullRatioIncreaseRule(input, f.name, c.maxNullRatioIncrease));
  }

  if (c.freshnessMaxLagMs !== undefined) {
    const max = c.freshnessMaxLagMs;
    if (input.maxEventTime === null) {
      rules.push(rule("freshness", false, "no event time", `lag <= ${max} ms`, `version ${input.version} records no max_event_time`));
    } else {
      const lag = input.now - input.maxEventTime;
      rules.push(
        rule(
          "freshness",
          lag <= max,
          `lag ${lag} ms (newest event ${isoInstant(input.maxEventTime)})`,
          `lag <= ${max} ms`,
          lag <= max ? "ok" : `the newest event is ${lag} ms old, more than ${max} ms`,
        ),
      );
    }
  }

  return { outcome: rules.every((r) => r.passed) ? "passed" : "failed", rules };
}

function filesRule(files: readonly AddedFile[]): RuleResult {
  const bad = files.filter((f) => f.problem !== undefined);
  const expected = "every added file present with its recorded size, sha256 and row count";
  if (bad.length === 0) return rule("files", true, `${files.length} of ${files.length} added files intact`, expected, "ok");
  const listed = bad.slice(0, 3).map((f) => `${f.key}: ${f.problem}`);
  if (bad.length > 3) listed.push(`… and ${bad.length - 3} more`);
  return rule("files", false, `${bad.length} of ${files.length} added files bad`, expected, listed.join("; "));
}

/** How a file's columns differ from the contract's (empty: they match). System columns may be present. */
export function schemaDiffs(contract: ContractView, columns: readonly Column[]): string[] {
  const have = new Map(columns.map((c) => [c.name, c.type]));
  const diffs: string[] = [];
  for (const f of contract.fields) {
    const want = expectedColumnType(f);
    const t = have.get(f.name);
    if (t === undefined) diffs.push(`missing ${f.name}`);
    else if (t !== want) diffs.push(`${f.name} is ${t}, not ${want}`);
  }
  for (const col of columns) {
    if (contract.fields.some((f) => f.name === col.name)) continue;
    const sys = SYSTEM_COLUMNS[col.name];
    if (sys === undefined) diffs.push(`unexpected column ${col.name}`);
    else if (sys !== col.type) diffs.push(`${col.name} is ${col.type}, not ${sys}`);
  }
  return diffs;
}

function schemaRule(contract: ContractView, files: readonly AddedFile[]): RuleResult {
  const expected = `${contract.name} v${contract.version}: ${contract.fields.map((f) => `${f.name} ${expectedColumnType(f)}`).join(", ")}`;
  const problems: string[] = [];
  let checked = 0;
  for (const file of files) {
    if (!file.columns) continue;
    checked++;
    const diffs = schemaDiffs(contract, file.columns);
    if (diffs.length > 0) problems.push(`${file.key}: ${diffs.join(", ")}`);
  }
  if (problems.length === 0) return rule("schema", true, `${checked} files match`, expected, "ok");
  return rule("schema", false, `${problems.length} of ${checked} files differ`, expected, `${problems.slice(0, 3).join("; ")}; row-level rules skipped`);
}

function fieldRules(contract: ContractView, fields: Readonly<Record<string, FieldMeasure>>, rows: number): RuleResult[] {
  const out: RuleResult[] = [];
  for (const f of contract.fields) {
    const m = fields[f.name] ?? cleanField();
    if (!f.nullable) {
      out.push(
        rule(
          `not_null(${f.name})`,
          m.nulls === 0,
          `${m.nulls} nulls in ${rows} rows`,
          "0 nulls",
          m.nulls === 0 ? "ok" : `required field ${f.name} is null in ${m.nulls} added rows`,
        ),
      );
    }
    const c = f.constraints;
    if (c?.min !== undefined || c?.max !== undefined) {
      const bad = m.belowMin + m.aboveMax;
      const expected = `[${c.min === undefined ? "-∞" : fmtValue(f, c.min)}, ${c.max === undefined ? "+∞" : fmtValue(f, c.max)}]`;
      const observed = m.min === null || m.max === null ? "no values" : `observed [${fmtValue(f, m.min)}, ${fmtValue(f, m.max)}]`;
      out.push(
        rule(
          `range(${f.name})`,
          bad === 0,
          `${bad} of ${rows} outside; ${observed}`,
          expected,
          bad === 0 ? "ok" : `${f.name} out of range in ${bad} added rows${m.examples.range !== undefined ? `, e.g. ${fmtValue(f, m.examples.range)}` : ""}`,
        ),
      );
    }
    if (c?.minLength !== undefined || c?.maxLength !== undefined) {
      const bad = m.tooShort + m.tooLong;
      out.push(
        rule(
          `length(${f.name})`,
          bad === 0,
          `${bad} of ${rows} outside`,
          `length in [${c.minLength ?? 0}, ${c.maxLength ?? "∞"}]`,
          bad === 0 ? "ok" : `${f.name} has the wrong length in ${bad} added rows${m.examples.length !== undefined ? `, e.g. ${clip(m.examples.length)}` : ""}`,
        ),
      );
    }
    if (c?.pattern !== undefined) {
      const bad = m.patternMismatch;
      out.push(
        rule(
          `pattern(${f.name})`,
          bad === 0,
          `${bad} of ${rows} not matching`,
          `matches ${c.pattern}`,
          bad === 0 ? "ok" : `${f.name} does not match in ${bad} added rows${m.examples.pattern !== undefined ? `, e.g. ${clip(m.examples.pattern)}` : ""}`,
        ),
      );
    }
    if (f.symbols) {
      const bad = m.notInEnum;
      out.push(
        rule(
          `enum(${f.name})`,
          bad === 0,
          `${bad} of ${rows} not a symbol`,
          `one of ${f.symbols.join(", ")}`,
          bad === 0 ? "ok" : `${f.name} is not a symbol in ${bad} added rows${m.examples.enum !== undefined ? `, e.g. ${clip(m.examples.enum)}` : ""}`,
        ),
      );
    }
  }
  return out;
}

function totalRowsRule(input: JudgeInput): RuleResult {
  const expected = `${input.recordedTotalRows} (total_rows of the record)`;
  if (!input.stats.ok) return rule("total_rows", false, "unknown", expected, `cannot count the version's rows: ${input.stats.reason}`);
  const n = input.stats.value.rows;
  return rule(
    "total_rows",
    n === input.recordedTotalRows,
    `${n} rows in the version's files`,
    expected,
    n === input.recordedTotalRows ? "ok" : `the version's files hold ${n} rows, the record says ${input.recordedTotalRows}`,
  );
}

function rowCountDriftRule(input: JudgeInput, maxDrop: number): RuleResult {
  const name = "row_count_drift";
  const expected = `drop <= ${maxDrop}`;
  if (!input.stats.ok) return rule(name, false, "unknown", expected, `cannot count the version's rows: ${input.stats.reason}`);
  const cur = input.stats.value.rows;
  if (!input.previous) return rule(name, true, `${cur} rows, no previous version`, expected, "first version: no baseline");
  // A baseline we cannot compute (its files are gone) must not block the dataset forever: pass, and say so.
  if (!input.previous.stats.ok) return rule(name, true, `${cur} rows, previous unknown`, expected, `no baseline: ${input.previous.stats.reason}`);
  const prev = input.previous.stats.value.rows;
  const drop = prev === 0 ? 0 : Math.max(0, (prev - cur) / prev);
  return rule(
    name,
    drop <= maxDrop,
    `${fmtRatio(drop)} (${cur} rows, ${prev} in version ${input.previous.version})`,
    expected,
    drop <= maxDrop ? "ok" : `total rows fell from ${prev} to ${cur}, a drop of ${fmtRatio(drop)}`,
  );
}

function nullRatioIncreaseRule(input: JudgeInput, column: string, maxIncrease: number): RuleResult {
  const name = `null_ratio_increase(${column})`;
  const expected = `increase <= ${maxIncrease}`;
  if (!input.stats.ok) return rule(name, false, "unknown", expected, `cannot compute the version's null ratio: ${input.stats.reason}`);
  const cur = nullRatio(input.stats.value, column);
  if (!input.previous) return rule(name, true, `${fmtRatio(cur)}, no previous version`, expected, "first version: no baseline");
  if (!input.previous.stats.ok) return rule(name, true, `${fmtRatio(cur)}, previous unknown`, expected, `no baseline: ${input.previous.stats.reason}`);
  const prev = nullRatio(input.previous.stats.value, column);
  const inc = cur - prev;
  // Compared with a tolerance: the ratios are quotients, and an exact-limit increase must pass.
  const ok = inc <= maxIncrease + 1e-12;
  return rule(
    name,
    ok,
    `${inc >= 0 ? "+" : ""}${fmtRatio(inc)} (${fmtRatio(cur)} vs ${fmtRatio(prev)} in version ${input.previous.version})`,
    expected,
    ok ? "ok" : `${column}'s null ratio rose by ${fmtRatio(inc)}, more than ${maxIncrease}`,
  );
}

/** The operation of a version that takes a failed audit's batch back out (write-audit-publish). */
export const REVERT = "revert";

/**
 * A revert restores the version its failed parent was built on: it passes when that version passed and
 * the revert has exactly its rows. Its rules are not run again: a revert adds no rows (row_count_min
 * would fail it) and its data already passed them as that version, and failing a revert would send the
 * committer round in circles.
 */
export function judgeRevert(
  v: { version: number; totalRows: number },
  base: number | null,
  versionOf: (n: number) => { verdict: string | null; totalRows: number } | undefined,
): { outcome: LakeLog.QualityOutcome; rules: LakeLog.RuleResult[] } {
  // Base 0: the failed version was the first; the revert restores the empty table before it.
  const b = base === null ? undefined : base === 0 ? { verdict: "passed", totalRows: 0 } : versionOf(base);
  const expected = base === null ? "a base version" : `version ${base}: passed, ${b?.totalRows ?? "?"} rows`;
  const problem =
    base === null
      ? "names no base version to restore"
      : !b
        ? `restores version ${base}, which this checker doesn't know`
        : b.verdict !== "passed"
          ? `restores version ${base}, whose verdict is ${b.verdict ?? "pending"}`
          : b.totalRows !== v.totalRows
            ? `has ${v.totalRows} rows, version ${base} has ${b.totalRows}`
            : undefined;
  const measured = `${v.totalRows} rows, restoring ${base === null ? "nothing" : `version ${base}`}`;
  const message = problem ? `revert ${problem}` : `restores version ${base}, which passed`;
  const passed = problem === undefined;
  return { outcome: passed ? "passed" : "failed", rules: [{ rule: "revert", passed, measured, expected, message }] };
}
