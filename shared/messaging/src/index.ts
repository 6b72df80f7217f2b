export {
  STREAMS,
  LIVE_PULL_EXPIRES_MS,
  LIVE_PULL_HEARTBEAT_MS,
  endWhenStalled,
  ConsumerStalledError,
  subjects,
  type StreamSettings,
  defaultStreamSettings,
  ensureStreams,
  streamSettingsFromEnv,
} from "./streams.ts";
export {
  connectNats,
  natsAuthFromEnv,
  natsConnectionOptions,
  NatsConfigError,
  isNatsConfigError,
  isInboxSubject,
  type NatsAuth,
  type NatsOptions,
} from "./connect.ts";
export { natsHeadersPatchApplied, natsRequestPatchApplied, patchNatsHeaders, patchNatsRequests } from "./nats-patches.ts";
export {
  NATS_USERS,
  SERVICE_USERS,
  SYSTEM_USER,
  LAKE_ACCOUNT,
  SYSTEM_ACCOUNT,
  natsUser,
  renderAccountsConf,
  writeLocalNatsConfig,
  readLocalNatsConfig,
  type NatsUser,
  type UserPermissions,
  type PasswordValue,
  type LocalNatsConfig,
} from "./permissions.ts";
export {
  MessagingError,
  CasConflictError,
  isCasConflict,
  PublishOutcomeUnknownError,
  isPublishOutcomeUnknown,
  isNatsUnavailable,
  AppendRejectedError,
  isAppendRejected,
  ConsumerEndedError,
} from "./errors.ts";
export {
  follow,
  type Follower,
  type FollowOptions,
  type BatchLimits,
  type BatchInfo,
  type RetryPolicy,
  DEFAULT_FOLLOW_RETRY,
  FOLLOW_REQUEST_TIMEOUT_MS,
  retryDelayMs,
} from "./follow.ts";
export { appendWithCas, type AppendOptions, EXPECTED_SEQ_HEADER, expectedSeqOf, standsAfter } from "./append.ts";
export { Alerts, alertTransition, type AlertTransition } from "./alerts.ts";
export { StallGuard, type PoisonPolicy, DEFAULT_POISON_POLICY, poisonPolicyFromEnv } from "./poison.ts";
export {
  HEADERS,
  type CommitHead,
  type InspectedRecord,
  type JudgeState,
  EMPTY_JUDGE_STATE,
  judgeNext,
  LogJudge,
  inspectLogRecord,
  readCommitHead,
  recordsBetween,
  decodeLogRecord,
  appendLogRecord,
  foldCommitLog,
} from "./commitlog.ts";
export { createReplicatedStreams, streamReplicaState } from "./cluster.ts";
export { appendUntilStands, casRetryDelayMs, type CasRetryPolicy, type CasLoopOptions } from "./cas-loop.ts";
export { type Ack, AckedPublisher, type AckedPublishOptions, PublishAckError } from "./acked-publish.ts";
