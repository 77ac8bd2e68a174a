import { credentials, status as GrpcStatus, type ClientReadableStream, type StatusObject } from "@grpc/grpc-js";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import type BetterSqlite3 from "better-sqlite3";
import { EventEmitter } from "node:events";
import { mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { createServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { Customer } from "../gen/chinook/v1/customer_pb";
import {
  CreateCustomerRequestSchema,
  CustomerService,
  ExportCustomersRequestSchema,
} from "../gen/chinook/v1/customer_service_pb";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb";
import { loadConfig } from "../src/config";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { MigrationError } from "../src/db/migrate";
import { typedClient } from "../src/client/grpc-js";
import { createLogger } from "../src/logger";
import { startApp, stopOnSignals } from "../src/main";
import { CHINOOK_CUSTOMERS } from "./support/chinook";
import { assertBuilt, runMain, withinBound, type MainProcess } from "./support/main-process";
import { CHINOOK_SOURCE, copyChinook } from "./support/database";
import { sqliteDatabaseOf, startTestServer, type TestServer } from "./support/server";
import { addBulkyCustomers } from "./support/streams";

function temporaryDirectory(): string {
  return realpathSync(mkdtempSync(path.join(tmpdir(), "chinook-lifecycle-")));
}

/** Files this process holds open under `dir`, as the kernel sees them. */
function openFilesUnder(dir: string): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return []; // closed between listing and reading
    }
  });
}

function silentLogger() {
  return createLogger({ level: "info", destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
}

function configFor(env: Record<string, string>) {
  return loadConfig({ CHINOOK_DB: CHINOOK_SOURCE, GRPC_ADDR: "127.0.0.1:0", ...env });
}

describe("graceful shutdown", () => {
  // Big enough that the export cannot sit in flow-control windows and socket
  // buffers: the server is still writing while the client holds back.
  const BULKY_CUSTOMERS = 60;

  /** Takes the first message, then reads nothing until `resume()`. */
  function holdBackAfterFirst(stream: ClientReadableStream<Customer>) {
    const received: Customer[] = [];
    const first = new Promise<void>((resolve) => {
      stream.once("data", () => {
        stream.pause();
        resolve();
      });
    });
    stream.on("data", (customer: Customer) => received.push(customer));
    stream.on("error", () => undefined); // the outcome is read from 'status'
    const status = new Promise<StatusObject>((resolve) => stream.on("status", resolve));
    const ended = new Promise<void>((resolve) => stream.on("end", resolve));
    return {
      received,
      first: () => withinBound(first, "first exported customer"),
      status: () => withinBound(status, "status of the export"),
      ended: () => withinBound(ended, "end of the export"),
      resume: () => stream.resume(),
    };
  }

  describe("within the grace period", () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer({ SHUTDOWN_GRACE_MS: "20000" });
      await addBulkyCustomers(server, BULKY_CUSTOMERS);
    });

    afterAll(async () => {
      await server.stop();
    });

    it("lets the call in flight finish, refuses new calls, then closes the database", async () => {
      const customers = server.client(CustomerService);
      const exporting = holdBackAfterFirst(customers.exportCustomers({}));
      await exporting.first();

      const stopped = server.app.stop();
      await expect(customers.getCustomer({ customerId: 1n })).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
      await expect(server.client(CustomerService).getCustomer({ customerId: 1n })).rejects.toMatchObject({
        code: GrpcStatus.UNAVAILABLE,
      });

      exporting.resume();
      expect((await exporting.status()).code).toBe(GrpcStatus.OK);
      await exporting.ended();
      expect(exporting.received).toHaveLength(CHINOOK_CUSTOMERS + BULKY_CUSTOMERS);

      await withinBound(stopped, "end of app.stop()");
      expect(sqliteDatabaseOf(server.app).isReachable()).toBe(false);
    });
  });

  describe("past the grace period", () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer({ SHUTDOWN_GRACE_MS: "300" });
      await addBulkyCustomers(server, BULKY_CUSTOMERS);
    });

    afterAll(async () => {
      await server.stop();
    });

    it("ends the call that outlasts it UNAVAILABLE, for the client to retry, logs whose it was, and still stops", async () => {
      const exporting = holdBackAfterFirst(server.client(CustomerService).exportCustomers({}));
      await exporting.first();

      await withinBound(server.app.stop(), "end of app.stop()");

      expect((await exporting.status()).code).toBe(GrpcStatus.UNAVAILABLE);
      expect(exporting.received.length).toBeLessThan(CHINOOK_CUSTOMERS + BULKY_CUSTOMERS);
      expect(sqliteDatabaseOf(server.app).isReachable()).toBe(false);
      // Ending a call is shutdown doing its job, not a fault to report; its line says whose call it was.
      expect(server.logs.filter((line) => Number(line.level) >= 50)).toEqual([]);
      const exportLines = server.logs.filter((line) => line.method === "/chinook.v1.CustomerService/ExportCustomers");
      expect(exportLines).toEqual([expect.objectContaining({ code: "UNAVAILABLE", peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })]);
    });
  });
});

