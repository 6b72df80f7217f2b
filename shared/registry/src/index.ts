export { SchemaRegistry, UnknownSchemaError, isUnknownSchema, type SchemaVersion, type RegisterResult } from "./registry.ts";
export { stableStringify } from "./stable.ts";
export { setupNats, type SetupResult } from "./setup.ts";
