import { rmSync } from "node:fs";
import { Writable } from "node:stream";
import { DatabaseError } from "pg";
import { sql } from "kysely";
import { Registry } from "prom-client";
import { AbortedError, AlreadyExistsError, UnavailableError, type UnavailableReason } from "../src/errors";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { SqliteError } from "../src/db/sqlite/driver";
import { translatingErrors as translatingSqliteErrors } from "../src/db/sqlite/errors";
import { sqliteTransactions } from "../src/db/sqlite/transactions";
import { openPostgres } from "../src/db/postgres/connection";
import { translatePostgresError } from "../src/db/postgres/errors";
import { postgresTransactions } from "../src/db/postgres/transactions";
import type { Executor } from "../src/db/transactions";
import { UnavailableLog } from "../src/db/unavailable-log";
import { countingWriteFailures } from "../src/db/write-failures";
import { createLogger } from "../src/logger";
import { copyChinook } from "./support/database";
import { freshPostgresDatabase } from "./support/postgres";
import { parseSamples, sampleValue } from "./support/prometheus";

type LogLine = Record<string, unknown>;

function collectingLogger() {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { lines, logger: createLogger({ level: "info", destination }) };
}

function postgresError(code: string, message: string): DatabaseError {
  const error = new DatabaseError(message, message.length, "error");
  error.code = code;
  return error;
}

function reasonOf(error: unknown): UnavailableReason | undefined {
  return error instanceof UnavailableError ? error.reason : undefined;
}

async function sqliteReason(code: string): Promise<UnavailableReason | undefined> {
  try {
    await translatingSqliteErrors(() => Promise.reject(new SqliteError("the driver's message", code)));
  } catch (error) {
    return reasonOf(error);
  }
  throw new Error("the call succeeded");
}

describe("why the database is unavailable", () => {
  it.each([
    ["SQLITE_FULL", "disk_full"],
    ["SQLITE_IOERR", "io"],
    ["SQLITE_IOERR_FSYNC", "io"],
    ["SQLITE_CANTOPEN", "io"],
    ["SQLITE_BUSY", "locked"],
    ["SQLITE_BUSY_SNAPSHOT", "locked"],
    ["SQLITE_LOCKED", "locked"],
    ["SQLITE_READONLY_DBMOVED", "read_only"],
  ])("SQLite's %s is %s", async (code, reason) => {
    expect(await sqliteReason(code)).toBe(reason);
  });

  it.each([
    ["53100", "disk_full"],
    ["53200", "out_of_memory"],
    ["53300", "connection"],
    ["53400", "other"],
    ["08006", "connection"],
    ["57P01", "connection"],
    ["57014", "timeout"],
    ["55P03", "locked"],
    ["25006", "read_only"],
  ])("PostgreSQL's SQLSTATE %s is %s", (state, reason) => {
    expect(reasonOf(translatePostgresError(postgresError(state, "the server's message")))).toBe(reason);
  });

  it("a connection PostgreSQL refuses or drops is connection", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });

    expect(reasonOf(translatePostgresError(refused))).toBe("connection");
    expect(reasonOf(translatePostgresError(new AggregateError([refused])))).toBe("connection");
    expect(reasonOf(translatePostgresError(new Error("Connection terminated unexpectedly")))).toBe("connection");
  });
});

describe("the database-unavailable log", () => {
  const MINUTE = 60_000;
  const METHOD = "/chinook.v1.CustomerService/CreateCustomer";
  const REQUEST_ID = "req-42";
  const diskFull = () =>
    UnavailableError.database(postgresError("53100", 'could not extend file "base/16384/16385": No space left on device'), "disk_full");

  function unavailableLog() {
    const clock = { now: 1_000_000 };
    const { lines, logger } = collectingLogger();
    const log = new UnavailableLog(logger, { intervalMs: MINUTE, now: () => clock.now });
    return { clock, lines, log };
  }

  it("writes one line when a reason starts, then one a minute at most, with how many it held back", () => {
    const { clock, lines, log } = unavailableLog();

    for (let i = 0; i < 50; i++) log.record(diskFull(), METHOD, REQUEST_ID);
    clock.now += MINUTE - 1;
    log.record(diskFull(), METHOD, REQUEST_ID);
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, msg: "database unavailable", reason: "disk_full", error_code: "53100", method: METHOD, request_id: REQUEST_ID, suppressed: 0 }),
    ]);

    clock.now += 1;
    log.record(diskFull(), METHOD, REQUEST_ID);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual(expect.objectContaining({ reason: "disk_full", suppressed: 50 }));
  });

  it("keeps each reason to its own budget, a lock at warn", () => {
    const { lines, log } = unavailableLog();

    log.record(diskFull(), METHOD, REQUEST_ID);
    log.record(UnavailableError.database(new SqliteError("database is locked", "SQLITE_BUSY"), "locked"), METHOD, REQUEST_ID);
    log.record(UnavailableError.database(new SqliteError("database is locked", "SQLITE_BUSY"), "locked"), METHOD, REQUEST_ID);

    expect(lines.map((line) => [line.level, line.reason, line.error_code])).toEqual([
      [50, "disk_full", "53100"],
      [40, "locked", "SQLITE_BUSY"],
    ]);
  });

  it("carries no driver message: PostgreSQL's names a file", () => {
    const { lines, log } = unavailableLog();

    log.record(diskFull(), METHOD, REQUEST_ID);

    expect(JSON.stringify(lines)).not.toContain("base/16384");
    expect(lines[0]).not.toHaveProperty("err");
  });
});

