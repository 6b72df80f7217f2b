export { STREAMS, LIVE_PULL_EXPIRES_MS, endWhenStalled, ConsumerStalledError, subjects, type StreamSettings, defaultStreamSettings, ensureStreams, streamSettingsFromEnv } from "./streams.ts";
export { connectNats, natsAuthFromEnv, natsConnectionOptions, NatsConfigError, isNatsConfigError, isInboxSubject, type NatsAuth, type NatsOptions } from "./connect.ts";
export {
  MessagingError,
  CasConflictError,
  isCasConflict,
  PublishOutcomeUnknownError,
  isPublishOutcomeUnknown,
  AppendRejectedError,
  isAppendRejected,
} from "./errors.ts";
export { appendWithCas, type AppendOptions, EXPECTED_SEQ_HEADER, expectedSeqOf, standsAfter } from "./append.ts";
export { Alerts, alertTransition, type AlertTransition } from "./alerts.ts";
export { StallGuard, type PoisonPolicy, DEFAULT_POISON_POLICY, poisonPolicyFromEnv } from "./poison.ts";
export {
  HEADERS,
  type CommitHead,
  type InspectedRecord,
  LogJudge,
  inspectLogRecord,
  readCommitHead,
  recordsBetween,
  decodeLogRecord,
  appendLogRecord,
  foldCommitLog,
} from "./commitlog.ts";
