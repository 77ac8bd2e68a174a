import type BetterSqlite3 from "better-sqlite3";

/**
 * The package better-sqlite3 comes from on this Node.js.
 *
 * 12.x is the last line that runs on Node 20. On Node 24 it aborts the process
 * whenever V8 collects one of its statements outside JavaScript, as a GC task
 * does: Node 24's node::ObjectWrap, which 12.x is compiled against, asserts a
 * current environment in its destructor (WiseLibs/better-sqlite3#1515). 13.x is
 * built on Node-API instead and needs Node 22 or later; it is installed beside
 * 12.x as the optional dependency better-sqlite3-napi, with the same API.
 */
export const SQLITE_DRIVER_PACKAGE = nodeMajor() < 24 ? "better-sqlite3" : "better-sqlite3-napi";

/** Open every SQLite handle with this, and test driver errors against its SqliteError. */
export const SqliteDatabase: typeof BetterSqlite3 = loadDriver();

export const SqliteError = SqliteDatabase.SqliteError;

function nodeMajor(): number {
  return Number(process.versions.node.split(".")[0]);
}

function loadDriver(): typeof BetterSqlite3 {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- which package loads depends on the running Node.js
    return require(SQLITE_DRIVER_PACKAGE) as typeof BetterSqlite3;
  } catch (error) {
    throw new Error(
      `Node.js ${process.versions.node} runs SQLite through ${SQLITE_DRIVER_PACKAGE}, which is not installed` +
        " (an install with --omit=optional leaves it out)",
      { cause: error },
    );
  }
}
