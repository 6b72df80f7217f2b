// OpenTelemetry tracing for every service. W3C trace context travels in NATS message headers
// (`traceparent`), so one trace follows an event from ingest through the committer to the commit log,
// the catalog and quality. Export is OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (Jaeger in compose);
// with it unset, nothing is recorded or exported and spans cost a no-op, but context still propagates.
import { type Attributes, type Context, context, type Link, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

export { SpanKind, SpanStatusCode, ROOT_CONTEXT, context, type Context, type Span, type Link };

export const TRACEPARENT = "traceparent";

/** NATS headers (MsgHdrs) and HTTP header maps both fit these. */
export interface HeaderSetter {
  set(key: string, value: string): void;
}
export interface HeaderGetter {
  get(key: string): string | undefined | null;
}

let provider: TracerProvider | undefined;
let installed = false;

/**
 * Installs the context manager and the W3C propagator, and a tracer provider exporting over OTLP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set. Called once, from a service's main.ts.
 *
 * The AsyncLocalStorage context manager is installed only when spans are exported (`contextManager:
 * "when-exporting"`, the default): it costs a promise hook on every promise (about 20 µs of ingest's CPU
 * per one-event request, 2-4 µs per event in each consumer). Every service therefore hands contexts on
 * itself (inSpan gives `fn` its span's context; injectTrace, appendWithCas and appendLogRecord take one),
 * since context.active() is the root context without it. `"always"` installs it regardless.
 */
export function startTelemetry(
  service: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { contextManager?: "always" | "when-exporting" } = { contextManager: "when-exporting" },
): { exporting: boolean; shutdown(): Promise<void> } {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!installed) {
    if (endpoint || opts.contextManager === "always") context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    installed = true;
  }
  if (endpoint && !provider) {
    const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${endpoint.replace(/\/$/, "")}/v1/traces`;
    provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": service, "service.namespace": "lake" }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY) || 1000 })],
    });
    trace.setGlobalTracerProvider(provider);
  }
  return {
    exporting: provider !== undefined,
    async shutdown() {
      await provider?.shutdown();
    },
  };
}

export function tracer() {
  return trace.getTracer("lake");
}

const setter = { set: (carrier: HeaderSetter, key: string, value: string) => carrier.set(key, value) };
const getter = {
  keys: () => [TRACEPARENT, "tracestate"],
  // A missing key is undefined, never an empty string: propagators treat "" as a malformed header.
  get: (carrier: HeaderGetter, key: string) => carrier.get(key) || undefined,
};

/**
 * Writes the given (or active) context's traceparent into outgoing headers. Without an exporter there is
 * no active context (see startTelemetry): a service passes the context of the work it publishes for.
 */
export function injectTrace(headers: HeaderSetter, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, setter);
}

/** The context a message's headers carry (ROOT_CONTEXT when they carry none). */
export function contextFromHeaders(headers: HeaderGetter | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
}

/** The raw traceparent of a message, kept cheaply per buffered message until a batch is flushed. */
export function traceparentOf(headers: HeaderGetter | undefined): string | undefined {
  return headers?.get(TRACEPARENT) || undefined;
}

const MAX_LINKS = 128;

/**
 * Context for a span over a batch of messages: the first message's trace is the parent (so a batch
 * of one is one connected trace), every other distinct trace is a link.
 */
export function batchParent(traceparents: Iterable<string | undefined>): { parent: Context; links: Link[] } {
  let parent: Context = ROOT_CONTEXT;
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const tp of traceparents) {
    if (!tp || seen.has(tp)) continue;
    seen.add(tp);
    const ctx = propagation.extract(ROOT_CONTEXT, { get: () => tp }, { keys: () => [TRACEPARENT], get: (c: { get(): string }) => c.get() });
    const sc = trace.getSpanContext(ctx);
    if (!sc) continue;
    if (parent === ROOT_CONTEXT) parent = ctx;
    else if (links.length < MAX_LINKS) links.push({ context: sc });
  }
  return { parent, links };
}

/**
 * Runs `fn` in a span (ended when it settles; errors recorded and rethrown). `fn` also gets the span's
 * context, for a service that hands contexts on itself (startTelemetry's `contextManager`).
 */
export async function inSpan<T>(
  name: string,
  opts: { kind?: SpanKind; parent?: Context; links?: Link[]; attributes?: Attributes },
  fn: (span: Span, ctx: Context) => Promise<T> | T,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, links: opts.links, attributes: opts.attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  try {
    return await context.with(ctx, () => fn(span, ctx));
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    throw e;
  } finally {
    span.end();
  }
}
