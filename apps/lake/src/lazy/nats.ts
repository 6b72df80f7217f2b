// Loaded with `await import()` by the commands that need it, never imported statically: see README.md here.
export { errors as natsErrors } from "@nats-io/nats-core";

export { connectNats } from "@lake/messaging";
