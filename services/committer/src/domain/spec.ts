// What a committer needs to know about the dataset it writes, whatever produced it: a domain stream of
// events (append) or a stream of keyed rows that replace earlier ones (upsert: window results, CDC).
import { createHash } from "node:crypto";

import {
  cdcChangeCodec,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  type DerivedContract,
  type DomainContract,
  isCdcContract,
  type ParquetSettings,
  utcDay,
  windowPositionCodec,
} from "@lake/contracts";
import { assignFieldIds, icebergSchema, type LakeTable, OFFSET_FIELD_ID, OFFSET_FIELD_NAME, type PartitionLayout, partitionSpec } from "@lake/iceberg";

export interface ColumnSpec {
  name: string;
  avroType: string;
  timestampMillis: boolean;
  nullable: boolean;
}

export const MODES = { append: "append", upsert: "upsert" } as const;
export type Mode = (typeof MODES)[keyof typeof MODES];

export interface DatasetSpec {
  dataset: string;
  source: { stream: string; subject: string };
  schema: { name: string; version: number; fingerprint: string };
  policy: string;
  /** Parquet columns, in order (the `_offset` lineage column is added after them). */
  columns: readonly ColumnSpec[];
  /** Decodes one source message; `writerSchema` is its Lake-Schema header (schema fingerprint), if any. */
  decode(bytes: Uint8Array, writerSchema?: string): Record<string, unknown>;
  /** append: rows accumulate, `key` dedupes repeats; upsert: one row per `key`, the newest wins. */
  mode: Mode;
  key: readonly string[];
  /** Field giving the row's event time (min/max event time of a version). */
  eventTimeField: string;
  /** How its Parquet files are written (the contract's lake.parquet; a live spec follows the registry). */
  parquet: ParquetSettings;
  /**
   * Row order within each file, the dataset's natural order: event time for append datasets, the key
   * for upserts (ties by offset). Readers skip row groups and pages by the statistics this makes tight.
   */
  sortBy: readonly string[];
  partition(row: Record<string, unknown>): string;
  /** upsert: a row that deletes its key (CDC delete). */
  isDelete?(row: Record<string, unknown>): boolean;
  /** upsert: among rows of one key the highest value of this field wins (ties: orderField, then the later offset). */
  versionField?: string;
  /** upsert: on equal versionField values the highest value of this one wins (null: lowest); ties: the later offset. */
  orderField?: string;
  /** Derived datasets: the upstream position each version covers (VersionCommitted.lineage). */
  upstream?: UpstreamSpec;
  /** Ordered sources (CDC): field holding the source log position; re-deliveries at or below the committed one are skipped. */
  sourcePositionField?: string;
  /** Catch up with the schema registry after data written with a schema not seen yet. */
  refresh?(): Promise<void>;
  /** The dataset as an Iceberg table: schemas with field ids, partition spec; the ids and schema of new files. */
  iceberg: IcebergSpec;
}

/**
 * Where a derived dataset's rows come from upstream, and how its source messages say what they cover.
 * A position marker (a message that is no row) says every result up to its upstream sequence came
 * before it: a version records the highest one it covers, and versions end only at one, so a version
 * holds every window exactly as the recomputation over the upstream records up to that sequence.
 */
export interface UpstreamSpec {
  dataset: string;
  stream: string;
  subject: string;
  /** The upstream position a marker carries; undefined for a row. */
  position(row: Record<string, unknown>): { throughSeq: number; watermark: number | null } | undefined;
  /** The row's watermark (the aggregator's when it emitted it), if any. */
  watermark(row: Record<string, unknown>): number | null;
  /** A version may end after this message: a marker, or a row written before markers existed. */
  endsVersion(row: Record<string, unknown>): boolean;
  /**
   * The upstream sequence the message can't be honest without: a marker's through_seq; a row's
   * through_seq, and its revision (each revision after the first is caused by one more upstream
   * event). One past the upstream stream's last sequence is forged: no aggregator could have sent it.
   */
  claim(row: Record<string, unknown>): number;
  /**
   * How far past the clock an event time may be (the largest max_future_skew_ms of the source
   * contract's versions): a watermark is never past the newest event time, so never past the time the
   * stream stored that event plus this (WATERMARK_CLOCK_TOLERANCE_MS more for clocks that differ).
   * Past that, it is forged.
   */
  maxFutureSkewMs(): number;
}

