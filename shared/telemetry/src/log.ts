// JSON-lines logs on stdout: one object per line, so the dev runner and tests can read a service's
// state (its "ready" line carries the ports it listens on) without scraping prose.
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function errorFields(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const out: Record<string, unknown> = { name: value.name, message: value.message };
  if (value.cause !== undefined) out.cause = errorFields(value.cause);
  return out;
}

export function createLogger(service: string, base: Record<string, unknown> = {}): Logger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const line: Record<string, unknown> = { t: new Date().toISOString(), level, svc: service, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = errorFields(v);
    process.stdout.write(JSON.stringify(line) + "\n");
  };
  return {
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger(service, { ...base, ...fields }),
  };
}
