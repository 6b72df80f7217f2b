// Codecs for the records on the lake's own streams (commit log, quarantine). Payloads from the
// network are decoded behind a size cap: avsc trusts length prefixes, and a tiny hostile payload can
// claim billions of items.
import type avro from "avsc";

import { LakeLog } from "./generated.ts";
import { safeTypeForSchema } from "./safe-avro.ts";

export class PayloadTooLargeError extends Error {
  constructor(
    readonly what: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`${what} payload of ${bytes} bytes exceeds the ${limit}-byte limit`);
    this.name = "PayloadTooLargeError";
  }
}

export class DecodeError extends Error {
  constructor(what: string, options: { cause: unknown }) {
    super(`cannot decode ${what}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
    this.name = "DecodeError";
  }
}

export interface LogCodec<T> {
  readonly name: string;
  readonly fingerprint: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const MAX_LOG_RECORD_BYTES = 8 * 1024 * 1024;

function codec<T>(schemaJson: string, name: string): LogCodec<T> {
  const type = safeTypeForSchema(JSON.parse(schemaJson) as avro.Schema);
  const fingerprint = type.fingerprint("sha256").toString("hex");
  return {
    name,
    fingerprint,
    encode: (value) => type.toBuffer(value),
    decode(bytes) {
      if (bytes.byteLength > MAX_LOG_RECORD_BYTES) throw new PayloadTooLargeError(name, bytes.byteLength, MAX_LOG_RECORD_BYTES);
      try {
        const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        return type.fromBuffer(buf) as T;
      } catch (cause) {
        // HostileAvroError and avsc's own "truncated buffer" both end here: one error kind for callers.
        throw new DecodeError(name, { cause });
      }
    },
  };
}

export const versionCommittedCodec = codec<LakeLog.VersionCommitted>(LakeLog.VersionCommittedSchema, "VersionCommitted");
export const qualityVerdictCodec = codec<LakeLog.QualityVerdict>(LakeLog.QualityVerdictSchema, "QualityVerdict");
export const versionPromotedCodec = codec<LakeLog.VersionPromoted>(LakeLog.VersionPromotedSchema, "VersionPromoted");
export const versionTaggedCodec = codec<LakeLog.VersionTagged>(LakeLog.VersionTaggedSchema, "VersionTagged");
export const schemaRegisteredCodec = codec<LakeLog.SchemaRegistered>(LakeLog.SchemaRegisteredSchema, "SchemaRegistered");
export const quarantineReplayCodec = codec<LakeLog.QuarantineReplay>(LakeLog.QuarantineReplaySchema, "QuarantineReplay");
export const versionsExpiredCodec = codec<LakeLog.VersionsExpired>(LakeLog.VersionsExpiredSchema, "VersionsExpired");
export const filesCollectedCodec = codec<LakeLog.FilesCollected>(LakeLog.FilesCollectedSchema, "FilesCollected");
export const alertChangedCodec = codec<LakeLog.AlertChanged>(LakeLog.AlertChangedSchema, "AlertChanged");
export const quarantinedRecordCodec = codec<LakeLog.QuarantinedRecord>(LakeLog.QuarantinedRecordSchema, "QuarantinedRecord");

/** Every record kind on the commit log (lake.commits.<dataset>), tagged by the `Lake-Record` header. */
export type LogRecord =
  | { kind: "VersionCommitted"; body: LakeLog.VersionCommitted }
  | { kind: "QualityVerdict"; body: LakeLog.QualityVerdict }
  | { kind: "VersionPromoted"; body: LakeLog.VersionPromoted }
  | { kind: "VersionTagged"; body: LakeLog.VersionTagged }
  | { kind: "VersionsExpired"; body: LakeLog.VersionsExpired }
  | { kind: "FilesCollected"; body: LakeLog.FilesCollected };

export type LogRecordKind = LogRecord["kind"];

export const logCodecs: { readonly [K in LogRecordKind]: LogCodec<Extract<LogRecord, { kind: K }>["body"]> } = {
  VersionCommitted: versionCommittedCodec,
  QualityVerdict: qualityVerdictCodec,
  VersionPromoted: versionPromotedCodec,
  VersionTagged: versionTaggedCodec,
  VersionsExpired: versionsExpiredCodec,
  FilesCollected: filesCollectedCodec,
};

export function isLogRecordKind(kind: string | undefined): kind is LogRecordKind {
  return kind !== undefined && Object.hasOwn(logCodecs, kind);
}
