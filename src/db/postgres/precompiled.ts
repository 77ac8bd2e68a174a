import { createHash } from "node:crypto";
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
} from "kysely";
import type { Database } from "../schema";

/**
 * A Kysely that compiles PostgreSQL SQL and never runs it: for the hottest
 * queries, built and compiled once when a module loads rather than on every
 * call (Kysely's build and run cost ~100 µs of CPU, as much as the driver's
 * round trip). Run one with `executor.executeQuery(withParameters(query, [...]))`.
 */
export const compileOnly = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** SQL text → the name it is prepared under, for the statements prepared() registered. */
const PREPARED = new Map<string, string>();

/**
 * `query`, run as a named prepared statement: each connection has PostgreSQL
 * parse and plan it once, not on every call (~110 µs of the server's time
 * for a GetCustomer). Only statements registered here are prepared, so the
 * statements each connection keeps on the server are a short, fixed list.
 */
export function prepared<R>(name: string, query: CompiledQuery<R>): CompiledQuery<R> {
  const registered = PREPARED.get(query.sql);
  if (registered !== undefined && registered !== name) throw new Error(`the statement ${name} is prepared as ${registered} already`);
  PREPARED.set(query.sql, name);
  return query;
}

/**
 * `query`, built per call, run as a named prepared statement named after its
 * text: for statements whose text takes one of a bounded number of shapes
 * (a listing's filters, order and cursor; the values are parameters), so
 * that each connection has PostgreSQL parse and analyse each shape once, and
 * plan it once too when a generic plan costs no more than one made for the
 * values (plan_cache_mode auto: after five calls it compares them). A
 * parameter that sways the cost keeps it planning every call: a page's LIMIT
 * did, so the customer store writes its LIMIT in. A parameter whose value
 * should choose the plan has no place here: a filter's value can, so only
 * listings whose plan reads matching rows alone, whatever the values, are
 * prepared (stores/postgres-query.ts, planIsValueFree).
 */
export function preparedByText<R>(prefix: string, query: CompiledQuery<R>): CompiledQuery<R> {
  if (!PREPARED.has(query.sql)) PREPARED.set(query.sql, `${prefix}_${createHash("sha256").update(query.sql).digest("hex").slice(0, 24)}`);
  return query;
}

/** The name `sql` is prepared under, when prepared() registered it. */
export function preparedName(sql: string): string | undefined {
  return PREPARED.get(sql);
}
