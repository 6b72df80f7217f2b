// NATS security: credentials and TLS from the environment (connectNats / natsAuthFromEnv), and the
// least-privilege users of deploy/nats/permissions.ts enforced by a real nats-server: ingest can't write
// the commit log, each user can do what its service does and nothing of the others' roles, and the whole
// lake runs end to end with every service logged in as its own user (without one permissions violation
// in the server's log).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import { CatalogClient, CatalogRequestError, listQuarantine, queryVersion, replayQuarantine, sampleEvents, sendHttp, sendNats } from "@lake/client";
import { derivedNames, domainNames } from "@lake/contracts";
import { appendWithCas, connectNats, isNatsConfigError, natsAuthFromEnv, natsConnectionOptions, STREAMS, subjects } from "@lake/messaging";
import { openLocalStore } from "@lake/storage";
import { type NatsServerHandle, type ServiceHandle, spawnService, startNatsServer, waitFor } from "@lake/testing";

import { NATS_USERS, type TestNatsConfig, writeTestNatsConfig } from "../deploy/nats/permissions.ts";
import { setupNats, streamSettingsFromEnv } from "../deploy/nats-setup.ts";

const root = resolve(import.meta.dirname, "..");
const run = promisify(execFile);
const enc = new TextEncoder();

describe("natsAuthFromEnv", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lake-nats-auth-"));
    for (const f of ["ca.pem", "cert.pem", "key.pem", "user.creds"]) writeFileSync(join(dir, f), `${f}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);

  test("nothing set: no credentials, no TLS, nats.js's inbox prefix", () => {
    assert.deepEqual(natsAuthFromEnv({}), {});
    assert.deepEqual(natsAuthFromEnv({ NATS_USER: "", NATS_TOKEN: "" }), {}, "empty counts as unset");
  });

  test("user and password; the inbox prefix follows the user (what the server's permissions grant)", () => {
    assert.deepEqual(natsAuthFromEnv({ NATS_USER: "ingest", NATS_PASSWORD: "pw" }), { user: "ingest", pass: "pw", inboxPrefix: "_INBOX.ingest" });
    assert.deepEqual(natsAuthFromEnv({ NATS_USER: "ingest", NATS_PASSWORD: "pw", NATS_INBOX_PREFIX: "_R.x" }).inboxPrefix, "_R.x");
    assert.equal(
      natsAuthFromEnv({ NATS_USER: "some user", NATS_PASSWORD: "pw" }).inboxPrefix,
      undefined,
      "a user name that isn't a subject token keeps the default",
    );
  });

  test("token, creds file (read once)", () => {
    assert.deepEqual(natsAuthFromEnv({ NATS_TOKEN: "t0k" }), { token: "t0k" });
    const a = natsAuthFromEnv({ NATS_CREDS: f("user.creds") });
    assert.equal(new TextDecoder().decode(a.creds), "user.creds\n");
    assert.equal(a.credsFile, f("user.creds"));
    assert.ok(natsConnectionOptions({ url: "nats://x:1", name: "n", auth: a }).authenticator, "creds become a nats.js authenticator");
  });

  test("TLS files pass through to the nats.js tls option", () => {
    assert.deepEqual(natsAuthFromEnv({ NATS_TLS_CA: f("ca.pem") }), { tls: { caFile: f("ca.pem") } });
    const env = { NATS_TLS_CA: f("ca.pem"), NATS_TLS_CERT: f("cert.pem"), NATS_TLS_KEY: f("key.pem"), NATS_USER: "quality", NATS_PASSWORD: "pw" };
    const opts = natsConnectionOptions({ url: "tls://a:4222, tls://b:4222", name: "quality", auth: natsAuthFromEnv(env) });
    assert.deepEqual(opts.tls, { caFile: f("ca.pem"), certFile: f("cert.pem"), keyFile: f("key.pem") });
    assert.deepEqual(opts.servers, ["tls://a:4222", "tls://b:4222"], "a comma-separated NATS_URL is a seed list");
    assert.equal(opts.user, "quality");
    assert.equal(opts.inboxPrefix, "_INBOX.quality");
    assert.equal(opts.maxReconnectAttempts, -1, "services still reconnect forever");
  });

  test("every problem names the variable", () => {
    const fails = (env: NodeJS.ProcessEnv, variable: string, message: RegExp) =>
      assert.throws(
        () => natsAuthFromEnv(env),
        (e: unknown) => isNatsConfigError(e) && e.variable === variable && message.test(e.message),
        `${JSON.stringify(env)} → ${variable}`,
      );
    fails({ NATS_USER: "ingest" }, "NATS_PASSWORD", /NATS_PASSWORD is not/);
    fails({ NATS_PASSWORD: "pw" }, "NATS_USER", /NATS_USER is not/);
    fails({ NATS_USER: "a", NATS_PASSWORD: "b", NATS_TOKEN: "t" }, "NATS_TOKEN", /NATS_USER\/NATS_PASSWORD and NATS_TOKEN/);
    fails({ NATS_TOKEN: "t", NATS_CREDS: f("user.creds") }, "NATS_CREDS", /choose one/);
    fails({ NATS_CREDS: f("missing.creds") }, "NATS_CREDS", /NATS_CREDS=.*missing\.creds: cannot read/);
    fails({ NATS_TLS_CA: f("missing-ca.pem") }, "NATS_TLS_CA", /NATS_TLS_CA=.*missing-ca\.pem: cannot read/);
    fails({ NATS_TLS_CERT: f("missing-cert.pem"), NATS_TLS_KEY: f("key.pem") }, "NATS_TLS_CERT", /NATS_TLS_CERT=.*cannot read/);
    fails({ NATS_TLS_CERT: f("cert.pem"), NATS_TLS_KEY: f("missing-key.pem") }, "NATS_TLS_KEY", /NATS_TLS_KEY=.*cannot read/);
    fails({ NATS_TLS_CERT: f("cert.pem") }, "NATS_TLS_KEY", /NATS_TLS_KEY is not/);
    fails({ NATS_TLS_KEY: f("key.pem") }, "NATS_TLS_CERT", /NATS_TLS_CERT is not/);
    fails({ NATS_INBOX_PREFIX: "_INBOX.>" }, "NATS_INBOX_PREFIX", /not a subject prefix/);
  });
});

describe("connectNats over TLS with a client certificate (certificates made with openssl)", () => {
  let dir: string;
  let nats: NatsServerHandle | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lake-nats-tls-"));
    const ssl = (...args: string[]) => run("openssl", args, { cwd: dir });
    // openssl (Debian's openssl package, present on the machine image) makes the certificates.
    await ssl("version");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=lake test CA");
    writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    for (const who of ["server", "client"]) {
      await ssl("req", ...ec, "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=lake test ${who}`);
      await ssl(
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${who}.pem`,
        "-days",
        "1",
        "-extfile",
        `${who}.ext`,
      );
    }
    writeFileSync(
      join(dir, "tls.conf"),
      `tls { cert_file: "${join(dir, "server.pem")}", key_file: "${join(dir, "server.key")}", ca_file: "${join(dir, "ca.pem")}", verify: true }\n`,
    );
    nats = await startNatsServer({ config: join(dir, "tls.conf") });
  });
  after(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("NATS_TLS_CA / NATS_TLS_CERT / NATS_TLS_KEY connect; without the client certificate the server refuses", async () => {
    const env = { NATS_TLS_CA: join(dir, "ca.pem"), NATS_TLS_CERT: join(dir, "client.pem"), NATS_TLS_KEY: join(dir, "client.key") };
    const nc = await connectNats({ url: nats!.url, name: "tls-test", auth: natsAuthFromEnv(env) });
    try {
      assert.equal(nc.info?.tls_required, true);
      const sub = nc.subscribe("tls.echo", { max: 1, callback: (_e, m) => void m.respond(m.data) });
      assert.equal((await nc.request("tls.echo", "over tls", { timeout: 2000 })).string(), "over tls");
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
    const noClientCert = natsConnectionOptions({ url: nats!.url, name: "tls-test", auth: natsAuthFromEnv({ NATS_TLS_CA: env.NATS_TLS_CA }) });
    const { connect } = await import("@nats-io/transport-node");
    const refused = await connect({ ...noClientCert, reconnect: false, timeout: 3000 }).then(
      async (nc) => {
        // TLS 1.3 finishes the handshake before the server checks the certificate: the refusal ends the connection.
        const closed = await nc.closed();
        return closed instanceof Error ? closed.message : "closed";
      },
      (e: Error) => e.message,
    );
    // Depending on when the server's refusal reaches the client, it reads as a certificate or handshake
    // error, or as the connection reset under the client's first read.
    assert.match(refused, /certificate|handshake|ECONNRESET/i, "a server with verify: true refuses a client without a certificate");
  });
});

/** A subscription as `user`: "denied" when the server refuses it (it answers before the flush's PONG). */
async function trySubscribe(nc: NatsConnection, subject: string): Promise<"ok" | "denied"> {
  let denied = false;
  const sub = nc.subscribe(subject, {
    callback: (err) => {
      if (err && /permissions violation/i.test(err.message)) denied = true;
    },
  });
  await nc.flush();
  await new Promise((r) => setImmediate(r));
  if (!denied) sub.unsubscribe();
  return denied ? "denied" : "ok";
}

/** A JetStream publish as `user`: "ok" or "denied" (any other failure fails the test). */
async function tryPublish(nc: NatsConnection, subject: string): Promise<"ok" | "denied"> {
  try {
    await jetstream(nc).publish(subject, enc.encode("probe"), { timeout: 3000 });
    return "ok";
  } catch (e) {
    if (/permissions violation/i.test(String((e as Error).message))) return "denied";
    throw e;
  }
}

describe("least-privilege NATS users (deploy/nats/permissions.ts)", () => {
  let dir: string;
  let cfg: TestNatsConfig;
  let nats: NatsServerHandle;
  const conns: NatsConnection[] = [];
  const login = async (user: string) => {
    const nc = await connectNats({ url: nats.url, name: `perm-test-${user}`, auth: natsAuthFromEnv(cfg.envFor(user)) });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lake-nats-perm-"));
    cfg = await writeTestNatsConfig(join(dir, "nats-config"));
    nats = await startNatsServer({ config: cfg.configPath });
    await setupNats(await login("admin"), streamSettingsFromEnv({}), 10_000);
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("nobody gets in without a password, or with another user's", async () => {
    await assert.rejects(connectNats({ url: nats.url, name: "anon", auth: {} }), /Authorization Violation/i);
    await assert.rejects(connectNats({ url: nats.url, name: "wrong", auth: { user: "committer", pass: cfg.passwords.ingest! } }), /Authorization Violation/i);
  });

  test("ingest publishes events but cannot write the commit log (JetStream publish refused, nothing stored)", async () => {
    const nc = await login("ingest");
    const ack = await jetstream(nc).publish(subjects.events("domain_events"), enc.encode("ok"), { msgID: "perm-e1" });
    assert.ok(ack.seq > 0, "lake.events.domain_events is accepted");
    await assert.rejects(jetstream(nc).publish(subjects.commits("x"), enc.encode("forged")), (e: unknown) => {
      assert.match(String((e as Error).message), /permissions violation/i);
      return true;
    });
    // A core (fire-and-forget) publish is dropped by the server just the same.
    nc.publish(subjects.commits("x"), enc.encode("forged too"));
    await nc.flush();
    const admin = await jetstreamManager(await login("admin"));
    assert.equal((await admin.streams.info(STREAMS.commits)).state.messages, 0, "nothing reached the commit log");
    // Nor can it read the log or other services' replies.
    await assert.rejects(
      jetstreamManager(nc).then((m) => m.streams.getMessage(STREAMS.commits, { seq: 1 })),
      /permissions violation/i,
    );
    await assert.rejects(
      jetstream(nc)
        .consumers.get(STREAMS.commits, { filter_subjects: subjects.allCommits })
        .then((c) => c.next({ expires: 1000 })),
      /permissions violation/i,
    );
  });

  test("the committer appends to the commit log with CAS", async () => {
    const js = jetstream(await login("committer"));
    const seq = await appendWithCas(js, subjects.commits("perm_probe"), enc.encode("v1"), { expectedLastSubjectSeq: 0 });
    assert.ok(seq > 0);
    const seq2 = await appendWithCas(js, subjects.commits("perm_probe"), enc.encode("v2"), { expectedLastSubjectSeq: seq });
    assert.ok(seq2 > seq);
  });

  test("who may publish where: each role subject only to the services of architecture.md", async () => {
    // The requirements, stated independently of permissions.ts.
    const writers: Record<string, readonly string[]> = {
      [subjects.events("perm_d")]: ["ingest", "admin"],
      [subjects.quarantine("perm_d")]: ["ingest", "committer", "admin"],
      [subjects.commits("perm_d")]: ["committer", "catalog", "quality", "admin"],
      [subjects.windows("perm_d")]: ["aggregator", "admin"],
      [subjects.late("perm_d")]: ["aggregator", "admin"],
      [subjects.schemas("perm_d")]: ["admin"],
    };
    const problems: string[] = [];
    for (const u of NATS_USERS) {
      const nc = await login(u.user);
      for (const [subject, allowed] of Object.entries(writers)) {
        const got = await tryPublish(nc, subject);
        const want = allowed.includes(u.user) ? "ok" : "denied";
        if (got !== want) problems.push(`${u.user} → ${subject}: ${got}, want ${want}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("replies are private: each user subscribes to its own _INBOX.<user> and to nobody else's", async () => {
    const problems: string[] = [];
    for (const u of NATS_USERS) {
      if (u.user === "admin") continue;
      const nc = await login(u.user);
      for (const other of NATS_USERS) {
        const got = await trySubscribe(nc, `_INBOX.${other.user}.probe`);
        const want = other.user === u.user ? "ok" : "denied";
        if (got !== want) problems.push(`${u.user} → _INBOX.${other.user}: ${got}, want ${want}`);
      }
      if ((await trySubscribe(nc, "_INBOX.>")) !== "denied") problems.push(`${u.user} may subscribe to every inbox`);
    }
    assert.deepEqual(problems, []);
  });

  test("the producer user may only ask ingest (request/reply), with its own inbox", async () => {
    const nc = await login("producer");
    assert.equal(await tryPublish(nc, subjects.events("domain_events")), "denied");
    const answered = await nc.request(subjects.ingest("domain_events"), enc.encode("{}"), { timeout: 500 }).then(
      () => "answered",
      (e: Error) => e.name,
    );
    assert.notEqual(answered, "PermissionViolationError", "lake.ingest.* requests are allowed (no responder here)");
  });
});

