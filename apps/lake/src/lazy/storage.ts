// Loaded with `await import()` by the commands that need it, never imported statically: see README.md here.
export { describeStore, openStore, STORE_ENV, storeConfigFromEnv } from "@lake/storage";
