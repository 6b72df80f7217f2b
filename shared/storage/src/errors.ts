// One class per failure kind so callers branch on predicates, never on message text. Both stores
// throw these classes, keeping the underlying fs or SDK error as `cause`.

export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}

export class InvalidKeyError extends StorageError {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`invalid object key ${JSON.stringify(shorten(key))}: ${reason}`);
    this.name = "InvalidKeyError";
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`object not found: ${key}`, options);
    this.name = "ObjectNotFoundError";
  }
}

/** The S3 bucket does not exist (or the endpoint/region points somewhere else than intended). */
export class BucketNotFoundError extends StorageError {
  constructor(
    readonly bucket: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BucketNotFoundError";
  }
}

/**
 * The server refused the credentials or the request (403, invalid key id, bad signature, or no
 * credentials found at all). Note that S3 answers 403 instead of 404 for a missing key when the
 * caller may not s3:ListBucket, so the store's policy must allow listing.
 */
export class StoreAccessDeniedError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreAccessDeniedError";
  }
}

/** Bad store configuration; `variable` names the environment variable when it came from one. */
export class StoreConfigError extends StorageError {
  constructor(
    message: string,
    readonly variable?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StoreConfigError";
  }
}

export function isStorageError(e: unknown): e is StorageError {
  return e instanceof StorageError;
}

export function isInvalidKey(e: unknown): e is InvalidKeyError {
  return e instanceof InvalidKeyError;
}

export function isObjectNotFound(e: unknown): e is ObjectNotFoundError {
  return e instanceof ObjectNotFoundError;
}

export function isBucketNotFound(e: unknown): e is BucketNotFoundError {
  return e instanceof BucketNotFoundError;
}

export function isStoreAccessDenied(e: unknown): e is StoreAccessDeniedError {
  return e instanceof StoreAccessDeniedError;
}

export function isStoreConfigError(e: unknown): e is StoreConfigError {
  return e instanceof StoreConfigError;
}

// Keys can be user-influenced and up to 1 KiB; keep error messages readable.
function shorten(key: string): string {
  return key.length > 120 ? `${key.slice(0, 120)}…(${key.length} chars)` : key;
}
