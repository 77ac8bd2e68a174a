import type { TextMapGetter } from "@opentelemetry/api";

/** Reads trace headers (traceparent, tracestate) from a fetch-style Headers, as the HTTP door has them. */
export const HEADERS_GETTER: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};
