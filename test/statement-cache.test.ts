import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { Registry } from "prom-client";
import { openDatabase } from "../src/db/sqlite/connection";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { registerDatabaseGauges } from "../src/db/sqlite/monitoring";
import { StatementCache } from "../src/db/sqlite/statement-cache";
import { copyChinook } from "./support/database";

interface Numbers {
  numbers: { n: number };
}

let sqlite: BetterSqlite3.Database;

beforeEach(() => {
  sqlite = new SqliteDatabase(":memory:");
  sqlite.exec("CREATE TABLE numbers (n INTEGER); INSERT INTO numbers VALUES (1), (2), (3)");
});

afterEach(() => {
  if (sqlite.open) sqlite.close();
});

describe("StatementCache", () => {
  it("returns the same statement for the same SQL text and counts the hit", () => {
    const cache = new StatementCache(sqlite);
    const first = cache.prepare("SELECT n FROM numbers");
    const second = cache.prepare("SELECT n FROM numbers");
    expect(second).toBe(first);
    expect(second.all([])).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, size: 1 });
  });

  it("prepares different SQL texts separately", () => {
    const cache = new StatementCache(sqlite);
    const all = cache.prepare("SELECT n FROM numbers");
    const one = cache.prepare("SELECT n FROM numbers WHERE n = ?");
    expect(one).not.toBe(all);
    expect(one.all([2])).toEqual([{ n: 2 }]);
  });

  it("keeps at most its capacity, evicting the least recently used", () => {
    const cache = new StatementCache(sqlite, 2);
    const one = cache.prepare("SELECT 1");
    cache.prepare("SELECT 2");
    cache.prepare("SELECT 1"); // now the most recently used
    cache.prepare("SELECT 3"); // evicts SELECT 2
    expect(cache.stats().size).toBe(2);
    expect(cache.prepare("SELECT 1")).toBe(one);
    const misses = cache.stats().misses;
    cache.prepare("SELECT 2");
    expect(cache.stats().misses).toBe(misses + 1);
  });

  it("gives a fresh statement, not kept, while the kept one is still iterating", () => {
    const cache = new StatementCache(sqlite);
    const streaming = cache.prepare("SELECT n FROM numbers");
    const rows = streaming.iterate([]);
    rows.next();
    const during = cache.prepare("SELECT n FROM numbers");
    expect(during).not.toBe(streaming);
    expect(during.all([])).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect([...rows]).toEqual([{ n: 2 }, { n: 3 }]);
    // Done iterating: the kept statement is reused again, not the fresh one.
    expect(cache.prepare("SELECT n FROM numbers")).toBe(streaming);
  });

  it("reuses a statement whose iteration was abandoned part way", () => {
    const cache = new StatementCache(sqlite);
    const statement = cache.prepare("SELECT n FROM numbers");
    for (const row of statement.iterate([])) {
      expect(row).toEqual({ n: 1 });
      break;
    }
    expect(cache.prepare("SELECT n FROM numbers")).toBe(statement);
  });

  it("returns rows as objects named by column, through all and iterate", () => {
    const cache = new StatementCache(sqlite);
    const statement = cache.prepare("SELECT n, n * 10 AS tens FROM numbers WHERE n < ?");
    expect(statement.all([3])).toEqual([
      { n: 1, tens: 10 },
      { n: 2, tens: 20 },
    ]);
    expect([...statement.iterate([2])]).toEqual([{ n: 1, tens: 10 }]);
    expect(cache.prepare("INSERT INTO numbers VALUES (?)").run([4])).toMatchObject({ changes: 1 });
  });

  it("names the columns again when another connection changed the schema under SELECT *", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "statement-cache-")), "numbers.db");
    const first = new SqliteDatabase(file);
    const second = new SqliteDatabase(file);
    try {
      first.exec("CREATE TABLE numbers (n INTEGER); INSERT INTO numbers VALUES (1)");
      const cache = new StatementCache(first);
      expect(cache.prepare("SELECT * FROM numbers").all([])).toEqual([{ n: 1 }]);
      second.exec("ALTER TABLE numbers ADD COLUMN label TEXT DEFAULT 'x'");
      expect(cache.prepare("SELECT * FROM numbers").all([])).toEqual([{ n: 1, label: "x" }]);
    } finally {
      first.close();
      second.close();
      rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it("closes the handle it wraps", () => {
    const cache = new StatementCache(sqlite);
    cache.prepare("SELECT 1");
    cache.close();
    expect(sqlite.open).toBe(false);
  });
});

describe("StatementCache beneath Kysely", () => {
  it("runs a query inside the stream of the same query, and writes after it", async () => {
    const cache = new StatementCache(sqlite);
    const db = new Kysely<Numbers>({ dialect: new SqliteDialect({ database: cache }) });
    // A second Kysely on the same handle is not serialised by the first one's connection mutex.
    const other = new Kysely<Numbers>({ dialect: new SqliteDialect({ database: cache }) });
    const query = db.selectFrom("numbers").select("n").orderBy("n");
    const streamed: number[] = [];
    for await (const row of query.stream()) {
      streamed.push(row.n);
      const again = await other.selectFrom("numbers").select("n").orderBy("n").execute();
      expect(again.map((each) => each.n)).toEqual([1, 2, 3]);
    }
    expect(streamed).toEqual([1, 2, 3]);
    await db.insertInto("numbers").values({ n: 4 }).execute();
    expect((await query.execute()).map((row) => row.n)).toEqual([1, 2, 3, 4]);
    expect(cache.stats().hits).toBeGreaterThan(0);
    await db.destroy();
  });

  it("sees the schema a migration changed through a statement prepared before it", async () => {
    const cache = new StatementCache(sqlite);
    const db = new Kysely<Numbers>({ dialect: new SqliteDialect({ database: cache }) });
    const everything = sql<Record<string, unknown>>`SELECT * FROM numbers LIMIT 1`;
    expect((await everything.execute(db)).rows).toEqual([{ n: 1 }]);
    await sql`ALTER TABLE numbers ADD COLUMN label TEXT DEFAULT 'x'`.execute(db);
    expect((await everything.execute(db)).rows).toEqual([{ n: 1, label: "x" }]);
    await db.destroy();
  });
});

describe("openDatabase", () => {
  it("serves repeated queries from prepared statements", async () => {
    const { dir, file } = copyChinook();
    const database = openDatabase(file);
    try {
      for (let call = 0; call < 3; call++) {
        await database.db.selectFrom("customers").select("CustomerId").where("CustomerId", "=", 1n).execute();
      }
      expect(database.statementCacheStats().hits).toBeGreaterThanOrEqual(2);
      const registry = new Registry();
      registerDatabaseGauges(database, registry);
      const hits = await registry.getSingleMetric("db_statement_cache_hits_total")?.get();
      expect(hits?.values[0]?.value).toBe(database.statementCacheStats().hits);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