/** How far this process's clock may be behind the NATS servers' before an honest watermark looks forged. */
export const WATERMARK_CLOCK_TOLERANCE_MS = 5 * 60_000;

/** A decoded position marker: no contract field starts with "_", so it can't be mistaken for a row. */
export const POSITION_MARKER = "_position";

export interface IcebergSpec {
  table: LakeTable;
  /** Field id of each column of the current schema, `_offset` included. */
  fieldIds: ReadonlyMap<string, number>;
  /** The current Iceberg schema as JSON (the `iceberg.schema` key of each file's footer). */
  schemaJson: string;
}

/**
 * The Iceberg view of a dataset from its schema history (oldest first, with the schema id of each):
 * field ids stay with a column name across versions, the last version is the current schema.
 */
export function icebergSpec(
  dataset: string,
  history: readonly { schemaId: number; columns: readonly ColumnSpec[] }[],
  layout: PartitionLayout,
  properties: Record<string, string>,
): IcebergSpec {
  const ids = assignFieldIds(history.map((h) => h.columns));
  const schemas = history.map((h, i) => icebergSchema(h.schemaId, h.columns, ids[i]!));
  const current = ids.at(-1)!;
  const fieldIds = new Map(current);
  fieldIds.set(OFFSET_FIELD_NAME, OFFSET_FIELD_ID);
  return {
    table: { dataset, schemas, currentSchemaId: history.at(-1)!.schemaId, spec: partitionSpec(layout, current), layout, properties },
    fieldIds,
    schemaJson: JSON.stringify(schemas.at(-1)),
  };
}

function tableProperties(dataset: string, policy: string, parquet: ParquetSettings): Record<string, string> {
  return {
    "lake.dataset": dataset,
    "lake.policy": policy,
    "write.format.default": "parquet",
    "write.parquet.compression-codec": parquet.compression,
    "write.parquet.row-group-size-rows": String(parquet.rowGroupRows),
  };
}

/** Follows the registry's history of a domain: recomputed when a version is added. */
function liveIceberg(
  registry: ContractSource,
  name: string,
  columnsOf: (c: DomainContract) => readonly ColumnSpec[],
  layout: PartitionLayout,
): () => IcebergSpec {
  let memo: { n: number; spec: IcebergSpec } | undefined;
  return () => {
    const versions = registry.versions(name);
    if (memo?.n !== versions.length) {
      const latest = registry.latest(name);
      const history = versions.map((v) => ({ schemaId: v.version, columns: columnsOf(v.contract ?? registry.writer(v.fingerprint) ?? latest) }));
      memo = { n: versions.length, spec: icebergSpec(name, history, layout, tableProperties(name, latest.policy, latest.parquet)) };
    }
    return memo.spec;
  };
}

/**
 * `dt=YYYY-MM-DD` of an event time. Total over every number an Avro long decodes to (utcDay): ingest
 * bounds event times to dates, but a record written past ingest must not stop the committer (where
 * Date.toISOString would throw past ±8.64e15 ms).
 */
export function dayPartition(epochMillis: number): string {
  return `dt=${utcDay(epochMillis)}`;
}

export function keyOf(spec: Pick<DatasetSpec, "key">, row: Record<string, unknown>): string {
  if (spec.key.length === 1) return String(row[spec.key[0]!]);
  return JSON.stringify(spec.key.map((k) => row[k]));
}

