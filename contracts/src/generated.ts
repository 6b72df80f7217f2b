// DO NOT EDIT: generated from contracts/avro/**/*.avsc by contracts/scripts/gen.ts (npm run gen:contracts).
/* eslint-disable */

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
    export const VersionCommittedSchema = "{\"type\":\"record\",\"name\":\"VersionCommitted\",\"namespace\":\"lake.log\",\"doc\":\"Commit point of a dataset version. Appended to lake.commits.<dataset> with a compare-and-set on the subject's last sequence.\",\"fields\":[{\"name\":\"dataset\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\",\"doc\":\"1, 2, 3 ... per dataset, no gaps.\"},{\"name\":\"parent_version\",\"type\":\"long\",\"doc\":\"0 for the first version.\"},{\"name\":\"write_id\",\"type\":\"string\",\"doc\":\"Unique id of the write; every file of the version carries it in its name.\"},{\"name\":\"committer_id\",\"type\":\"string\"},{\"name\":\"committed_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"schema_name\",\"type\":\"string\"},{\"name\":\"schema_version\",\"type\":\"int\"},{\"name\":\"schema_fingerprint\",\"type\":\"string\",\"doc\":\"sha256 of the canonical Avro schema of the rows.\"},{\"name\":\"manifest\",\"type\":{\"type\":\"record\",\"name\":\"ManifestRef\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"sha256\",\"type\":\"string\"},{\"name\":\"bytes\",\"type\":\"long\"}]}},{\"name\":\"added_files\",\"doc\":\"Files this version adds; the version's full file set is the parent's plus these minus removed_files.\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"DataFile\",\"fields\":[{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"partition\",\"type\":\"string\",\"doc\":\"e.g. dt=2026-06-01\"},{\"name\":\"rows\",\"type\":\"long\"},{\"name\":\"bytes\",\"type\":\"long\"},{\"name\":\"sha256\",\"type\":\"string\"}]}}},{\"name\":\"removed_files\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"SourceRange\",\"doc\":\"Stream sequences of the input this version covers (inclusive). Resume point for exactly-once.\",\"fields\":[{\"name\":\"stream\",\"type\":\"string\"},{\"name\":\"subject\",\"type\":\"string\"},{\"name\":\"first_seq\",\"type\":\"long\"},{\"name\":\"last_seq\",\"type\":\"long\"}]}},{\"name\":\"row_count\",\"type\":\"long\",\"doc\":\"Rows added by this version.\"},{\"name\":\"total_rows\",\"type\":\"long\",\"doc\":\"Rows in the full version.\"},{\"name\":\"min_event_time\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"max_event_time\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"policy\",\"type\":\"string\",\"default\":\"non-critical\",\"doc\":\"The dataset's policy when committed: critical (current only after passing quality) or non-critical (current on commit).\"}]}";
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
