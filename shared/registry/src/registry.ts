// The schema registry client every service holds. State is a fold of the SCHEMAS stream; writes are
// compare-and-set appends, so two registrations racing for the same domain can't both become vN.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { type ConsumerMessages, DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

import {
  checkCompatible,
  type DomainContract,
  domainNames,
  loadDomainContract,
  parseDomainSchema,
  type RawDomainSchema,
  type SchemaRegistered,
  schemaRegisteredCodec,
  UnknownDomainError,
} from "@lake/contracts";
import {
  appendUntilStands,
  appendWithCas,
  type CasRetryPolicy,
  endWhenStalled,
  ensureStreams,
  HEADERS,
  LIVE_PULL_EXPIRES_MS,
  LIVE_PULL_HEARTBEAT_MS,
  STREAMS,
  subjects,
} from "@lake/messaging";
import type { Logger } from "@lake/telemetry";

import { stableStringify } from "./stable.ts";

/**
 * Data written with a schema this registry copy hasn't seen yet. Transient: the copy follows the
 * registry live, so the caller retries (after `refresh()`), never drops the data.
 */
export class UnknownSchemaError extends Error {
  constructor(
    readonly domain: string,
    readonly fingerprint: string,
  ) {
    super(`data of ${domain} was written with schema ${fingerprint.slice(0, 12)}…, which this registry copy doesn't know (yet)`);
    this.name = "UnknownSchemaError";
  }
}

export function isUnknownSchema(e: unknown): e is UnknownSchemaError {
  return e instanceof UnknownSchemaError;
}

export interface SchemaVersion {
  domain: string;
  version: number;
  fingerprint: string;
  registered_at: number;
  actor: string;
  reason: string;
  seq: number;
  contract: DomainContract;
  canonical: string;
}

export interface RegisterResult {
  domain: string;
  version: number;
  fingerprint: string;
  changed: boolean;
}

/** Registrations racing for the same domain: each loser catches up and decides again, 5 rounds at most. */
const REGISTER_RETRY: CasRetryPolicy = { maxAttempts: 5 };

const domainsDir = join(import.meta.dirname, "..", "..", "..", "contracts", "avro", "domains");

