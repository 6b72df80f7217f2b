export { type Logger, createLogger } from "./log.ts";
