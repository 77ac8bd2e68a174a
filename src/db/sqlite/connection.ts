import { statSync } from "node:fs";
import type BetterSqlite3 from "better-sqlite3";
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type LogConfig,
  type SqliteDialectConfig,
  type TransactionSettings,
} from "kysely";
import { SqliteDatabase, SqliteError } from "./driver";
import { isBusy } from "./errors";
import { WRITE_LOCK_WAIT_MS } from "./transaction";
import type { Database as Schema } from "../schema";
import { StatementCache, type StatementCacheStats } from "./statement-cache";
import type { OtherWrites } from "../other-writes";
import { watchOtherWrites } from "./data-version";
import { DEFAULT_SQLITE_SYNCHRONOUS, type SqliteSynchronous } from "./synchronous";

/**
 * SQLite's own wait for a lock. It sleeps on the thread that runs the event
 * loop, so it is kept short: a write waits for another process's lock between
 * turns instead (inTransaction).
 */
const BUSY_TIMEOUT_MS = 20;
/** How often opening a new database tries again to switch it to WAL while another process holds it. */
const OPEN_RETRY_MS = 10;
/**
 * Rows of each index PRAGMA optimize's ANALYZE looks at, as SQLite advises
 * for optimize: statistics for a million-row table missing them cost about
 * 0.4 s instead of 3 s at start-up. Bulk loads (db:synth) run a full ANALYZE.
 */
const OPTIMIZE_ANALYSIS_LIMIT = 400;

export interface Database {
  /** The typed query builder every repository uses. */
  readonly db: Kysely<Schema>;
  /** The raw handle, for pragmas and maintenance only. */
  readonly sqlite: BetterSqlite3.Database;
  readonly path: string;
  /** How the WAL is synced: on every commit (FULL, the default), or at checkpoints only (NORMAL). */
  readonly synchronous: SqliteSynchronous;
  /** True when the file at `path` is still the one opened, and it answers a query. */
  isReachable(): boolean;
  /**
   * Refreshes the planner's statistics where they are missing or stale (Chinook
   * ships stats for 59 customers and none for our indexes). Run after migrating,
   * periodically and before closing, as SQLite recommends.
   */
  optimize(): void;
  /** How often Kysely's queries reused a prepared statement. */
  statementCacheStats(): StatementCacheStats;
  /** Whether another connection, e.g. another server process, committed since the last call. */
  otherWrites(): OtherWrites;
  close(): Promise<void>;
}

/**
 * SQLite runs DDL inside transactions, but Kysely's adapter says it cannot,
 * which would let a failed migration leave a half-applied schema. Saying yes
 * makes the Migrator wrap each run in one transaction.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/**
 * A deferred BEGIN that reads first and writes later cannot wait for another
 * process's write lock (SQLite fails it with SQLITE_BUSY at once, whatever the
 * busy timeout); BEGIN IMMEDIATE takes the lock up front, or fails SQLITE_BUSY
 * for inTransaction to try again. A read-only transaction takes no lock: in
 * WAL mode it reads its snapshot beside any writer.
 */
