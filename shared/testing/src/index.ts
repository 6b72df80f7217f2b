export {
  startNatsServer,
  findNatsServer,
  NatsServerMissingError,
  NatsServerStartError,
  isNatsServerMissing,
  type NatsServerHandle,
  type StartNatsServerOptions,
} from "./nats-server.ts";
export {
  spawnService,
  ServiceStartError,
  isServiceStartError,
  type ServiceHandle,
  type SpawnServiceOptions,
} from "./service.ts";
export { freePort, acceptsConnections, RESERVED_PORTS } from "./ports.ts";
export { waitFor, WaitTimeoutError, isWaitTimeout } from "./wait.ts";
