import { createHash } from "node:crypto";

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";

import { BucketNotFoundError, InvalidKeyError, ObjectNotFoundError, StorageError, StoreAccessDeniedError, StoreConfigError } from "./errors.ts";
import { validateKey, validatePrefix } from "./key.ts";
import type { ObjectInfo, ObjectStore } from "./store.ts";

export const SSE_MODES = { aes256: "AES256", kms: "aws:kms" } as const;
export type SseMode = (typeof SSE_MODES)[keyof typeof SSE_MODES];

export const CHECKSUM_MODES = { whenRequired: "WHEN_REQUIRED", whenSupported: "WHEN_SUPPORTED" } as const;
export type ChecksumMode = (typeof CHECKSUM_MODES)[keyof typeof CHECKSUM_MODES];

export interface S3StoreConfig {
  bucket: string;
  /** Prepended to every key as `<prefix>/`; its segments follow the key grammar. */
  prefix?: string;
  /** Any S3-compatible endpoint (MinIO, s3rver); unset means AWS for `region`. */
  endpoint?: string;
  /** Default us-east-1. */
  region?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; what MinIO and s3rver need. */
  forcePathStyle?: boolean;
  /** Unset: the SDK's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, IAM role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Server-side encryption requested on every write. */
  sse?: { mode: SseMode; kmsKeyId?: string };
  /**
   * Default WHEN_REQUIRED. The SDK's own default (WHEN_SUPPORTED) sends CRC32 trailers in
   * aws-chunked bodies, which servers other than AWS (s3rver, older MinIO) store verbatim or reject.
   * Writes carry Content-MD5 either way, so the server still verifies what it received.
   */
  requestChecksumCalculation?: ChecksumMode;
  /** Default WHEN_REQUIRED, for the same servers. */
  responseChecksumValidation?: ChecksumMode;
  /**
   * Default true: putIfAbsent sends `If-None-Match: *`, which makes it atomic on servers that
   * implement conditional writes (AWS S3 since 2024, MinIO). Set false for a server that rejects it.
   */
  conditionalWrites?: boolean;
  /** ListObjectsV2 MaxKeys, 1..1000 (default 1000, the server-side maximum). */
  listPageSize?: number;
  /** SDK attempts per request including retries (default 3, the SDK's). */
  maxAttempts?: number;
}

// S3's key limit is 1024 bytes of UTF-8; valid keys are ASCII, so characters = bytes.
const S3_MAX_KEY_BYTES = 1024;
const MAX_LIST_PAGE = 1000;
// 409 ConditionalRequestConflict means another conditional write to the key was in flight; S3
// asks for a retry, and the HEAD before each attempt usually turns the retry into a quick `false`.
const MAX_CONDITIONAL_ATTEMPTS = 4;
const ACCESS_DENIED = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"]);
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets,
// the part that matters for a typo: length and characters; dots allowed for older buckets).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Why `name` cannot be an S3 bucket name, or undefined if it can. */
export function bucketNameProblem(name: string): string | undefined {
  if (!BUCKET_NAME.test(name)) {
    return "a bucket name is 3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit";
  }
  if (name.includes("..")) return "a bucket name must not contain '..'";
  return undefined;
}

/** "" or a valid key without a trailing '/' (a trailing '/' is accepted and dropped). */
export function normalizeStorePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "" || prefix === "/") return "";
  const trimmed = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  return validateKey(trimmed);
}

/**
 * Objects in one S3 bucket (any S3-compatible server), under an optional key prefix.
 *
 * Differences from the local store: a key can be an object and a prefix of others at once ("a" and
 * "a/b"); `localPath` is always undefined (see `materialize`); and `putIfAbsent` is only as atomic
 * as the server's conditional writes (see there). `head` cannot tell a missing bucket from a missing
 * key (HEAD responses have no body to name the error), which is why `openStore` checks the bucket
 * once at start; every other operation reports a missing bucket as BucketNotFoundError.
 */
export class S3Store implements ObjectStore {
  readonly kind = "s3" as const;
  readonly bucket: string;
  /** "" or "<prefix>/": prepended to every key. */
  readonly keyPrefix: string;
  readonly endpoint: string | undefined;
  /** The SDK client; exposed for tests (request-capturing middleware) and for `close()`. */
  readonly client: S3Client;
  private readonly sse: Pick<PutObjectCommandInput, "ServerSideEncryption" | "SSEKMSKeyId">;
  private readonly conditionalWrites: boolean;
  private readonly listPageSize: number;