describe("the whole lake under least-privilege users", () => {
  let dir: string;
  let cfg: TestNatsConfig;
  let nats: NatsServerHandle;
  const procs: ServiceHandle[] = [];
  const conns: NatsConnection[] = [];
  let ingestUrl = "";
  let catalog: CatalogClient;
  const storeRoot = () => join(dir, "store");

  async function start(name: string, service: string, user: string, env: Record<string, string>): Promise<ServiceHandle> {
    const h = await spawnService({
      name,
      entry: join(root, "services", service, "src", "main.ts"),
      env: {
        NATS_URL: nats.url,
        ...cfg.envFor(user),
        LAKE_STORE_ROOT: storeRoot(),
        LAKE_CATALOG_DIR: join(dir, "catalog"),
        LAKE_COMMIT_MAX_AGE_MS: "100",
        ...env,
      },
    });
    procs.push(h);
    return h;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lake-nats-users-"));
    mkdirSync(storeRoot(), { recursive: true });
    cfg = await writeTestNatsConfig(join(dir, "nats-config"));
    nats = await startNatsServer({ config: cfg.configPath });
    // As in compose: nats-setup (admin) first; services may not create streams or register contracts.
    const admin = await connectNats({ url: nats.url, name: "nats-setup", auth: natsAuthFromEnv(cfg.envFor("admin")) });
    conns.push(admin);
    await setupNats(admin, streamSettingsFromEnv({}), 10_000);

    // The same services and order as startLake (apps/lake/src/up.ts), each as its own NATS user.
    const cat = await start("catalog", "catalog", "catalog", { LAKE_CATALOG_PORT: "0" });
    const ing = await start("ingest", "ingest", "ingest", { LAKE_INGEST_PORT: "0" });
    for (const d of domainNames()) await start(`committer:${d}`, "committer", "committer", { LAKE_DATASET: d });
    for (const d of derivedNames()) {
      await start(`aggregator:${d}`, "aggregator", "aggregator", {
        LAKE_DERIVED: d,
        LAKE_AGGREGATOR_DIR: join(dir, "aggregator", d),
        LAKE_AGGREGATOR_PORT: "0",
      });
      await start(`committer:${d}`, "committer", "committer", { LAKE_DATASET: d });
    }
    await start("quality", "quality", "quality", { LAKE_QUALITY_DIR: join(dir, "quality") });
    ingestUrl = String(ing.ready.url);
    catalog = new CatalogClient(String(cat.ready.url));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => null)));
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("events go end to end (HTTP and NATS, quarantine and replay, derived windows, quality, a tag) with no permissions violation", async () => {
    // Three days of events, so daily windows close and the derived dataset is written too.
    const events = sampleEvents(300, { prefix: "perm", seed: 5 });
    const http = await sendHttp(ingestUrl, "domain_events", events.slice(0, 200));
    assert.equal(http.status, 200);
    assert.equal(http.accepted, 200);

    const producer = await connectNats({ url: nats.url, name: "producer", auth: natsAuthFromEnv(cfg.envFor("producer")) });
    conns.push(producer);
    const viaNats = await sendNats(producer, "domain_events", events.slice(200));
    assert.equal(viaNats.accepted, 100, "a producer logged in as `producer` sends through ingest's NATS endpoint");

    // A bad record is quarantined, then replayed corrected.
    const bad = { ...events[0]!, event_id: "perm-bad", amount: "not a number" };
    const rejected = await sendHttp(ingestUrl, "domain_events", bad);
    assert.equal(rejected.rejected, 1);
    const q = await waitFor("the quarantined record", async () =>
      (await listQuarantine(ingestUrl, "domain_events")).records.find((r) => r.event_id === "perm-bad"),
    );
    const replay = await replayQuarantine(ingestUrl, "domain_events", [{ seq: q.seq, record: { ...bad, amount: 1.5 } }]);
    assert.equal(replay.results[0]?.status, "accepted", JSON.stringify(replay));
    const lastOffset = Math.max(http.max_offset!, viaNats.max_offset!, replay.max_offset!);

    const v = await catalog.waitCovering("domain_events", lastOffset, 30_000);
    const rows = await queryVersion(
      openLocalStore(storeRoot()),
      v,
      "SELECT count(*)::INTEGER AS n, count(DISTINCT event_id)::INTEGER AS ids FROM domain_events",
    );
    assert.deepEqual(rows.rows[0], { n: 301, ids: 301 }, "every accepted event once, the replayed one included");

    // Quality judges it (appending a verdict), the aggregator's windows are committed and, being a
    // critical dataset, become current only after quality passed them.
    await waitFor(
      "a quality verdict on domain_events",
      async () => ((await catalog.version("domain_events", v.version)).quality === "pending" ? undefined : true),
      { timeoutMs: 30_000 },
    );
    const derived = await waitFor(
      "a current version of daily_user_totals",
      async () => {
        try {
          return await catalog.version("daily_user_totals", "current");
        } catch (e) {
          if (e instanceof CatalogRequestError && e.status === 404) return undefined;
          throw e;
        }
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(derived.quality, "passed");
    assert.ok(derived.total_rows > 0);

    // A catalog command: appended to the commit log by the catalog user.
    await catalog.tag("domain_events", "perm-checked", v.version, "perm-test", "checked under least-privilege users");
    assert.equal((await catalog.byTag("domain_events", "perm-checked")).version, v.version);

    const violations = nats
      .output()
      .split("\n")
      .filter((l) => /violation/i.test(l));
    assert.deepEqual(violations, [], "no service was refused anything it tried: the permission lists cover what the code does");
  });
});

