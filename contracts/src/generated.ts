// DO NOT EDIT: generated from contracts/avro/**/*.avsc by contracts/scripts/gen.ts (npm run gen:contracts).
/* eslint-disable */

// domains/customers.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type Customer = LakeDomainsCustomers.Customer;

export namespace LakeDomainsCustomers {
    export const CustomerSchema = "{\"type\":\"record\",\"name\":\"Customer\",\"namespace\":\"lake.domains.customers\",\"doc\":\"Sample CDC domain: a customers table captured with Debezium-style change events. The committed table holds the latest state per customer_id; deletes remove the row.\",\"lake.domain\":{\"name\":\"customers\",\"version\":1,\"key\":\"customer_id\",\"event_time\":\"updated_at\",\"partition_by\":\"bucket(customer_id, 8)\",\"policy\":\"non-critical\",\"cdc\":true},\"fields\":[{\"name\":\"customer_id\",\"type\":\"string\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":64,\"pattern\":\"^[A-Za-z0-9._:-]+$\"}},{\"name\":\"name\",\"type\":\"string\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":200}},{\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null,\"lake.constraints\":{\"maxLength\":320}},{\"name\":\"country\",\"type\":[\"null\",\"string\"],\"default\":null,\"lake.constraints\":{\"maxLength\":2}},{\"name\":\"updated_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"lake.constraints\":{\"min\":946684800000,\"max\":4102444800000}}]}";
    export const CustomerName = "lake.domains.customers.Customer";
    /**
     * Sample CDC domain: a customers table captured with Debezium-style change events. The committed table holds the latest state per customer_id; deletes remove the row.
     */
    export interface Customer {
        customer_id: string;
        name: string;
        /**
         * Default: null
         */
        email: null | string;
        /**
         * Default: null
         */
        country: null | string;
        updated_at: number;
    }
}

// domains/domain_events.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type DomainEvent = LakeDomainsDomain_events.DomainEvent;

export namespace LakeDomainsDomain_events {
    export const EventTypeSchema = "{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"view\",\"click\",\"purchase\",\"refund\",\"signup\"]}";
    export const EventTypeName = "lake.domains.domain_events.EventType";
    export type EventType = "view" | "click" | "purchase" | "refund" | "signup";
    export const DomainEventSchema = "{\"type\":\"record\",\"name\":\"DomainEvent\",\"namespace\":\"lake.domains.domain_events\",\"doc\":\"Sample domain: user activity events with a monetary amount.\",\"lake.domain\":{\"name\":\"domain_events\",\"version\":1,\"key\":\"event_id\",\"event_time\":\"timestamp\",\"partition_by\":\"day(timestamp)\",\"policy\":\"non-critical\"},\"fields\":[{\"name\":\"event_id\",\"type\":\"string\",\"doc\":\"Producer-assigned unique id; the dedupe key end to end.\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":128,\"pattern\":\"^[A-Za-z0-9._:-]+$\"}},{\"name\":\"user_id\",\"type\":\"string\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":128}},{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"EventType\",\"symbols\":[\"view\",\"click\",\"purchase\",\"refund\",\"signup\"]}},{\"name\":\"timestamp\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"Event time, epoch milliseconds (UTC).\",\"lake.constraints\":{\"min\":946684800000,\"max\":4102444800000}},{\"name\":\"amount\",\"type\":\"double\",\"lake.constraints\":{\"min\":-1000000000,\"max\":1000000000}}]}";
    export const DomainEventName = "lake.domains.domain_events.DomainEvent";
    /**
     * Sample domain: user activity events with a monetary amount.
     */
    export interface DomainEvent {
        /**
         * Producer-assigned unique id; the dedupe key end to end.
         */
        event_id: string;
        user_id: string;
        event_type: LakeDomainsDomain_events.EventType;
        /**
         * Event time, epoch milliseconds (UTC).
         */
        timestamp: number;
        amount: number;
    }
}

// domains/payments.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type Payment = LakeDomainsPayments.Payment;

