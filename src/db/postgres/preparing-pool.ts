import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";
import { preparedName } from "./precompiled";

/**
 * pg's pool as Kysely's PostgresDialect takes it, sending the statements
 * prepared() registered as named prepared statements (pg prepares each once
 * per connection); every other statement goes as Kysely would send it.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => preparingClient(await pool.connect()),
    end: () => pool.end(),
  };
}

function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    statement: string | PostgresCursor<R>,
    parameters: ReadonlyArray<unknown> = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof statement !== "string") {
      // Kysely builds its cursors with the dialect's constructor: pg-cursor's, which pg submits.
      if (!isSubmittable(statement)) throw new Error("the cursor is not one pg can run: give the dialect pg-cursor");
      return client.query(statement);
    }
    return run<R>(client, { name: preparedName(statement), text: statement, values: [...parameters] });
  }
  return { query, release: () => client.release() };
}

async function run<R>(client: pg.PoolClient, config: pg.QueryConfig): Promise<PostgresQueryResult<R>> {
  const result = await client.query(config);
  return { command: result.command as PostgresQueryResult<R>["command"], rowCount: result.rowCount ?? 0, rows: result.rows as R[] };
}

function isSubmittable<R>(cursor: PostgresCursor<R>): cursor is PostgresCursor<R> & pg.Submittable {
  return typeof (cursor as Partial<pg.Submittable>).submit === "function";
}
