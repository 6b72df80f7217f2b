export type { ObjectInfo, ObjectStore, StoreKind } from "./store.ts";
export { STORE_KINDS } from "./store.ts";
export {
  StorageError,
  InvalidKeyError,
  ObjectNotFoundError,
  isStorageError,
  isInvalidKey,
  isObjectNotFound,
} from "./errors.ts";
export { validateKey, validatePrefix, KEY_SEGMENT_PATTERN, MAX_KEY_LENGTH } from "./key.ts";
export { LocalDiskStore, openLocalStore } from "./local.ts";
