import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import type { Database } from "../schema";

/**
 * A Kysely that compiles SQLite SQL and never runs it: for the hottest
 * queries, built and compiled once when a module loads rather than on every
 * call (which costs more than SQLite running them). Run one with
 * `executor.executeQuery(withParameters(query, [...]))` on any executor,
 * a transaction included.
 */
export const compileOnly = new Kysely<Database>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});