describe("write failures by cause", () => {
  let dir: string;
  let database: Database;

  beforeEach(() => {
    const copy = copyChinook();
    dir = copy.dir;
    database = openDatabase(copy.file);
  });

  afterEach(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function count(registry: Registry, cause: string): Promise<number> {
    return sampleValue(parseSamples(await registry.metrics()), "db_write_failures_total", { cause });
  }

  it("counts each write or batch the database refused, once, by cause, from zero; never a read or a domain error", async () => {
    const registry = new Registry();
    const transactions = countingWriteFailures(sqliteTransactions(), registry);
    const fail = (error: unknown) => () => Promise.reject(error);
    expect(await count(registry, "disk_full")).toBe(0);

    await expect(transactions.write(database.db, fail(new SqliteError("database or disk is full", "SQLITE_FULL")))).rejects.toThrow(UnavailableError);
    await expect(transactions.batch(database.db, (tx) => transactions.write(tx, fail(new SqliteError("disk I/O error", "SQLITE_IOERR_WRITE"))))).rejects.toThrow(
      UnavailableError,
    );
    await expect(transactions.write(database.db, fail(new AbortedError("the transaction conflicted")))).rejects.toThrow(AbortedError);
    await expect(transactions.write(database.db, fail(new AlreadyExistsError("the resource already exists", { reason: "RESOURCE_EXISTS" })))).rejects.toThrow(AlreadyExistsError);
    await expect(transactions.read(database.db, fail(new SqliteError("disk I/O error", "SQLITE_IOERR_READ")))).rejects.toThrow(UnavailableError);
    await expect(transactions.writeStatement(database.db, fail(new SqliteError("database or disk is full", "SQLITE_FULL")))).rejects.toThrow(
      UnavailableError,
    );

    expect(await count(registry, "disk_full")).toBe(2);
    expect(await count(registry, "io")).toBe(1);
    expect(await count(registry, "conflict")).toBe(1);
    expect(parseSamples(await registry.metrics()).filter((sample) => sample.name === "db_write_failures_total").map((sample) => sample.labels.cause)).toEqual([
      "disk_full",
      "out_of_memory",
      "io",
      "read_only",
      "locked",
      "timeout",
      "connection",
      "conflict",
      "other",
    ]);
  });

  it("counts a lone statement PostgreSQL refused as a write, run outside any transaction", async () => {
    const fresh = await freshPostgresDatabase();
    const postgres = openPostgres(fresh.url, { poolSize: 1, statementTimeoutMs: 20 });
    try {
      const registry = new Registry();
      const transactions = countingWriteFailures(postgresTransactions(), registry);
      const overlong = (db: Executor) => sql`SELECT pg_sleep(1)`.execute(db);
      await expect(transactions.writeStatement(postgres.db, overlong)).rejects.toThrow(UnavailableError);
      await expect(transactions.run(postgres.db, () => overlong(postgres.db))).rejects.toThrow(UnavailableError);
      expect(await count(registry, "timeout")).toBe(1);
      const { rows } = await transactions.writeStatement(postgres.db, (db) => sql<{ open: boolean }>`SELECT now() = statement_timestamp() AS open`.execute(db));
      // Inside a transaction, now() is its start; a lone statement's own start is its statement's.
      expect(rows).toEqual([{ open: true }]);
    } finally {
      await postgres.close();
      await fresh.drop();
    }
  });
});
