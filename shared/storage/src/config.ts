// Which object store a process uses, read once from its environment. One place for every service,
// the CLI and the tests, so "local or S3" is decided the same way everywhere.
import { StoreConfigError } from "./errors.ts";
import { openLocalStore } from "./local.ts";
import { bucketNameProblem, normalizeStorePrefix, S3Store, type S3StoreConfig, SSE_MODES, type SseMode } from "./s3.ts";
import { type ObjectStore, STORE_KINDS } from "./store.ts";

export type StoreConfig = { kind: typeof STORE_KINDS.local; root: string } | ({ kind: typeof STORE_KINDS.s3 } & S3StoreConfig);

export const STORE_ENV = {
  /** local (default) | s3 */
  kind: "LAKE_STORE",
  /** local: root directory of the store (required). */
  root: "LAKE_STORE_ROOT",
  /** s3: bucket (required). */
  bucket: "LAKE_S3_BUCKET",
  /** s3: key prefix, e.g. `lake/prod` (optional). */
  prefix: "LAKE_S3_PREFIX",
  /** s3: endpoint URL of an S3-compatible server, e.g. http://minio:9000 (optional; unset = AWS). */
  endpoint: "LAKE_S3_ENDPOINT",
  /** s3: region (default us-east-1). */
  region: "LAKE_S3_REGION",
  /** s3: true | false (default true when LAKE_S3_ENDPOINT is set, else false). */
  forcePathStyle: "LAKE_S3_FORCE_PATH_STYLE",
  /** s3: AES256 | aws:kms (optional: no SSE header, the bucket's default encryption applies). */
  sse: "LAKE_S3_SSE",
  /** s3: KMS key id or ARN, only with LAKE_S3_SSE=aws:kms (optional: the account's aws/s3 key). */
  sseKmsKeyId: "LAKE_S3_SSE_KMS_KEY_ID",
} as const;

const S3_VARIABLES = [STORE_ENV.bucket, STORE_ENV.prefix, STORE_ENV.endpoint, STORE_ENV.region, STORE_ENV.forcePathStyle, STORE_ENV.sse, STORE_ENV.sseKmsKeyId];

/**
 * Parses the store variables (see STORE_ENV). Credentials are not read here: the AWS SDK takes them
 * from its standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * AWS_PROFILE, SSO, an IAM role). Throws StoreConfigError naming the variable at fault.
 */
export function storeConfigFromEnv(env: Readonly<Record<string, string | undefined>>): StoreConfig {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const kind = get(STORE_ENV.kind) ?? STORE_KINDS.local;

  if (kind === STORE_KINDS.local) {
    // Set but ignored would mean writing to local disk while the operator thinks it is S3.
    const stray = S3_VARIABLES.find((v) => get(v) !== undefined);
    if (stray) {
      throw new StoreConfigError(`${stray} is set but ${STORE_ENV.kind} is local; set ${STORE_ENV.kind}=s3 to use S3, or unset ${stray}`, stray);
    }
    const root = get(STORE_ENV.root);
    if (!root) {
      throw new StoreConfigError(
        `${STORE_ENV.root} is required with ${STORE_ENV.kind}=local (the default): the directory of the local object store`,
        STORE_ENV.root,
      );
    }
    return { kind: STORE_KINDS.local, root };
  }

  if (kind !== STORE_KINDS.s3) {
    throw new StoreConfigError(`${STORE_ENV.kind}=${JSON.stringify(kind)}: expected local or s3`, STORE_ENV.kind);
  }
  const bucket = get(STORE_ENV.bucket);
  if (!bucket) throw new StoreConfigError(`${STORE_ENV.bucket} is required with ${STORE_ENV.kind}=s3: the bucket holding the lake`, STORE_ENV.bucket);
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) throw new StoreConfigError(`${STORE_ENV.bucket}=${JSON.stringify(bucket)}: ${bucketProblem}`, STORE_ENV.bucket);

  const prefixRaw = get(STORE_ENV.prefix);
  let prefix: string | undefined;
  try {
    prefix = normalizeStorePrefix(prefixRaw) || undefined;
  } catch (e) {
    throw new StoreConfigError(`${STORE_ENV.prefix}=${JSON.stringify(prefixRaw)} is not a valid key prefix: ${(e as Error).message}`, STORE_ENV.prefix, {
      cause: e,
    });
  }

  const endpoint = get(STORE_ENV.endpoint);
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new StoreConfigError(
        `${STORE_ENV.endpoint}=${JSON.stringify(endpoint)}: expected an http:// or https:// URL, e.g. http://127.0.0.1:9000`,
        STORE_ENV.endpoint,
      );
    }
  }

  const pathStyleRaw = get(STORE_ENV.forcePathStyle);
  let forcePathStyle: boolean;
  if (pathStyleRaw === undefined) forcePathStyle = endpoint !== undefined;
  else if (pathStyleRaw === "true") forcePathStyle = true;
  else if (pathStyleRaw === "false") forcePathStyle = false;
  else throw new StoreConfigError(`${STORE_ENV.forcePathStyle}=${JSON.stringify(pathStyleRaw)}: expected true or false`, STORE_ENV.forcePathStyle);

  const sseRaw = get(STORE_ENV.sse);
  const kmsKeyId = get(STORE_ENV.sseKmsKeyId);
  const modes: readonly string[] = Object.values(SSE_MODES);
  if (sseRaw !== undefined && !modes.includes(sseRaw)) {
    throw new StoreConfigError(`${STORE_ENV.sse}=${JSON.stringify(sseRaw)}: expected ${modes.join(" or ")}`, STORE_ENV.sse);
  }
  if (kmsKeyId !== undefined && sseRaw !== SSE_MODES.kms) {
    throw new StoreConfigError(
      `${STORE_ENV.sseKmsKeyId} is set but ${STORE_ENV.sse} is ${sseRaw ?? "unset"}; a KMS key only applies with ${STORE_ENV.sse}=aws:kms`,
      STORE_ENV.sseKmsKeyId,
    );
  }
  const sse = sseRaw === undefined ? undefined : { mode: sseRaw as SseMode, ...(kmsKeyId ? { kmsKeyId } : {}) };

  return {
    kind: STORE_KINDS.s3,
    bucket,
    ...(prefix ? { prefix } : {}),
    ...(endpoint ? { endpoint } : {}),
    region: get(STORE_ENV.region) ?? "us-east-1",
    forcePathStyle,
    ...(sse ? { sse } : {}),
  };
}

/**
 * Opens the configured store. For S3 it first checks that the bucket exists and can be listed
 * (unless `verify: false`), so a misconfigured service stops at start with BucketNotFoundError or
 * StoreAccessDeniedError instead of failing on its first write.
 */
export async function openStore(config: StoreConfig, opts: { verify?: boolean } = {}): Promise<ObjectStore> {
  if (config.kind === STORE_KINDS.local) return openLocalStore(config.root);
  const { kind: _kind, ...s3 } = config;
  const store = new S3Store(s3);
  if (opts.verify ?? true) {
    try {
      await store.checkBucket();
    } catch (e) {
      store.close();
      throw e;
    }
  }
  return store;
}

/** Where the store is, for logs and ready lines: a directory or `s3://bucket/prefix (endpoint)`. */
export function describeStore(config: StoreConfig): string {
  if (config.kind === STORE_KINDS.local) return config.root;
  const prefix = normalizeStorePrefix(config.prefix);
  return `s3://${config.bucket}/${prefix ? `${prefix}/` : ""}${config.endpoint ? ` at ${config.endpoint}` : ""}`;
}
