import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { versionCommittedCodec, type VersionCommitted } from "@lake/contracts";
import { STREAMS, subjects } from "./streams.ts";

/** Headers on commit-log records: the record type picks the Avro contract that decodes the body. */
export const HEADERS = {
  record: "Lake-Record",
  schema: "Lake-Schema",
} as const;

export interface CommitHead {
  /** Stream sequence of the record (the CAS token for the next append). */
  seq: number;
  record: VersionCommitted;
}

export function decodeCommitRecord(msg: { data: Uint8Array; headers?: { get(k: string): string } | undefined }): VersionCommitted | undefined {
  const kind = msg.headers?.get(HEADERS.record);
  if (kind !== versionCommittedCodec.name) return undefined;
  return versionCommittedCodec.decode(msg.data);
}

/** The last record on a dataset's commit subject, or undefined for a dataset with no commits yet. */
export async function readCommitHead(jsm: JetStreamManager, dataset: string): Promise<CommitHead | undefined> {
  const msg = await jsm.streams.getMessage(STREAMS.commits, { last_by_subj: subjects.commits(dataset) });
  return msg ? toHead(msg) : undefined;
}

export async function readCommitAt(jsm: JetStreamManager, seq: number): Promise<CommitHead | undefined> {
  const msg = await jsm.streams.getMessage(STREAMS.commits, { seq });
  return msg ? toHead(msg) : undefined;
}

function toHead(msg: StoredMsg): CommitHead | undefined {
  // A stored message carries its headers as `header`, a consumed one as `headers`.
  const record = decodeCommitRecord({ data: msg.data, headers: msg.header });
  return record ? { seq: msg.seq, record } : undefined;
}
