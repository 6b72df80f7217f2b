export { parseBody, classify, summarise, replyStatus, RequestError, type Classified } from "./domain/classify.ts";
export { QUARANTINE_LIST_DEFAULT_LIMIT, QUARANTINE_LIST_MAX_LIMIT, REPLAY_MAX_ITEMS } from "./domain/quarantine.ts";
export { INGEST_QUEUE } from "./nats/endpoint.ts";
