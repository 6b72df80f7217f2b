export { ConfigError, intEnv, requiredEnv } from "./env.ts";
export { onShutdown } from "./shutdown.ts";
