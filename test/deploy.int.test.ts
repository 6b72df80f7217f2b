// The docker compose deployment (deploy/), checked with what runs on this machine (no Docker engine):
// the compose file against the code (every variable a service is given is one its code reads, every
// required one is set: both found by scanning the sources the entry imports, not listed by hand), its
// references (Dockerfile, entries, files, volumes, health checks), and the NATS configuration run for
// real by the local nats-server 2.9 as the 3-node cluster compose starts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { parse } from "yaml";

import { derivedNames, domainNames } from "@lake/contracts";
import { appendWithCas, connectNats, STREAMS, subjects } from "@lake/messaging";
import { findNatsServer, freePort, type NatsServerHandle, SERVICE_NODE_FLAGS, startNatsServer } from "@lake/testing";

import { BUNDLES } from "../apps/lake/src/entries.ts";
import { NATS_USERS, natsUser, renderDeployAccountsConf, SERVICE_USERS, SYSTEM_USER } from "../deploy/nats/permissions.ts";
import { setupNats, streamSettingsFromEnv } from "../deploy/nats-setup.ts";

const root = resolve(import.meta.dirname, "..");
const deployDir = join(root, "deploy");
const composePath = join(deployDir, "docker-compose.yml");
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------------
// The compose file, merge keys (<<) resolved as docker compose does.

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  secrets?: string[];
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
}

const composeText = readFileSync(composePath, "utf8");
const compose = parse(composeText, { merge: true }) as Compose;
const services = Object.entries(compose.services);
/** Services built from the lake image (they run our code); the rest are third-party images. */
const lakeServices = services.filter(([, s]) => s.build !== undefined);
const envOf = (s: ComposeService): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));
/** What a lake service runs: a compiled bundle (`services/<svc>/dist/main.js`), or `--import tsx <file.ts>`. */
const commandOf = (s: ComposeService): string[] => {
  assert.ok(Array.isArray(s.command) && s.command.every((x) => typeof x === "string"), "a lake service's command is a list of strings");
  return s.command;
};
const TSX = ["--import", "tsx"];
/** The file node runs: the command's first argument, after `--import tsx` when it has it. */
const runFileOf = (s: ComposeService): string => {
  const c = commandOf(s);
  const file = c.slice(0, 2).join(" ") === TSX.join(" ") ? c[2] : c[0];
  assert.ok(file !== undefined && c.indexOf(file) === c.length - 1, `${c.join(" ")}: one file to run, last`);
  return file;
};
/** The TypeScript a lake service runs: the source a bundle is compiled from, or the file tsx runs. */
const entryOf = (s: ComposeService): string => {
  const file = runFileOf(s);
  const bundle = Object.values(BUNDLES).find((b) => `${b.outDir}/${b.out}` === file);
  return bundle ? bundle.entry : file;
};

// ---------------------------------------------------------------------------------------------------
// What code an entry runs, and which environment variables that code reads.

const workspaces = new Map<string, string>(); // package name -> directory
for (const pattern of JSON.parse(readFileSync(join(root, "package.json"), "utf8")).workspaces as string[]) {
  const dirs = pattern.endsWith("/*") ? readdirSync(join(root, pattern.slice(0, -2))).map((d) => join(root, pattern.slice(0, -2), d)) : [join(root, pattern)];
  for (const dir of dirs) {
    if (!existsSync(join(dir, "package.json"))) continue;
    workspaces.set((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name: string }).name, dir);
  }
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function resolveImport(from: string, spec: string): string | undefined {
  if (spec.startsWith(".")) {
    const p = resolve(dirname(from), spec);
    for (const c of [p, `${p}.ts`, join(p, "index.ts")]) if (existsSync(c) && statSync(c).isFile() && /\.[cm]?[jt]s$/.test(c)) return c;
    return undefined;
  }
  const [a, b] = spec.split("/");
  const dir = workspaces.get(spec.startsWith("@") ? `${a}/${b}` : a!);
  if (!dir) return undefined;
  const exp = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { exports?: Record<string, string> }).exports?.["."];
  return exp ? join(dir, exp) : undefined;
}

/** Every first-party file an entry can load, and the npm packages those files import. */
function codeOf(entry: string): { files: string[]; npm: Set<string> } {
  const files = new Set<string>();
  const npm = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const m of readFileSync(f, "utf8").matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith("node:")) continue;
      const target = resolveImport(f, spec);
      if (target) todo.push(target);
      else if (!spec.startsWith(".")) npm.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  return { files: [...files], npm };
}

