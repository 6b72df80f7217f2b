// One class per failure kind so callers branch on predicates, never on message text. The S3
// implementation will throw the same classes, wrapping SDK errors as `cause`.

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

export function isStorageError(e: unknown): e is StorageError {
  return e instanceof StorageError;
}

export function isInvalidKey(e: unknown): e is InvalidKeyError {
  return e instanceof InvalidKeyError;
}

export function isObjectNotFound(e: unknown): e is ObjectNotFoundError {
  return e instanceof ObjectNotFoundError;
}

// Keys can be user-influenced and up to 1 KiB; keep error messages readable.
function shorten(key: string): string {
  return key.length > 120 ? `${key.slice(0, 120)}…(${key.length} chars)` : key;
}
