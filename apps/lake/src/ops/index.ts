// Operations on committed datasets that run beside the committers, as more writers of the commit log
// fenced by its compare-and-set. Today: compaction (`lake compact`).
export {
  compactDataset,
  compactionFailpointHook,
  isCompactionContended,
  CompactionContendedError,
  COMPACTION_FAILPOINTS,
  COMPACTION_OUTCOMES,
  type CompactDatasetOptions,
  type CompactionFailpoint,
  type CompactionOutcome,
  type CompactionProgress,
  type CompactionResult,
} from "./compaction.ts";
export {
  COMPACTION_DEFAULTS,
  OPERATIONS,
  applyVersionFiles,
  buildCompactionManifest,
  decideRebase,
  planCompaction,
  isRowCountMismatch,
  RowCountMismatchError,
  type CompactedGroup,
  type CompactionGroup,
  type CompactionOptions,
  type CompactionPlan,
  type DroppedPartition,
  type RebaseDecision,
} from "./compaction-plan.ts";