const NAME = "([A-Z][A-Z0-9_]*)";
const READS = [
  new RegExp(`process\\.env\\.${NAME}`, "g"),
  new RegExp(`process\\.env\\[\\s*["']${NAME}["']\\s*\\]`, "g"),
  new RegExp(`\\b\\w*Env\\(\\s*["']${NAME}["']`, "g"), // requiredEnv("X", ...), intEnv("X", ...)
  new RegExp(`\\benv\\.${NAME}`, "g"), // helpers taking the environment as `env`
  new RegExp(`\\benv\\[\\s*["']${NAME}["']\\s*\\]`, "g"),
  // Names kept in a table and read through it (STORE_ENV = { kind: "LAKE_STORE", ... }; env[STORE_ENV.kind]):
  // a string literal that is nothing but an environment-style name.
  /["']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["']/g,
];
const REQUIRED = new RegExp(`\\brequiredEnv\\(\\s*["']${NAME}["']`, "g");

interface EnvUse {
  files: string[];
  reads: Set<string>;
  required: Set<string>;
  /** Whether a dependency's installed code (npm closure) mentions the variable: libraries read their own. */
  libraryReads(name: string): string | undefined;
}

const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>;
};
const fileCache = new Map<string, string>();

function npmClosure(direct: Iterable<string>): string[] {
  const seen = new Set<string>();
  const todo = [...direct].map((n) => `node_modules/${n}`);
  while (todo.length > 0) {
    const key = todo.pop()!;
    if (seen.has(key) || !lock.packages[key]) continue;
    seen.add(key);
    const entry = lock.packages[key]!;
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      const nested = `${key}/node_modules/${dep}`;
      todo.push(lock.packages[nested] ? nested : `node_modules/${dep}`);
    }
  }
  return [...seen];
}

function jsFiles(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) jsFiles(p, out);
    else if (/\.[cm]?js$/.test(e.name)) out.push(p);
  }
  return out;
}

function envUse(entry: string): EnvUse {
  const { files, npm } = codeOf(entry);
  const reads = new Set<string>();
  const required = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    for (const re of READS) for (const m of text.matchAll(re)) reads.add(m[1]!);
    for (const m of text.matchAll(REQUIRED)) required.add(m[1]!);
  }
  let packages: string[] | undefined;
  return {
    files,
    reads,
    required,
    libraryReads(name) {
      packages ??= npmClosure(npm);
      const word = new RegExp(`\\b${name}\\b`);
      for (const pkg of packages) {
        for (const f of jsFiles(join(root, pkg))) {
          let text = fileCache.get(f);
          if (text === undefined) fileCache.set(f, (text = readFileSync(f, "utf8")));
          if (word.test(text)) return pkg.replace(/^.*node_modules\//, "");
        }
      }
      return undefined;
    },
  };
}

const uses = new Map<string, EnvUse>();
const useOf = (s: ComposeService): EnvUse => {
  const entry = join(root, entryOf(s));
  let u = uses.get(entry);
  if (!u) uses.set(entry, (u = envUse(entry)));
  return u;
};

/** Which service an entry is (services/<name>/src/main.ts), for the NATS user it must connect as. */
const serviceKind = (s: ComposeService): string | undefined => /^services\/([^/]+)\/src\/main\.ts$/.exec(entryOf(s))?.[1];

// ---------------------------------------------------------------------------------------------------

