import * as grpc from "@grpc/grpc-js";
import { sql } from "kysely";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import pg from "pg";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from "../gen/grpc/health/v1/health_pb";
import { loadConfig } from "../src/config";
import { createLogger } from "../src/logger";
import { startApp } from "../src/main";
import { createTestPki } from "./support/certificates";
import { CHINOOK_SOURCE } from "./support/database";
import { databaseOf } from "./support/database-reads";
import { eventually } from "./support/eventually";
import { freshPostgresDatabase, postgresAdminUrl, postgresTlsCaFile, type TestPostgresDatabase } from "./support/postgres";
import { startTestServer, type TestServer } from "./support/server";

/**
 * Running on PostgreSQL, as operations sees it: the real service, started as
 * main() starts it, through PostgreSQL going away and coming back, with a
 * password that must never show, and over TLS (sslmode). Every test here runs
 * on PostgreSQL whatever TEST_ENGINE says.
 */

/** A password nothing else contains, with characters a URL must percent-encode; `core` is what to look for. */
function distinctivePassword(): { password: string; core: string } {
  const core = `pw${randomBytes(10).toString("hex")}`;
  return { password: `Ops:${core}/P@ss?#%&+`, core };
}

/** The global test server, as the proxies and URLs here reach it. */
function globalServer(): { host: string; port: number } {
  const admin = new URL(postgresAdminUrl());
  return { host: admin.hostname, port: Number(admin.port || 5432) };
}