  constructor(config: S3StoreConfig) {
    const problem = bucketNameProblem(config.bucket);
    if (problem) throw new StoreConfigError(`S3 bucket ${JSON.stringify(config.bucket)}: ${problem}`);
    let prefix: string;
    try {
      prefix = normalizeStorePrefix(config.prefix);
    } catch (e) {
      throw new StoreConfigError(`S3 key prefix ${JSON.stringify(config.prefix)} is not valid: ${(e as Error).message}`, undefined, { cause: e });
    }
    const pageSize = config.listPageSize ?? MAX_LIST_PAGE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_LIST_PAGE) {
      throw new StoreConfigError(`listPageSize must be an integer in [1, ${MAX_LIST_PAGE}], got ${pageSize}`);
    }
    this.sse = sseInput(config.sse);
    this.bucket = config.bucket;
    this.keyPrefix = prefix === "" ? "" : `${prefix}/`;
    this.endpoint = config.endpoint;
    this.conditionalWrites = config.conditionalWrites ?? true;
    this.listPageSize = pageSize;
    this.client = new S3Client({
      region: config.region ?? "us-east-1",
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle ?? false,
      credentials: config.credentials,
      maxAttempts: config.maxAttempts,
      requestChecksumCalculation: config.requestChecksumCalculation ?? CHECKSUM_MODES.whenRequired,
      responseChecksumValidation: config.responseChecksumValidation ?? CHECKSUM_MODES.whenRequired,
    });
  }

  /** `s3://bucket/<prefix>/<key>`, for logs and for readers that speak S3 themselves. */
  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async putAll(objects: readonly { key: string; body: Uint8Array }[]): Promise<void> {
    // Every key checked before any is written: a bad key writes none of them.
    for (const o of objects) validateKey(o.key);
    await Promise.all(objects.map((o) => this.put(o.key, o.body)));
  }

  keyOfUri(uri: string): string {
    const base = `s3://${this.bucket}/${this.keyPrefix}`;
    if (!uri.startsWith(base)) throw new InvalidKeyError(uri, `not a URI of this store (${base}…)`);
    return validateKey(uri.slice(base.length));
  }

  localPath(key: string): undefined {
    validateKey(key);
    return undefined;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new PutObjectCommand(this.putInput(objectKey, body)));
    } catch (e) {
      throw this.error("put", key, objectKey, e);
    }
  }

  /**
   * Creates the object only if the key is free. On servers with conditional writes (AWS S3, MinIO)
   * `If-None-Match: *` makes this atomic: of two racing writers exactly one gets true. Servers
   * without them (s3rver) ignore the header, and then only the HEAD before the write protects the
   * key: two writers racing inside that window can both get true and the last one's body wins.
   * Lake keys are unique by construction (they contain the writer's write id), so the lake never
   * relies on this to settle a race; the commit log's compare-and-set does that.
   */
  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    const objectKey = this.objectKey(key);
    for (let attempt = 1; ; attempt++) {
      if ((await this.headObject("putIfAbsent", key, objectKey)) !== undefined) return false;
      const input = this.putInput(objectKey, body);
      if (this.conditionalWrites) input.IfNoneMatch = "*";
      try {
        await this.client.send(new PutObjectCommand(input));
        return true;
      } catch (e) {
        const { name, status } = sdkFacts(e);
        if (status === 412 || name === "PreconditionFailed") return false;
        if (status === 409 && name === "ConditionalRequestConflict" && attempt < MAX_CONDITIONAL_ATTEMPTS) continue;
        throw this.error("putIfAbsent", key, objectKey, e);
      }
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    let bytes: Uint8Array;
    let announced: number | undefined;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      if (res.Body === undefined) throw new StorageError(`get ${key} failed (${this.where(objectKey)}): the response has no body`);
      announced = res.ContentLength;
      bytes = await res.Body.transformToByteArray();
    } catch (e) {
      const { name, status } = sdkFacts(e);
      if (name === "NoSuchKey" || (status === 404 && name !== "NoSuchBucket")) throw new ObjectNotFoundError(key, { cause: e });
      throw this.error("get", key, objectKey, e);
    }
    if (announced !== undefined && bytes.byteLength !== announced) {
      throw new StorageError(`get ${key} failed (${this.where(objectKey)}): received ${bytes.byteLength} bytes, the server announced ${announced}`);
    }
    return bytes;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return this.headObject("head", key, this.objectKey(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const fullPrefix = this.keyPrefix + prefix;
    let token: string | undefined;
    let last: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, MaxKeys: this.listPageSize, ContinuationToken: token }),
        );
      } catch (e) {
        throw this.error("list", prefix, fullPrefix, e);
      }
      const items: ObjectInfo[] = [];
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(fullPrefix)) continue;
        const key = o.Key.slice(this.keyPrefix.length);
        // Objects other tools put in the bucket under names outside the key grammar are not ours,
        // exactly as the local store skips files that are not keys.
        if (!isValidKey(key)) continue;
        items.push({ key, size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() });
      }
      // S3 and MinIO return keys in order already; s3rver returns each page in filesystem-walk
      // order. Sorting the page is free for the former and makes one-page listings right on the latter.
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const item of items) {
        if (last !== undefined && item.key <= last) {
          throw new StorageError(
            `list ${prefix} failed (${this.where(fullPrefix)}): the server returned ${item.key} on a later page than ${last}; ` +
              "S3 lists in key order, so this server's pagination cannot be trusted",
          );
        }
        last = item.key;
        yield item;
      }
      if (!page.IsTruncated) break;
      if (!page.NextContinuationToken) {
        throw new StorageError(`list ${prefix} failed (${this.where(fullPrefix)}): a truncated page came without a continuation token`);
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (e) {
      // S3 answers 204 for a missing key; some compatible servers say NoSuchKey instead.
      if (sdkFacts(e).name === "NoSuchKey") return;
      throw this.error("delete", key, objectKey, e);
    }
  }

  /**
   * Fails unless the bucket exists and the credentials may list it (which the store needs anyway,
   * and without which S3 answers 403 instead of 404 for missing keys).
   */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyPrefix, MaxKeys: 1 }));
    } catch (e) {
      throw this.error("open store", "", this.keyPrefix, e);
    }
  }

  /** Releases the client's sockets; the store cannot be used afterwards. */
  close(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    validateKey(key);
    const full = this.keyPrefix + key;
    if (full.length > S3_MAX_KEY_BYTES) {
      throw new InvalidKeyError(
        key,
        `with the store prefix ${JSON.stringify(this.keyPrefix)} the S3 key would be ${full.length} bytes long, S3's limit is ${S3_MAX_KEY_BYTES}`,
      );
    }
    return full;
  }

  private putInput(objectKey: string, body: Uint8Array): PutObjectCommandInput {
    return {
      Bucket: this.bucket,
      Key: objectKey,
      Body: body,
      ContentLength: body.byteLength,
      // The server rejects the write if the bytes it received differ (S3 checks; s3rver does not).
      ContentMD5: createHash("md5").update(body).digest("base64"),
      ...this.sse,
    };
  }

  private async headObject(op: string, key: string, objectKey: string): Promise<ObjectInfo | undefined> {
    let size: number | undefined;
    let modifiedAt: number | undefined;
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      size = res.ContentLength;
      modifiedAt = res.LastModified?.getTime();
    } catch (e) {
      // HEAD responses have no body, so the SDK can only say NotFound: missing key and missing
      // bucket look alike here (see checkBucket).
      if (sdkFacts(e).status === 404) return undefined;
      throw this.error(op, key, objectKey, e);
    }
    if (size === undefined) throw new StorageError(`${op} ${key} failed (${this.where(objectKey)}): the response has no Content-Length`);
    return { key, size, modifiedAt };
  }

  private where(objectKey: string): string {
    return `s3://${this.bucket}/${objectKey}${this.endpoint ? ` at ${this.endpoint}` : ""}`;
  }

  private error(op: string, key: string, objectKey: string, cause: unknown): StorageError {
    if (cause instanceof StorageError) return cause;
    const { name, status, code } = sdkFacts(cause);
    const what = key === "" ? op : `${op} ${key}`;
    const detail = `${name ?? code ?? "error"}${status !== undefined ? ` (HTTP ${status})` : ""}: ${cause instanceof Error ? cause.message : String(cause)}`;
    if (name === "NoSuchBucket") {
      return new BucketNotFoundError(
        this.bucket,
        `${what} failed: bucket ${this.bucket} does not exist${this.endpoint ? ` at ${this.endpoint}` : ""} (create it, or fix the bucket/endpoint/region)`,
        { cause },
      );
    }
    if (name === "CredentialsProviderError") {
      return new StoreAccessDeniedError(
        `${what} failed: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role`,
        { cause },
      );
    }
    if (status === 403 || (name !== undefined && ACCESS_DENIED.has(name))) {
      return new StoreAccessDeniedError(`${what} failed (${this.where(objectKey)}): access denied, ${detail}`, { cause });
    }
    return new StorageError(`${what} failed (${this.where(objectKey)}): ${detail}`, { cause });
  }
}

