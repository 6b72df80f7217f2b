// @lake/client: what a consumer of the lake imports — the catalog and ingest clients, queryVersion
// (a version's files as a DuckDB view), the file-set resolver (a version's files from its Iceberg
// manifests) and sample data. It never imports a service or apps/.
export {
  CatalogClient,
  CatalogRequestError,
  type CatalogVersion,
  type CatalogVersionRef,
  type CatalogFileSet,
  type CatalogFreshness,
  type VersionReadOptions,
  type CatalogClientOptions,
  type CatalogFile,
  type CatalogDataset,
  type CommandResult,
  type AuditEntry,
  type CatalogDenial,
  type CatalogRegistryFile,
  type CatalogLineage,
  type CatalogSourceLineage,
} from "./catalog-client.ts";
export {
  ReadWentBackError,
  isReadWentBack,
  StaleVersionError,
  isStaleVersion,
  assertFresh,
  ReadSession,
  WENT_BACK,
  type WentBack,
  type Observation,
  type DatasetRead,
  type Regression,
} from "./session.ts";
export { queryVersion, type QueryResult, type VersionFiles } from "./query.ts";
export { FileSetResolver, FileSetError, isFileSetError, type FileSetEntry, type FileSetResolverOptions } from "./file-set.ts";
export { ServiceUnreachableError, isServiceUnreachable } from "./reach.ts";
export {
  sampleEvents,
  invalidEvents,
  rng,
  samplePayments,
  sampleCustomerChanges,
  invalidRecords,
  SAMPLE_DOMAINS,
  isSampleDomain,
  type SampleDomain,
  type SampleEvent,
} from "./sample.ts";
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