export namespace LakeDomainsPayments {
    export const CurrencySchema = "{\"type\":\"enum\",\"name\":\"Currency\",\"symbols\":[\"EUR\",\"USD\",\"GBP\"]}";
    export const CurrencyName = "lake.domains.payments.Currency";
    export type Currency = "EUR" | "USD" | "GBP";
    export const PaymentSchema = "{\"type\":\"record\",\"name\":\"Payment\",\"namespace\":\"lake.domains.payments\",\"doc\":\"Sample critical domain: card payments. Gated: a version becomes current only after it passes quality.\",\"lake.domain\":{\"name\":\"payments\",\"version\":1,\"key\":\"payment_id\",\"event_time\":\"timestamp\",\"partition_by\":\"day(timestamp)\",\"policy\":\"critical\"},\"lake.quality\":{\"row_count_min\":1,\"max_null_ratio\":{\"card_country\":0.5}},\"fields\":[{\"name\":\"payment_id\",\"type\":\"string\",\"doc\":\"Producer-assigned unique id; the dedupe key end to end.\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":128,\"pattern\":\"^[A-Za-z0-9._:-]+$\"}},{\"name\":\"user_id\",\"type\":\"string\",\"lake.constraints\":{\"minLength\":1,\"maxLength\":128}},{\"name\":\"timestamp\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"Event time, epoch milliseconds (UTC).\",\"lake.constraints\":{\"min\":946684800000,\"max\":4102444800000}},{\"name\":\"amount\",\"type\":\"double\",\"lake.constraints\":{\"min\":0,\"max\":1000000000}},{\"name\":\"currency\",\"type\":{\"type\":\"enum\",\"name\":\"Currency\",\"symbols\":[\"EUR\",\"USD\",\"GBP\"]}},{\"name\":\"card_country\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"ISO 3166-1 alpha-2 country of the card, when known.\",\"lake.constraints\":{\"maxLength\":2}}]}";
    export const PaymentName = "lake.domains.payments.Payment";
    /**
     * Sample critical domain: card payments. Gated: a version becomes current only after it passes quality.
     */
    export interface Payment {
        /**
         * Producer-assigned unique id; the dedupe key end to end.
         */
        payment_id: string;
        user_id: string;
        /**
         * Event time, epoch milliseconds (UTC).
         */
        timestamp: number;
        amount: number;
        currency: LakeDomainsPayments.Currency;
        /**
         * ISO 3166-1 alpha-2 country of the card, when known.
         *
         * Default: null
         */
        card_country: null | string;
    }
}

// log/alert_changed.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type AlertChanged = LakeLog.AlertChanged;

export namespace LakeLog {
    export const AlertStateSchema = "{\"type\":\"enum\",\"name\":\"AlertState\",\"symbols\":[\"firing\",\"resolved\"]}";
    export const AlertStateName = "lake.log.AlertState";
    export type AlertState = "firing" | "resolved";
    export const AlertChangedSchema = "{\"type\":\"record\",\"name\":\"AlertChanged\",\"namespace\":\"lake.log\",\"doc\":\"An alert started or stopped firing (stream ALERTS, subject lake.alerts.<alert>): a measured value crossed its configured threshold.\",\"fields\":[{\"name\":\"alert\",\"type\":\"string\",\"doc\":\"e.g. consumer_lag, freshness\"},{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"AlertState\",\"symbols\":[\"firing\",\"resolved\"]}},{\"name\":\"service\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\",\"doc\":\"What the alert is about, e.g. the dataset.\"},{\"name\":\"value\",\"type\":\"double\"},{\"name\":\"threshold\",\"type\":\"double\"},{\"name\":\"message\",\"type\":\"string\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const AlertChangedName = "lake.log.AlertChanged";
    /**
     * An alert started or stopped firing (stream ALERTS, subject lake.alerts.<alert>): a measured value crossed its configured threshold.
     */
    export interface AlertChanged {
        /**
         * e.g. consumer_lag, freshness
         */
        alert: string;
        state: LakeLog.AlertState;
        service: string;
        /**
         * What the alert is about, e.g. the dataset.
         */
        subject: string;
        value: number;
        threshold: number;
        message: string;
        at: number;
    }
}

// log/files_collected.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type FilesCollected = LakeLog.FilesCollected;

export namespace LakeLog {
    export const FilesCollectedSchema = "{\"type\":\"record\",\"name\":\"FilesCollected\",\"namespace\":\"lake.log\",\"doc\":\"Garbage collection deleted these objects of a dataset: files no live version references (expired or replaced) and orphans of failed writes older than the grace period. Appended after the deletes, for the audit trail and fsck.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"keys\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"bytes\",\"type\":\"long\"},{\"name\":\"orphans\",\"type\":\"long\",\"doc\":\"How many of the keys belonged to no version at all (failed writes).\"},{\"name\":\"actor\",\"type\":\"string\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const FilesCollectedName = "lake.log.FilesCollected";
    /**
     * Garbage collection deleted these objects of a dataset: files no live version references (expired or replaced) and orphans of failed writes older than the grace period. Appended after the deletes, for the audit trail and fsck.
     */
    export interface FilesCollected {
        dataset: string;
        keys: string[];
        bytes: number;
        /**
         * How many of the keys belonged to no version at all (failed writes).
         */
        orphans: number;
        actor: string;
        at: number;
    }
}

// log/quality_verdict.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type QualityVerdict = LakeLog.QualityVerdict;