/** Every lake stream's message count and the config fields a hostile client would change. */
async function lakeStreams(nc: NatsConnection): Promise<Record<string, { messages: number; max_msgs: number; max_age: number; subjects: string[] }>> {
  const jsm = await jetstreamManager(nc);
  const out: Record<string, { messages: number; max_msgs: number; max_age: number; subjects: string[] }> = {};
  for await (const s of jsm.streams.list())
    out[s.config.name] = { messages: s.state.messages, max_msgs: s.config.max_msgs, max_age: s.config.max_age, subjects: s.config.subjects ?? [] };
  return out;
}

/** Ingest's count of requests it refused to process because of their reply subject, read from /metrics. */
async function refusedReplies(ingestUrl: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", ingestUrl))).text();
  const m = /^lake_ingest_requests_refused_total\{[^}]*reason="reply_not_inbox"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Reply subjects a hostile requester may name, hoping ingest publishes its answer there with its own
 * permissions: every lake stream's subjects (the commit log, events, quarantine and its ledger, ...),
 * the JetStream API (purge, delete, update a stream), and another service's inbox.
 */
const HOSTILE_REPLIES = [
  subjects.commits("domain_events"),
  subjects.commits("x"),
  subjects.events("domain_events"),
  subjects.events("x"),
  subjects.quarantine("domain_events"),
  `${subjects.quarantine("domain_events")}.replayed.1`,
  subjects.windows("daily_user_totals"),
  subjects.late("daily_user_totals"),
  subjects.schemas("domain_events"),
  subjects.alerts("x"),
  `$JS.API.STREAM.PURGE.${STREAMS.events}`,
  `$JS.API.STREAM.PURGE.${STREAMS.commits}`,
  `$JS.API.STREAM.DELETE.${STREAMS.quarantine}`,
  `$JS.API.STREAM.UPDATE.${STREAMS.events}`,
  `$JS.API.STREAM.MSG.DELETE.${STREAMS.events}`,
];

/** Inboxes of services: a reply there would be a forged JetStream answer or delivery (ingest may not publish there). */
const SERVICE_INBOX_REPLIES = ["_INBOX.committer.stolen", "_INBOX.catalog.x.y", "_INBOX.ingest.loop"];

describe("replies go only to inboxes; only the setup user changes streams (the confused deputy)", () => {
  let dir: string;
  let cfg: TestNatsConfig;
  let nats: NatsServerHandle;
  let ingest: ServiceHandle | undefined;
  let ingestUrl = "";
  const conns: NatsConnection[] = [];
  const login = async (user: string) => {
    const nc = await connectNats({ url: nats.url, name: `deputy-test-${user}`, auth: natsAuthFromEnv(cfg.envFor(user)) });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lake-nats-deputy-"));
    cfg = await writeTestNatsConfig(join(dir, "nats-config"));
    nats = await startNatsServer({ config: cfg.configPath });
    await setupNats(await login("admin"), streamSettingsFromEnv({}), 10_000);
    // Ingest as its deployment user, on streams the setup job made: it must start without changing them.
    ingest = await spawnService({
      name: "ingest",
      entry: join(root, "services", "ingest", "src", "main.ts"),
      env: { NATS_URL: nats.url, ...cfg.envFor("ingest"), LAKE_INGEST_PORT: "0", LAKE_DEDUPE_WINDOW_MS: "60000" },
    });
    ingestUrl = String(ingest.ready.url);
  });
  after(async () => {
    await ingest?.stop().catch(() => null);
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a producer gets no byte into any lake stream except through ingest's validated publish", async () => {
    const admin = await login("admin");
    const producer = await login("producer");
    // Known contents first: accepted events and a quarantined record, through ingest.
    const seeded = await sendNats(producer, "domain_events", [...sampleEvents(3, { prefix: "deputy-seed" }), { event_id: "deputy-bad", amount: "x" }]);
    assert.equal(seeded.accepted, 3, JSON.stringify(seeded));
    const before = await lakeStreams(admin);
    const event = (id: string) => enc.encode(JSON.stringify(sampleEvents(1, { prefix: id })[0]));

    // 1. Straight onto every lake subject, core and JetStream publish.
    const direct = [
      subjects.events("domain_events"),
      subjects.quarantine("domain_events"),
      `${subjects.quarantine("domain_events")}.replayed.9`,
      subjects.commits("domain_events"),
      subjects.windows("x"),
      subjects.late("x"),
      subjects.schemas("domain_events"),
      subjects.alerts("x"),
    ];
    for (const s of direct) {
      producer.publish(s, enc.encode("forged"));
      assert.equal(await tryPublish(producer, s), "denied", `producer → ${s}`);
    }
    // 2. Requests to ingest whose reply subject is a lake subject or the JetStream API: ingest must not
    //    answer there (and must not even process them), and the server must not let it.
    for (const [i, reply] of HOSTILE_REPLIES.entries()) producer.publish(subjects.ingest("domain_events"), event(`deputy-${i}`), { reply });
    await producer.flush();
    // 3. Stream management, as the producer and as ingest: only the setup user (admin) may.
    const jsApi = async (nc: NatsConnection, subject: string, body: unknown) =>
      nc.request(subject, enc.encode(JSON.stringify(body)), { timeout: 2000 }).then(
        (m) => JSON.parse(m.string()) as { error?: { code: number } },
        (e: Error) => ({ error: { code: 0, message: e.message } }),
      );
    const eventsConfig = (await jetstreamManager(admin).then((m) => m.streams.info(STREAMS.events))).config;
    for (const user of ["producer", "ingest"]) {
      const nc = await login(user);
      const attempts = [
        [`$JS.API.STREAM.UPDATE.${STREAMS.events}`, { ...eventsConfig, max_msgs: 1 }],
        [`$JS.API.STREAM.PURGE.${STREAMS.events}`, {}],
        [`$JS.API.STREAM.DELETE.${STREAMS.quarantine}`, {}],
        [`$JS.API.STREAM.CREATE.SHADOW`, { name: "SHADOW", subjects: ["lake.shadow.>"] }],
        [`$JS.API.STREAM.MSG.DELETE.${STREAMS.events}`, { seq: 1 }],
      ] as const;
      for (const [subject, body] of attempts) {
        const r = await jsApi(nc, subject, body);
        assert.ok(r.error !== undefined, `${user} → ${subject} is refused (got ${JSON.stringify(r)})`);
      }
    }
    // Ingest refuses every hostile request; nothing changed meanwhile (a reply that landed shows at once).
    await waitFor(
      "ingest to refuse every request with a non-inbox reply subject (or a stream to change)",
      async () =>
        (await refusedReplies(ingestUrl)) >= HOSTILE_REPLIES.length || JSON.stringify(await lakeStreams(admin)) !== JSON.stringify(before) ? true : undefined,
      { timeoutMs: 15_000 },
    );
    assert.deepEqual(await lakeStreams(admin), before, "no stream changed: no message, no config, no new stream");
    assert.equal(await refusedReplies(ingestUrl), HOSTILE_REPLIES.length, "every hostile request was counted as refused");
    assert.match(ingest!.logs(), /request refused: its reply subject is not an inbox/);

    // The validated path still works and adds exactly what it accepted.
    const ok = await sendNats(producer, "domain_events", sampleEvents(2, { prefix: "deputy-after" }));
    assert.equal(ok.accepted, 2);
    const after = await lakeStreams(admin);
    assert.deepEqual(after, { ...before, [STREAMS.events]: { ...before[STREAMS.events]!, messages: before[STREAMS.events]!.messages + 2 } });
  });

  test("the server itself refuses a reply outside _INBOX.>, whatever the ingest user's code does", async () => {
    // The ingest service is stopped: a connection logged in as `ingest` answers by hand, as compromised
    // or buggy code would.
    await ingest?.stop();
    ingest = undefined;
    const asIngest = await login("ingest");
    const admin = await login("admin");
    const producer = await login("producer");
    const probe = subjects.ingest("zz_deputy_probe");
    // Ingest's own subjects (lake.events.*, lake.quarantine.*) are left out: a publish there can't be
    // told from ingest's own, so only the service's check (the test above and below) keeps replies out.
    const hostile = [...HOSTILE_REPLIES.filter((s) => !s.startsWith(subjects.events("")) && !s.startsWith(subjects.quarantine(""))), ...SERVICE_INBOX_REPLIES];
    const refusedByServer = () => {
      const denied = new Set<string>();
      for (const m of nats.output().matchAll(/Publish Violation - User "ingest", Subject "([^"]+)"/g)) denied.add(m[1]!);
      return hostile.filter((s) => denied.has(s)).length;
    };
    const sub = asIngest.subscribe(probe, { callback: (_e, m) => void m.respond(enc.encode('{"forged":true}')) });
    try {
      await asIngest.flush();
      const before = await lakeStreams(admin);
      for (const reply of hostile) producer.publish(probe, enc.encode("{}"), { reply });
      await producer.flush();
      // A reply to the producer's own inbox still goes through: the last one sent, so when it arrives
      // every earlier answer has been tried.
      const answered = await producer.request(probe, enc.encode("{}"), { timeout: 5000 });
      assert.equal(answered.string(), '{"forged":true}');
      await asIngest.flush();
      await waitFor(
        "the server to refuse every hostile reply (Publish Violation in its log)",
        () => (refusedByServer() === hostile.length ? true : undefined),
        { timeoutMs: 10_000 },
      );
      assert.deepEqual(await lakeStreams(admin), before, "no reply reached a stream or the JetStream API");
    } finally {
      sub.unsubscribe();
    }
  });
});

