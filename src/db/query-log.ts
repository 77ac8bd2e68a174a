import type { LogConfig, LogEvent, RootOperationNode } from "kysely";
import { Histogram, type Registry } from "prom-client";
import type { Logger } from "../logger";
import { SQLITE_LATENCY_BUCKETS } from "./sqlite/monitoring";

/** The query kinds we label by: a handful of values, never SQL text. */
export type QueryOperation = "select" | "insert" | "update" | "delete" | "other";

const OPERATION_OF_NODE: Partial<Record<RootOperationNode["kind"], QueryOperation>> = {
  SelectQueryNode: "select",
  InsertQueryNode: "insert",
  UpdateQueryNode: "update",
  DeleteQueryNode: "delete",
};

export interface QueryLogOptions {
  logger: Logger;
  registry: Registry;
  /** Each statement's trace span (src/tracing/statement-spans.ts); undefined when tracing is off. */
  spans?: (event: LogEvent) => void;
}

/**
 * Kysely's log hook: every query's duration goes to a histogram by operation,
 * and at debug level to a log line with the SQL text. Parameters are never
 * logged: they carry customer data. Every statement of both engines, raw
 * ones and transactions' BEGIN and COMMIT included, passes through here once
 * it has run, which makes it the one place for statement spans too.
 */
export function queryLog({ logger, registry, spans }: QueryLogOptions): LogConfig {
  const duration = new Histogram({
    name: "db_query_duration_seconds",
    help: "Time SQLite took to run a query issued through Kysely, by operation.",
    labelNames: ["operation"],
    buckets: SQLITE_LATENCY_BUCKETS,
    registers: [registry],
  });
  return (event) => {
    spans?.(event);
    const operation = operationOf(event.query.query);
    duration.observe({ operation }, event.queryDurationMillis / 1000);
    if (!logger.isLevelEnabled("debug")) return;
    const fields = { operation, sql: event.query.sql, duration_ms: Math.round(event.queryDurationMillis * 1e3) / 1e3 };
    // A failed query's detail is the handler error's, logged once by onError.
    logger.debug({ ...fields, failed: event.level === "error" }, "query");
  };
}

/** BEGIN, COMMIT and other raw statements count as "other". */
export function operationOf(node: RootOperationNode): QueryOperation {
  return OPERATION_OF_NODE[node.kind] ?? "other";
}
