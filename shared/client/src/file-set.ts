// A version's files from its file-set reference: the version's Iceberg manifest list, then the manifests
// it names, read from the object store. Manifests and manifest lists are immutable (named by the version
// and write that made them) and shared between versions, so both are cached by key and a reader of the
// next version only reads the manifests that version wrote. Entries a manifest marks DELETED are files
// the version removed; every other entry is a file of the version.
import type { CatalogFileSet } from "@lake/contracts";
import { decodeManifestList, ENTRY_STATUS, ManifestCache, type ManifestFile } from "@lake/iceberg";
import { type ObjectStore, validateKey } from "@lake/storage";

/** A data file of a version as its manifests state it (no sha256: the commit log holds the hashes). */
export interface FileSetEntry {
  key: string;
  rows: number;
  bytes: number;
}

/** The manifests of a file set don't add up to the version's file set (count, duplicates, foreign URIs). */
export class FileSetError extends Error {
  constructor(
    readonly manifestList: string,
    why: string,
    options?: { cause?: unknown },
  ) {
    super(`file set ${manifestList}: ${why}`, options);
    this.name = "FileSetError";
  }
}

export function isFileSetError(e: unknown): e is FileSetError {
  return e instanceof FileSetError;
}

export interface FileSetResolverOptions {
  /** Manifests kept decoded (default 512). */
  manifests?: number;
  /** Manifest lists kept decoded (default 64). */
  manifestLists?: number;
}

export class FileSetResolver {
  private readonly manifests: ManifestCache;
  private readonly lists = new Map<string, ManifestFile[]>();
  private readonly maxLists: number;

  constructor(
    private readonly store: ObjectStore,
    opts: FileSetResolverOptions = {},
  ) {
    this.manifests = new ManifestCache({ get: (key) => store.get(key), keyOf: (uri) => store.keyOfUri(uri) }, opts.manifests ?? 512);
    this.maxLists = Math.max(1, opts.manifestLists ?? 64);
  }

  /** Every data file of the file set, by key; throws FileSetError when the manifests disagree with the reference. */
  async files(ref: CatalogFileSet): Promise<FileSetEntry[]> {
    const listed = await this.manifestList(ref.manifest_list);
    // Manifests holding only DELETED entries have nothing of this version (the writer drops them, but a reader needn't rely on it).
    const live = listed.filter((m) => m.addedFilesCount + m.existingFilesCount > 0);
    const entries = await Promise.all(live.map((m) => this.manifests.read(m.path)));
    const out: FileSetEntry[] = [];
    const seen = new Set<string>();
    for (const es of entries)
      for (const e of es) {
        if (e.status === ENTRY_STATUS.deleted) continue;
        let key: string;
        try {
          key = this.store.keyOfUri(e.file.path);
        } catch (cause) {
          throw new FileSetError(ref.manifest_list, `a manifest lists ${e.file.path.slice(0, 200)}, which is not in this store`, { cause });
        }
        if (seen.has(key)) throw new FileSetError(ref.manifest_list, `${key} is listed twice`);
        seen.add(key);
        out.push({ key, rows: e.file.recordCount, bytes: e.file.sizeBytes });
      }
    if (out.length !== ref.total_files) throw new FileSetError(ref.manifest_list, `its manifests list ${out.length} files, the version has ${ref.total_files}`);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private async manifestList(key: string): Promise<ManifestFile[]> {
    const hit = this.lists.get(key);
    if (hit) {
      this.lists.delete(key);
      this.lists.set(key, hit);
      return hit;
    }
    const list = await decodeManifestList(await this.store.get(validateKey(key)));
    this.lists.set(key, list);
    while (this.lists.size > this.maxLists) this.lists.delete(this.lists.keys().next().value!);
    return list;
  }
}
