// One grammar for every name that ends up in a subject or an object key (domains, datasets).
// Lower-case so two names never differ only by case on case-insensitive stores; no dots, since
// NATS uses them as token separators; no slashes, since object keys are built from these.
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

export class InvalidNameError extends Error {
  constructor(
    readonly what: string,
    readonly value: string,
  ) {
    super(
      `invalid ${what} name ${JSON.stringify(value.length > 80 ? value.slice(0, 80) + "…" : value)}: ` +
        `must match ${NAME_PATTERN.source} (lower-case letter, then up to 62 of a-z, 0-9, _)`,
    );
    this.name = "InvalidNameError";
  }
}

export function isValidName(value: unknown): value is string {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

export function assertValidName(what: string, value: string): string {
  if (!isValidName(value)) throw new InvalidNameError(what, String(value));
  return value;
}