export namespace LakeLog {
    export const QualityOutcomeSchema = "{\"type\":\"enum\",\"name\":\"QualityOutcome\",\"symbols\":[\"passed\",\"failed\"]}";
    export const QualityOutcomeName = "lake.log.QualityOutcome";
    export type QualityOutcome = "passed" | "failed";
    export const RuleResultSchema = "{\"type\":\"record\",\"name\":\"RuleResult\",\"fields\":[{\"name\":\"rule\",\"type\":\"string\",\"doc\":\"e.g. not_null(user_id), range(amount), row_count_drift\"},{\"name\":\"passed\",\"type\":\"boolean\"},{\"name\":\"measured\",\"type\":\"string\"},{\"name\":\"expected\",\"type\":\"string\"},{\"name\":\"message\",\"type\":\"string\"}]}";
    export const RuleResultName = "lake.log.RuleResult";
    export interface RuleResult {
        /**
         * e.g. not_null(user_id), range(amount), row_count_drift
         */
        rule: string;
        passed: boolean;
        measured: string;
        expected: string;
        message: string;
    }
    export const QualityVerdictSchema = "{\"type\":\"record\",\"name\":\"QualityVerdict\",\"namespace\":\"lake.log\",\"doc\":\"Outcome of the quality checks of one committed version (QualityPassed / QualityFailed). Appended to lake.commits.<dataset> with a CAS.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\"},{\"name\":\"outcome\",\"type\":{\"type\":\"enum\",\"name\":\"QualityOutcome\",\"symbols\":[\"passed\",\"failed\"]}},{\"name\":\"rules\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"RuleResult\",\"fields\":[{\"name\":\"rule\",\"type\":\"string\",\"doc\":\"e.g. not_null(user_id), range(amount), row_count_drift\"},{\"name\":\"passed\",\"type\":\"boolean\"},{\"name\":\"measured\",\"type\":\"string\"},{\"name\":\"expected\",\"type\":\"string\"},{\"name\":\"message\",\"type\":\"string\"}]}}},{\"name\":\"checked_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"checker_id\",\"type\":\"string\"}]}";
    export const QualityVerdictName = "lake.log.QualityVerdict";
    /**
     * Outcome of the quality checks of one committed version (QualityPassed / QualityFailed). Appended to lake.commits.<dataset> with a CAS.
     */
    export interface QualityVerdict {
        dataset: string;
        version: number;
        outcome: LakeLog.QualityOutcome;
        rules: LakeLog.RuleResult[];
        checked_at: number;
        checker_id: string;
    }
}

// log/quarantine_replay.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type QuarantineReplay = LakeLog.QuarantineReplay;

export namespace LakeLog {
    export const ReplayStateSchema = "{\"type\":\"enum\",\"name\":\"ReplayState\",\"symbols\":[\"claimed\",\"done\"]}";
    export const ReplayStateName = "lake.log.ReplayState";
    export type ReplayState = "claimed" | "done";
    export const QuarantineReplaySchema = "{\"type\":\"record\",\"name\":\"QuarantineReplay\",\"namespace\":\"lake.log\",\"doc\":\"Replay ledger of one quarantined record (subject lake.quarantine.<domain>.replayed.<seq>): a claim pins the event id before anything is published, done keeps the offset forever.\",\"fields\":[{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"ReplayState\",\"symbols\":[\"claimed\",\"done\"]}},{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"offset\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"Stream sequence of the replayed event; set when done.\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const QuarantineReplayName = "lake.log.QuarantineReplay";
    /**
     * Replay ledger of one quarantined record (subject lake.quarantine.<domain>.replayed.<seq>): a claim pins the event id before anything is published, done keeps the offset forever.
     */
    export interface QuarantineReplay {
        state: LakeLog.ReplayState;
        event_id: string;
        /**
         * Stream sequence of the replayed event; set when done.
         *
         * Default: null
         */
        offset: null | number;
        at: number;
    }
}

// log/quarantined_record.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type QuarantinedRecord = LakeLog.QuarantinedRecord;

export namespace LakeLog {
    export const QuarantinedRecordSchema = "{\"type\":\"record\",\"name\":\"QuarantinedRecord\",\"namespace\":\"lake.log\",\"doc\":\"A record ingest refused, kept with the reason so it can be inspected and replayed. Published to lake.quarantine.<domain>.\",\"fields\":[{\"name\":\"domain\",\"type\":\"string\"},{\"name\":\"event_id\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"path\",\"type\":\"string\",\"doc\":\"Where in the record the problem is, e.g. $.amount\"},{\"name\":\"raw\",\"type\":\"string\",\"doc\":\"The record as received (JSON text), truncated to the quarantine size cap.\"},{\"name\":\"truncated\",\"type\":\"boolean\",\"default\":false},{\"name\":\"received_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"source\",\"type\":\"string\",\"doc\":\"http or nats\"}]}";
    export const QuarantinedRecordName = "lake.log.QuarantinedRecord";
    /**
     * A record ingest refused, kept with the reason so it can be inspected and replayed. Published to lake.quarantine.<domain>.
     */
    export interface QuarantinedRecord {
        domain: string;
        /**
         * Default: null
         */
        event_id: null | string;
        reason: string;
        /**
         * Where in the record the problem is, e.g. $.amount
         */
        path: string;
        /**
         * The record as received (JSON text), truncated to the quarantine size cap.
         */
        raw: string;
        /**
         * Default: false
         */
        truncated: boolean;
        received_at: number;
        /**
         * http or nats
         */
        source: string;
    }
}

// log/schema_registered.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type SchemaRegistered = LakeLog.SchemaRegistered;

