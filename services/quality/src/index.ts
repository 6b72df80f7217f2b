export { QualityChecker, type CheckerOptions, verdictMsgId } from "./nats/checker.ts";
export { QualityState, type DatasetHead, type VersionState, type FileState, type LogEntry } from "./db/state.ts";
export { type QualityConfig, NO_RULES, QualityConfigError, isQualityConfigError, parseQualityConfig } from "./domain/config.ts";
export { type ColumnStats, type Measured, EMPTY_STATS, addStats, subtractStats, sumStats, nullRatio, measured, unmeasured } from "./domain/stats.ts";
export {
  type AddedFile,
  type Column,
  type ContractView,
  type FieldMeasure,
  type FieldView,
  type JudgeInput,
  type Judgement,
  type Outcome,
  type RuleResult,
  SYSTEM_COLUMNS,
  cleanField,
  contractView,
  expectedColumnType,
  judge,
  schemaDiffs,
} from "./domain/rules.ts";
export { type DatasetRules, rulesFor, loadAllRules, useRegistry } from "./dataset-rules.ts";
export { ParquetInspector, UnreadableFileError, isUnreadableFile, fieldCheckSql } from "./parquet/inspect.ts";
export { VersionMeasurer, FileUnavailableError, isFileUnavailable } from "./parquet/measure.ts";
export { type Drift, driftOf, MAX_DRIFT_COLUMNS } from "./domain/drift.ts";
export { QualityMetrics, type VerdictObservation } from "./metrics.ts";
