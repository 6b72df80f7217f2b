// The NATS users and their permissions live in @lake/messaging (shared/messaging/src/permissions.ts), the
// one source of truth: `lake up` and the tests run their local nats-server with them too. Here: what the
// deployment renders from them (deploy/nats/accounts.conf, by render.ts), and the names tests import.
import { type LocalNatsConfig, renderAccountsConf, writeLocalNatsConfig } from "@lake/messaging";

export {
  NATS_USERS,
  SERVICE_USERS,
  SYSTEM_USER,
  LAKE_ACCOUNT,
  SYSTEM_ACCOUNT,
  natsUser,
  renderAccountsConf,
  type NatsUser,
  type UserPermissions,
  type PasswordValue,
} from "@lake/messaging";

export const DEPLOY_HEADER = `GENERATED from shared/messaging/src/permissions.ts by deploy/nats/render.ts: do not edit by hand.
Regenerate: node --import tsx deploy/nats/render.ts   (test/deploy.int.test.ts fails when this file is stale)

Users and permissions of the lake's NATS servers, included by nats.conf. Passwords are environment
references ($NATS_<USER>_PASSWORD), set on the NATS containers by docker compose from deploy/.env.`;

/** The committed deploy/nats/accounts.conf. */
export function renderDeployAccountsConf(): string {
  return renderAccountsConf((u) => ({ env: u.passwordEnv }), DEPLOY_HEADER);
}

export type TestNatsConfig = LocalNatsConfig;

/** The deployment's users with random passwords, for a test's own nats-server (see writeLocalNatsConfig). */
export function writeTestNatsConfig(dir: string): Promise<TestNatsConfig> {
  return writeLocalNatsConfig(dir, "Test copy of deploy/nats/accounts.conf with random passwords (writeTestNatsConfig).");
}
