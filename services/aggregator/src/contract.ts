// Derived-dataset contracts live in @lake/contracts (the committer writes what the aggregator
// produces, so both read the same job spec); re-exported here for the aggregator's modules.
export {
  type DerivedContract,
  type DerivedJob,
  type WindowSpec,
  type LateEventCodec,
  type LateEvent,
  type WindowPosition,
  type WindowPositionCodec,
  DerivedContractError,
  UnknownDerivedDatasetError,
  isDerivedContractError,
  derivedNames,
  derivedContract,
  loadDerivedContract,
  lateEventCodec,
  windowPositionCodec,
  DEFAULT_ALLOWED_LATENESS_MS,
} from "@lake/contracts";
