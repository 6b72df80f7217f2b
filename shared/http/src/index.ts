export {
  HttpError,
  sendJson,
  readBody,
  listen,
  parseTarget,
  closesConnection,
  createHttpServer,
  httpTimeoutsFromEnv,
  DEFAULT_HTTP_TIMEOUTS,
  HTTP_TIMEOUT_ENV,
  type HttpTimeouts,
} from "./http.ts";
