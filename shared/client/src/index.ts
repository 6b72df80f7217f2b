export { CatalogClient, CatalogRequestError, type CatalogVersion, type CatalogFile, type CatalogDataset, type CommandResult, type AuditEntry, type CatalogDenial } from "./catalog-client.ts";
export { queryVersion, type QueryResult } from "./query.ts";
export { ServiceUnreachableError, isServiceUnreachable } from "./reach.ts";
export { sampleEvents, invalidEvents, rng, type SampleEvent } from "./sample.ts";
export {
  sendHttp,
  sendNats,
  listQuarantine,
  replayQuarantine,
  IngestRequestError,
  type IngestReply,
  type IngestEndpoint,
  type IngestRecordResult,
  type QuarantineEntry,
  type QuarantinedEntry,
  type UndecodableEntry,
  type QuarantineList,
  type ReplayRequestItem,
  type ReplayResult,
  type ReplayReply,
} from "./ingest-client.ts";
export { startLake, serviceEntry, type LakeHandle, type StartLakeOptions, type IngestTarget } from "./up.ts";
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
  type MaintenanceProgress,
} from "./maintenance.ts";
