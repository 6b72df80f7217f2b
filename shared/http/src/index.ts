export { HttpError, sendJson, readBody, listen, parseTarget } from "./http.ts";