/** A domain's events, appended as they come, deduplicated by the domain's key, partitioned by day. */
export function domainSpec(contract: DomainContract, source: { stream: string; subject: string }): DatasetSpec {
  return {
    dataset: contract.name,
    source,
    schema: { name: contract.name, version: contract.version, fingerprint: contract.fingerprint },
    policy: contract.policy,
    columns: contract.fields,
    decode: (b) => contract.decode(b),
    mode: MODES.append,
    key: [contract.keyField],
    eventTimeField: contract.eventTimeField,
    parquet: contract.parquet,
    sortBy: [contract.eventTimeField],
    partition: (row) => dayPartition(row[contract.eventTimeField] as number),
    iceberg: icebergSpec(
      contract.name,
      [{ schemaId: contract.version, columns: contract.fields }],
      { kind: "day", source: contract.eventTimeField },
      tableProperties(contract.name, contract.policy, contract.parquet),
    ),
  };
}

/** Where a live spec gets the domain's contract: the schema registry, which follows new versions. */
export interface ContractSource {
  latest(domain: string): DomainContract;
  writer(fingerprint: string): DomainContract | undefined;
  versions(domain: string): readonly { version: number; fingerprint: string; contract?: DomainContract }[];
  decode(domain: string, bytes: Uint8Array, writerFingerprint: string | undefined): Record<string, unknown>;
  refresh?(): Promise<void>;
}

/**
 * Like domainSpec, but following the registry: events written with any version decode into the latest
 * one, and files written after a new version carry its columns (readers union files by column name).
 */
export function liveDomainSpec(registry: ContractSource, name: string, source: { stream: string; subject: string }): DatasetSpec {
  const first = registry.latest(name);
  const iceberg = liveIceberg(registry, name, (c) => c.fields, { kind: "day", source: first.eventTimeField });
  return {
    dataset: name,
    source,
    get schema() {
      const c = registry.latest(name);
      return { name, version: registry.versions(name).length, fingerprint: c.fingerprint };
    },
    get policy() {
      return registry.latest(name).policy;
    },
    get columns() {
      return registry.latest(name).fields;
    },
    decode: (b, writer) => registry.decode(name, b, writer),
    refresh: registry.refresh ? () => registry.refresh!() : undefined,
    mode: MODES.append,
    // Key, event time and partitioning can't change between versions (the registry refuses that).
    key: [first.keyField],
    eventTimeField: first.eventTimeField,
    get parquet() {
      return registry.latest(name).parquet;
    },
    sortBy: [first.eventTimeField],
    partition: (row) => dayPartition(row[first.eventTimeField] as number),
    get iceberg() {
      return iceberg();
    },
  };
}

/** Partition of a CDC row: a stable hash bucket of its key, so a change rewrites one small partition. */
export function bucketPartition(key: string, buckets: number): string {
  const h = createHash("sha1").update(key).digest().readUInt32BE(0);
  return `bucket=${String(h % buckets).padStart(2, "0")}`;
}

const CDC_BUCKETS = 8;

/**
 * A CDC domain: the table's latest state per primary key. Changes arrive in log order; the highest
 * `_lsn` per key wins (so a re-delivered older change never overwrites a newer one) and deletes remove
 * the row. Follows the registry like liveDomainSpec.
 */
