export { Projection, type VersionRow, type FileRow, type RegistryFileRow, type DatasetRow } from "./db/projection.ts";
export { Catalog } from "./catalog.ts";
// For `lake fsck`: replaying the commit log into a fresh projection, exactly as the catalog does.
export { tailCommitLog, logLastSeq } from "./nats/tail.ts";
export {
  decideExpire,
  expireProblem,
  protectedReason,
  pendingVersions,
  liveVersionIn,
  versionRanges,
  policyText,
  MAX_EXPIRE_PER_RECORD,
  MAX_COLLECTED_KEYS,
  type RetentionFacts,
  type RetentionPolicy,
  type RetainedVersion,
} from "./domain/commands.ts";
export {
  ROLES,
  type Role,
  type Identity,
  type TokenEntry,
  type Caller,
  type Access,
  type AuthDecision,
  TokensFileError,
  isTokensFileError,
  parseTokensFile,
  authenticate,
  decide,
  mayRead,
  tokenSha256,
} from "./domain/auth.ts";
// The HTTP API's one route table, and the access decision a request gets from it.
export { ROUTES, authorize, type Route } from "./http/routes.ts";
export { TableStatePublisher, tableState, tableStateKey, TABLE_STATE_PATTERN, TABLE_STATE_INTERVAL_MS, ranges } from "./table-state.ts";
export { icebergStore, type IcebergStore } from "./http/iceberg.ts";
