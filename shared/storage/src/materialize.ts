// DuckDB reads Parquet from file paths. Its S3 support is an extension it downloads at first use,
// which an offline machine cannot do, so readers of a remote store copy the files a query needs
// into a local cache first. Lake data files are immutable (their keys contain a unique write id),
// so a cached copy of the right size is the object and is downloaded once.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { ObjectNotFoundError, StorageError } from "./errors.ts";
import { validateKey } from "./key.ts";
import type { ObjectStore } from "./store.ts";

export interface MaterializeItem {
  key: string;
  /** Expected size (e.g. a manifest's `bytes`); if unknown, the store is asked with `head`. */
  size?: number;
  /** Expected sha256 (hex) of a fresh download; cached copies are checked by size only. */
  sha256?: string;
}

export interface MaterializeOptions {
  /** Downloads in flight at once (default 4). */
  concurrency?: number;
}

const TEMP_PREFIX = ".tmp-";

/**
 * Local file paths for `items`, in the same order. A store with local paths (the local disk store)
 * is returned as is, with nothing copied. Otherwise each object is downloaded once into
 * `cacheDir/<key>` (written to a temp name beside it, fsynced, then renamed, so a reader or a
 * concurrent materialize never sees a partial file) and reused while its size matches.
 * The cache is never evicted: callers own `cacheDir` and delete it when done.
 */
export async function materialize(
  store: ObjectStore,
  items: readonly (string | MaterializeItem)[],
  cacheDir: string,
  opts: MaterializeOptions = {},
): Promise<string[]> {
  const wanted = items.map((i) => (typeof i === "string" ? { key: i } : i));
  for (const w of wanted) validateKey(w.key);
  if (wanted.length > 0 && store.localPath(wanted[0]!.key) !== undefined) {
    return wanted.map((w) => store.localPath(w.key)!);
  }
  const root = path.resolve(cacheDir);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  // The same key twice in one call is fetched once.
  const jobs = new Map<string, MaterializeItem>();
  for (const w of wanted) if (!jobs.has(w.key)) jobs.set(w.key, w);
  const queue = [...jobs.values()];
  const paths = new Map<string, string>();
  // On the first failure the workers stop taking new items, and the call returns only once the
  // downloads already running have finished: nothing keeps writing into the cache behind the caller.
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined && failure === undefined; item = queue.shift()) {
        try {
          paths.set(item.key, await materializeOne(store, item, root));
        } catch (e) {
          failure ??= { error: e };
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
  return wanted.map((w) => paths.get(w.key)!);
}

async function materializeOne(store: ObjectStore, item: MaterializeItem, root: string): Promise<string> {
  const target = path.join(root, ...item.key.split("/"));
  let expected = item.size;
  const cached = await fs.stat(target).catch(() => undefined);
  if (cached?.isFile()) {
    if (expected === undefined) {
      const info = await store.head(item.key);
      if (info === undefined) throw new ObjectNotFoundError(item.key);
      expected = info.size;
    }
    if (cached.size === expected) return target;
  }

  const bytes = await store.get(item.key);
  if (expected !== undefined && bytes.byteLength !== expected) {
    throw new StorageError(`materialize ${item.key}: the store returned ${bytes.byteLength} bytes, expected ${expected}`);
  }
  if (item.sha256 !== undefined) {
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== item.sha256) throw new StorageError(`materialize ${item.key}: sha256 ${actual} differs from the expected ${item.sha256}`);
  }

  const dir = path.dirname(target);
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(target)}-${randomBytes(6).toString("hex")}`);
  try {
    await fs.mkdir(dir, { recursive: true });
    const handle = await fs.open(tmp, "wx");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined);
    throw new StorageError(`materialize ${item.key}: cannot write ${target}: ${(e as Error).message}`, { cause: e });
  }
  return target;
}
