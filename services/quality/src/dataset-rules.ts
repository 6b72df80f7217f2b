// Which rules apply to a version: looked up by the schema name and version its VersionCommitted
// records, in the schema registry (falling back to contracts/avro/domains). A schema with no domain
// contract (a derived dataset) gets the generic rules only. A CDC table's columns are its change
// codec's: non-key fields nullable, plus _op, _lsn and _ts_ms.
import { cdcChangeCodec, type DomainContract, domainContract, domainNames, isCdcContract, UnknownDomainError } from "@lake/contracts";
import type { SchemaRegistry } from "@lake/registry";

import { NO_RULES, parseQualityConfig, type QualityConfig } from "./domain/config.ts";
import { type ContractView, contractView } from "./domain/rules.ts";

export interface DatasetRules {
  contract: ContractView | undefined;
  config: QualityConfig;
}

const cache = new Map<string, DatasetRules>();
let registry: SchemaRegistry | undefined;

/** Versions evolve in the registry: rules come from the contract version a dataset version was written with. */
export function useRegistry(r: SchemaRegistry): void {
  registry = r;
  cache.clear();
}

function view(contract: DomainContract): ContractView {
  const v = contractView(contract);
  if (!isCdcContract(contract)) return v;
  return { ...v, fields: cdcChangeCodec(contract).fields.map((f) => ({ ...f, symbols: v.fields.find((x) => x.name === f.name)?.symbols })) };
}

export function rulesFor(schemaName: string, schemaVersion?: number): DatasetRules {
  const cacheKey = `${schemaName}@${schemaVersion ?? "file"}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  let rules: DatasetRules;
  try {
    const registered = schemaVersion && registry ? registry.versions(schemaName)[schemaVersion - 1]?.contract : undefined;
    if (schemaVersion && registry && !registered && registry.versions(schemaName).length > 0) {
      // The registry copy hasn't caught up with the version this data was written with: not a verdict,
      // an operational error, retried (and never cached) until it has.
      throw new Error(`schema ${schemaName} v${schemaVersion} is not known to this checker's registry yet`);
    }
    const contract = registered ?? domainContract(schemaName);
    const raw = (contract.schema as unknown as Record<string, unknown>)["lake.quality"];
    const v = view(contract);
    rules = { contract: v, config: parseQualityConfig(raw, { contract: contract.name, columns: v.fields.map((f) => f.name) }) };
  } catch (e) {
    if (!(e instanceof UnknownDomainError)) throw e;
    rules = { contract: undefined, config: NO_RULES };
  }
  cache.set(cacheKey, rules);
  return rules;
}

/** Parses every domain contract's rules, so a broken `lake.quality` stops the service at start. */
export function loadAllRules(): Map<string, DatasetRules> {
  return new Map(domainNames().map((name) => [name, rulesFor(name)]));
}
