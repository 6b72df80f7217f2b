export { parseBody, classify, summarise, replyStatus, RequestError, type IngestReply, type RecordResult, type Classified } from "./domain/classify.ts";
export { INGEST_QUEUE } from "./nats/endpoint.ts";
