import { AsyncLocalStorage } from "node:async_hooks";
import type { Context } from "@opentelemetry/api";

/** What every log line written while serving one RPC should carry. */
export interface RequestContext {
  readonly requestId: string;
  /**
   * The trace context of the call's SERVER span (src/tracing/rpc-span.ts);
   * undefined when tracing is off. Kept here rather than in OpenTelemetry's
   * global context manager: one AsyncLocalStorage per call, not two, and no
   * global to register once per process.
   */
  readonly trace?: Context;
}

/** The metadata key (HTTP header) a call's request id arrives and is echoed in. */
export const REQUEST_ID_KEY = "x-request-id";

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `work`, and everything it awaits or schedules, as part of the request. */
export function runInRequest<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/** Runs `work`, and everything it awaits or schedules, as part of no request: work shared by several. */
export function outsideRequest<T>(work: () => T): T {
  return storage.exit(work);
}

/** The request being served, when there is one. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}