function sseInput(sse: S3StoreConfig["sse"]): Pick<PutObjectCommandInput, "ServerSideEncryption" | "SSEKMSKeyId"> {
  if (sse === undefined) return {};
  if (sse.mode === SSE_MODES.aes256) {
    if (sse.kmsKeyId !== undefined) throw new StoreConfigError("a KMS key id only goes with SSE mode aws:kms, not AES256");
    return { ServerSideEncryption: "AES256" };
  }
  if (sse.mode === SSE_MODES.kms) {
    // Without a key id S3 uses the account's default aws/s3 key.
    return sse.kmsKeyId ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: sse.kmsKeyId } : { ServerSideEncryption: "aws:kms" };
  }
  throw new StoreConfigError(`SSE mode must be ${Object.values(SSE_MODES).join(" or ")}, got ${JSON.stringify(sse.mode)}`);
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

// What the SDK tells us about a failure: the modeled error name (NoSuchKey, NoSuchBucket, …), the
// HTTP status from $metadata, and for network failures the errno code. Never the message text.
function sdkFacts(e: unknown): { name: string | undefined; status: number | undefined; code: string | undefined } {
  if (typeof e !== "object" || e === null) return { name: undefined, status: undefined, code: undefined };
  const name = "name" in e && typeof e.name === "string" ? e.name : undefined;
  const code = "code" in e && typeof e.code === "string" ? e.code : undefined;
  let status: number | undefined;
  if ("$metadata" in e && typeof e.$metadata === "object" && e.$metadata !== null && "httpStatusCode" in e.$metadata) {
    const s = e.$metadata.httpStatusCode;
    if (typeof s === "number") status = s;
  }
  return { name, status, code };
}
