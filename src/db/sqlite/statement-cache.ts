import type BetterSqlite3 from "better-sqlite3";
import type { SqliteDatabase, SqliteStatement } from "kysely";
import { LRUCache } from "lru-cache";

/**
 * Distinct SQL texts whose prepared statement is kept. The repositories send a
 * few dozen shapes; `IN (?, ?, …)` lists of every length are the long tail the
 * bound evicts.
 */
const STATEMENT_CACHE_CAPACITY = 256;

export interface StatementCacheStats {
  /** Prepares answered with a kept statement. */
  hits: number;
  /** Prepares that compiled SQL: new text, evicted text, or the kept statement was busy. */
  misses: number;
  /** Statements kept now. */
  size: number;
}

/**
 * The handle Kysely's SQLite driver is given instead of better-sqlite3's own:
 * that driver prepares every query afresh, which costs more than reading a row
 * by primary key. Here the same SQL text gets its earlier statement back.
 *
 * Reuse is safe because the driver runs one query at a time on its single
 * connection and a better-sqlite3 statement can run again once a run has
 * finished. A statement still iterating (a stream in progress, or another
 * user of the same handle) cannot, and says so through `busy`: the caller
 * then gets a fresh statement that is not kept.
 */
export class StatementCache implements SqliteDatabase {
  private readonly statements: LRUCache<string, RowStatement>;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    capacity = STATEMENT_CACHE_CAPACITY,
  ) {
    this.statements = new LRUCache({ max: capacity });
  }

  prepare(sql: string): RowStatement {
    // A schema change can change what a kept statement's rows hold: start afresh.
    if (SCHEMA_CHANGE.test(sql)) this.statements.clear();
    const kept = this.statements.get(sql);
    if (kept !== undefined && !kept.busy) {
      this.hits += 1;
      return kept;
    }
    this.misses += 1;
    const statement = new RowStatement(this.sqlite.prepare(sql));
    if (kept === undefined) this.statements.set(sql, statement);
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.sqlite.close();
  }

  stats(): StatementCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.statements.size };
  }
}

const SCHEMA_CHANGE = /^\s*(create|alter|drop)\b/i;

/**
 * A statement as Kysely's driver runs it, rows as objects. better-sqlite3
 * builds each row object through the V8 API, property by property; reading
 * rows as arrays and naming their values here costs a third less for a page
 * of customers. The names are read once; a row of another width (the schema
 * changed under a `SELECT *`) reads them again.
 */
export class RowStatement implements SqliteStatement {
  readonly reader: boolean;
  private columns: string[];

  constructor(private readonly statement: BetterSqlite3.Statement) {
    this.reader = statement.reader;
    this.columns = this.reader ? columnNames(statement) : [];
    if (this.reader) statement.raw(true);
  }

  /** Still iterating: running it again would fail until the iteration ends. */
  get busy(): boolean {
    return this.statement.busy;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    if (!this.reader) return this.statement.all(parameters);
    return this.statement.all(parameters).map((values) => this.named(values));
  }

  run(parameters: ReadonlyArray<unknown>): BetterSqlite3.RunResult {
    return this.statement.run(parameters);
  }

  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    for (const values of this.statement.iterate(parameters)) yield this.named(values);
  }

  private named(values: unknown): Record<string, unknown> {
    if (!Array.isArray(values)) throw new Error("a raw statement returned a row that is not an array");
    if (values.length !== this.columns.length) this.columns = columnNames(this.statement);
    const row: Record<string, unknown> = {};
    this.columns.forEach((column, index) => {
      row[column] = values[index];
    });
    return row;
  }
}

function columnNames(statement: BetterSqlite3.Statement): string[] {
  return statement.columns().map((column) => column.name);
}