function postgresUrl(user: string, password: string, port: number, database: string, query = ""): string {
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}${query}`;
}

async function asAdmin(adminUrl: string, statement: (client: pg.Client) => string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(statement(client));
  } finally {
    await client.end();
  }
}

/** A login role of its own, so the URL carries a password no other test uses. */
async function createRole(password: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `chinook_ops_${randomBytes(4).toString("hex")}`;
  await asAdmin(postgresAdminUrl(), (client) => `CREATE ROLE ${client.escapeIdentifier(name)} LOGIN SUPERUSER PASSWORD ${client.escapeLiteral(password)}`);
  return { name, drop: () => asAdmin(postgresAdminUrl(), (client) => `DROP ROLE IF EXISTS ${client.escapeIdentifier(name)}`) };
}

/** A port nothing listens on now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = listeningPort(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listeningPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return address.port;
}

/** A TCP proxy in front of PostgreSQL, which the test cuts, as an outage would, and restores. */
class CuttableProxy {
  private listener: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: { host: string; port: number },
    private listeningOn: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  get port(): number {
    return this.listeningOn;
  }

  /** Drops every connection and refuses new ones: the database is gone. */
  async cut(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    const closed = new Promise<void>((resolve) => (listener === undefined ? resolve() : listener.close(() => resolve())));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    await this.listen();
  }

  private async listen(): Promise<void> {
    const listener = createServer((client) => this.forward(client));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(this.listeningOn, "127.0.0.1", resolve);
    });
    this.listeningOn = listeningPort(listener);
    this.listener = listener;
  }

  private forward(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const [socket, peer] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(socket);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => {
        this.sockets.delete(socket);
        peer.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  }
}

/** Every status a Watch of the whole server streams, in order. */
function watchHealth(server: TestServer): { statuses: ServingStatus[]; cancel(): void } {
  const stream = server.client(Health).watch({ service: "" });
  const statuses: ServingStatus[] = [];
  stream.on("data", (response: HealthCheckResponse) => statuses.push(response.status));
  // Cancelling the stream at the end fails it CANCELLED.
  stream.on("error", () => undefined);
  return { statuses, cancel: () => stream.cancel() };
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && "code" in error && "details" in error;
}

/** What a client can read of an error: its message and its metadata. */
function clientVisibleText(error: grpc.ServiceError): string {
  return `${error.details}\n${JSON.stringify(error.metadata.toJSON())}`;
}

function collectingLogger(into: string[]) {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      into.push(chunk.toString("utf8"));
      done();
    },
  });
  return createLogger({ level: "trace", destination });
}

/** Where `secret` shows in `texts`, by name; empty when nowhere. */
function sightings(texts: Record<string, string>, secret: string): string[] {
  return Object.entries(texts)
    .filter(([, text]) => text.includes(secret))
    .map(([where]) => where);
}

describe("PostgreSQL going away and coming back", () => {
  const secret = distinctivePassword();
  const clientErrors: grpc.ServiceError[] = [];
  const metricsScraped: string[] = [];
  let database: TestPostgresDatabase;
  let role: { name: string; drop(): Promise<void> };
  let proxy: CuttableProxy;
  let server: TestServer;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    role = await createRole(secret.password);
    proxy = await CuttableProxy.start(globalServer());
    server = await startTestServer({
      DATABASE_URL: postgresUrl(role.name, secret.password, proxy.port, database.name),
      HEALTH_PROBE_INTERVAL_MS: "100",
      METRICS_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "debug",
    });
  });

  afterAll(async () => {
    await server.stop();
    await proxy.cut();
    await database.drop();
    await role.drop();
  });

  async function failureOf(call: Promise<unknown>): Promise<grpc.ServiceError> {
    try {
      await call;
    } catch (error) {
      if (!isServiceError(error)) throw error;
      clientErrors.push(error);
      return error;
    }
    throw new Error("expected the call to fail, but it succeeded");
  }

  /** UNAVAILABLE, with a message that says the database is, and names nothing of how it is reached. */
  function expectUnavailable(error: grpc.ServiceError): void {
    expect(grpc.status[error.code]).toBe(grpc.status[grpc.status.UNAVAILABLE]);
    expect(error.details).toMatch(/database/);
    const { host, port } = globalServer();
    const connection = [host, "localhost", String(port), String(proxy.port), role.name, secret.core, database.name];
    expect(connection.filter((detail) => error.details.includes(detail))).toEqual([]);
  }

  it("goes NOT_SERVING while PostgreSQL is unreachable, refuses calls UNAVAILABLE, and serves again once it is back, without a restart", async () => {
    const customers = server.client(CustomerService);
    const invoices = server.client(InvoiceService);
    const health = watchHealth(server);
    try {
      await eventually(() => health.statuses.at(-1) === ServingStatus.SERVING);
      expect((await customers.getCustomer({ customerId: 1n })).customerId).toBe(1n);

      await proxy.cut();
      // Before a probe notices, the call fails on its connection; after, it is refused up front: UNAVAILABLE either way.
      expectUnavailable(await failureOf(customers.getCustomer({ customerId: 1n })));
      await eventually(() => health.statuses.at(-1) === ServingStatus.NOT_SERVING);
      expect((await server.client(Health).check({ service: "chinook.v1.InvoiceService" })).status).toBe(ServingStatus.NOT_SERVING);
      const calls = [
        () => customers.getCustomer({ customerId: 2n }),
        () => customers.createCustomer({ customer: { firstName: "Lost", lastName: "Write", email: "lost.write@example.test" } }),
        () => invoices.getInvoice({ invoiceId: 1n }),
        () => invoices.createInvoice({ customerId: 2n, lines: [{ trackId: 1n, quantity: 1 }] }),
      ];
      for (const call of calls) expectUnavailable(await failureOf(call()));
      metricsScraped.push(await server.scrapeMetrics());

      await proxy.restore();
      await eventually(() => health.statuses.at(-1) === ServingStatus.SERVING);
      expect((await customers.getCustomer({ customerId: 1n })).customerId).toBe(1n);
      const invoice = await invoices.createInvoice({ customerId: 2n, lines: [{ trackId: 1n, quantity: 1 }] });
      expect(await invoices.getInvoice({ invoiceId: invoice.invoiceId })).toEqual(invoice);
      expect(health.statuses).toContain(ServingStatus.NOT_SERVING);
    } finally {
      health.cancel();
    }
  });

  it("never shows the password: in no log line, no metric, no error a client got", async () => {
    metricsScraped.push(await server.scrapeMetrics());
    expect(clientErrors.length).toBeGreaterThan(0);
    // The outage is in the logs, so they were looked at while it lasted.
    expect(server.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(["health is now NOT_SERVING", "a PostgreSQL connection failed"]));

    const texts = {
      logs: server.logs.map((line) => JSON.stringify(line)).join("\n"),
      metrics: metricsScraped.join("\n"),
      "client errors": clientErrors.map(clientVisibleText).join("\n"),
    };

    expect(sightings(texts, secret.core)).toEqual([]);
    // The URL did reach the logs, masked.
    expect(texts.logs).toContain(`${role.name}:***@`);
  });
});

describe("a server that cannot use PostgreSQL at start", () => {
  let database: TestPostgresDatabase;
  let role: { name: string; drop(): Promise<void> };
  const rolePassword = distinctivePassword();

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    role = await createRole(rolePassword.password);
  });

  afterAll(async () => {
    await database.drop();
    await role.drop();
  });

  /** Starts the service on `url`, expecting it to fail; the error, and every log line, main()'s report of it included. */
  async function failedStart(url: string): Promise<{ error: unknown; logs: string }> {
    const lines: string[] = [];
    const logger = collectingLogger(lines);
    const config = loadConfig({ DATABASE_URL: url, CHINOOK_DB: CHINOOK_SOURCE, GRPC_ADDR: "127.0.0.1:0", LOG_LEVEL: "trace" });
    const error = await startApp(config, logger).then(
      async (app) => {
        await app.stop();
        throw new Error("the service started");
      },
      (failure: unknown) => failure,
    );
    // As main() reports a start that failed unexpectedly: with the whole error.
    logger.fatal({ err: error }, "cannot start");
    return { error, logs: lines.join("") };
  }

  it("with a wrong password, fails without showing it", async () => {
    const wrong = distinctivePassword();
    const { port } = globalServer();

    const { error, logs } = await failedStart(postgresUrl(role.name, wrong.password, port, database.name));

    expect(error).toMatchObject({ message: expect.stringMatching(/password authentication failed/) });
    expect(sightings({ error: inspect(error, { depth: 10 }), logs }, wrong.core)).toEqual([]);
  });

  it("when nothing listens at the address, fails without showing the password", async () => {
    const { error, logs } = await failedStart(postgresUrl(role.name, rolePassword.password, await closedPort(), database.name));

    expect(inspect(error, { depth: 10 })).toMatch(/ECONNREFUSED/);
    expect(sightings({ error: inspect(error, { depth: 10 }), logs }, rolePassword.core)).toEqual([]);
  });
});

/** The embedded test server speaks TLS too (test/support/postgres.ts); a TEST_DATABASE_URL server need not. */
const describeWithTls = postgresTlsCaFile() === undefined ? describe.skip : describe;

describeWithTls("TLS to PostgreSQL (sslmode)", () => {
  let database: TestPostgresDatabase;
  let dir: string;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    dir = mkdtempSync(path.join(tmpdir(), "chinook-pg-tls-"));
  });

  afterAll(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** DATABASE_URL for the test database, over TLS, verifying the server's certificate against the CA in `caFile`. */
  function verifyingUrl(caFile: string): string {
    const url = new URL(database.url);
    url.searchParams.set("sslmode", "verify-full");
    url.searchParams.set("sslrootcert", caFile);
    return url.toString();
  }

  it("serves over TLS with sslmode=verify-full and sslrootcert naming the CA", async () => {
    const server = await startTestServer({ DATABASE_URL: verifyingUrl(postgresTlsCaFile() ?? "") });
    try {
      expect((await server.client(CustomerService).getCustomer({ customerId: 1n })).customerId).toBe(1n);
      // startApp resolves once the first probe has answered.
      expect((await server.client(Health).check({ service: "" })).status).toBe(ServingStatus.SERVING);
      const { rows } = await sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`.execute(databaseOf(server.app));
      expect(rows).toEqual([{ ssl: true }]);
    } finally {
      await server.stop();
    }
  });

  it("refuses to start against a server whose certificate the CA did not sign", async () => {
    const unrelatedCa = path.join(dir, "unrelated-ca.crt");
    writeFileSync(unrelatedCa, (await createTestPki()).ca.cert);
    const config = loadConfig({ DATABASE_URL: verifyingUrl(unrelatedCa), CHINOOK_DB: CHINOOK_SOURCE, GRPC_ADDR: "127.0.0.1:0" });

    await expect(startApp(config, collectingLogger([]))).rejects.toThrow(/certificate/);
  });
});
