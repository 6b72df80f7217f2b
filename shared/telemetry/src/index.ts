export { type Logger, createLogger } from "./log.ts";
export {
  startTelemetry,
  tracer,
  injectTrace,
  contextFromHeaders,
  traceparentOf,
  batchParent,
  inSpan,
  TRACEPARENT,
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  context,
  type Context,
  type Span,
  type Link,
  type HeaderGetter,
  type HeaderSetter,
} from "./tracing.ts";
export { createRegistry, metricsHandler, serveMetrics, liveGauge, Counter, Gauge, Histogram, Registry } from "./metrics.ts";
