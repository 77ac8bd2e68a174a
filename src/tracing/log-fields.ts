import { isSpanContextValid, trace, TraceFlags, type Context } from "@opentelemetry/api";

export interface TraceLogFields {
  trace_id?: string;
  span_id?: string;
}

/** The ids of the span a log line was written in, when that span is sampled (so the ids lead somewhere). */
export function traceLogFields(context: Context): TraceLogFields {
  const spanContext = trace.getSpanContext(context);
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  if ((spanContext.traceFlags & TraceFlags.SAMPLED) === 0) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
