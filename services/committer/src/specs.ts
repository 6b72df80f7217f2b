// Which kind of dataset a committer writes, from its name: a domain (events appended from
// lake.events.<name>). Derived datasets (window results) and CDC tables are upserts.
import { domainContract, UnknownDomainError } from "@lake/contracts";
import { STREAMS, subjects } from "@lake/messaging";
import { type DatasetSpec, domainSpec } from "./domain/spec.ts";

export function datasetSpec(name: string): DatasetSpec {
  try {
    return domainSpec(domainContract(name), { stream: STREAMS.events, subject: subjects.events(name) });
  } catch (e) {
    if (e instanceof UnknownDomainError) throw new Error(`no dataset ${JSON.stringify(name)}: no domain contract in contracts/avro/domains/ declares it`, { cause: e });
    throw e;
  }
}
