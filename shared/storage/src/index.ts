export type { ObjectInfo, ObjectStore, StoreKind } from "./store.ts";
export { STORE_KINDS } from "./store.ts";
export {
  StorageError,
  InvalidKeyError,
  ObjectNotFoundError,
  BucketNotFoundError,
  StoreAccessDeniedError,
  StoreConfigError,
  isStorageError,
  isInvalidKey,
  isObjectNotFound,
  isBucketNotFound,
  isStoreAccessDenied,
  isStoreConfigError,
} from "./errors.ts";
export { validateKey, validatePrefix, KEY_SEGMENT_PATTERN, MAX_KEY_LENGTH } from "./key.ts";
export { LocalDiskStore, openLocalStore } from "./local.ts";
export { S3Store, SSE_MODES, CHECKSUM_MODES, bucketNameProblem, normalizeStorePrefix, type S3StoreConfig, type SseMode, type ChecksumMode } from "./s3.ts";
export { openStore, storeConfigFromEnv, describeStore, STORE_ENV, type StoreConfig } from "./config.ts";
export { materialize, type MaterializeItem, type MaterializeOptions } from "./materialize.ts";
