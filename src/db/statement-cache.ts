import type BetterSqlite3 from "better-sqlite3";
import type { SqliteDatabase } from "kysely";
import { LRUCache } from "lru-cache";

/**
 * Distinct SQL texts whose prepared statement is kept. The repositories send a
 * few dozen shapes; `IN (?, ?, …)` lists of every length are the long tail the
 * bound evicts.
 */
export const STATEMENT_CACHE_CAPACITY = 256;

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
  private readonly statements: LRUCache<string, BetterSqlite3.Statement>;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    capacity = STATEMENT_CACHE_CAPACITY,
  ) {
    this.statements = new LRUCache({ max: capacity });
  }

  prepare(sql: string): BetterSqlite3.Statement {
    const kept = this.statements.get(sql);
    if (kept !== undefined && !kept.busy) {
      this.hits += 1;
      return kept;
    }
    this.misses += 1;
    const statement = this.sqlite.prepare(sql);
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
