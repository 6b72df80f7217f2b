export {
  startNatsServer,
  findNatsServer,
  NatsServerMissingError,
  NatsServerStartError,
  isNatsServerMissing,
  type NatsServerHandle,
  type StartNatsServerOptions,
} from "./nats-server.ts";
export { spawnService, SERVICE_NODE_FLAGS, ServiceStartError, isServiceStartError, type ServiceHandle, type SpawnServiceOptions } from "./service.ts";
export type { ExitStatus } from "./children.ts";
export { freePort, acceptsConnections, RESERVED_PORTS } from "./ports.ts";
export { waitFor, WaitTimeoutError, isWaitTimeout } from "./wait.ts";
export { slowClient } from "./slow-client.ts";
export { startS3Server, S3ServerStartError, isS3ServerStartError, type S3ServerHandle, type StartS3ServerOptions } from "./s3-server.ts";
export { startNatsCluster, type NatsCluster } from "./nats-cluster.ts";
