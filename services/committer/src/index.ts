export { Committer, type CommitterOptions } from "./nats/committer.ts";
export { planBatch, buildManifest, commitRecord, evolve, initialState, dayPartition, keys, type Manifest, type CommitterState, type BufferedEvent } from "./domain/version.ts";
export { toParquet, OFFSET_COLUMN } from "./parquet.ts";