export namespace LakeLog {
    export const SchemaRegisteredSchema = "{\"type\":\"record\",\"name\":\"SchemaRegistered\",\"namespace\":\"lake.log\",\"doc\":\"A version of a domain's contract in the schema registry (stream SCHEMAS, subject lake.schemas.<domain>), appended with a CAS after a backward-compatibility check.\",\"fields\":[{\"name\":\"domain\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"int\",\"doc\":\"1, 2, 3 ... per domain.\"},{\"name\":\"schema\",\"type\":\"string\",\"doc\":\"The whole contract (.avsc JSON, with its lake.* attributes).\"},{\"name\":\"fingerprint\",\"type\":\"string\",\"doc\":\"sha256 of the Avro canonical form: what events carry in their Lake-Schema header.\"},{\"name\":\"registered_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"actor\",\"type\":\"string\"},{\"name\":\"reason\",\"type\":\"string\"}]}";
    export const SchemaRegisteredName = "lake.log.SchemaRegistered";
    /**
     * A version of a domain's contract in the schema registry (stream SCHEMAS, subject lake.schemas.<domain>), appended with a CAS after a backward-compatibility check.
     */
    export interface SchemaRegistered {
        domain: string;
        /**
         * 1, 2, 3 ... per domain.
         */
        version: number;
        /**
         * The whole contract (.avsc JSON, with its lake.* attributes).
         */
        schema: string;
        /**
         * sha256 of the Avro canonical form: what events carry in their Lake-Schema header.
         */
        fingerprint: string;
        registered_at: number;
        actor: string;
        reason: string;
    }
}

// log/version_committed.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type VersionCommitted = LakeLog.VersionCommitted;

