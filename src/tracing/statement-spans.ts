import { SpanKind, SpanStatusCode, type Attributes } from "@opentelemetry/api";
import type { LogEvent, RootOperationNode } from "kysely";
import { operationOf } from "../db/query-log";
import { currentRequest } from "../request-context";
import { DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM, DB_SYSTEM_NAME, ERROR_TYPE } from "./semconv";
import type { Tracing } from "./tracing";

/** The `db.system` values of the semantic conventions for our two engines. */
export type DbSystem = "sqlite" | "postgresql";

/** A raw statement's first keyword (BEGIN, COMMIT, SAVEPOINT, WITH…): a handful of values, never data. */
const FIRST_KEYWORD = /^\s*([A-Za-z]{1,16})\b/;

/**
 * For Kysely's log hook, which every statement of both engines passes
 * through once it has run (src/db/query-log.ts): a CLIENT span per statement,
 * back-dated by the duration Kysely measured, under the RPC being served. Its
 * text is the compiled SQL, whose values are placeholders (? or $1): the
 * statement's shape, never a customer's data. Statements outside a traced
 * call (maintenance, health probes, a group commit's own BEGIN and COMMIT)
 * get no span: they belong to no trace. Undefined when tracing is off, so the
 * hook does nothing more than before.
 */
export function statementSpans(tracing: Tracing | undefined, system: DbSystem): ((event: LogEvent) => void) | undefined {
  if (tracing === undefined) return undefined;
  const { tracer } = tracing;
  return (event) => {
    const parent = currentRequest()?.trace;
    if (parent === undefined) return;
    const endTime = performance.now();
    const operation = operationName(event.query.query, event.query.sql);
    const attributes: Attributes = {
      [DB_SYSTEM]: system,
      [DB_SYSTEM_NAME]: system,
      [DB_QUERY_TEXT]: event.query.sql,
      [DB_OPERATION_NAME]: operation,
    };
    const startTime = endTime - event.queryDurationMillis;
    const span = tracer.startSpan(operation, { kind: SpanKind.CLIENT, startTime, attributes }, parent);
    if (event.level === "error") {
      // The error's class, not its message: a driver's message may quote a value.
      span.setAttribute(ERROR_TYPE, errorType(event.error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(endTime);
  };
}

/** The query log's operation (SELECT, INSERT, UPDATE, DELETE), else a raw statement's first keyword. */
function operationName(node: RootOperationNode, sql: string): string {
  const operation = operationOf(node);
  if (operation !== "other") return operation.toUpperCase();
  return FIRST_KEYWORD.exec(sql)?.[1]?.toUpperCase() ?? "SQL";
}

function errorType(error: unknown): string {
  if (error instanceof Error) {
    const code = "code" in error ? error.code : undefined;
    return typeof code === "string" ? code : error.name;
  }
  return "_OTHER";
}
