// The contract every object store honours. It is shaped after S3 (flat keys, whole-object writes,
// conditional create, prefix listing in key order) so the local-disk store is a faithful stand-in
// in tests and single-node deployments, and the S3 store can be dropped in without callers changing.

export interface ObjectInfo {
  key: string;
  size: number;
  /** When the object was last written (epoch ms), where the store says (GC's grace period uses it). */
  modifiedAt?: number;
}

export const STORE_KINDS = { local: "local", s3: "s3" } as const;
export type StoreKind = (typeof STORE_KINDS)[keyof typeof STORE_KINDS];

export interface ObjectStore {
  readonly kind: StoreKind;
  /** Atomic: readers see the old object (or none) or the whole new one, never a partial write. */
  put(key: string, body: Uint8Array): Promise<void>;
  /**
   * Writes several objects, each as `put` does; all are durable when it resolves, in no particular order
   * among themselves (a crash may leave some written). Cheaper than one put each where the store can
   * share work between them (the local store syncs each directory once).
   */
  putAll(objects: readonly { key: string; body: Uint8Array }[]): Promise<void>;
  /** Creates the object only if the key does not exist; returns false (and changes nothing) if it did. */
  putIfAbsent(key: string, body: Uint8Array): Promise<boolean>;
  /** Throws ObjectNotFoundError if the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every key starting with `prefix` (a plain string prefix, as in S3), sorted ascending by key. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** The object's URI as other readers name it (`file:///…`, `s3://bucket/…`): what Iceberg metadata records. */
  uri(key: string): string;
  /** The key of a URI this store gave out (`uri`); throws InvalidKeyError for any other URI. */
  keyOfUri(uri: string): string;
  /** A filesystem path a local reader (DuckDB) can open; undefined for remote stores (use `materialize`). */
  localPath(key: string): string | undefined;
}
