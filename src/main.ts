import type { Server } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import type { Registry } from "prom-client";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { ConfigError, loadConfig, type Config, type PostgresConfig, type SqliteConfig } from "./config";
import { CachedCustomers } from "./customers/cache";
import { RowMemo } from "./customers/row-memo";
import { Customers, type CustomerApi } from "./customers/customers";
import { customerService } from "./customers/service";
import { PostgresCustomerStore } from "./customers/stores/postgres";
import { SqliteCustomerStore } from "./customers/stores/sqlite";
import type { CustomerStore } from "./customers/store";
import { BootstrapError, ensureDatabase } from "./db/bootstrap";
import { PageTokenKeyTable } from "./db/page-token-key-table";
import { SharedPageTokenKeys, type PageTokenKeyStore } from "./db/page-token-keys";
import { MigrationError, migrateToLatest, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "./db/migrate";
import { ensureChinookLoaded } from "./db/postgres/chinook";
import { openPostgres, type PostgresDatabase } from "./db/postgres/connection";
import { registerPoolGauges } from "./db/postgres/monitoring";
import { postgresTransactions } from "./db/postgres/transactions";
import { openDatabase, type Database } from "./db/sqlite/connection";
import { SqliteError } from "./db/sqlite/driver";
import { GroupCommit } from "./db/sqlite/group-commit";
import { DatabaseMaintenance } from "./db/sqlite/maintenance";
import { healthProbeRecorder, registerDatabaseGauges } from "./db/sqlite/monitoring";
import { queryLog } from "./db/query-log";
import type { SqliteSynchronous } from "./db/sqlite/synchronous";
import { sqliteTransactions } from "./db/sqlite/transactions";
import { UnavailableLog } from "./db/unavailable-log";
import { countingWriteFailures } from "./db/write-failures";
import { UnavailableError } from "./errors";
import { adaptService, methodPath } from "./grpc/adapter";
import { refusingWhileUnavailable } from "./grpc/availability";
import { serverTransport, type TransportSecurity } from "./grpc/credentials";
import { HealthMonitor } from "./grpc/health";
import type { HandlerErrorHook } from "./grpc/handlers";
import { RpcObserver } from "./grpc/interceptors";
import { reflectionServices } from "./grpc/reflection";
import { RpcMetrics } from "./grpc/rpc-metrics";
import { BindError, bind, createGrpcServer, logGrpcJsDiagnostics, shutdownGracefully } from "./grpc/server";
import { isUnexpected } from "./grpc/status";
import { Invoices } from "./invoices/invoices";
import { invoiceService } from "./invoices/service";
import type { InvoiceStore } from "./invoices/store";
import { PostgresInvoiceStore } from "./invoices/stores/postgres";
import { SqliteInvoiceStore } from "./invoices/stores/sqlite";
import { createLogger, type Logger } from "./logger";
import { createMetricsRegistry, serveMetrics, type MetricsServer } from "./metrics";
import { served } from "./http/routes";
import { warnIfPageMissing } from "./http/page";
import { HttpDoor, type HttpDoorOptions } from "./http/server";
import { startTelemetry } from "./tracing/sdk";
import { statementSpans } from "./tracing/statement-spans";
import type { Tracing } from "./tracing/tracing";
import { asksForHelp, SERVICE_USAGE } from "./usage";

/** A running service: what tests and the process entry point hold on to. */
export interface App {
  /** The port actually bound (the ephemeral one when GRPC_ADDR ends in :0). */
  readonly port: number;
  /** The port /metrics is served on; undefined when METRICS_ADDR is unset. */
  readonly metricsPort: number | undefined;
  /** The HTTP door's port (Connect, gRPC-Web, the page); undefined when HTTP_ADDR is unset. */
  readonly httpPort: number | undefined;
  readonly health: HealthMonitor;
  readonly storage: Storage;
  /** Health NOT_SERVING, drain calls for the grace period, final maintenance, close the database. */
  stop(): Promise<void>;
}

/** What a storage engine gives the service: its stores, a health probe, and its upkeep. */
export type Storage = SqliteStorage | PostgresStorage;

interface Stores {
  readonly customers: CustomerStore;
  readonly invoices: InvoiceStore;
  readonly pageTokenKeys: PageTokenKeyStore;
}

interface SqliteStorage extends Stores {
  readonly engine: "sqlite";
  readonly database: Database;
}

interface PostgresStorage extends Stores {
  readonly engine: "postgres";
  readonly database: PostgresDatabase;
}

/**
 * The single composition root: every dependency is built and wired here.
 * `tracing` (main's, from the OTEL_* variables; a test's in-memory one) is
 * passed down rather than taken from OpenTelemetry's globals, so that apps
 * in one process trace apart; without it nothing is traced.
 */
export async function startApp(config: Config, logger: Logger, tracing?: Tracing): Promise<App> {
  // The app's own registry, not prom-client's global one: tests run several apps in one process.
  const registry = createMetricsRegistry();
  // Below the handlers, only debug lines (a query's) and statement spans name their call.
  const propagateContext = tracing !== undefined || logger.isLevelEnabled("debug");
  const rpcs = new RpcObserver({ logger, metrics: new RpcMetrics(registry), inFlightServices: APPLICATION_SERVICES, tracing, propagateContext });
  const storage =
    config.database.engine === "postgres"
      ? await openPostgresStorage(config, config.database, logger, registry, tracing)
      : await openSqliteStorage(config, config.database, logger, registry, () => rpcs.inFlight === 0, tracing);
  try {
    return await serve(config, logger, storage.value, registry, rpcs, storage.upkeep);
  } catch (error) {
    await storage.upkeep.stop();
    throw error;
  }
}

/** Background work an engine does while serving, and the close that ends it. */
interface Upkeep {
  start(): void;
  stop(): Promise<void>;
}

const APPLICATION_SERVICES = [CustomerService.typeName, InvoiceService.typeName];

async function openSqliteStorage(
  config: Config,
  { path, synchronous }: SqliteConfig,
  logger: Logger,
  registry: Registry,
  isIdle: () => boolean,
  tracing: Tracing | undefined,
): Promise<{ value: SqliteStorage; upkeep: Upkeep }> {
  await ensureDatabase({ databasePath: path, ...config.chinook }, logger);
  const database = openDatabase(path, {
    log: queryLog({ logger, registry, spans: statementSpans(tracing, "sqlite") }),
    walAutocheckpointBytes: config.maintenance.walCheckpointBytes,
    synchronous,
  });
  try {
    const applied = await migrateToLatest(database.db, SQLITE_MIGRATIONS);
    if (applied.length > 0) logger.info({ migrations: applied }, `applied ${applied.length} migrations`);
  } catch (error) {
    await database.close();
    throw error;
  }
  registerDatabaseGauges(database, registry);
  const { db } = database;
  const transactions = countingWriteFailures(sqliteTransactions(new GroupCommit(db, { registry })), registry);
  const maintenance = new DatabaseMaintenance({ database, logger, registry, ...config.maintenance, isIdle });
  // Fresh planner statistics before serving (deferred to the first check if another process is writing).
  maintenance.optimize();
  const value: SqliteStorage = {
    engine: "sqlite",
    database,
    customers: new SqliteCustomerStore(db, transactions),
    invoices: new SqliteInvoiceStore(db, transactions),
    pageTokenKeys: new PageTokenKeyTable(db, transactions),
  };
  const upkeep: Upkeep = {
    start: () => maintenance.start(),
    stop: async () => {
      await maintenance.stop();
      await database.close();
    },
  };
  return { value, upkeep };
}

async function openPostgresStorage(
  config: Config,
  settings: PostgresConfig,
  logger: Logger,
  registry: Registry,
  tracing: Tracing | undefined,
): Promise<{ value: PostgresStorage; upkeep: Upkeep }> {
  await preparePostgres(config, settings, logger);
  const log = queryLog({ logger, registry, spans: statementSpans(tracing, "postgresql") });
  const database = openPostgres(settings.url, { ...settings, log, logger });
  registerPoolGauges(database, registry);
  const transactions = countingWriteFailures(postgresTransactions(), registry);
  const value: PostgresStorage = {
    engine: "postgres",
    database,
    customers: new PostgresCustomerStore(database.db, transactions),
    invoices: new PostgresInvoiceStore(database.db, transactions),
    pageTokenKeys: new PageTokenKeyTable(database.db, transactions),
  };
  return { value, upkeep: { start: () => undefined, stop: () => database.close() } };
}

/**
 * Loads Chinook and migrates on a connection of its own, without the
 * statement timeout: rewriting a table of a million customers takes longer
 * than any statement a client's call may run, and reads all of it, which a
 * sequential scan does best.
 */
async function preparePostgres(config: Config, settings: PostgresConfig, logger: Logger): Promise<void> {
  const database = openPostgres(settings.url, { ...settings, poolSize: 1, statementTimeoutMs: 0, sequentialScans: true, logger });
  try {
    await ensureChinookLoaded(database.db, config.chinook, logger);
    const applied = await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
    if (applied.length > 0) logger.info({ migrations: applied }, `applied ${applied.length} migrations`);
  } finally {
    await database.close();
  }
}

async function serve(
  config: Config,
  logger: Logger,
  storage: Storage,
  registry: Registry,
  rpcs: RpcObserver,
  upkeep: Upkeep,
): Promise<App> {
  const pageTokens = await SharedPageTokenKeys.open(storage.pageTokenKeys, { ...config.pageTokenKeys, logger });
  const domain = new Customers(storage.customers, { pageTokens, rowMemo: rowMemoFor(storage, registry, config.cache) });
  const customers = withReadCache(domain, storage, registry, config.cache);
  const invoices = new Invoices(storage.invoices, { pageTokens });
  const health = new HealthMonitor({
    services: APPLICATION_SERVICES,
    probe: () => storage.database.isReachable(),
    intervalMs: config.healthProbeIntervalMs,
    logger,
    onProbe: healthProbeRecorder(registry),
  });

  const onError = logHandlerErrors(logger);
  const options = { onError, onUndecodableRequest: rpcs.onUndecodableRequest };
  const customerHandlers = customerService(customers);
  const invoiceHandlers = invoiceService(invoices);
  const server = createGrpcServer(
    [
      adaptService(CustomerService, customerHandlers, options),
      adaptService(InvoiceService, invoiceHandlers, options),
      ...reflectionServices({ services: [CustomerService, InvoiceService, Health], ...options }),
    ],
    // The observer first, innermost: it also sees the statuses the availability gate sends.
    {
      interceptors: [rpcs.interceptor, refusingWhileUnavailable(APPLICATION_SERVICES, () => health.databaseReachable)],
      limits: config.connectionLimits,
    },
  );
  health.addToServer(server, rpcs.onUndecodableRequest);

  const transport = serverTransport(config.tls);
  const port = await bind(server, config.grpcAddress, transport.credentials);
  const metrics = await serveMetricsOrStop(server, registry, config.metricsAddress, logger);
  const httpDoor = await serveHttpOrStop(config, { server, metrics }, {
    services: [served(CustomerService, customerHandlers), served(InvoiceService, invoiceHandlers)],
    rpcs,
    logger,
    limits: config.connectionLimits,
    tls: transport.pems,
    corsOrigins: config.http.corsOrigins,
    isAvailable: () => health.databaseReachable,
    onError,
  });
  await health.start();
  upkeep.start();
  logger.info(
    { listen: config.grpcAddress, port, tls: transport.security, metrics: config.metricsAddress, cache: config.cache, engine: storage.engine, ...durabilityOf(storage) },
    SERVING_MESSAGE[transport.security],
  );
  if (httpDoor !== undefined) {
    const { address, corsOrigins } = config.http;
    logger.info({ listen: address, port: httpDoor.port, tls: transport.security, cors_origins: corsOrigins }, "serving Connect (HTTP/JSON) and gRPC-Web");
    warnIfPageMissing(logger);
  }

  return {
    port,
    metricsPort: metrics?.port,
    httpPort: httpDoor?.port,
    health,
    storage,
    async stop() {
      health.shutdown();
      await Promise.all([shutdownGracefully(server, config.shutdownGraceMs), httpDoor?.door.stop(config.shutdownGraceMs)]);
      await metrics?.close();
      await upkeep.stop();
    },
  };
}

const SERVING_MESSAGE: Record<TransportSecurity, string> = {
  plaintext: "serving gRPC in plaintext (no TLS configured)",
  tls: "serving gRPC over TLS",
  mtls: "serving gRPC over mTLS (client certificates required)",
};

/** How SQLite syncs its commits; PostgreSQL's server decides its own. */
function durabilityOf(storage: Storage): { synchronous?: SqliteSynchronous } {
  return storage.engine === "sqlite" ? { synchronous: storage.database.synchronous } : {};
}

/**
 * On PostgreSQL, the memo spares mapping and encoding a row read unchanged
 * whenever a read goes to the database: after another process wrote, and
 * for customers the read cache holds not.
 */
function rowMemoFor(storage: Storage, registry: Registry, { maxEntries, maxBytes }: Config["cache"]): RowMemo | undefined {
  if (storage.engine !== "postgres" || maxEntries === 0) return undefined;
  return new RowMemo({ maxEntries, maxBytes, registry });
}

/**
 * CACHE_SIZE=0 serves straight from the domain. Before serving from the
 * cache, it asks the database whether any other process committed since it
 * last asked, and drops everything when one did: on SQLite a read of shared
 * memory, on PostgreSQL a round trip shared by the reads of the moment.
 */
function withReadCache(customers: Customers, storage: Storage, registry: Registry, cache: Config["cache"]): CustomerApi {
  if (cache.maxEntries === 0) return customers;
  return new CachedCustomers(customers, { ...cache, registry, otherWrites: storage.database.otherWrites });
}

/** A metrics port that cannot be bound fails the start, and the bound gRPC port must not stay open. */
async function serveMetricsOrStop(
  server: Server,
  registry: Registry,
  address: string | undefined,
  logger: Logger,
): Promise<MetricsServer | undefined> {
  if (address === undefined) return undefined;
  try {
    return await serveMetrics(registry, address, logger);
  } catch (error) {
    server.forceShutdown();
    throw error;
  }
}

/** An HTTP door that cannot be bound fails the start, and the ports bound before it must not stay open. */
async function serveHttpOrStop(
  config: Config,
  bound: { server: Server; metrics: MetricsServer | undefined },
  options: HttpDoorOptions,
): Promise<{ door: HttpDoor; port: number } | undefined> {
  if (config.http.address === undefined) return undefined;
  const door = new HttpDoor(options);
  try {
    return { door, port: await door.listen(config.http.address) };
  } catch (error) {
    bound.server.forceShutdown();
    await bound.metrics?.close();
    throw error;
  }
}

/**
 * Domain errors are the client's business; anything else is ours, logged once
 * with its detail. So is why the database was unavailable, once per reason a
 * minute at most (UnavailableLog): a full disk fails every write.
 */
function logHandlerErrors(logger: Logger): HandlerErrorHook {
  const unavailable = new UnavailableLog(logger);
  return (method, error, requestId) => {
    if (isUnexpected(error)) {
      logger.error({ err: error, method: methodPath(method), request_id: requestId }, "unexpected error in handler");
    } else if (error instanceof UnavailableError && error.cause !== undefined) {
      unavailable.record(error, methodPath(method), requestId);
    }
  };
}

/** Failures an operator can fix from the message alone: no stack trace needed. */
function isExpectedStartupFailure(error: unknown): error is Error {
  return [ConfigError, BootstrapError, MigrationError, BindError, SqliteError].some((type) => error instanceof type);
}

/** SQLite's own messages ("file is not a database") never say which file. */
function describeStartupFailure(error: Error, config: Config): string {
  return error instanceof SqliteError && config.database.engine === "sqlite" ? `${config.database.path}: ${error.message}` : error.message;
}

async function main(): Promise<void> {
  if (answeredArguments(process.argv.slice(2))) return;
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`chinook-grpc: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger({ level: config.logLevel });
  logGrpcJsDiagnostics(logger);
  const telemetry = await startTelemetry(config.tracing, logger);
  let app: App;
  try {
    app = await startApp(config, logger, telemetry.tracing);
  } catch (error) {
    if (isExpectedStartupFailure(error)) logger.fatal(`cannot start: ${describeStartupFailure(error, config)}`);
    else logger.fatal({ err: error }, "cannot start");
    process.exitCode = 1;
    await telemetry.shutdown();
    return;
  }
  // The spans of the last calls leave after the calls have drained.
  stopOnSignals({ stop: () => app.stop().finally(() => telemetry.shutdown()) }, logger);
}

/** `--help` prints the usage; any other argument is a mistake, since every setting is an environment variable. */
function answeredArguments(argv: readonly string[]): boolean {
  if (argv.length === 0) return false;
  if (asksForHelp(argv)) {
    process.stdout.write(SERVICE_USAGE);
  } else {
    process.stderr.write(`chinook-grpc takes no arguments, got "${argv.join(" ")}"\n\n${SERVICE_USAGE}`);
    process.exitCode = 2;
  }
  return true;
}

/**
 * The first SIGINT or SIGTERM drains and stops the app. Later ones are logged
 * and otherwise ignored: with no listener left, Node's default action would
 * kill the process mid-drain. SHUTDOWN_GRACE_MS bounds the drain.
 */
export function stopOnSignals(app: Pick<App, "stop">, logger: Logger, signals: EventEmitter = process): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "already shutting down");
      return;
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    app.stop().then(
      () => logger.info("stopped"),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exitCode = 1;
      },
    );
  };
  signals.on("SIGINT", stop);
  signals.on("SIGTERM", stop);
}

if (require.main === module) void main();
