import { randomBytes } from "node:crypto";
import { type Dirent, mkdirSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

import { InvalidKeyError, ObjectNotFoundError, StorageError } from "./errors.ts";
import { KEY_SEGMENT_PATTERN, validateKey, validatePrefix } from "./key.ts";
import type { ObjectInfo, ObjectStore } from "./store.ts";

// Temp files live beside their final name (so rename/link stay within one filesystem and are
// atomic). The leading dot can never start a valid key segment, so they cannot collide with keys
// and `list` skips them by the same rule that skips any other non-key file.
const TEMP_PREFIX = ".tmp-";

// A delete prunes empty parent directories (S3 has no directories), which can race with a put that
// has just created them. The put then sees ENOENT (or ENOTDIR from mkdir) on its temp file; recreating the directory and
// retrying is correct, and a handful of attempts is plenty since each loss needs a concurrent delete.
const MAX_DIR_RACE_RETRIES = 5;

/**
 * Objects as files under `root`, one file per key, '/' in keys mapping to directories.
 * Local-disk limitation: a key cannot be both an object and a prefix of other objects'
 * keys ("a" and "a/b"), because a path cannot be both a file and a directory.
 */
export class LocalDiskStore implements ObjectStore {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  uri(key: string): string {
    return pathToFileURL(this.localPath(key)).href;
  }

  keyOfUri(uri: string): string {
    const base = pathToFileURL(this.root).href + "/";
    if (!uri.startsWith(base)) throw new InvalidKeyError(uri, `not a URI of this store (${base}…)`);
    return validateKey(decodeURIComponent(uri.slice(base.length)));
  }

  localPath(key: string): string {
    return path.join(this.root, ...validateKey(key).split("/"));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const final = this.localPath(key);
    const tmp = await this.writeTemp(key, final, body);
    try {
      await fs.rename(tmp, final);
    } catch (e) {
      await removeQuietly(tmp);
      throw ioError("put", key, e);
    }
    await syncDir(path.dirname(final), key);
  }

  async putAll(objects: readonly { key: string; body: Uint8Array }[]): Promise<void> {
    const finals = objects.map((o) => this.localPath(o.key));
    const written = await Promise.allSettled(objects.map((o, i) => this.writeTemp(o.key, finals[i]!, o.body)));
    const failed = written.find((w) => w.status === "rejected");
    if (failed) {
      await Promise.all(written.map((w) => (w.status === "fulfilled" ? removeQuietly(w.value) : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const tmps = written.map((w) => (w as PromiseFulfilledResult<string>).value);
    for (let i = 0; i < objects.length; i++) {
      try {
        await fs.rename(tmps[i]!, finals[i]!);
      } catch (e) {
        await Promise.all(tmps.slice(i).map(removeQuietly));
        throw ioError("put", objects[i]!.key, e);
      }
    }
    // Each directory once, however many of the objects it holds.
    const dirs = new Map<string, string>();
    for (let i = 0; i < objects.length; i++) dirs.set(path.dirname(finals[i]!), objects[i]!.key);
    await Promise.all([...dirs].map(([dir, key]) => syncDir(dir, key)));
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    const final = this.localPath(key);
    const tmp = await this.writeTemp(key, final, body);
    try {
      // link(2) fails with EEXIST if the name exists, atomically, which rename(2) cannot do.
      await fs.link(tmp, final);
    } catch (e) {
      if (errno(e) === "EEXIST") {
        await this.assertNotPrefix(key, final, e);
        return false;
      }
      throw ioError("putIfAbsent", key, e);
    } finally {
      await removeQuietly(tmp);
    }
    await syncDir(path.dirname(final), key);
    return true;
  }

  async get(key: string): Promise<Uint8Array> {
    const file = this.localPath(key);
    try {
      const buf = await fs.readFile(file);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      // EISDIR: the key is only a prefix of other keys, which in S3 terms means it does not exist.
      if (isMissing(e) || errno(e) === "EISDIR") throw new ObjectNotFoundError(key, { cause: e });
      throw ioError("get", key, e);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.localPath(key);
    try {
      const st = await fs.stat(file);
      return st.isFile() ? { key, size: st.size, modifiedAt: st.mtimeMs } : undefined;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw ioError("head", key, e);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const cut = prefix.lastIndexOf("/") + 1;
    yield* this.walk(prefix.slice(0, cut), prefix.slice(cut));
  }

  async delete(key: string): Promise<void> {
    const file = this.localPath(key);
    try {
      await fs.unlink(file);
    } catch (e) {
      // EISDIR/EPERM: the key is only a prefix of other keys, so there is no object to delete.
      const code = errno(e);
      if (isMissing(e) || code === "EISDIR" || code === "EPERM") return;
      throw ioError("delete", key, e);
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  /**
   * Yields keys under `dirKey` (a '/'-terminated key prefix, or "") whose remainder starts with
   * `namePrefix`. Entries are visited sorted by name, with '/' appended to directory names: every
   * key below directory "a" starts with "a/", so this order is exactly the global key order
   * (e.g. "a-b" < "a.c" < "a/x" < "a0") and the walk can stream without collecting and sorting.
   */
  private async *walk(dirKey: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
    const dir = path.join(this.root, ...dirKey.split("/").filter(Boolean));
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return;
      throw ioError("list", dirKey + namePrefix, e);
    }
    const visible = entries
      .filter((d) => KEY_SEGMENT_PATTERN.test(d.name) && (d.isFile() || d.isDirectory()))
      .map((d) => ({ name: d.name, isDir: d.isDirectory(), sortName: d.isDirectory() ? `${d.name}/` : d.name }))
      .filter((d) => d.sortName.startsWith(namePrefix))
      .sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0));
    for (const entry of visible) {
      const key = dirKey + entry.name;
      if (entry.isDir) {
        yield* this.walk(`${key}/`, "");
        continue;
      }
      try {
        const st = await fs.stat(path.join(dir, entry.name));
        yield { key, size: st.size, modifiedAt: st.mtimeMs };
      } catch (e) {
        // Deleted between readdir and stat: it is simply not part of this listing.
        if (isMissing(e)) continue;
        throw ioError("list", key, e);
      }
    }
  }

  private async writeTemp(key: string, final: string, body: Uint8Array): Promise<string> {
    const dir = path.dirname(final);
    for (let attempt = 0; ; attempt++) {
      const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(final)}-${randomBytes(6).toString("hex")}`);
      try {
        await fs.mkdir(dir, { recursive: true });
        const handle = await fs.open(tmp, "wx");
        try {
          await handle.writeFile(body);
          // Without fsync a crash after rename can publish a name pointing at an empty file.
          await handle.sync();
        } catch (e) {
          await handle.close().catch(() => undefined);
          await removeQuietly(tmp);
          throw e;
        }
        await handle.close();
        return tmp;
      } catch (e) {
        // ENOTDIR too: seen (rarely) from the recursive mkdir racing a prune of the same directories. A
        // parent that really is a file fails the same way every time, and is reported after the retries.
        if ((errno(e) === "ENOENT" || errno(e) === "ENOTDIR") && attempt < MAX_DIR_RACE_RETRIES) continue;
        throw ioError("write", key, e);
      }
    }
  }

  // EEXIST from link() also happens when the key is a directory (a prefix of other keys). Returning
  // false there would claim an object exists that get() cannot read, so fail loudly instead.
  private async assertNotPrefix(key: string, final: string, cause: unknown): Promise<void> {
    const st = await fs.stat(final).catch(() => undefined);
    if (st?.isDirectory()) {
      throw new StorageError(`putIfAbsent ${key}: the local store already has objects under ${key}/ and a path cannot be both a file and a directory`, {
        cause,
      });
    }
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.root && current.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(current);
      } catch {
        // Not empty (or already gone, or just re-created by a put): stop pruning here.
        return;
      }
      current = path.dirname(current);
    }
  }
}

/** Opens (creating if needed) a local-disk store rooted at `root`. */
export function openLocalStore(root: string): LocalDiskStore {
  try {
    mkdirSync(root, { recursive: true });
  } catch (e) {
    throw new StorageError(`cannot create local store root ${root}`, { cause: e });
  }
  return new LocalDiskStore(root);
}

// Makes the rename/link itself durable; on its own, fsync of the file does not persist the name.
async function syncDir(dir: string, key: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, "r");
    await handle.sync();
  } catch (e) {
    throw ioError("sync directory for", key, e);
  } finally {
    await handle?.close();
  }
}

async function removeQuietly(file: string): Promise<void> {
  await fs.unlink(file).catch(() => undefined);
}

function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

// ENOTDIR: a parent of the key is a file, so the key itself cannot exist.
function isMissing(e: unknown): boolean {
  const code = errno(e);
  return code === "ENOENT" || code === "ENOTDIR";
}

function ioError(op: string, key: string, cause: unknown): StorageError {
  if (cause instanceof StorageError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StorageError(`${op} ${key} failed: ${detail}`, { cause });
}
