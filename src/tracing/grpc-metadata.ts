import type { Metadata } from "@grpc/grpc-js";
import type { TextMapGetter } from "@opentelemetry/api";

/** Reads trace headers (traceparent, tracestate) from a call's metadata; binary (-bin) values are not text. */
export const METADATA_GETTER: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).filter((value): value is string => typeof value === "string");
    if (values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};
