// Failpoints for fault tests (as in FoundationDB / TiKV fail-rs). LAKE_FAILPOINTS is a comma list of
// `point@N` (kill -9 self the N-th time the point is reached) or `point@N=pause:MS` (stall there for
// MS milliseconds, e.g. to play a zombie committer). Unset in production: a failpoint is then a no-op.
import { failpointHook as runtimeFailpointHook, parseFailpoints as parseFailpointSpec } from "@lake/runtime";
// after_parquet: the data files are written; after_iceberg and after_manifest: the version's Iceberg
// snapshot and its manifest too (written together); before_commit / after_commit: around the CAS append;
// during_quarantine: part of a failed audit's batch is in quarantine (after each chunk, before the ledger
// says done); after_quarantine: all of it is, its revert not yet committed.
export const FAILPOINTS = [
  "after_parquet",
  "after_iceberg",
  "after_manifest",
  "before_commit",
  "after_commit",
  "during_quarantine",
  "after_quarantine",
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export const parseFailpoints = (spec: string) => parseFailpointSpec(spec, FAILPOINTS);
export const failpointHook = (spec: string) => runtimeFailpointHook(spec, FAILPOINTS);
