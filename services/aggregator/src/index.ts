export { Aggregator, OutboxPublishError, type AggregatorOptions } from "./nats/aggregator.ts";
export {
  type DerivedContract,
  type DerivedJob,
  type WindowSpec,
  type LateEvent,
  type LateEventCodec,
  derivedContract,
  derivedNames,
  loadDerivedContract,
  lateEventCodec,
  DerivedContractError,
  UnknownDerivedDatasetError,
  isDerivedContractError,
  DEFAULT_ALLOWED_LATENESS_MS,
} from "./contract.ts";
export {
  type AggState,
  type Arrival,
  type BatchOutcome,
  type Counters,
  type InputEvent,
  type KeyValue,
  type LateOutput,
  type Output,
  type WindowAcc,
  type WindowJob,
  type WindowResult,
  decide,
  evolve,
  initialState,
  keyId,
  windowStarts,
  toInputEvent,
  dayOf,
} from "./domain/windows.ts";
export { resultRow, lateRecord, msgIds } from "./domain/rows.ts";
export { StateStore, StateMismatchError, type StateSnapshot, type OutboxRow } from "./db/state.ts";