describe("deploy/docker-compose.yml", () => {
  test("the image builds from deploy/Dockerfile on node:20-bookworm-slim with npm ci and npm run build, and runs compiled entries", () => {
    for (const [name, s] of lakeServices) {
      const dockerfile = join(deployDir, s.build!.context, s.build!.dockerfile ?? "Dockerfile");
      assert.equal(resolve(deployDir, s.build!.context), root, `${name}: the build context is the repository root`);
      assert.ok(existsSync(dockerfile), `${name}: ${relative(root, dockerfile)} exists`);
    }
    const dockerfile = readFileSync(join(deployDir, "Dockerfile"), "utf8");
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length > 0 && froms.every((f) => f === "node:20-bookworm-slim"), `every stage is node:20-bookworm-slim (got ${froms.join(", ")})`);
    assert.match(dockerfile, /^RUN .*npm ci\b/m, "dependencies come from the lockfile (npm ci)");
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    assert.ok(entrypoint, "the Dockerfile has an exec-form ENTRYPOINT");
    assert.deepEqual(
      JSON.parse(entrypoint[1]!),
      ["node", ...SERVICE_NODE_FLAGS, "--enable-source-maps"],
      "services run with the flags lake up and the tests run a compiled bundle with",
    );
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const buildStage = stages.findIndex((st) => /^RUN npm run build$/m.test(st));
    assert.ok(buildStage >= 0 && buildStage < stages.length - 1, "a build stage compiles the CLI and the services (npm run build)");
    assert.ok(stages[buildStage]!.search(/^RUN .*npm ci\b/m) < stages[buildStage]!.search(/^RUN npm run build$/m), "npm run build runs after npm ci");
    assert.match(dockerfile, /^USER node$/m, "services don't run as root");

    const ignore = readFileSync(join(deployDir, "Dockerfile.dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim());
    for (const must of ["**/node_modules", "deploy/.env", ".git"]) assert.ok(ignore.includes(must), `Dockerfile.dockerignore leaves out ${must}`);
  });

  test("every lake service runs an entry that exists; one committer per dataset and one aggregator per derived dataset", () => {
    for (const [name, s] of lakeServices) {
      const entry = entryOf(s);
      assert.ok(existsSync(join(root, entry)), `${name}: entry ${entry} exists`);
      assert.ok(serviceKind(s) !== undefined || entry === "deploy/nats-setup.ts", `${name}: ${entry} is a service's main.ts or the setup job`);
      if (serviceKind(s) !== undefined)
        assert.equal(runFileOf(s), `services/${serviceKind(s)}/dist/main.js`, `${name}: a service runs its compiled bundle, not TypeScript`);
      else assert.deepEqual(commandOf(s), [...TSX, entry], `${name}: the setup job runs through tsx`);
    }
    const byKind = (kind: string, variable: string) =>
      lakeServices
        .filter(([, s]) => serviceKind(s) === kind)
        .map(([, s]) => envOf(s)[variable])
        .sort();
    assert.deepEqual(byKind("committer", "LAKE_DATASET"), [...domainNames(), ...derivedNames()].sort(), "a committer for every domain and derived dataset");
    assert.deepEqual(byKind("aggregator", "LAKE_DERIVED"), [...derivedNames()].sort(), "an aggregator for every derived dataset");
    for (const kind of ["ingest", "catalog", "quality"]) assert.equal(byKind(kind, "NATS_USER").length, 1, `one ${kind}`);
  });

  for (const [name, s] of lakeServices) {
    describe(`service ${name}`, () => {
      const env = envOf(s);
      test("sets every variable its code requires", () => {
        const missing = [...useOf(s).required].filter((v) => !env[v]);
        assert.deepEqual(missing, [], `${name} (${entryOf(s)}) requires ${missing.join(", ")}`);
      });
      for (const variable of Object.keys(env).sort()) {
        const u = useOf(s);
        if (u.reads.has(variable) || u.libraryReads(variable) !== undefined) continue;
        test(`sets ${variable}: read by its code`, () => {
          assert.fail(
            `${name} sets ${variable}, but neither ${entryOf(s)} and the ${u.files.length} first-party files it imports nor their npm dependencies read it`,
          );
        });
      }
    });
  }

  test("each service logs in to NATS as its own least-privilege user, with that user's password", () => {
    const users = new Set(NATS_USERS.map((u) => u.user));
    for (const [name, s] of lakeServices) {
      const env = envOf(s);
      const kind = serviceKind(s);
      const want = kind === undefined ? "admin" : SERVICE_USERS[kind as keyof typeof SERVICE_USERS];
      assert.ok(want !== undefined, `${name}: ${kind} has a NATS user in permissions.ts`);
      assert.equal(env.NATS_USER, want, `${name} connects as ${want}`);
      assert.ok(users.has(env.NATS_USER!));
      assert.match(
        env.NATS_PASSWORD ?? "",
        new RegExp(`^\\$\\{${natsUser(want).passwordEnv}:\\?`),
        `${name}: NATS_PASSWORD is \${${natsUser(want).passwordEnv}:?...} (required)`,
      );
      assert.equal(env.NATS_URL, "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", `${name}: NATS_URL lists every node`);
    }
  });

  test("three NATS nodes run deploy/nats with every variable the config references", () => {
    const nodes = services.filter(([, s]) => (s.command ?? []).join(" ").includes("/etc/nats/nats.conf"));
    assert.deepEqual(nodes.map(([n]) => n).sort(), ["nats-1", "nats-2", "nats-3"]);
    const referenced = new Set<string>();
    for (const f of ["nats.conf", "accounts.conf"]) {
      for (const m of readFileSync(join(deployDir, "nats", f), "utf8")
        .replace(/#.*$/gm, "")
        .matchAll(/(?<![\w"])\$([A-Z][A-Z0-9_]*)/g))
        referenced.add(m[1]!);
    }
    for (const u of [...NATS_USERS, SYSTEM_USER]) assert.ok(referenced.has(u.passwordEnv), `accounts.conf references ${u.passwordEnv}`);
    const names = new Set<string>();
    for (const [name, s] of nodes) {
      assert.match(s.image ?? "", /^nats:2\.(1\d|[2-9]\d)\b/, `${name}: a NATS release with sync_interval (2.10+)`);
      const env = envOf(s);
      for (const v of referenced) assert.ok(env[v], `${name} sets ${v}, which deploy/nats references`);
      names.add(env.NATS_SERVER_NAME!);
      for (const other of ["nats-1", "nats-2", "nats-3"])
        assert.match(env.NATS_ROUTES!, new RegExp(`nats-route://route:\\$\\{NATS_ROUTE_PASSWORD\\}@${other}:6222`), `${name} routes to ${other}`);
      const mounts = s.volumes ?? [];
      assert.ok(
        mounts.includes("./nats/nats.conf:/etc/nats/nats.conf:ro") && mounts.includes("./nats/accounts.conf:/etc/nats/accounts.conf:ro"),
        `${name} mounts nats.conf and accounts.conf side by side`,
      );
      assert.ok(
        mounts.some((m) => /^[\w-]+:\/data$/.test(m)),
        `${name} keeps /data (the JetStream store) on a volume`,
      );
    }
    assert.equal(names.size, 3, "node names are unique");
  });

  test("every published or exposed port of a lake service is one it listens on, on all interfaces", () => {
    for (const [name, s] of lakeServices) {
      const env = envOf(s);
      const containerPorts = [...(s.ports ?? []).map((p) => p.split(":").at(-1)!), ...(s.expose ?? [])];
      for (const port of containerPorts) {
        const portVar = Object.keys(env).find((k) => k.endsWith("_PORT") && env[k] === port);
        assert.ok(portVar, `${name}: port ${port} is the value of one of its *_PORT variables`);
        assert.equal(
          env[portVar.replace(/_PORT$/, "_HOST")],
          "0.0.0.0",
          `${name}: ${portVar.replace(/_PORT$/, "_HOST")}=0.0.0.0, or nothing outside the container reaches port ${port}`,
        );
      }
      for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: ${p} is published on the host's loopback only`);
    }
  });

  test("every long-running container has a health check; lake services probe a /healthz they serve", () => {
    for (const [name, s] of services) {
      if (s.restart === "no") continue;
      if (name === "jaeger") continue; // traces are best effort; nothing waits on Jaeger
      assert.ok(Array.isArray(s.healthcheck?.test) && s.healthcheck!.test.length > 1, `${name} has a health check`);
    }
    for (const [name, s] of lakeServices) {
      if (s.restart === "no") continue;
      const t = s.healthcheck!.test!;
      assert.deepEqual(t.slice(0, 3), ["CMD", "node", "deploy/healthcheck.mjs"], `${name}: health check runs deploy/healthcheck.mjs`);
      assert.ok(existsSync(join(root, t[2]!)));
      const url = new URL(t[3]!);
      assert.equal(url.pathname, "/healthz");
      const env = envOf(s);
      assert.ok(
        Object.keys(env).some((k) => k.endsWith("_PORT") && env[k] === url.port),
        `${name}: the health check's port ${url.port} is the one its *_PORT variable makes it listen on`,
      );
      assert.ok(
        useOf(s).files.some((f) => readFileSync(f, "utf8").includes('"/healthz"') || readFileSync(f, "utf8").includes("/healthz")),
        `${name}: its code serves /healthz`,
      );
    }
  });

  test("state lives on volumes; volumes, bind mounts, secrets and dependencies all resolve", () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    const used = new Set<string>();
    for (const [name, s] of services) {
      const targets: string[] = [];
      for (const v of s.volumes ?? []) {
        const [source, target] = v.split(":");
        targets.push(target!);
        if (source!.startsWith(".") || source!.startsWith("/")) assert.ok(existsSync(resolve(deployDir, source!)), `${name}: bind mount ${source} exists`);
        else {
          assert.ok(declared.has(source!), `${name}: volume ${source} is declared`);
          used.add(source!);
        }
      }
      for (const [k, v] of Object.entries(envOf(s))) {
        if (!/_(DIR|ROOT)$/.test(k) || !v.startsWith("/")) continue;
        assert.ok(
          targets.some((t) => v === t || v.startsWith(`${t}/`)),
          `${name}: ${k}=${v} is on a volume (state must survive the container)`,
        );
      }
      for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(compose.services[dep], `${name} depends on ${dep}, which exists`);
      for (const secret of s.secrets ?? []) {
        const file = compose.secrets?.[secret]?.file;
        assert.ok(file, `${name}: secret ${secret} is declared with a file`);
        const example = file.replace(/(\.[a-z]+)$/, ".example$1");
        assert.ok(existsSync(resolve(deployDir, file)) || existsSync(resolve(deployDir, example)), `${name}: ${file} or ${example} (copy it) exists`);
      }
    }
    assert.deepEqual(
      [...declared].filter((v) => !used.has(v)),
      [],
      "every declared volume is used",
    );
    // Lake services wait for the setup job (streams, contracts); it in turn waits for the NATS nodes.
    for (const [name, s] of lakeServices) {
      if (s.restart === "no") continue;
      assert.equal(s.depends_on?.["nats-setup"]?.condition, "service_completed_successfully", `${name} starts after nats-setup`);
    }
  });

  test("deploy/.env.example names every variable compose requires", () => {
    const example = new Set([...readFileSync(join(deployDir, ".env.example"), "utf8").matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    const required = new Set([...composeText.matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::\?[^}]*)?\}/g)].map((m) => m[1]!));
    const missing = [...required].filter((v) => !example.has(v));
    assert.deepEqual(missing, [], "variables compose interpolates without a default are in .env.example");
  });
});

describe("deploy/nats", () => {
  const testEnv = (): Record<string, string> => {
    const env: Record<string, string> = {
      NATS_SERVER_NAME: "nats-test",
      NATS_ROUTE_PASSWORD: "route-pw",
      NATS_ROUTES: "[nats-route://route:route-pw@127.0.0.1:6222]",
    };
    for (const u of [...NATS_USERS, SYSTEM_USER]) env[u.passwordEnv] = `pw-${u.user}`;
    return env;
  };

  test("accounts.conf is what permissions.ts renders (regenerate: node --import tsx deploy/nats/render.ts)", () => {
    assert.equal(readFileSync(join(deployDir, "nats", "accounts.conf"), "utf8"), renderDeployAccountsConf());
  });

  // nats-server 2.9 (the local binary) doesn't know 2.10's jetstream.sync_interval; everything else of
  // the production config must be accepted as it is.
  const NEWER_THAN_LOCAL = ["sync_interval"];

  test(`nats-server -t accepts nats.conf; the local 2.9 only objects to the 2.10+ key(s) ${NEWER_THAN_LOCAL.join(", ")}`, async () => {
    const binary = findNatsServer();
    const env = { ...process.env, ...testEnv() };
    const conf = join(deployDir, "nats", "nats.conf");
    const asIs = await run(binary, ["-c", conf, "-t"], { env }).then(
      () => "",
      (e: { stderr?: string; stdout?: string }) => `${e.stderr ?? ""}${e.stdout ?? ""}`,
    );
    const complaints = asIs.split("\n").filter((l) => l.trim() !== "");
    const expected = (l: string) => NEWER_THAN_LOCAL.some((k) => l.includes(`unknown field "${k}"`));
    assert.ok(complaints.every(expected), `nats-server's only objections are 2.10+ keys:\n${asIs}`);

    const dir = await mkdtemp(join(tmpdir(), "lake-deploy-nats-"));
    try {
      await writeFile(join(dir, "nats.conf"), stripKeys(readFileSync(conf, "utf8"), NEWER_THAN_LOCAL));
      await copyFile(join(deployDir, "nats", "accounts.conf"), join(dir, "accounts.conf"));
      const { stdout, stderr } = await run(binary, ["-c", join(dir, "nats.conf"), "-t"], { env });
      assert.match(`${stdout}${stderr}`, /configuration file .* is valid/);
      // A missing password stops the server: nothing runs with an empty or default password.
      const noPw = { ...env };
      delete noPw.NATS_INGEST_PASSWORD;
      await assert.rejects(run(binary, ["-c", join(dir, "nats.conf"), "-t"], { env: noPw }), /NATS_INGEST_PASSWORD/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("the compose cluster, run locally: 3 nodes of nats.conf (minus sync_interval and store_dir, which the launcher sets)", () => {
    let dir: string;
    const nodes: NatsServerHandle[] = [];
    const conns: NatsConnection[] = [];
    const env = testEnv();
    const login = async (user: string, node = 0) => {
      const nc = await connectNats({
        url: nodes[node]!.url,
        name: `deploy-test-${user}`,
        auth: { user, pass: env[natsUser(user).passwordEnv]!, inboxPrefix: `_INBOX.${user}` },
      });
      conns.push(nc);
      return nc;
    };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "lake-deploy-cluster-"));
      await writeFile(join(dir, "nats.conf"), stripKeys(readFileSync(join(deployDir, "nats", "nats.conf"), "utf8"), [...NEWER_THAN_LOCAL, "store_dir"]));
      await copyFile(join(deployDir, "nats", "accounts.conf"), join(dir, "accounts.conf"));
      const routePorts = [await freePort(), await freePort(), await freePort()];
      env.NATS_ROUTES = `[${routePorts.map((p) => `nats-route://route:${env.NATS_ROUTE_PASSWORD}@127.0.0.1:${p}`).join(", ")}]`;
      const started = await Promise.all(
        routePorts.map(async (p, i) =>
          startNatsServer({
            config: join(dir, "nats.conf"),
            env: { ...env, NATS_SERVER_NAME: `nats-${i + 1}` },
            args: ["--cluster", `nats://127.0.0.1:${p}`, "-m", String(await freePort())],
          }),
        ),
      );
      nodes.push(...started);
    });
    after(async () => {
      await Promise.all(conns.map((c) => c.close().catch(() => {})));
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
    });

    test("nats-setup (as admin) creates every stream with 3 replicas; services write through them; a node can go", async () => {
      const admin = await login("admin");
      const settings = streamSettingsFromEnv({ LAKE_STREAM_REPLICAS: "3" });
      const { streams } = await setupNats(admin, settings, 30_000);
      assert.deepEqual(streams.map((s) => s.name).sort(), Object.values(STREAMS).sort());
      assert.ok(
        streams.every((s) => s.replicas === 3),
        `every stream has 3 replicas: ${JSON.stringify(streams)}`,
      );

      const ingest = jetstream(await login("ingest", 1));
      assert.ok((await ingest.publish(subjects.events("domain_events"), "e1", { msgID: "deploy-e1" })).seq > 0, "ingest publishes events");
      await assert.rejects(ingest.publish(subjects.commits("domain_events"), "forged"), /permissions violation/i, "ingest cannot write the commit log");

      const committer = jetstream(await login("committer", 2));
      const seq = await appendWithCas(committer, subjects.commits("deploy_check"), new TextEncoder().encode("v1"), { expectedLastSubjectSeq: 0 });
      assert.ok(seq > 0, "the committer appends to the commit log with CAS");

      // R3: with one node gone the other two still form a quorum, and the commit log takes appends
      // (a retry after a lost reply is recognised by its msgID instead of failing the CAS).
      const victim = 0;
      await nodes[victim]!.kill9();
      const append2 = () =>
        appendWithCas(committer, subjects.commits("deploy_check"), new TextEncoder().encode("v2"), { expectedLastSubjectSeq: seq, msgId: "deploy-check-v2" });
      const seq2 = await retry(append2, 20_000);
      assert.ok(seq2 > seq, "an append lands with one of three nodes down");
    });
  });
});

/** Removes the lines of `keys` from a NATS config (each must be there once), for the older local binary. */
function stripKeys(conf: string, keys: readonly string[]): string {
  let out = conf;
  for (const key of keys) {
    const re = new RegExp(`^\\s*${key}\\s*:.*\\n`, "gm");
    assert.equal(out.match(re)?.length, 1, `nats.conf sets ${key} once`);
    out = out.replace(re, "");
  }
  return out;
}

async function retry<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