export namespace LakeLog {
    export const ManifestRefSchema = "{\"type\":\"record\",\"name\":\"ManifestRef\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"sha256\",\"type\":\"string\"},{\"name\":\"bytes\",\"type\":\"long\"}]}";
    export const ManifestRefName = "lake.log.ManifestRef";
    export interface ManifestRef {
        key: string;
        sha256: string;
        bytes: number;
    }
    export const DataFileSchema = "{\"type\":\"record\",\"name\":\"DataFile\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"partition\",\"type\":\"string\",\"doc\":\"e.g. dt=2026-06-01\"},{\"name\":\"rows\",\"type\":\"long\"},{\"name\":\"bytes\",\"type\":\"long\"},{\"name\":\"sha256\",\"type\":\"string\"}]}";
    export const DataFileName = "lake.log.DataFile";
    export interface DataFile {
        key: string;
        /**
         * e.g. dt=2026-06-01
         */
        partition: string;
        rows: number;
        bytes: number;
        sha256: string;
    }
    export const SourceRangeSchema = "{\"type\":\"record\",\"name\":\"SourceRange\",\"doc\":\"Stream sequences of the input this version covers (inclusive). Resume point for exactly-once.\",\"fields\":[{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"first_seq\",\"type\":\"long\"},{\"name\":\"last_seq\",\"type\":\"long\"}]}";
    export const SourceRangeName = "lake.log.SourceRange";
    /**
     * Stream sequences of the input this version covers (inclusive). Resume point for exactly-once.
     */
    export interface SourceRange {
        stream: string;
        subject: string;
        first_seq: number;
        last_seq: number;
    }
    export const IcebergSnapshotRefSchema = "{\"type\":\"record\",\"name\":\"IcebergSnapshotRef\",\"doc\":\"The version as an Iceberg v2 snapshot (snapshot id and sequence number = version), written before this record: its manifest list names every file of the version.\",\"fields\":[{\"name\":\"manifest_list\",\"type\":\"string\",\"doc\":\"Store key of the snapshot's manifest list (Avro).\"},{\"name\":\"metadata\",\"type\":\"string\",\"doc\":\"Store key of the table metadata JSON of this version.\"},{\"name\":\"schema_id\",\"type\":\"int\",\"doc\":\"Iceberg schema id of the files the version adds (the contract's registry version).\"},{\"name\":\"total_files\",\"type\":\"long\",\"doc\":\"Data files in the whole version.\"}]}";
    export const IcebergSnapshotRefName = "lake.log.IcebergSnapshotRef";
    /**
     * The version as an Iceberg v2 snapshot (snapshot id and sequence number = version), written before this record: its manifest list names every file of the version.
     */
    export interface IcebergSnapshotRef {
        /**
         * Store key of the snapshot's manifest list (Avro).
         */
        manifest_list: string;
        /**
         * Store key of the table metadata JSON of this version.
         */
        metadata: string;
        /**
         * Iceberg schema id of the files the version adds (the contract's registry version).
         */
        schema_id: number;
        /**
         * Data files in the whole version.
         */
        total_files: number;
    }
    export const UpstreamPositionSchema = "{\"type\":\"record\",\"name\":\"UpstreamPosition\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\",\"doc\":\"The upstream dataset (for a derived dataset: the domain of its source events).\"},{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"through_seq\",\"type\":\"long\",\"doc\":\"Every upstream record at or below this stream sequence is reflected in the version.\"}]}";
    export const UpstreamPositionName = "lake.log.UpstreamPosition";
    export interface UpstreamPosition {
        /**
         * The upstream dataset (for a derived dataset: the domain of its source events).
         */
        dataset: string;
        stream: string;
        subject: string;
        /**
         * Every upstream record at or below this stream sequence is reflected in the version.
         */
        through_seq: number;
    }
    export const LineageSchema = "{\"type\":\"record\",\"name\":\"Lineage\",\"doc\":\"What the version was made from beyond its source range: the published version it builds on when that is not its parent, and (derived datasets) the upstream positions its window state covers.\",\"fields\":[{\"name\":\"base_version\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"Write-audit-publish: the published version whose rows this version starts from when its parent failed its audit (a revert names the version it restores).\"},{\"name\":\"reverted_version\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"A revert: the version that failed its audit and whose batch this version takes out (those rows went to quarantine).\"},{\"name\":\"upstream\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"UpstreamPosition\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\",\"doc\":\"The upstream dataset (for a derived dataset: the domain of its source events).\"},{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"through_seq\",\"type\":\"long\",\"doc\":\"Every upstream record at or below this stream sequence is reflected in the version.\"}]}},\"default\":[]},{\"name\":\"watermark\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"Derived datasets: the aggregator's event-time watermark when it emitted the newest result in the version.\"}]}";
    export const LineageName = "lake.log.Lineage";
    /**
     * What the version was made from beyond its source range: the published version it builds on when that is not its parent, and (derived datasets) the upstream positions its window state covers.
     */
    export interface Lineage {
        /**
         * Write-audit-publish: the published version whose rows this version starts from when its parent failed its audit (a revert names the version it restores).
         *
         * Default: null
         */
        base_version: null | number;
        /**
         * A revert: the version that failed its audit and whose batch this version takes out (those rows went to quarantine).
         *
         * Default: null
         */
        reverted_version: null | number;
        /**
         * Default: []
         */
        upstream: LakeLog.UpstreamPosition[];
        /**
         * Derived datasets: the aggregator's event-time watermark when it emitted the newest result in the version.
         *
         * Default: null
         */
        watermark: null | number;
    }
    export const VersionCommittedSchema = "{\"type\":\"record\",\"name\":\"VersionCommitted\",\"namespace\":\"lake.log\",\"doc\":\"Commit point of a dataset version. Appended to lake.commits.<dataset> with a compare-and-set on the subject's last sequence.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\",\"doc\":\"1, 2, 3 ... per dataset, no gaps.\"},{\"name\":\"parent_version\",\"type\":\"long\",\"doc\":\"0 for the first version.\"},{\"name\":\"write_id\",\"type\":\"string\",\"doc\":\"Unique id of the write; every file of the version carries it in its name.\"},{\"name\":\"committer_id\",\"type\":\"string\"},{\"name\":\"committed_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"schema_name\",\"type\":\"string\"},{\"name\":\"schema_version\",\"type\":\"int\"},{\"name\":\"schema_fingerprint\",\"type\":\"string\",\"doc\":\"sha256 of the canonical Avro schema of the rows.\"},{\"name\":\"manifest\",\"type\":{\"type\":\"record\",\"name\":\"ManifestRef\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"sha256\",\"type\":\"string\"},{\"name\":\"bytes\",\"type\":\"long\"}]}},{\"name\":\"added_files\",\"doc\":\"Files this version adds; the version's full file set is the parent's plus these minus removed_files.\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"DataFile\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"partition\",\"type\":\"string\",\"doc\":\"e.g. dt=2026-06-01\"},{\"name\":\"rows\",\"type\":\"long\"},{\"name\":\"bytes\",\"type\":\"long\"},{\"name\":\"sha256\",\"type\":\"string\"}]}}},{\"name\":\"removed_files\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"SourceRange\",\"doc\":\"Stream sequences of the input this version covers (inclusive). Resume point for exactly-once.\",\"fields\":[{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"first_seq\",\"type\":\"long\"},{\"name\":\"last_seq\",\"type\":\"long\"}]}},{\"name\":\"row_count\",\"type\":\"long\",\"doc\":\"Rows added by this version.\"},{\"name\":\"total_rows\",\"type\":\"long\",\"doc\":\"Rows in the full version.\"},{\"name\":\"min_event_time\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"max_event_time\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"policy\",\"type\":\"string\",\"default\":\"non-critical\",\"doc\":\"The dataset's policy when committed: critical (current only after passing quality) or non-critical (current on commit).\"},{\"name\":\"max_source_position\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"Ordered sources (CDC): the highest source log position applied so far. A change at or below it is a re-delivery and is skipped, even after the dedupe window.\"},{\"name\":\"operation\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"What made this version: null or \\\"append\\\" (new source data), \\\"compaction\\\" (same rows, fewer files), \\\"backfill\\\" (a rebuild from the source), ...\"},{\"name\":\"iceberg\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"IcebergSnapshotRef\",\"doc\":\"The version as an Iceberg v2 snapshot (snapshot id and sequence number = version), written before this record: its manifest list names every file of the version.\",\"fields\":[{\"name\":\"manifest_list\",\"type\":\"string\",\"doc\":\"Store key of the snapshot's manifest list (Avro).\"},{\"name\":\"metadata\",\"type\":\"string\",\"doc\":\"Store key of the table metadata JSON of this version.\"},{\"name\":\"schema_id\",\"type\":\"int\",\"doc\":\"Iceberg schema id of the files the version adds (the contract's registry version).\"},{\"name\":\"total_files\",\"type\":\"long\",\"doc\":\"Data files in the whole version.\"}]}],\"default\":null,\"doc\":\"Null for versions written before the lake wrote Iceberg metadata.\"},{\"name\":\"lineage\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Lineage\",\"doc\":\"What the version was made from beyond its source range: the published version it builds on when that is not its parent, and (derived datasets) the upstream positions its window state covers.\",\"fields\":[{\"name\":\"base_version\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"Write-audit-publish: the published version whose rows this version starts from when its parent failed its audit (a revert names the version it restores).\"},{\"name\":\"reverted_version\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"A revert: the version that failed its audit and whose batch this version takes out (those rows went to quarantine).\"},{\"name\":\"upstream\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"UpstreamPosition\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\",\"doc\":\"The upstream dataset (for a derived dataset: the domain of its source events).\"},{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"through_seq\",\"type\":\"long\",\"doc\":\"Every upstream record at or below this stream sequence is reflected in the version.\"}]}},\"default\":[]},{\"name\":\"watermark\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"Derived datasets: the aggregator's event-time watermark when it emitted the newest result in the version.\"}]}],\"default\":null,\"doc\":\"Null for versions that record nothing beyond their source range (and for versions written before lineage was recorded).\"}]}";
    export const VersionCommittedName = "lake.log.VersionCommitted";
    /**
     * Commit point of a dataset version. Appended to lake.commits.<dataset> with a compare-and-set on the subject's last sequence.
     */
    export interface VersionCommitted {
        dataset: string;
        /**
         * 1, 2, 3 ... per dataset, no gaps.
         */
        version: number;
        /**
         * 0 for the first version.
         */
        parent_version: number;
        /**
         * Unique id of the write; every file of the version carries it in its name.
         */
        write_id: string;
        committer_id: string;
        committed_at: number;
        schema_name: string;
        schema_version: number;
        /**
         * sha256 of the canonical Avro schema of the rows.
         */
        schema_fingerprint: string;
        manifest: LakeLog.ManifestRef;
        /**
         * Files this version adds; the version's full file set is the parent's plus these minus removed_files.
         */
        added_files: LakeLog.DataFile[];
        /**
         * Default: []
         */
        removed_files: string[];
        source: LakeLog.SourceRange;
        /**
         * Rows added by this version.
         */
        row_count: number;
        /**
         * Rows in the full version.
         */
        total_rows: number;
        /**
         * Default: null
         */
        min_event_time: null | number;
        /**
         * Default: null
         */
        max_event_time: null | number;
        /**
         * The dataset's policy when committed: critical (current only after passing quality) or non-critical (current on commit).
         *
         * Default: "non-critical"
         */
        policy: string;
        /**
         * Ordered sources (CDC): the highest source log position applied so far. A change at or below it is a re-delivery and is skipped, even after the dedupe window.
         *
         * Default: null
         */
        max_source_position: null | number;
        /**
         * What made this version: null or "append" (new source data), "compaction" (same rows, fewer files), "backfill" (a rebuild from the source), ...
         *
         * Default: null
         */
        operation: null | string;
        /**
         * Null for versions written before the lake wrote Iceberg metadata.
         *
         * Default: null
         */
        iceberg: null | LakeLog.IcebergSnapshotRef;
        /**
         * Null for versions that record nothing beyond their source range (and for versions written before lineage was recorded).
         *
         * Default: null
         */
        lineage: null | LakeLog.Lineage;
    }
}

