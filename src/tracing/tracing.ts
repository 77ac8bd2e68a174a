import type { Context, TextMapGetter, Tracer } from "@opentelemetry/api";

/**
 * What an app traces with, handed to it explicitly (startApp's argument)
 * rather than read from OpenTelemetry's globals: tests start many apps in one
 * process, each with its own in-memory exporter. No Tracing, no spans: the
 * observers then never call the API at all.
 */
export interface Tracing {
  readonly tracer: Tracer;
  /** Reads a caller's trace context (W3C `traceparent`/`tracestate` by default) from a request's headers. */
  readonly propagator: TraceContextExtractor;
}

export interface TraceContextExtractor {
  extract<Carrier>(context: Context, carrier: Carrier, getter: TextMapGetter<Carrier>): Context;
}

/** The instrumentation scope our spans are reported under. */
export const TRACER_NAME = "chinook-grpc";
