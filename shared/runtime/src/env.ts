export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function intEnv(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

export function requiredEnv(name: string, what: string): string {
  const v = process.env[name];
  // Required rather than defaulted: a service must never wander onto a server or directory nobody chose.
  if (!v) throw new ConfigError(`${name} is required: ${what}`);
  return v;
}
