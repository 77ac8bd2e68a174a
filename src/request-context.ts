import { AsyncLocalStorage } from "node:async_hooks";

/** What every log line written while serving one RPC should carry. */
export interface RequestContext {
  readonly requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `work`, and everything it awaits or schedules, as part of the request. */
export function runInRequest<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/** The request being served, when there is one. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}
