// Loaded with `await import()` by the commands that need it, never imported statically: see README.md here.
export { IncompatibleSchemaError, InvalidContractError } from "@lake/contracts";
