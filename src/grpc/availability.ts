import { ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import { UnavailableError } from "../errors";
import { rpcMethodOf } from "./rpc-metrics";
import { toServiceError } from "./status";

/**
 * Answers UNAVAILABLE, without running the handler, each call to `services`
 * while `isAvailable()` says no. The health probe found the database file gone
 * from its path then: health says NOT_SERVING, and calls must not answer from
 * a cache, or write to a file that is no longer there, as if all were well.
 * Placed after the interceptor that logs and counts calls, which sees these too.
 */
export function refusingWhileUnavailable(services: readonly string[], isAvailable: () => boolean): ServerInterceptor {
  return (definition, call) => {
    if (isAvailable() || !services.includes(rpcMethodOf(definition).service)) return new ServerInterceptingCall(call);
    const { code, details, metadata } = toServiceError(UnavailableError.database());
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onReceiveMetadata: () => call.sendStatus({ code, details, metadata }) }),
    });
  };
}