// log/version_promoted.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type VersionPromoted = LakeLog.VersionPromoted;

export namespace LakeLog {
    export const PromotionModeSchema = "{\"type\":\"enum\",\"name\":\"PromotionMode\",\"symbols\":[\"promote\",\"rollback\"]}";
    export const PromotionModeName = "lake.log.PromotionMode";
    export type PromotionMode = "promote" | "rollback";
    export const VersionPromotedSchema = "{\"type\":\"record\",\"name\":\"VersionPromoted\",\"namespace\":\"lake.log\",\"doc\":\"The dataset's current (served) version changes: an operator's promote or rollback. Validated by the catalog and appended with a CAS before it takes effect.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\"},{\"name\":\"previous_version\",\"type\":\"long\",\"doc\":\"The current version being replaced; 0 for none.\"},{\"name\":\"mode\",\"type\":{\"type\":\"enum\",\"name\":\"PromotionMode\",\"symbols\":[\"promote\",\"rollback\"]}},{\"name\":\"actor\",\"type\":\"string\"},{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const VersionPromotedName = "lake.log.VersionPromoted";
    /**
     * The dataset's current (served) version changes: an operator's promote or rollback. Validated by the catalog and appended with a CAS before it takes effect.
     */
    export interface VersionPromoted {
        dataset: string;
        version: number;
        /**
         * The current version being replaced; 0 for none.
         */
        previous_version: number;
        mode: LakeLog.PromotionMode;
        actor: string;
        reason: string;
        at: number;
    }
}

