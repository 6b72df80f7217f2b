// avsc believes the item counts in Avro array and map blocks: a 17-byte payload claiming 2^31 items
// makes it loop until the process runs out of memory. Every Avro type the lake builds goes through
// here, and its arrays and maps refuse a block claiming more items than the bytes left could hold.
// (Relies on avsc 5.7's `_read(tap)`; the version is pinned and the hostile-payload test guards it.)
import avro from "avsc";

type Tap = { buf: Buffer; pos: number; readLong(): number; skipLong(): void; readString(): string; _invalidate(): void };
type Readable = { _read(tap: Tap): unknown };

/** Items of zero encoded size (null, empty records) carry no bytes to bound them: cap them instead. */
const MAX_ZERO_SIZE_ITEMS = 1 << 16;

function minBytes(t: avro.Type): number {
  switch (t.typeName) {
    case "null":
      return 0;
    case "fixed":
      return (t as unknown as { size: number }).size;
    case "record":
    case "error":
      return (t as unknown as { fields: { type: avro.Type }[] }).fields.reduce((s, f) => s + minBytes(f.type), 0);
    default:
      return 1;
  }
}

export class HostileAvroError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostileAvroError";
  }
}

function blockLimit(tap: Tap, itemMin: number, what: string, n: number): void {
  const left = tap.buf.length - tap.pos;
  const max = itemMin === 0 ? MAX_ZERO_SIZE_ITEMS : Math.floor(left / itemMin);
  if (n > max) throw new HostileAvroError(`${what} block claims ${n} items but only ${left} bytes remain`);
}

const itemMins = new WeakMap<avro.Type, number>();

class SafeArrayType extends (avro.types.ArrayType as unknown as new (schema: unknown, opts: unknown) => avro.Type) {
  _read(tap: Tap): unknown[] {
    const items = (this as unknown as { itemsType: avro.Type & Readable }).itemsType;
    // avsc freezes its types, so the per-type minimum is memoised outside the instance.
    let itemMin = itemMins.get(items);
    if (itemMin === undefined) itemMins.set(items, (itemMin = minBytes(items)));
    const val: unknown[] = [];
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      blockLimit(tap, itemMin, "array", n);
      while (n--) val.push(items._read(tap));
    }
    return val;
  }
}

class SafeMapType extends (avro.types.MapType as unknown as new (schema: unknown, opts: unknown) => avro.Type) {
  _read(tap: Tap): Record<string, unknown> {
    const values = (this as unknown as { valuesType: avro.Type & Readable }).valuesType;
    const val: Record<string, unknown> = {};
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      blockLimit(tap, 1, "map", n); // every entry has at least its key's length byte
      while (n--) {
        const key = tap.readString();
        val[key] = values._read(tap);
      }
    }
    return val;
  }
}

function typeHook(schema: avro.Schema, opts: avro.ForSchemaOptions): avro.Type | undefined {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return undefined;
  const t = (schema as { type?: unknown }).type;
  if (t === "array") return new SafeArrayType(schema, opts);
  if (t === "map") return new SafeMapType(schema, opts);
  return undefined;
}

/** avsc's Type.forSchema with arrays and maps that can't be made to allocate without bound. */
export function safeTypeForSchema(schema: avro.Schema, opts: Partial<avro.ForSchemaOptions> = {}): avro.Type {
  return avro.Type.forSchema(schema, { ...opts, typeHook });
}

/**
 * Encode/decode for one Avro type, plus decoding of data written with another (older) version of it
 * through Avro schema resolution; one resolver per writer, built on first use.
 */
export function avroCodec(type: avro.Type): {
  fingerprint: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): Record<string, unknown>;
  decodeFrom(writer: { fingerprint: string; avroType: avro.Type }, bytes: Uint8Array): Record<string, unknown>;
} {
  const fingerprint = type.fingerprint("sha256").toString("hex");
  const resolvers = new Map<string, avro.Resolver>();
  const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    fingerprint,
    encode: (value) => type.toBuffer(value),
    decode: (bytes) => type.fromBuffer(buf(bytes)) as Record<string, unknown>,
    decodeFrom(writer, bytes) {
      if (writer.fingerprint === fingerprint) return type.fromBuffer(buf(bytes)) as Record<string, unknown>;
      let resolver = resolvers.get(writer.fingerprint);
      if (!resolver) resolvers.set(writer.fingerprint, (resolver = type.createResolver(writer.avroType)));
      return type.fromBuffer(buf(bytes), resolver) as Record<string, unknown>;
    },
  };
}
