// A version's file list, serialized once. The files of version V are those added at or before V and
// not removed by V: later versions never change them, so the JSON text of a version's list is cached
// (least recently used first out, bounded by total size) and spliced into each answer instead of
// being read from SQLite and serialized per request. A rebuild swaps in another projection: the cache
// belongs to one projection and starts empty with the next.
import type { ServerResponse } from "node:http";

import type { Projection } from "../db/projection.ts";

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export class FileListCache {
  private readonly lists = new Map<string, string>();
  private bytes = 0;
  private owner: Projection | undefined;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** The JSON text of `version`'s file list in `projection`. */
  get(projection: Projection, dataset: string, version: number): string {
    if (projection !== this.owner) {
      this.lists.clear();
      this.bytes = 0;
      this.owner = projection;
    }
    const key = `${dataset}\u0000${version}`;
    const cached = this.lists.get(key);
    if (cached !== undefined) {
      this.hits++;
      // Most recently used last.
      this.lists.delete(key);
      this.lists.set(key, cached);
      return cached;
    }
    this.misses++;
    const text = JSON.stringify(projection.files(dataset, version));
    if (text.length <= this.maxBytes) {
      this.lists.set(key, text);
      this.bytes += text.length;
      for (const [k, v] of this.lists) {
        if (this.bytes <= this.maxBytes) break;
        this.lists.delete(k);
        this.bytes -= v.length;
      }
    }
    return text;
  }
}

/** Sends `body` (an object) with a `files` member whose JSON text is already made. */
export function sendJsonWithFiles(res: ServerResponse, body: object, filesJson: string): void {
  const head = JSON.stringify(body);
  const text = `${head.slice(0, -1)}${head.length > 2 ? "," : ""}"files":${filesJson}}`;
  res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}
