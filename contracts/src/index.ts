export type { DomainEvent, VersionCommitted, QualityVerdict, VersionPromoted, VersionTagged, QuarantinedRecord, SchemaRegistered, AlertChanged, VersionsExpired, FilesCollected, LakeLog, LakeDerived, LateEvent, DailyUserTotals } from "./generated.ts";
export {
  type DomainContract,
  type FieldConstraints,
  type ValidationResult,
  type FieldCheck,
  domainContract,
  domainNames,
  loadDomainContract,
  UnknownDomainError,
  IncompatibleSchemaError,
  InvalidContractError,
  parseDomainSchema,
  checkCompatible,
  describeFields,
  type RawDomainSchema,
} from "./domain.ts";
export {
  type LogCodec,
  type LogRecord,
  type LogRecordKind,
  logCodecs,
  isLogRecordKind,
  versionCommittedCodec,
  qualityVerdictCodec,
  versionPromotedCodec,
  versionTaggedCodec,
  quarantinedRecordCodec,
  schemaRegisteredCodec,
  quarantineReplayCodec,
  alertChangedCodec,
  versionsExpiredCodec,
  filesCollectedCodec,
  PayloadTooLargeError,
  DecodeError,
} from "./log.ts";
export { safeTypeForSchema, HostileAvroError } from "./safe-avro.ts";
export { CDC_OPS, CDC_COLUMNS, type CdcOp, type CdcChangeCodec, type CdcValidation, isCdcContract, cdcChangeCodec, validateChange } from "./cdc.ts";
export {
  type DerivedContract,
  type DerivedJob,
  type WindowSpec,
  type LateEventCodec,
  DerivedContractError,
  UnknownDerivedDatasetError,
  isDerivedContractError,
  derivedNames,
  derivedContract,
  loadDerivedContract,
  lateEventCodec,
  DEFAULT_ALLOWED_LATENESS_MS,
} from "./derived.ts";
export { NAME_PATTERN, isValidName, assertValidName, InvalidNameError } from "./names.ts";
export {
  DEFAULT_MAX_FUTURE_SKEW_MS,
  MAX_DATE_MS,
  MAX_AVRO_LONG,
  MAX_HEADER_VALUE_LENGTH,
  utcDay,
  isoInstant,
  futureEventTimeProblem,
  headerValueProblem,
  illFormedTextPath,
} from "./bounds.ts";
export { type ParquetCodec, type ParquetSettings, PARQUET_CODECS, DEFAULT_PARQUET_SETTINGS, ROW_GROUP_ROWS_MIN, ROW_GROUP_ROWS_MAX, parquetCodecName, parseParquetSettings } from "./parquet.ts";
export type { RecordResult, IngestReply, QuarantinedEntry, UndecodableEntry, QuarantineEntry, QuarantineList, ReplayResult, ReplayReply, ReplayRequestItem } from "./http/ingest.ts";
export type { CatalogFile, CatalogVersionSummary, CatalogVersion, CatalogRegistryFile, ExpireResult, CatalogDataset, CommandResult, AuditEntry, CatalogDenial } from "./http/catalog.ts";