// log/version_tagged.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type VersionTagged = LakeLog.VersionTagged;

export namespace LakeLog {
    export const VersionTaggedSchema = "{\"type\":\"record\",\"name\":\"VersionTagged\",\"namespace\":\"lake.log\",\"doc\":\"A name (e.g. v20260601) given to a version. A tag names one version; moving it is a new record.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\"},{\"name\":\"tag\",\"type\":\"string\"},{\"name\":\"actor\",\"type\":\"string\"},{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const VersionTaggedName = "lake.log.VersionTagged";
    /**
     * A name (e.g. v20260601) given to a version. A tag names one version; moving it is a new record.
     */
    export interface VersionTagged {
        dataset: string;
        version: number;
        tag: string;
        actor: string;
        reason: string;
        at: number;
    }
}

// log/versions_expired.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type VersionsExpired = LakeLog.VersionsExpired;

export namespace LakeLog {
    export const VersionsExpiredSchema = "{\"type\":\"record\",\"name\":\"VersionsExpired\",\"namespace\":\"lake.log\",\"doc\":\"Retention: these versions of a dataset are no longer served (their files may then be collected unless a live version still references them). Appended to lake.commits.<dataset> with a CAS; current and tagged versions are never expired.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"versions\",\"type\":{\"type\":\"array\",\"items\":\"long\"},\"doc\":\"The versions that expire, ascending.\"},{\"name\":\"policy\",\"type\":\"string\",\"doc\":\"The retention policy applied, e.g. keep_last=10,keep_ms=604800000\"},{\"name\":\"actor\",\"type\":\"string\"},{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const VersionsExpiredName = "lake.log.VersionsExpired";
    /**
     * Retention: these versions of a dataset are no longer served (their files may then be collected unless a live version still references them). Appended to lake.commits.<dataset> with a CAS; current and tagged versions are never expired.
     */
    export interface VersionsExpired {
        dataset: string;
        /**
         * The versions that expire, ascending.
         */
        versions: number[];
        /**
         * The retention policy applied, e.g. keep_last=10,keep_ms=604800000
         */
        policy: string;
        actor: string;
        reason: string;
        at: number;
    }
}

// derived/daily_user_totals.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type DailyUserTotals = LakeDerivedDaily_user_totals.DailyUserTotals;

export namespace LakeDerivedDaily_user_totals {
    export const DailyUserTotalsSchema = "{\"type\":\"record\",\"name\":\"DailyUserTotals\",\"namespace\":\"lake.derived.daily_user_totals\",\"doc\":\"Sample derived dataset: per user and UTC day, the total, count, min and max of domain_events.amount. One row per (window_start, user_id): while its window is open the running total (provisional), then the final result when the watermark closes it; a late event within the allowed lateness publishes a new revision of the row. Version 2 added provisional and through_seq; version 1 is kept in history/ so its results still decode.\",\"lake.derived\":{\"name\":\"daily_user_totals\",\"version\":2,\"source\":\"domain_events\",\"key\":[\"user_id\"],\"window\":{\"type\":\"tumbling\",\"size_ms\":86400000},\"value_field\":\"amount\",\"out_of_orderness_ms\":60000,\"allowed_lateness_ms\":300000,\"policy\":\"critical\",\"merge_key\":[\"window_start\",\"user_id\"]},\"fields\":[{\"name\":\"user_id\",\"type\":\"string\"},{\"name\":\"window_start\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"Inclusive start of the event-time window (UTC).\"},{\"name\":\"window_end\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"Exclusive end of the event-time window (UTC).\"},{\"name\":\"day\",\"type\":\"string\",\"doc\":\"YYYY-MM-DD of window_start in UTC; the partition of the row.\"},{\"name\":\"total_amount\",\"type\":\"double\"},{\"name\":\"event_count\",\"type\":\"long\"},{\"name\":\"min_amount\",\"type\":\"double\"},{\"name\":\"max_amount\",\"type\":\"double\"},{\"name\":\"revision\",\"type\":\"int\",\"doc\":\"0 while the window is open (provisional); 1 when it first fires; +1 for each late event within the allowed lateness. The highest revision wins, then the highest through_seq.\"},{\"name\":\"watermark\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"The aggregator's event-time watermark when it emitted this revision.\"},{\"name\":\"provisional\",\"type\":[\"null\",\"boolean\"],\"default\":null,\"doc\":\"True: the running result of a window the watermark has not closed yet (revision 0), replaced by later ones. False: a final result. Null: written before contract version 2 (final).\"},{\"name\":\"through_seq\",\"type\":[\"null\",\"long\"],\"default\":null,\"doc\":\"The source stream sequence (lake.events.<source>) this result reflects: it equals the window's recomputation over the source events at or below it. Null: written before contract version 2.\"}]}";
    export const DailyUserTotalsName = "lake.derived.daily_user_totals.DailyUserTotals";
    /**
     * Sample derived dataset: per user and UTC day, the total, count, min and max of domain_events.amount. One row per (window_start, user_id): while its window is open the running total (provisional), then the final result when the watermark closes it; a late event within the allowed lateness publishes a new revision of the row. Version 2 added provisional and through_seq; version 1 is kept in history/ so its results still decode.
     */
    export interface DailyUserTotals {
        user_id: string;
        /**
         * Inclusive start of the event-time window (UTC).
         */
        window_start: number;
        /**
         * Exclusive end of the event-time window (UTC).
         */
        window_end: number;
        /**
         * YYYY-MM-DD of window_start in UTC; the partition of the row.
         */
        day: string;
        total_amount: number;
        event_count: number;
        min_amount: number;
        max_amount: number;
        /**
         * 0 while the window is open (provisional); 1 when it first fires; +1 for each late event within the allowed lateness. The highest revision wins, then the highest through_seq.
         */
        revision: number;
        /**
         * The aggregator's event-time watermark when it emitted this revision.
         */
        watermark: number;
        /**
         * True: the running result of a window the watermark has not closed yet (revision 0), replaced by later ones. False: a final result. Null: written before contract version 2 (final).
         *
         * Default: null
         */
        provisional: null | boolean;
        /**
         * The source stream sequence (lake.events.<source>) this result reflects: it equals the window's recomputation over the source events at or below it. Null: written before contract version 2.
         *
         * Default: null
         */
        through_seq: null | number;
    }
}

