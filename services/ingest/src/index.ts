export { parseBody, classify, summarise, replyStatus, RequestError, type IngestReply, type RecordResult, type Classified } from "./domain/classify.ts";
export {
  QUARANTINE_LIST_DEFAULT_LIMIT,
  QUARANTINE_LIST_MAX_LIMIT,
  REPLAY_MAX_ITEMS,
  type QuarantineEntry,
  type QuarantinedEntry,
  type UndecodableEntry,
  type QuarantineList,
  type ReplayResult,
  type ReplayReply,
} from "./domain/quarantine.ts";
export { INGEST_QUEUE } from "./nats/endpoint.ts";
