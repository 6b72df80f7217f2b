export { Committer, type CommitterOptions } from "./nats/committer.ts";
export {
  planBatch,
  buildManifest,
  commitRecord,
  evolve,
  initialState,
  keys,
  olderThan,
  derivedLineage,
  type Manifest,
  type PlannedBatch,
  type CommitterState,
  type BufferedEvent,
} from "./domain/version.ts";
export { type DatasetSpec, type ColumnSpec, type IcebergSpec, icebergSpec, MODES, dayPartition, domainSpec, keyOf } from "./domain/spec.ts";
export { mergePartition } from "./domain/merge.ts";
export { datasetSpec } from "./specs.ts";
export { liveDomainSpec, cdcSpec, derivedSpec, bucketPartition, POSITION_MARKER, type ContractSource, type UpstreamSpec } from "./domain/spec.ts";
export {
  toParquet,
  fromParquet,
  rowOrder,
  OFFSET_COLUMN,
  CREATED_BY,
  TOMBSTONES_KEY,
  ICEBERG_SCHEMA_KEY,
  type ParquetLayout,
  type Tombstones,
} from "./parquet.ts";
export { FAILPOINTS, type Failpoint } from "./failpoints.ts";
export { IcebergVersions, type IcebergWrite } from "./iceberg.ts";
export { mirrorSchemas, schemaCopyKey, SCHEMA_COPY_PATTERN, type SchemaCopy } from "./schema-mirror.ts";
