// Loaded with `await import()` by the commands that need it, never imported statically: see README.md here.
export { queryVersion } from "@lake/client";
