import { spawn } from "node:child_process";
import { copyFileSync, existsSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { SQLITE_DRIVER_PACKAGE, SqliteDatabase } from "../src/db/sqlite/driver";
import { inTransaction } from "../src/db/sqlite/transaction";
import { migrateToLatest } from "../src/db/migrate";
import { copyChinook } from "./support/database";

let dir: string;
let file: string;
let database: Database;

beforeEach(() => {
  ({ dir, file } = copyChinook());
  database = openDatabase(file);
});

afterEach(async () => {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
});


function pragma(name: string): unknown {
  return database.sqlite.pragma(name, { simple: true });
}

describe("openDatabase", () => {
  test("sets the server pragmas", () => {
    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("foreign_keys")).toBe(1n);
    expect(pragma("synchronous")).toBe(2n); // FULL: a commit is on disk before it returns
    expect(pragma("busy_timeout")).toEqual(expect.any(BigInt));
    expect(Number(pragma("busy_timeout"))).toBeGreaterThan(0);
    expect(database.synchronous).toBe("FULL");
  });

  test.each([
    ["NORMAL", 1n],
    ["FULL", 2n],
    ["EXTRA", 3n],
  ] as const)("syncs the WAL as asked: synchronous = %s", async (synchronous, level) => {
    const opened = openDatabase(file, { synchronous });
    try {
      expect(opened.sqlite.pragma("synchronous", { simple: true })).toBe(level);
      expect(opened.synchronous).toBe(synchronous);
    } finally {
      await opened.close();
    }
  });

  test("leaves SQLite's WAL auto-checkpoint alone, or sets it in pages from a size in bytes", async () => {
    expect(pragma("wal_autocheckpoint")).toBe(1000n);
    const pageSize = Number(pragma("page_size"));
    const sized = openDatabase(file, { walAutocheckpointBytes: 64 * 1024 * 1024 });
    try {
      expect(sized.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(BigInt((64 * 1024 * 1024) / pageSize));
    } finally {
      await sized.close();
    }
  });

  test("reads integers as bigint, through Kysely and the raw handle", async () => {
    const customer = await database.db.selectFrom("customers").select(["CustomerId", "SupportRepId"]).where("CustomerId", "=", 1n).executeTakeFirstOrThrow();

    expect(customer).toEqual({ CustomerId: 1n, SupportRepId: 3n });
    expect(database.sqlite.prepare("SELECT count(*) FROM customers").pluck().get()).toBe(59n);
  });

  test("refuses to create a database that does not exist", () => {
    const missing = path.join(dir, "missing.db");

    expect(() => openDatabase(missing)).toThrow();
    expect(existsSync(missing)).toBe(false);
  });
});

describe("transactions", () => {
  test("a write waits for another connection's write lock between turns of the event loop, then goes through", async () => {
    const other = new SqliteDatabase(file);
    try {
      other.exec("BEGIN IMMEDIATE");
      // Runs only if the waiting write leaves the event loop free: SQLite's own busy wait would block it.
      const release = setTimeout(() => other.exec("COMMIT"), 50);
      const write = inTransaction(database.db, (tx) => sql`INSERT INTO genres (Name) VALUES ('waited')`.execute(tx));

      await expect(write).resolves.toBeDefined();
      clearTimeout(release);
      expect(database.sqlite.prepare("SELECT count(*) FROM genres WHERE Name = 'waited'").pluck().get()).toBe(1n);
    } finally {
      other.close();
    }
  });

  test("reads go on while a write waits for another connection's write lock", async () => {
    const other = new SqliteDatabase(file);
    try {
      other.exec("BEGIN IMMEDIATE");
      let writeSettled = false;
      const write = inTransaction(database.db, (tx) => sql`INSERT INTO genres (Name) VALUES ('later')`.execute(tx));
      void write.finally(() => (writeSettled = true)).catch(() => undefined);
      await sleep(30); // the write has met the lock and waits for it

      const { rows } = await sql<{ Name: string }>`SELECT Name FROM genres WHERE GenreId = 1`.execute(database.db);

      expect(rows).toEqual([{ Name: "Rock" }]);
      expect(writeSettled).toBe(false);
      other.exec("COMMIT");
      await expect(write).resolves.toBeDefined();
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  test("a write tries for another connection's lock without SQLite's busy wait, which stays for everything else", async () => {
    const busyTimeout = pragma("busy_timeout");
    const other = new SqliteDatabase(file);
    const pragmas = jest.spyOn(database.sqlite, "pragma");
    try {
      other.exec("BEGIN IMMEDIATE");
      const write = inTransaction(database.db, (tx) => sql`INSERT INTO genres (Name) VALUES ('later')`.execute(tx));
      await sleep(30); // a few tries, each of which would sleep busy_timeout on this thread
      other.exec("COMMIT");
      await write;

      const sources = pragmas.mock.calls.map(([source]) => source);
      expect(sources.filter((source) => source === "busy_timeout = 0").length).toBeGreaterThan(1);
      expect(pragma("busy_timeout")).toBe(busyTimeout);
    } finally {
      pragmas.mockRestore();
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  test("a write whose time to wait has run out fails SQLITE_BUSY at once while another connection holds the lock", async () => {
    const other = new SqliteDatabase(file);
    try {
      other.exec("BEGIN IMMEDIATE");
      const write = inTransaction(database.db, (tx) => sql`INSERT INTO genres (Name) VALUES ('never')`.execute(tx), Date.now() - 1);

      await expect(write).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
  });

  test("opening a new database another process holds for a moment waits for it instead of failing", async () => {
    // Not yet in WAL mode, as Chinook ships: switching needs the file to itself.
    const fresh = copyChinook();
    const holder = spawn(process.execPath, [
      "-e",
      `const Database = require(${JSON.stringify(require.resolve(SQLITE_DRIVER_PACKAGE))});
       const db = new Database(${JSON.stringify(fresh.file)});
       db.exec("BEGIN IMMEDIATE; INSERT INTO genres (Name) VALUES ('peer')");
       process.stdout.write("locked\\n");
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       db.exec("COMMIT");
       db.close();`,
    ]);
    const exited = new Promise((resolve) => holder.on("exit", resolve));
    await new Promise((resolve) => holder.stdout.once("data", resolve));

    const opened = openDatabase(fresh.file);
    try {
      expect(opened.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      await opened.close();
      await exited;
      rmSync(fresh.dir, { recursive: true, force: true });
    }
  });

  test("a transaction SQLite has already rolled back fails with the error that ended it, not ROLLBACK's", async () => {
    const cause = new Error("disk I/O error");
    const work = inTransaction(database.db, async (tx) => {
      await sql`ROLLBACK`.execute(tx);
      throw cause;
    });

    await expect(work).rejects.toBe(cause);
    expect(database.sqlite.inTransaction).toBe(false);
  });
});

describe("optimize", () => {
  test("gathers the statistics that are missing, looking at a bounded number of rows per index", async () => {
    await migrateToLatest(database.db);
    const analyzed = () =>
      database.sqlite.prepare("SELECT count(*) FROM sqlite_stat1 WHERE idx = 'customers_email_idx'").pluck().get();
    expect(analyzed()).toBe(0n);

    database.optimize();

    expect(analyzed()).toBe(1n);
    expect(pragma("analysis_limit")).toBe(400n);
  });
});

describe("isReachable", () => {
  test("is true while the database is open", () => {
    expect(database.isReachable()).toBe(true);
  });

  test("is false once the database is closed after use", async () => {
    await database.db.selectFrom("customers").select("CustomerId").limit(1).execute();
    await database.close();

    expect(database.isReachable()).toBe(false);
    expect(database.sqlite.open).toBe(false);
  });

  test("is false once the database is closed before any query", async () => {
    await database.close();

    expect(database.isReachable()).toBe(false);
  });

  test("is false when the file was deleted under an open connection", async () => {
    const other = copyChinook();
    const orphan = openDatabase(other.file);
    try {
      rmSync(other.file);

      expect(orphan.isReachable()).toBe(false);
      expect(database.isReachable()).toBe(true);
    } finally {
      await orphan.close();
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  test("is false when another file took its path (a backup restored over it), which the handle cannot reach", async () => {
    const other = copyChinook();
    const orphan = openDatabase(other.file);
    try {
      copyFileSync(other.file, `${other.file}.restored`);
      renameSync(`${other.file}.restored`, other.file);

      expect(orphan.isReachable()).toBe(false);
    } finally {
      await orphan.close();
      rmSync(other.dir, { recursive: true, force: true });
    }
  });
});

describe("otherWrites", () => {
  test("says 'some' once after another connection commits, and 'none' after this connection's own commits", async () => {
    const other = openDatabase(file);
    try {
      expect(database.otherWrites()).toBe("none");
      await sql`UPDATE customers SET City = 'Own' WHERE CustomerId = 1`.execute(database.db);
      expect(database.otherWrites()).toBe("none");

      await sql`UPDATE customers SET City = 'Other' WHERE CustomerId = 1`.execute(other.db);
      expect(database.otherWrites()).toBe("some");
      expect(database.otherWrites()).toBe("none");
    } finally {
      await other.close();
    }
  });

  test("answers once until the microtask queue drains: a commit meanwhile shows at the first call after", async () => {
    const other = openDatabase(file);
    try {
      expect(database.otherWrites()).toBe("none");
      other.sqlite.prepare("UPDATE customers SET City = 'Other' WHERE CustomerId = 1").run();
      expect(database.otherWrites()).toBe("none");

      await new Promise((resolve) => setImmediate(resolve));
      expect(database.otherWrites()).toBe("some");
    } finally {
      await other.close();
    }
  });

  test("says 'unknown' inside an open transaction, and on a closed handle", async () => {
    await database.db.transaction().execute(async () => {
      expect(database.otherWrites()).toBe("unknown");
    });
    expect(database.otherWrites()).toBe("none");
    await database.close();
    expect(database.otherWrites()).toBe("unknown");
  });
});
