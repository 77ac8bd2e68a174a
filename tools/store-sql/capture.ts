/**
 * Records the SQL a driver runs, below Kysely: what Kysely's log hook sees,
 * and also what bypasses it (better-sqlite3 pragmas, raw statements, raw pg
 * queries). Only the text is kept, parameters as the placeholders it holds.
 */
import type BetterSqlite3 from "better-sqlite3";
import type { LogConfig } from "kysely";
import type pg from "pg";

/** The statements a driver ran, in the order it ran them. */
export interface StatementLog {
  /** The statements run since the last call, oldest first. */
  take(): string[];
}

class RecordedStatements implements StatementLog {
  private statements: string[] = [];

  record(statement: string): void {
    this.statements.push(statement);
  }

  take(): string[] {
    const taken = this.statements;
    this.statements = [];
    return taken;
  }
}

const STATEMENT_RUNS = ["run", "get", "all", "iterate"] as const;

/**
 * Records every statement run on `sqlite` from now on. Kysely's driver and
 * the precompiled queries (src/db/sqlite/precompiled.ts) run theirs through
 * statements `prepare` makes (and the statement cache keeps): each run of
 * one is recorded, a kept one's too. `pragma` (which the driver calls
 * around BEGIN IMMEDIATE) and `exec` prepare natively, out of `prepare`'s
 * sight, so they are recorded themselves. Call it before anything is
 * prepared on the handle.
 */
export function recordSqliteStatements(sqlite: BetterSqlite3.Database): StatementLog {
  const log = new RecordedStatements();
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => recordingRuns(prepare(source), log)) as typeof sqlite.prepare;
  const pragma = sqlite.pragma.bind(sqlite);
  sqlite.pragma = (source, options) => {
    // What better-sqlite3 prepares for it.
    log.record(`PRAGMA ${source}`);
    return pragma(source, options);
  };
  const exec = sqlite.exec.bind(sqlite);
  sqlite.exec = (source) => {
    log.record(source);
    return exec(source);
  };
  return log;
}

function recordingRuns(statement: BetterSqlite3.Statement, log: RecordedStatements): BetterSqlite3.Statement {
  const runs = statement as unknown as Record<(typeof STATEMENT_RUNS)[number], (...parameters: unknown[]) => unknown>;
  for (const name of STATEMENT_RUNS) {
    const run = runs[name].bind(statement);
    runs[name] = (...parameters) => {
      log.record(statement.source);
      return run(...parameters);
    };
  }
  return statement;
}

/**
 * Records every query the clients of `pool` send from now on: Kysely's
 * (statements, BEGIN and COMMIT, cursors) and any raw `query` call. Call it
 * before the pool opens its first connection.
 */
export function recordPostgresStatements(pool: pg.Pool): StatementLog {
  if (pool.totalCount > 0) throw new Error("the pool already has connections, whose queries would go unrecorded");
  const log = new RecordedStatements();
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      log.record(queryText(args[0]));
      return query(...args);
    }) as typeof client.query;
  });
  return log;
}

/** A query's text: given as a string, or in a config or Submittable as `text`. */
function queryText(query: unknown): string {
  if (typeof query === "string") return query;
  if (typeof query === "object" && query !== null && "text" in query && typeof query.text === "string") return query.text;
  throw new Error("a query without SQL text");
}

/** Kysely's own record of what it ran (its log hook), to check the driver's against. */
export function kyselyStatementLog(): { log: LogConfig; statements: StatementLog } {
  const statements = new RecordedStatements();
  return { log: (event) => statements.record(event.query.sql), statements };
}

/**
 * The statements Kysely ran that the driver's record lacks (each as often as
 * it is missing): none, unless something runs SQL out of the recorders' sight.
 * Counted, not ordered: Kysely logs a streamed query when its stream ends.
 */
export function unrecorded(driver: readonly string[], kysely: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const statement of driver) left.set(statement, (left.get(statement) ?? 0) + 1);
  return kysely.filter((statement) => {
    const count = left.get(statement) ?? 0;
    left.set(statement, count - 1);
    return count <= 0;
  });
}
