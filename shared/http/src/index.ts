export { HttpError, sendJson, readBody, listen } from "./http.ts";
