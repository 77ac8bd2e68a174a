/**
 * Page tokens are signed with keys every service process on a database
 * shares, kept in the database and rotated: a token one process issues
 * another accepts, and a key outlives its replacement by the retention only.
 * Two in-process apps (startApp, as main wires it) on one SQLite file or one
 * PostgreSQL database; rotation is driven by backdating keys, not by waiting.
 */
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { loadConfig, type Config } from "../src/config";
import type { Executor } from "../src/db/transactions";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { createLogger } from "../src/logger";
import { startApp, type App } from "../src/main";
import { CHINOOK_SOURCE } from "./support/database";
import { encodedId, keyIdOf, withPayload } from "./support/page-tokens";
import { freshPostgresDatabase } from "./support/postgres";

interface SharedDatabase {
  /** The environment that points an app at the database. */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

interface Replica {
  readonly app: App;
  readonly config: Config;
  readonly customers: TypedClient<typeof CustomerService>;
  readonly invoices: TypedClient<typeof InvoiceService>;
  stop(): Promise<void>;
}

async function sqliteFile(): Promise<SharedDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), "chinook-page-tokens-"));
  return {
    env: { DATABASE_PATH: path.join(dir, "chinook.db") },
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

async function postgresDatabase(): Promise<SharedDatabase> {
  const database = await freshPostgresDatabase();
  return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
}

const ENGINES = [
  ["SQLite", sqliteFile],
  ["PostgreSQL", postgresDatabase],
] as const;

const MINUTE_MS = 60_000;

async function startReplica(database: SharedDatabase): Promise<Replica> {
  const config = loadConfig({
    ...database.env,
    CHINOOK_DB: CHINOOK_SOURCE,
    GRPC_ADDR: "127.0.0.1:0",
    LOG_LEVEL: "warn",
    SHUTDOWN_GRACE_MS: "1000",
  });
  const app = await startApp(config, createLogger({ level: config.logLevel, destination: discarded() }));
  const address = `127.0.0.1:${app.port}`;
  const customers = typedClient(CustomerService, address, credentials.createInsecure());
  const invoices = typedClient(InvoiceService, address, credentials.createInsecure());
  return {
    app,
    config,
    customers,
    invoices,
    async stop() {
      customers.close();
      invoices.close();
      await app.stop();
    },
  };
}

function discarded(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

function databaseOf(replica: Replica): Executor {
  return replica.app.storage.database.db;
}

async function keyIds(replica: Replica): Promise<number[]> {
  const rows = await databaseOf(replica).selectFrom("page_token_keys").select("id").orderBy("id").execute();
  return rows.map((row) => Number(row.id));
}

/** Makes key `id` as old as `ageMs`, as if it had been made that long ago. */
async function backdate(replica: Replica, id: number, ageMs: number): Promise<void> {
  const createdAt = new Date(Date.now() - ageMs).toISOString();
  await databaseOf(replica).updateTable("page_token_keys").set({ created_at: createdAt }).where("id", "=", BigInt(id)).execute();
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && "code" in error && "details" in error;
}

/** The call's status and message, or "OK". */
async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    if (!isServiceError(error)) throw error;
    return `${status[error.code]}: ${error.details}`;
  }
}

describe.each(ENGINES)("page tokens on %s shared by two processes", (_engine, openDatabase) => {
  let database: SharedDatabase;
  const replicas: Replica[] = [];

  async function start(): Promise<Replica> {
    const replica = await startReplica(database);
    replicas.push(replica);
    return replica;
  }

  beforeEach(async () => {
    database = await openDatabase();
  });

  afterEach(async () => {
    for (const replica of replicas.splice(0)) await replica.stop();
    await database.drop();
  });

  test("two processes starting at once make one key, and each continues a listing the other began", async () => {
    const [first, second] = await Promise.all([start(), start()]);
    expect(await keyIds(first)).toEqual([1]);

    const page1 = await first.customers.listCustomers({ pageSize: 20 });
    const page2 = await second.customers.listCustomers({ pageSize: 20, pageToken: page1.nextPageToken });
    const page3 = await first.customers.listCustomers({ pageSize: 20, pageToken: page2.nextPageToken });
    const ids = [...page1.customers, ...page2.customers, ...page3.customers].map((customer) => customer.customerId);
    expect(ids).toEqual(Array.from({ length: 59 }, (_, index) => BigInt(index + 1)));

    const invoices1 = await first.invoices.listInvoices({ customerId: 2n, pageSize: 3 });
    const invoices2 = await second.invoices.listInvoices({ customerId: 2n, pageSize: 3, pageToken: invoices1.nextPageToken });
    expect(invoices2.invoices.map((invoice) => invoice.invoiceId)).toEqual([196n, 67n, 12n]);

    // The signature is the database's keys': the other process still refuses a changed token.
    const forged = withPayload(page1.nextPageToken, (payload) => ({ ...payload, k: [null, encodedId(40n)] }));
    expect(await outcomeOf(second.customers.listCustomers({ pageSize: 20, pageToken: forged }))).toMatch(/^INVALID_ARGUMENT: page_token: /);
  });

  test("after a rotation the previous key still verifies; once replaced longer ago than the retention it does not, and is deleted", async () => {
    const first = await start();
    const { rotationMs, retentionMs } = first.config.pageTokenKeys;
    const signedWithKey1 = (await first.customers.listCustomers({ pageSize: 10 })).nextPageToken;
    expect(keyIdOf(signedWithKey1)).toBe(1);

    // Key 1 is due for rotation: the next process to start makes key 2, and signs with it.
    await backdate(first, 1, rotationMs + MINUTE_MS);
    const second = await start();
    const signedWithKey2 = (await second.customers.listCustomers({ pageSize: 10 })).nextPageToken;
    expect(keyIdOf(signedWithKey2)).toBe(2);
    expect(await keyIds(second)).toEqual([1, 2]);
    expect(await outcomeOf(second.customers.listCustomers({ pageSize: 10, pageToken: signedWithKey1 }))).toBe("OK");
    // The first process learns of key 2 from the token that names it.
    expect(await outcomeOf(first.customers.listCustomers({ pageSize: 10, pageToken: signedWithKey2 }))).toBe("OK");

    // Key 2 is due too, and replaced key 1 longer ago than the retention: key 3 comes, key 1 goes.
    await backdate(first, 2, Math.max(rotationMs, retentionMs) + MINUTE_MS);
    const third = await start();
    expect(await keyIds(third)).toEqual([2, 3]);
    expect(await outcomeOf(third.customers.listCustomers({ pageSize: 10, pageToken: signedWithKey1 }))).toMatch(
      /^INVALID_ARGUMENT: page_token: has expired/,
    );
    expect(await outcomeOf(third.customers.listCustomers({ pageSize: 10, pageToken: signedWithKey2 }))).toBe("OK");
    expect(keyIdOf((await third.customers.listCustomers({ pageSize: 10 })).nextPageToken)).toBe(3);
  });
});