describe("a call whose deadline has already passed", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  function customerCount(): bigint {
    const count: unknown = sqliteDatabaseOf(server.app).sqlite.prepare("SELECT COUNT(*) FROM customers").pluck().get();
    if (typeof count !== "bigint") throw new Error(`unexpected count ${String(count)}`);
    return count;
  }

  it("is DEADLINE_EXCEEDED and creates nothing", async () => {
    const before = customerCount();
    const request = { customer: { firstName: "Late", lastName: "Comer", email: "late@example.com" } };

    const outcome = await callWithSpentDeadline(server.address, "CreateCustomer", CreateCustomerRequestSchema, request);

    expect(outcome).toEqual({ status: GrpcStatus.DEADLINE_EXCEEDED, bytesReceived: 0 });
    expect(customerCount()).toBe(before);
  });

  it("is DEADLINE_EXCEEDED for a stream too, before any message", async () => {
    const outcome = await callWithSpentDeadline(server.address, "ExportCustomers", ExportCustomersRequestSchema, {});
    expect(outcome).toEqual({ status: GrpcStatus.DEADLINE_EXCEEDED, bytesReceived: 0 });
  });
});

interface RawOutcome {
  status: number;
  /** Response bytes: none when no handler answered. */
  bytesReceived: number;
}

/**
 * A call that reaches the server with its deadline already spent. grpc-js
 * clients never send such a call, so this speaks HTTP/2 directly: a 1 ns
 * grpc-timeout has run out by the time any handler could start.
 */
async function callWithSpentDeadline<Schema extends DescMessage>(
  address: string,
  method: string,
  schema: Schema,
  request: MessageInitShape<Schema>,
): Promise<RawOutcome> {
  const session = http2.connect(`http://${address}`);
  try {
    return await withinBound(exchange(session, method, lengthPrefixed(toBinary(schema, create(schema, request)))), "answer");
  } finally {
    session.close();
  }
}

function lengthPrefixed(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

function exchange(session: http2.ClientHttp2Session, method: string, body: Buffer) {
  return new Promise<RawOutcome>((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": `/chinook.v1.CustomerService/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "1n",
    });
    let status = Number.NaN;
    let bytesReceived = 0;
    // A status without messages may come as the only headers ("trailers-only").
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) status = Number(headers["grpc-status"]);
    };
    stream.on("response", readStatus);
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => (bytesReceived += chunk.byteLength));
    stream.on("error", reject);
    stream.on("close", () => resolve({ status, bytesReceived }));
    stream.end(body);
  });
}

describe("start-up failures", () => {
  let dir: string;

  beforeEach(() => {
    dir = temporaryDirectory();
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects with one line naming the address when the port is taken, and prints nothing", async () => {
    const occupier = await listeningOnLoopback();
    const printed = jest.spyOn(console, "error");
    try {
      const address = `127.0.0.1:${portOf(occupier)}`;
      const config = configFor({ DATABASE_PATH: path.join(dir, "chinook.db"), GRPC_ADDR: address });

      const failure = startApp(config, silentLogger());

      await expect(failure).rejects.toThrow(address);
      await expect(failure).rejects.toThrow(/^[^\n]+$/);
      expect(openFilesUnder(dir)).toEqual([]);
      // The rejection is the report; a second, unstructured line on stderr would only repeat it.
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      occupier.close();
    }
  });

  it("rejects when the database file is not a database", async () => {
    const databasePath = path.join(dir, "chinook.db");
    writeFileSync(databasePath, "this is not SQLite, just some text long enough to have a header ".repeat(100));

    await expect(startApp(configFor({ DATABASE_PATH: databasePath }), silentLogger())).rejects.toMatchObject({
      name: "SqliteError",
      message: expect.stringMatching(/not a database/),
    });
  });

  it("leaves no file open when the database file is not a database", async () => {
    const databasePath = path.join(dir, "chinook.db");
    writeFileSync(databasePath, "this is not SQLite, just some text long enough to have a header ".repeat(100));

    await startApp(configFor({ DATABASE_PATH: databasePath }), silentLogger()).catch(() => undefined);

    expect(openFilesUnder(dir)).toEqual([]);
  });

  it("rejects with MigrationError when a migration fails, and changes nothing", async () => {
    const { dir: copyDir, file } = copyChinook();
    try {
      const schemaBefore = withRawDatabase(file, (sqlite) => {
        sqlite.exec("CREATE TABLE request_ids (conflicting TEXT)");
        return schemaOf(sqlite);
      });

      await expect(startApp(configFor({ DATABASE_PATH: file }), silentLogger())).rejects.toBeInstanceOf(MigrationError);

      expect(openFilesUnder(realpathSync(copyDir))).toEqual([]);
      expect(withRawDatabase(file, schemaOf)).toEqual(schemaBefore);
    } finally {
      rmSync(copyDir, { recursive: true, force: true });
    }
  });
});

