import { InvalidKeyError } from "./errors.ts";

// Keys are built from user-influenced names, so the grammar is deliberately narrower than what S3
// or a filesystem accepts: it must be impossible for a key to escape the store root, to collide
// with the local store's dot-prefixed temp files, or to mean different things on different stores.
export const KEY_SEGMENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._=-]{0,199}$/;
export const MAX_KEY_LENGTH = 1024;

export function validateKey(key: string): string {
  if (typeof key !== "string") throw new InvalidKeyError(String(key), "key must be a string");
  if (key.length === 0) throw new InvalidKeyError(key, "key is empty");
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, `key is ${key.length} characters long, the limit is ${MAX_KEY_LENGTH}`);
  }
  if (key.startsWith("/")) throw new InvalidKeyError(key, "key must not start with '/'");
  if (key.includes("..")) throw new InvalidKeyError(key, "key must not contain '..'");
  const segments = key.split("/");
  for (const [i, segment] of segments.entries()) {
    if (segment.length === 0) {
      throw new InvalidKeyError(key, `segment ${i + 1} is empty (keys must not contain '//' or end with '/')`);
    }
    if (!KEY_SEGMENT_PATTERN.test(segment)) {
      throw new InvalidKeyError(
        key,
        `segment ${JSON.stringify(segment)} must match ${KEY_SEGMENT_PATTERN.source} ` +
          "(a letter or digit, then up to 199 of letters, digits, '.', '_', '=', '-')",
      );
    }
  }
  return key;
}

// A list prefix is any leading part of a key: complete segments, then optionally a partial last
// segment (e.g. "tables/t1/part-"), or a trailing '/'. The empty prefix lists everything.
export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  if (prefix.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(prefix, `prefix is ${prefix.length} characters long, the limit is ${MAX_KEY_LENGTH}`);
  }
  const cut = prefix.lastIndexOf("/");
  if (cut >= 0) validateKey(prefix.slice(0, cut));
  const last = prefix.slice(cut + 1);
  if (prefix.includes("..")) throw new InvalidKeyError(prefix, "prefix must not contain '..'");
  if (last !== "" && !KEY_SEGMENT_PATTERN.test(last)) {
    throw new InvalidKeyError(prefix, `prefix's last segment ${JSON.stringify(last)} cannot start any valid key segment`);
  }
  return prefix;
}