describe("ingest answers only on inbox subjects, even where the server would let it publish anywhere", () => {
  let nats: NatsServerHandle;
  let ingest: ServiceHandle | undefined;
  let nc: NatsConnection | undefined;

  before(async () => {
    // No authentication at all (what a lake run without users gets): the service's own check is all there is.
    nats = await startNatsServer();
    nc = await connectNats({ url: nats.url, name: "deputy-anon", auth: {} });
    await setupNats(nc, streamSettingsFromEnv({}), 10_000);
    ingest = await spawnService({
      name: "ingest",
      entry: join(root, "services", "ingest", "src", "main.ts"),
      env: { NATS_URL: nats.url, NATS_USER: "", NATS_PASSWORD: "", LAKE_INGEST_PORT: "0" },
    });
  });
  after(async () => {
    await ingest?.stop().catch(() => null);
    await nc?.close().catch(() => {});
    await nats?.stop();
  });

  test("a request with a non-inbox reply subject is neither processed nor answered; it is counted and logged", async () => {
    const before = await lakeStreams(nc!);
    for (const [i, reply] of HOSTILE_REPLIES.entries())
      nc!.publish(subjects.ingest("domain_events"), enc.encode(JSON.stringify(sampleEvents(1, { prefix: `anon-${i}` })[0])), { reply });
    await nc!.flush();
    const url = String(ingest!.ready.url);
    await waitFor(
      "ingest to refuse every hostile request (or a stream to change)",
      async () =>
        (await refusedReplies(url)) >= HOSTILE_REPLIES.length || JSON.stringify(await lakeStreams(nc!)) !== JSON.stringify(before) ? true : undefined,
      { timeoutMs: 15_000 },
    );
    assert.deepEqual(await lakeStreams(nc!), before, "nothing was published: not the events, not the replies");
    assert.equal(await refusedReplies(url), HOSTILE_REPLIES.length);
    const ok = await sendNats(nc!, "domain_events", sampleEvents(1, { prefix: "anon-ok" }));
    assert.equal(ok.accepted, 1, "a request with an inbox reply is served as before");
  });
});