function withRawDatabase<T>(file: string, use: (sqlite: BetterSqlite3.Database) => T): T {
  const sqlite = new SqliteDatabase(file, { fileMustExist: true });
  try {
    return use(sqlite);
  } finally {
    sqlite.close();
  }
}

/** The schema, without Kysely's bookkeeping tables: the migrator creates those before its transaction. */
function schemaOf(sqlite: BetterSqlite3.Database): unknown[] {
  return sqlite
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name NOT LIKE 'kysely_migration%' ORDER BY type, name")
    .all();
}

function listeningOnLoopback(): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function portOf(server: NetServer): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return address.port;
}

function allOutputLines(run: MainProcess): string[] {
  return [...run.lines().map((line) => JSON.stringify(line)), ...run.stderr().split("\n")].filter((line) => line !== "");
}

describe("the process, through its compiled entry point", () => {
  const running: MainProcess[] = [];
  let dir: string;

  beforeAll(() => {
    assertBuilt();
  });

  beforeEach(() => {
    dir = temporaryDirectory();
  });

  afterEach(() => {
    for (const run of running.splice(0)) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  function start(env: Record<string, string>) {
    const run = runMain({
      DATABASE_PATH: path.join(dir, "chinook.db"),
      CHINOOK_DB: path.resolve(CHINOOK_SOURCE),
      GRPC_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "info",
      ...env,
    });
    running.push(run);
    return run;
  }

  it.each(["SIGTERM", "SIGINT"] as const)("serves, then on %s shuts down and exits 0", async (signal) => {
    const run = start({});
    const serving = await run.logLine("serving");
    const health = typedClient(Health, `127.0.0.1:${String(serving.port)}`, credentials.createInsecure());
    try {
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    } finally {
      health.close();
    }

    run.child.kill(signal);

    expect(await run.exitCode()).toBe(0);
    const messages = run.lines().map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(["shutting down", "health is now NOT_SERVING", "stopped"]));
    expect(messages.indexOf("shutting down")).toBeLessThan(messages.indexOf("stopped"));
    expect(run.lines().filter((line) => Number(line.level) >= 50)).toEqual([]);
    expect(run.stderr()).toBe("");
  });

  it("drains on the first signal and only logs later ones, which Node would otherwise obey by dying", async () => {
    const signals = new EventEmitter();
    let stops = 0;
    stopOnSignals({ stop: async () => void stops++ }, silentLogger(), signals);

    for (const signal of ["SIGTERM", "SIGINT", "SIGTERM", "SIGINT"]) signals.emit(signal, signal);

    expect(stops).toBe(1);
    expect([signals.listenerCount("SIGTERM"), signals.listenerCount("SIGINT")]).toEqual([1, 1]);
  });

  it("exits 1 with one fatal line naming the address when the port is taken", async () => {
    const occupier = await listeningOnLoopback();
    try {
      const address = `127.0.0.1:${portOf(occupier)}`;
      const run = start({ GRPC_ADDR: address });

      expect(await run.exitCode()).toBe(1);

      const fatal = run.lines().filter((line) => line.level === 60);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).not.toHaveProperty("err");
      expect(String(fatal[0]?.msg)).toMatch(/^cannot start: [^\n]*$/);
      expect(String(fatal[0]?.msg)).toContain(address);
      expect(run.lines().filter((line) => "notJson" in line)).toEqual([]);
      expect(run.stderr()).toBe("");
    } finally {
      occupier.close();
    }
  });

  it("exits 1 with one line naming the database file when it is not a database", async () => {
    const databasePath = path.join(dir, "chinook.db");
    writeFileSync(databasePath, "this is not SQLite, just some text long enough to have a header ".repeat(100));
    const run = start({ DATABASE_PATH: databasePath });

    expect(await run.exitCode()).toBe(1);

    expect(allOutputLines(run)).toHaveLength(1);
    expect(run.lines()).toEqual([expect.objectContaining({ level: 60, msg: expect.stringMatching(/^cannot start: /) })]);
    expect(String(run.lines()[0]?.msg)).toContain(databasePath);
  });

  it("exits 1 with one line about CHINOOK_DB when there is no database and no Chinook to copy", async () => {
    const run = start({ CHINOOK_DB: path.join(dir, "no-such-chinook.db") });

    expect(await run.exitCode()).toBe(1);

    expect(allOutputLines(run)).toHaveLength(1);
    expect(run.lines()).toEqual([expect.objectContaining({ level: 60, msg: expect.stringContaining("CHINOOK_DB") })]);
  });

  it("exits 1 with one line when the configuration is invalid", async () => {
    const run = start({ GRPC_ADDR: "nonsense" });

    expect(await run.exitCode()).toBe(1);

    expect(allOutputLines(run)).toEqual([expect.stringContaining("GRPC_ADDR")]);
  });
});
