// Which kind of dataset a committer writes, from its name: a domain registered in the schema registry
// (events appended from lake.events.<name>). Derived datasets (window results) and CDC tables are upserts.
import { DEFAULT_MAX_FUTURE_SKEW_MS, UnknownDomainError } from "@lake/contracts";
import { derivedContract, derivedNames, isCdcContract } from "@lake/contracts";
import { STREAMS, subjects } from "@lake/messaging";
import type { SchemaRegistry } from "@lake/registry";

import { cdcSpec, type DatasetSpec, derivedSpec, liveDomainSpec } from "./domain/spec.ts";

export function datasetSpec(registry: SchemaRegistry, name: string): DatasetSpec {
  if (derivedNames().includes(name)) {
    const c = derivedContract(name);
    return derivedSpec(
      c,
      { stream: STREAMS.windows, subject: subjects.windows(name) },
      { stream: STREAMS.events, subject: subjects.events(c.job.source) },
      // The source contract's skew, as the aggregator bounds its watermark with it (read when checked: a
      // contract registered later counts; the largest of every version's).
      { maxFutureSkewMs: () => sourceSkew(registry, c.job.source) },
    );
  }
  try {
    const source = { stream: STREAMS.events, subject: subjects.events(name) };
    return isCdcContract(registry.latest(name)) ? cdcSpec(registry, name, source) : liveDomainSpec(registry, name, source);
  } catch (e) {
    if (e instanceof UnknownDomainError) throw new Error(`no dataset ${JSON.stringify(name)}: the schema registry has no domain of that name`, { cause: e });
    throw e;
  }
}

/**
 * The largest max_future_skew_ms any version of the source domain allowed (the default while the
 * registry doesn't know the domain yet): a watermark the aggregator reached under an earlier, larger
 * skew stays that high after the contract lowers it.
 */
function sourceSkew(registry: SchemaRegistry, domain: string): number {
  return Math.max(DEFAULT_MAX_FUTURE_SKEW_MS, ...registry.versions(domain).map((v) => v.contract.maxFutureSkewMs));
}
