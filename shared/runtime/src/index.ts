export { ConfigError, intEnv, requiredEnv } from "./env.ts";
export { onShutdown } from "./shutdown.ts";
export { type FailpointAction, parseFailpoints, failpointHook } from "./failpoints.ts";
export { openStateDb, type StateDb } from "./sqlite.ts";
