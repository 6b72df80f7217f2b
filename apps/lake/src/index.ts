// @lake/app: the `lake` CLI (cli.ts), `lake up` (up.ts), and the operations that write a dataset's
// commit log beside the services: compaction (ops/), backfill, expiry, gc and fsck (maintenance.ts).
// The only package that may import services: it starts them and runs their code as operations.
export { startLake, maintenanceEntry, type LakeHandle, type StartLakeOptions, type IngestTarget, type LakeEndpoint } from "./up.ts";
export {
  Supervisor,
  SupervisorStoppedError,
  BACKOFF_DEFAULTS,
  SERVICE_STATES,
  nextBackoff,
  type BackoffPolicy,
  type ServiceState,
  type ServiceExit,
  type SupervisedService,
  type SupervisorOptions,
} from "./supervisor.ts";
export { readRunFile, processAlive, RUN_FILE, type RunFile, type RunService } from "./run-file.ts";
export { serviceEntry, entryOf, bundleFreshness, BUNDLES, REPO_ROOT, type BundleName, type Entry, type Freshness, type BuildInfo } from "./entries.ts";
export { readLakeSecrets, writeLakeSecrets, SECRETS_DIR, type LakeSecrets, type LakeTokens } from "./secrets.ts";
export { produce, produceDefaults, type ProduceOptions, type ProduceProgress } from "./produce.ts";
export { backfillDerived, type BackfillResult, type BackfillProgress } from "./backfill.ts";
export {
  collectGarbage,
  fsck,
  objectModifiedAt,
  FSCK_PROBLEMS,
  GcUnsafeError,
  type GcOptions,
  type GcResult,
  type FsckOptions,
  type FsckReport,
  type FsckProblem,
  type FsckDrift,
  type MaintenanceProgress,
} from "./maintenance.ts";
export { MaintenanceWorker, DEFAULT_INTERVAL_MS, type MaintenanceWorkerOptions, type RoundReport, type DatasetRoundReport } from "./maintain/worker.ts";
export {
  planDataset,
  planExpiry,
  backoffMs,
  maxFilesPerPartition,
  MAINTENANCE_TASKS,
  type DatasetFacts,
  type RoundPlan,
  type CompactionStep,
  type ExpiryStep,
  type GcStep,
  type MaintenanceTask,
} from "./maintain/plan.ts";
export {
  compactDataset,
  compactionFailpointHook,
  isCompactionContended,
  CompactionContendedError,
  COMPACTION_DEFAULTS,
  COMPACTION_FAILPOINTS,
  COMPACTION_OUTCOMES,
  OPERATIONS,
  planCompaction,
  applyVersionFiles,
  buildCompactionManifest,
  decideRebase,
  isRowCountMismatch,
  RowCountMismatchError,
  type CompactDatasetOptions,
  type CompactionFailpoint,
  type CompactionOutcome,
  type CompactionProgress,
  type CompactionResult,
  type CompactedGroup,
  type CompactionGroup,
  type CompactionOptions,
  type CompactionPlan,
  type DroppedPartition,
  type RebaseDecision,
} from "./ops/index.ts";