export class SchemaRegistry {
  private readonly byDomain = new Map<string, SchemaVersion[]>();
  private readonly byFingerprint = new Map<string, DomainContract>();
  /** Last sequence seen on each subject, whatever it held: the compare-and-set token of the next registration. */
  private readonly lastSeq = new Map<string, number>();
  private skippedRecords = 0;
  private readonly listeners = new Set<() => void>();
  private messages: ConsumerMessages | undefined;
  private appliedSeq = 0;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly log: Logger | undefined,
  ) {}

  /** Loads every version, follows new ones live, and (unless `seed` is false) registers the repo's .avsc files the registry lacks. */
  static async open(nc: NatsConnection, opts: { log?: Logger; seed?: boolean; actor?: string } = {}): Promise<SchemaRegistry> {
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    const reg = new SchemaRegistry(nc, jetstream(nc), jsm, opts.log);
    await reg.follow();
    if (opts.seed !== false) await reg.seedFromRepo(opts.actor ?? "repo");
    return reg;
  }

  /**
   * Follows the SCHEMAS stream from just after what was applied; resolves once caught up with what
   * was there at the start. If the consumer ever ends (connection loss, server restart), it is
   * started again after a pause: a registry copy that silently stopped following would make its
   * service refuse every newer schema.
   */
  private async follow(): Promise<void> {
    const target = (await this.jsm.streams.info(STREAMS.schemas)).state.last_seq;
    let caughtUp!: () => void;
    const ready = new Promise<void>((r) => (caughtUp = r));
    if (target <= this.appliedSeq) caughtUp();
    const consume = async () => {
      const consumer = await this.js.consumers.get(STREAMS.schemas, {
        filter_subjects: subjects.allSchemas,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: this.appliedSeq + 1,
      });
      const messages = await consumer.consume({ max_messages: 256, expires: LIVE_PULL_EXPIRES_MS, idle_heartbeat: LIVE_PULL_HEARTBEAT_MS });
      endWhenStalled(messages, this.nc, (err) => this.log?.warn("schema registry follower stalled; following again", { why: err.why }));
      this.messages = messages;
      if (this.closed) messages.stop();
      for await (const m of messages) {
        this.receive(m.subject, m.seq, m.data);
        this.appliedSeq = m.seq;
        if (m.seq >= target) caughtUp();
        for (const l of this.listeners) l();
      }
    };
    void (async () => {
      while (!this.closed) {
        try {
          await consume();
        } catch (err) {
          this.log?.error("schema registry follower failed", { err });
        }
        if (this.closed) return;
        this.log?.warn("schema registry follower ended; following again in 1 s", { applied_seq: this.appliedSeq });
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    await ready;
  }

  /**
   * Applies one record of the SCHEMAS stream if it stands; anything else is skipped, counted and
   * logged, never applied. Every follower reads the same ordered log and judges it by the same rule
   * as registration (the record decodes, names the domain of its subject, is the next version, is a
   * valid contract whose fingerprint it states, differs from the latest and is backward compatible
   * with it), so they all agree on the versions, whoever wrote the record: a NATS client that
   * publishes straight onto lake.schemas.<domain> can't slip an incompatible schema past the check.
   */
  private receive(subject: string, seq: number, data: Uint8Array): void {
    // Skipped or not, the record is the subject's tail: a registration's compare-and-set names it.
    this.lastSeq.set(subject, seq);
    const why = this.apply(subject, seq, data);
    if (why === undefined) return;
    this.skippedRecords++;
    this.log?.warn("schema registry record skipped", { seq, subject, why, skipped: this.skippedRecords });
  }

  /** Applies the record, or says why it does not stand. */
  private apply(subject: string, seq: number, data: Uint8Array): string | undefined {
    let r: SchemaRegistered;
    try {
      r = schemaRegisteredCodec.decode(data);
    } catch (e) {
      return (e as Error).message;
    }
    if (subject !== subjects.schemas(r.domain)) return `the record names domain ${JSON.stringify(r.domain.slice(0, 80))}, not the one of its subject`;
    const versions = this.byDomain.get(r.domain) ?? [];
    // The CAS keeps versions dense; a record that isn't the next version is ignored, not trusted.
    if (r.version !== versions.length + 1) return `version ${r.version} is not the next version of ${r.domain} (${versions.length + 1})`;
    let doc: unknown;
    let contract: DomainContract;
    try {
      doc = JSON.parse(r.schema) as unknown;
      const schema = parseDomainSchema(doc);
      if (schema["lake.domain"].name !== r.domain) return `its schema is the contract of ${JSON.stringify(schema["lake.domain"].name)}, not of ${r.domain}`;
      contract = loadDomainContract(schema);
    } catch (e) {
      return `its schema is not a valid contract: ${(e as Error).message}`;
    }
    if (contract.fingerprint !== r.fingerprint)
      return `it states fingerprint ${r.fingerprint.slice(0, 16)}…, its schema's is ${contract.fingerprint.slice(0, 16)}…`;
    const canonical = stableStringify(doc);
    const latest = versions.at(-1);
    if (latest) {
      // The checks register() makes before appending, made again by every reader of the log.
      if (latest.canonical === canonical) return `it repeats version ${latest.version}`;
      try {
        checkCompatible(latest.contract, contract);
      } catch (e) {
        return (e as Error).message;
      }
    }
    versions.push({
      domain: r.domain,
      version: r.version,
      fingerprint: r.fingerprint,
      registered_at: r.registered_at,
      actor: r.actor,
      reason: r.reason,
      seq,
      contract,
      canonical,
    });
    this.byDomain.set(r.domain, versions);
    this.byFingerprint.set(contract.fingerprint, contract);
    return undefined;
  }

  /** Records of the SCHEMAS stream this copy skipped because they do not stand (see receive()). */
  get skipped(): number {
    return this.skippedRecords;
  }

  domains(): string[] {
    return [...this.byDomain.keys()].sort();
  }

  /** The contract new events are validated against and readers decode into. */
  latest(domain: string): DomainContract {
    const v = this.byDomain.get(domain)?.at(-1);
    if (!v) throw new UnknownDomainError(domain);
    return v.contract;
  }

  versions(domain: string): readonly SchemaVersion[] {
    return this.byDomain.get(domain) ?? [];
  }

  /** The contract some data was written with, by the fingerprint it carries. */
  writer(fingerprint: string): DomainContract | undefined {
    return this.byFingerprint.get(fingerprint);
  }

  /** Decodes an event written with any registered version into the latest version of its domain. */
  decode(domain: string, bytes: Uint8Array, writerFingerprint: string | undefined): Record<string, unknown> {
    const reader = this.latest(domain);
    if (!writerFingerprint || writerFingerprint === reader.fingerprint) return reader.decode(bytes);
    const writer = this.writer(writerFingerprint);
    if (!writer) throw new UnknownSchemaError(domain, writerFingerprint);
    return reader.decodeFrom(writer, bytes);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Registers a new version if it differs from the latest and is backward compatible; a document equal
   * to the latest is a no-op. Throws InvalidContractError / IncompatibleSchemaError with the reason.
   */
  async register(doc: unknown, actor: string, reason: string): Promise<RegisterResult> {
    const schema: RawDomainSchema = parseDomainSchema(doc);
    const domain = schema["lake.domain"].name;
    const canonical = stableStringify(doc);
    const contract = loadDomainContract(schema);
    return appendUntilStands(
      REGISTER_RETRY,
      async () => {
        const versions = this.versions(domain);
        const latest = versions.at(-1);
        if (latest?.canonical === canonical) return { domain, version: latest.version, fingerprint: latest.fingerprint, changed: false };
        if (latest) checkCompatible(latest.contract, contract);
        const record: SchemaRegistered = {
          domain,
          version: versions.length + 1,
          schema: JSON.stringify(doc),
          fingerprint: contract.fingerprint,
          registered_at: Date.now(),
          actor,
          reason,
        };
        const seq = await appendWithCas(this.js, subjects.schemas(domain), schemaRegisteredCodec.encode(record), {
          expectedLastSubjectSeq: this.lastSeq.get(subjects.schemas(domain)) ?? 0,
          headers: { [HEADERS.record]: schemaRegisteredCodec.name },
        });
        await this.caughtUpTo(seq);
        return { domain, version: record.version, fingerprint: record.fingerprint, changed: true };
      },
      {
        // Someone registered first: catch up, then decide again against the new latest.
        onLost: async (_err, _lost, final) => {
          if (!final) await this.caughtUpTo((await this.jsm.streams.info(STREAMS.schemas)).state.last_seq);
        },
      },
    );
  }

  /** Catches up with everything registered so far (after an UnknownSchemaError). */
  async refresh(timeoutMs = 10_000): Promise<void> {
    await this.caughtUpTo((await this.jsm.streams.info(STREAMS.schemas)).state.last_seq, timeoutMs);
  }

  /** Resolves once the follower has applied the stream through `seq`. */
  caughtUpTo(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.appliedSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`schema registry did not reach sequence ${seq} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onChange(() => {
        if (this.appliedSeq < seq) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  private async seedFromRepo(actor: string): Promise<void> {
    for (const name of domainNames()) {
      const doc = JSON.parse(readFileSync(join(domainsDir, `${name}.avsc`), "utf8")) as unknown;
      const known = this.versions(name).some((v) => v.canonical === stableStringify(doc));
      if (!known) {
        const r = await this.register(doc, actor, `contracts/avro/domains/${name}.avsc`);
        if (r.changed) this.log?.info("registered schema", { domain: name, version: r.version });
      }
    }
  }

  close(): void {
    this.closed = true;
    this.messages?.stop();
  }
}
