// Failpoints for fault tests (the committer's scheme). LAKE_FAILPOINTS is a comma list of `point@N`
// (kill -9 self the N-th time the point is reached) or `point@N=pause:MS` (stall there for MS ms).
// Unset in production: a failpoint is then a no-op.
//   after_state_commit  a batch with outputs is committed (state, outbox, position); none of them is
//                       published yet
//   mid_publish         the first half of an outbox round is acknowledged by JetStream, the rest is not
//                       sent and none of it is removed from the outbox
import { failpointHook as runtimeFailpointHook, parseFailpoints as parseFailpointSpec } from "@lake/runtime";
export const FAILPOINTS = ["after_state_commit", "mid_publish"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export const parseFailpoints = (spec: string) => parseFailpointSpec(spec, FAILPOINTS);
export const failpointHook = (spec: string) => runtimeFailpointHook(spec, FAILPOINTS);
