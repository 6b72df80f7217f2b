export { Committer, type CommitterOptions } from "./nats/committer.ts";
export { planBatch, buildManifest, commitRecord, evolve, initialState, keys, olderThan, type Manifest, type CommitterState, type BufferedEvent } from "./domain/version.ts";
export { type DatasetSpec, type ColumnSpec, MODES, dayPartition, domainSpec, keyOf } from "./domain/spec.ts";
export { mergePartition } from "./domain/merge.ts";
export { datasetSpec } from "./specs.ts";
export { liveDomainSpec, cdcSpec, derivedSpec, bucketPartition, type ContractSource } from "./domain/spec.ts";
export { toParquet, fromParquet, rowOrder, OFFSET_COLUMN, CREATED_BY, TOMBSTONES_KEY, type ParquetLayout } from "./parquet.ts";
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
  type CompactDatasetOptions,
  type CompactionProgress,
  type CompactionResult,
} from "./ops/index.ts";