class ServerSqliteDriver extends SqliteDriver {
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: BetterSqlite3.Database,
  ) {
    super(config);
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    if (settings?.accessMode === "read only") {
      await connection.executeQuery(BEGIN);
      return;
    }
    // No busy wait at all: SQLite's sleeps on this thread, once per try of every waiting write.
    this.sqlite.pragma("busy_timeout = 0");
    try {
      await connection.executeQuery(BEGIN_IMMEDIATE);
    } finally {
      this.sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /**
   * An I/O error or a full disk makes SQLite roll the transaction back itself;
   * ROLLBACK would then fail and hide the error that caused it.
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection);
    } catch (error) {
      if (!isNoTransaction(error)) throw error;
    }
  }
}

const BEGIN = CompiledQuery.raw("begin");
const BEGIN_IMMEDIATE = CompiledQuery.raw("begin immediate");

function isNoTransaction(error: unknown): boolean {
  return error instanceof SqliteError && error.message.includes("no transaction is active");
}

class ServerSqliteDialect extends SqliteDialect {
  constructor(
    private readonly config: SqliteDialectConfig,
    private readonly sqlite: BetterSqlite3.Database,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new ServerSqliteDriver(this.config, this.sqlite);
  }

  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

export interface OpenOptions {
  /** Kysely's query log hook, e.g. for debug logs and metrics. */
  log?: LogConfig;
  /**
   * SQLite checkpoints the WAL, on the commit that takes it past this size,
   * instead of past 1,000 pages (1 MB of Chinook's 1 KB pages). Each
   * checkpoint writes back every page the WAL holds, so pages written again
   * and again (index leaves, the table's last page) are written back once:
   * at a million customers that took CreateCustomer from ~380 to ~290 µs.
   */
  walAutocheckpointBytes?: number;
  /** PRAGMA synchronous; FULL by default, so that a commit is on disk before it returns. */
  synchronous?: SqliteSynchronous;
}

export function openDatabase(path: string, options: OpenOptions = {}): Database {
  const sqlite = new SqliteDatabase(path, { fileMustExist: true });
  const synchronous = options.synchronous ?? DEFAULT_SQLITE_SYNCHRONOUS;
  try {
    // The first pragma is the first read: a file that is not a database fails here.
    applyServerPragmas(sqlite, synchronous);
    if (options.walAutocheckpointBytes !== undefined) setWalAutocheckpoint(sqlite, options.walAutocheckpointBytes);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const opened = fileIdentity(path);
  const statements = new StatementCache(sqlite);
  const db = createKysely(sqlite, statements, options.log);
  return {
    db,
    sqlite,
    path,
    synchronous,
    isReachable: () => isReachable(sqlite, path, opened),
    optimize: () => optimize(sqlite),
    statementCacheStats: () => statements.stats(),
    otherWrites: watchOtherWrites(sqlite),
    close: async () => {
      await db.destroy();
      // Kysely's destroy() is a no-op when it never ran a query; the handle must close anyway.
      if (sqlite.open) sqlite.close();
    },
  };
}

function optimize(sqlite: BetterSqlite3.Database): void {
  sqlite.pragma(`analysis_limit = ${OPTIMIZE_ANALYSIS_LIMIT}`);
  // 0x10000: look at every table, not only those this connection queried.
  sqlite.pragma("optimize = 0x10002");
}

function applyServerPragmas(sqlite: BetterSqlite3.Database, synchronous: SqliteSynchronous): void {
  switchToWal(sqlite);
  sqlite.pragma(`synchronous = ${synchronous}`);
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // int64 columns come back as bigint: ids never lose precision.
  sqlite.defaultSafeIntegers(true);
}

/**
 * Switching a database to WAL needs it to itself for a moment, and SQLite
 * fails at once rather than wait when another process (a second server, the
 * migrate command) holds it: try again for as long as a write would wait.
 * Opening blocks anyway, so the waits block too.
 */
function switchToWal(sqlite: BetterSqlite3.Database): void {
  const giveUpAt = Date.now() + WRITE_LOCK_WAIT_MS;
  for (;;) {
    try {
      sqlite.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() >= giveUpAt) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, OPEN_RETRY_MS);
    }
  }
}

function setWalAutocheckpoint(sqlite: BetterSqlite3.Database, bytes: number): void {
  const pageSize = Number(sqlite.pragma("page_size", { simple: true }));
  sqlite.pragma(`wal_autocheckpoint = ${Math.max(1, Math.ceil(bytes / pageSize))}`);
}

function createKysely(sqlite: BetterSqlite3.Database, statements: StatementCache, log: LogConfig | undefined): Kysely<Schema> {
  return new Kysely<Schema>({ dialect: new ServerSqliteDialect({ database: statements }, sqlite), log });
}

/** Which file a path names: its device and inode. */
function fileIdentity(path: string): string {
  const { dev, ino } = statSync(path, { bigint: true });
  return `${dev}:${ino}`;
}

/**
 * A file moved, deleted or replaced (a backup restored over it) is out of
 * reach for good: the handle still writes to the file it opened, which nobody
 * will read again.
 */
function isReachable(sqlite: BetterSqlite3.Database, path: string, opened: string): boolean {
  if (!sqlite.open) return false;
  try {
    if (fileIdentity(path) !== opened) return false;
    sqlite.prepare("SELECT 1 FROM sqlite_master LIMIT 1").get();
    return true;
  } catch {
    return false;
  }
}
