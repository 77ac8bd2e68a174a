import {
  countsAt,
  nullableNumberAt,
  numberAt,
  parseJsonRecord,
  recordAt,
  stringAt,
  type JsonRecord,
} from "./json";

/** What one load process measured, printed as one JSON line. */
export interface LoadResult {
  workload: string;
  target: string;
  concurrency: number;
  /** The timed window, measured. */
  seconds: number;
  /** Calls that succeeded within the window (whole exports, for streams). */
  requests: number;
  rps: number;
  /** Streams only: customers received within the window. */
  messages: number | null;
  messagesPerSecond: number | null;
  /** Per call (per whole export for streams); null when no call completed in the window. */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** The longest call that finished at all, warm-up and drain included. */
  slowestCallMs: number | null;
  /** Calls still running when the load generator gave up waiting for them after the window. */
  unfinishedCalls: number;
  /** Failed calls by gRPC status name, in the window; and during warm-up or the drain after it. */
  errors: Record<string, number>;
  errorsOutsideWindow: Record<string, number>;
  /** The first message seen for each status, so that a failure explains itself. */
  errorSamples: Record<string, string>;
  server: ServerUsage | null;
  clientCpuMicros: number;
}

export interface ServerUsage {
  pid: number;
  cpuMicros: number;
  /** Per request, or per message for streams. */
  cpuMicrosPerOp: number | null;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPeakBytes: number;
}

export function parseLoadResult(line: string): LoadResult {
  const what = "load result";
  const record = parseJsonRecord(line, what);
  return {
    workload: stringAt(record, "workload", what),
    target: stringAt(record, "target", what),
    concurrency: numberAt(record, "concurrency", what),
    seconds: numberAt(record, "seconds", what),
    requests: numberAt(record, "requests", what),
    rps: numberAt(record, "rps", what),
    messages: nullableNumberAt(record, "messages", what),
    messagesPerSecond: nullableNumberAt(record, "messagesPerSecond", what),
    p50Ms: nullableNumberAt(record, "p50Ms", what),
    p99Ms: nullableNumberAt(record, "p99Ms", what),
    maxMs: nullableNumberAt(record, "maxMs", what),
    slowestCallMs: nullableNumberAt(record, "slowestCallMs", what),
    unfinishedCalls: numberAt(record, "unfinishedCalls", what),
    errors: countsAt(record, "errors", what),
    errorsOutsideWindow: countsAt(record, "errorsOutsideWindow", what),
    errorSamples: stringsAt(record, "errorSamples", what),
    server: record.server === null ? null : serverUsage(recordAt(record, "server", what)),
    clientCpuMicros: numberAt(record, "clientCpuMicros", what),
  };
}

function serverUsage(record: JsonRecord): ServerUsage {
  const what = "load result.server";
  return {
    pid: numberAt(record, "pid", what),
    cpuMicros: numberAt(record, "cpuMicros", what),
    cpuMicrosPerOp: nullableNumberAt(record, "cpuMicrosPerOp", what),
    rssBeforeBytes: numberAt(record, "rssBeforeBytes", what),
    rssAfterBytes: numberAt(record, "rssAfterBytes", what),
    rssPeakBytes: numberAt(record, "rssPeakBytes", what),
  };
}

function stringsAt(record: JsonRecord, key: string, what: string): Record<string, string> {
  const strings = recordAt(record, key, what);
  return Object.fromEntries(Object.keys(strings).map((name) => [name, stringAt(strings, name, `${what}.${key}`)]));
}
