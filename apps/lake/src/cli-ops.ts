// `lake` commands that change or inspect what readers see: promote, rollback, tag, audit, and the
// schema registry. Each catalog command is validated by the catalog and recorded in the commit log.
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";

import { CatalogClient, type CommandResult } from "@lake/client";

export class OpsUsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;
type Print = (columns: string[], rows: Record<string, unknown>[]) => void;

export const OPS_USAGE = `  lake promote D --version N --reason R       make version N current (critical datasets: only a passed version)
  lake rollback D [--to N] --reason R         move current back (default: the version current before)
  lake tag D NAME --version N --reason R      name a version (tags never move); read it with query --tag NAME
  lake tags D                                 list a dataset's tags
  lake schema list [DOMAIN]                   schema registry: domains and their versions
  lake schema register FILE.avsc --reason R   register a new version (refused unless backward compatible)
      actor: --actor A, or $LAKE_ACTOR, or your user name (a catalog with authentication on records the
      name of your $LAKE_TOKEN instead)`;

/** A catalog client carrying $LAKE_TOKEN (the bearer token the catalog asks for when its auth is on). */
export function catalogClient(url: string): CatalogClient {
  return new CatalogClient(url, process.env.LAKE_TOKEN || undefined);
}

function actorOf(v: Values): string {
  return (v.actor as string | undefined) || process.env.LAKE_ACTOR || userInfo().username;
}

function reasonOf(v: Values): string {
  const r = v.reason as string | undefined;
  if (!r) throw new OpsUsageError("--reason is required: it goes into the commit log and the audit trail");
  return r;
}

function positiveInt(v: Values, name: string, required: true): number;
function positiveInt(v: Values, name: string, required: false): number | undefined;
function positiveInt(v: Values, name: string, required: boolean): number | undefined {
  const raw = v[name] as string | undefined;
  if (raw === undefined) {
    if (required) throw new OpsUsageError(`--${name} N is required`);
    return undefined;
  }
  if (!/^[1-9]\d*$/.test(raw)) throw new OpsUsageError(`--${name} must be a positive integer, got ${raw}`);
  return Number(raw);
}

function report(what: string, r: CommandResult): void {
  if (!r.changed) console.log(`${what}: nothing to do (${r.message ?? "already so"})`);
  else console.log(`${what}: recorded at commit-log sequence ${r.seq}; current version ${r.current_version ?? "none"}, latest ${r.latest_version}`);
}

export async function cmdOps(cmd: string, rest: string[], v: Values, catalogUrl: () => string, natsUrl: () => string, print: Print): Promise<void> {
  const dataset = rest[0];
  const needDataset = () => {
    if (!dataset) throw new OpsUsageError(`usage: lake ${cmd} <dataset> ...`);
    return dataset;
  };
  switch (cmd) {
    case "promote":
      return report("promote", await catalogClient(catalogUrl()).promote(needDataset(), positiveInt(v, "version", true), actorOf(v), reasonOf(v)));
    case "rollback":
      return report("rollback", await catalogClient(catalogUrl()).rollback(needDataset(), actorOf(v), reasonOf(v), positiveInt(v, "to", false)));
    case "tag": {
      const name = rest[1];
      if (!name) throw new OpsUsageError("usage: lake tag <dataset> <name> --version N --reason R");
      return report(`tag ${name}`, await catalogClient(catalogUrl()).tag(needDataset(), name, positiveInt(v, "version", true), actorOf(v), reasonOf(v)));
    }
    case "tags": {
      const catalog = catalogClient(catalogUrl());
      const r = await catalog.tags(needDataset());
      // No tags of a dataset that doesn't exist: say so (the catalog's 404), not an empty table.
      if (r.tags.length === 0) await catalog.dataset(needDataset());
      return print(["tag", "version", "seq"], r.tags);
    }
    case "schema":
      return cmdSchema(rest, v, natsUrl, print);
    default:
      throw new OpsUsageError(`unknown command ${cmd}`);
  }
}

async function cmdSchema(rest: string[], v: Values, natsUrl: () => string, print: Print): Promise<void> {
  const [{ connectNats }, { SchemaRegistry }] = await Promise.all([import("./lazy/nats.ts"), import("./lazy/registry.ts")]);
  const nc = await connectNats({ url: natsUrl(), name: "lake-cli" });
  try {
    const registry = await SchemaRegistry.open(nc, { seed: false });
    try {
      if (rest[0] === "list") {
        const domains = rest[1] ? [rest[1]] : registry.domains();
        const rows = domains.flatMap((d) =>
          registry.versions(d).map((x) => ({
            domain: d,
            version: x.version,
            fingerprint: x.fingerprint.slice(0, 16),
            registered_at: new Date(x.registered_at).toISOString(),
            actor: x.actor,
            reason: x.reason,
          })),
        );
        return print(["domain", "version", "fingerprint", "registered_at", "actor", "reason"], rows);
      }
      if (rest[0] === "register") {
        const file = rest[1];
        if (!file) throw new OpsUsageError("usage: lake schema register FILE.avsc --reason R");
        let doc: unknown;
        try {
          doc = JSON.parse(readFileSync(file, "utf8"));
        } catch (e) {
          throw new OpsUsageError(`cannot read ${file} as JSON: ${(e as Error).message}`);
        }
        const r = await registry.register(doc, actorOf(v), reasonOf(v));
        console.log(
          r.changed
            ? `registered ${r.domain} version ${r.version} (${r.fingerprint.slice(0, 16)}…)`
            : `${r.domain}: this document is already version ${r.version}; nothing to do`,
        );
        return;
      }
      throw new OpsUsageError("usage: lake schema list [DOMAIN] | lake schema register FILE.avsc --reason R");
    } finally {
      registry.close();
    }
  } finally {
    await nc.close();
  }
}