// derived/late_event.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type LateEvent = LakeDerived.LateEvent;

export namespace LakeDerived {
    export const LateEventSchema = "{\"type\":\"record\",\"name\":\"LateEvent\",\"namespace\":\"lake.derived\",\"doc\":\"The side output of a derived dataset: a source event that arrived after the allowed lateness of (some of) its windows, so it is not in their results. Published to lake.late.<dataset>; never silently dropped.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\",\"doc\":\"The derived dataset whose windows the event missed.\"},{\"name\":\"event_id\",\"type\":\"string\",\"doc\":\"The source event's key (its dedupe id).\"},{\"name\":\"event_time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"watermark\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"The watermark when the event arrived.\"},{\"name\":\"window_start\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"Start of the earliest window the event missed.\"},{\"name\":\"source_seq\",\"type\":\"long\",\"doc\":\"Stream sequence of the event in the source stream (its offset): where to find it for a replay.\"},{\"name\":\"reason\",\"type\":\"string\",\"doc\":\"Why it was not aggregated, e.g. past allowed lateness (300000 ms) for 1 of 1 windows.\"}]}";
    export const LateEventName = "lake.derived.LateEvent";
    /**
     * The side output of a derived dataset: a source event that arrived after the allowed lateness of (some of) its windows, so it is not in their results. Published to lake.late.<dataset>; never silently dropped.
     */
    export interface LateEvent {
        /**
         * The derived dataset whose windows the event missed.
         */
        dataset: string;
        /**
         * The source event's key (its dedupe id).
         */
        event_id: string;
        event_time: number;
        /**
         * The watermark when the event arrived.
         */
        watermark: number;
        /**
         * Start of the earliest window the event missed.
         */
        window_start: number;
        /**
         * Stream sequence of the event in the source stream (its offset): where to find it for a replay.
         */
        source_seq: number;
        /**
         * Why it was not aggregated, e.g. past allowed lateness (300000 ms) for 1 of 1 windows.
         */
        reason: string;
    }
}

// derived/window_position.avsc
/* eslint-disable @typescript-eslint/no-namespace */

export type WindowPosition = LakeDerived.WindowPosition;

export namespace LakeDerived {
    export const WindowPositionSchema = "{\"type\":\"record\",\"name\":\"WindowPosition\",\"namespace\":\"lake.derived\",\"doc\":\"Published to lake.windows.<dataset> after every output of one aggregator batch has been acknowledged: every result for the source events at or below through_seq is on the stream before this record. A committer ends versions at these records and records through_seq as the version's upstream position; it writes no row for them.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\",\"doc\":\"The derived dataset the position belongs to.\"},{\"name\":\"through_seq\",\"type\":\"long\",\"doc\":\"The aggregator's input position: the last source stream sequence it applied.\"},{\"name\":\"watermark\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"The aggregator's event-time watermark at that position (null before any event).\"}]}";
    export const WindowPositionName = "lake.derived.WindowPosition";
    /**
     * Published to lake.windows.<dataset> after every output of one aggregator batch has been acknowledged: every result for the source events at or below through_seq is on the stream before this record. A committer ends versions at these records and records through_seq as the version's upstream position; it writes no row for them.
     */
    export interface WindowPosition {
        /**
         * The derived dataset the position belongs to.
         */
        dataset: string;
        /**
         * The aggregator's input position: the last source stream sequence it applied.
         */
        through_seq: number;
        /**
         * The aggregator's event-time watermark at that position (null before any event).
         *
         * Default: null
         */
        watermark: null | number;
    }
}