export function cdcSpec(registry: ContractSource, name: string, source: { stream: string; subject: string }): DatasetSpec {
  const first = registry.latest(name);
  if (!isCdcContract(first)) throw new Error(`domain ${name} is not a CDC domain ("lake.domain".cdc is not true)`);
  const live = liveDomainSpec(registry, name, source);
  // Hash buckets have no Iceberg transform: to Iceberg readers the table is unpartitioned.
  const iceberg = liveIceberg(registry, name, (c) => cdcChangeCodec(c).fields, { kind: "none" });
  return {
    ...live,
    get schema() {
      return live.schema;
    },
    get policy() {
      return live.policy;
    },
    get columns() {
      return cdcChangeCodec(registry.latest(name)).fields;
    },
    get parquet() {
      return live.parquet;
    },
    sortBy: [first.keyField],
    // A change carries the fingerprint of the row contract it was validated against (Lake-Schema);
    // it is decoded with that version's change codec, resolved into the latest one.
    decode: (b, writer) => {
      const reader = cdcChangeCodec(registry.latest(name));
      const writerContract = writer ? registry.writer(writer) : undefined;
      return writerContract ? reader.decodeFrom(cdcChangeCodec(writerContract), b) : reader.decode(b);
    },
    mode: MODES.upsert,
    key: [first.keyField],
    versionField: "_lsn",
    sourcePositionField: "_lsn",
    eventTimeField: "_ts_ms",
    isDelete: (row) => row._op === "d",
    partition: (row) => bucketPartition(String(row[first.keyField]), CDC_BUCKETS),
    get iceberg() {
      return iceberg();
    },
  };
}

/**
 * A derived dataset (window results from the aggregator): one row per merge key, the highest revision
 * wins, then the highest through_seq (a provisional result is revision 0; a retried publish, a replay
 * or a re-sent older result can arrive after a newer one and never rewinds the row), partitioned by
 * day. Position markers advance the version's upstream position and write no row.
 */
export function derivedSpec(
  c: DerivedContract,
  source: { stream: string; subject: string },
  upstream: { stream: string; subject: string },
  opts: { maxFutureSkewMs?: () => number } = {},
): DatasetSpec {
  const marker = windowPositionCodec();
  const isMarker = (row: Record<string, unknown>) => row[POSITION_MARKER] === true;
  return {
    dataset: c.name,
    source,
    schema: { name: c.name, version: c.version, fingerprint: c.fingerprint },
    policy: c.job.policy,
    columns: c.columns,
    decode: (b, writer) => {
      if (writer !== marker.fingerprint) return c.decode(b, writer);
      const p = marker.decode(b);
      // A marker for another dataset on this subject is forged or misrouted: no row can hold it.
      if (p.dataset !== c.name) throw new Error(`position marker for ${JSON.stringify(p.dataset.slice(0, 80))} on ${source.subject}`);
      if (!Number.isSafeInteger(p.through_seq) || p.through_seq < 0)
        throw new Error(`position marker with through_seq ${p.through_seq}: not a stream sequence`);
      return { [POSITION_MARKER]: true, through_seq: p.through_seq, watermark: p.watermark };
    },
    mode: MODES.upsert,
    key: c.job.mergeKey,
    parquet: c.parquet,
    sortBy: c.job.mergeKey,
    versionField: "revision",
    orderField: "through_seq",
    eventTimeField: "window_start",
    partition: (row) => (isMarker(row) ? "" : `dt=${String(row.day)}`),
    upstream: {
      dataset: c.job.source,
      stream: upstream.stream,
      subject: upstream.subject,
      position: (row) => (isMarker(row) ? { throughSeq: row.through_seq as number, watermark: (row.watermark as number | null) ?? null } : undefined),
      watermark: (row) => (typeof row.watermark === "number" ? row.watermark : null),
      // Rows of contract version 1 (provisional null) came without markers: each stands on its own.
      endsVersion: (row) => isMarker(row) || row.provisional === null || row.provisional === undefined,
      maxFutureSkewMs: opts.maxFutureSkewMs ?? (() => DEFAULT_MAX_FUTURE_SKEW_MS),
      claim: (row) => Math.max(typeof row.through_seq === "number" ? row.through_seq : 0, isMarker(row) ? 0 : Number(row.revision) || 0),
    },
    iceberg: icebergSpec(
      c.name,
      c.history.map((h) => ({ schemaId: h.version, columns: h.columns })),
      { kind: "identity", source: "day" },
      tableProperties(c.name, c.job.policy, c.parquet),
    ),
  };
}
