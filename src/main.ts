import type { Server } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Registry } from "prom-client";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { ConfigError, loadConfig, type Config } from "./config";
import { CachedCustomers } from "./customers/cache";
import { Customers, type CustomerApi } from "./customers/customers";
import { customerService } from "./customers/service";
import { SqliteCustomerStore } from "./customers/stores/sqlite";
import { BootstrapError, ensureDatabase } from "./db/bootstrap";
import { openDatabase, type Database } from "./db/sqlite/connection";
import { SqliteError } from "./db/sqlite/driver";
import { GroupCommit } from "./db/sqlite/group-commit";
import { DatabaseMaintenance } from "./db/sqlite/maintenance";
import { MigrationError, migrateToLatest } from "./db/migrate";
import { healthProbeRecorder, registerDatabaseGauges } from "./db/sqlite/monitoring";
import { queryLog } from "./db/query-log";
import { RequestIds } from "./db/request-ids";
import { isBusy } from "./db/sqlite/errors";
import { sqliteTransactions } from "./db/sqlite/transactions";
import { UnavailableError } from "./errors";
import { adaptService, methodPath } from "./grpc/adapter";
import { refusingWhileUnavailable } from "./grpc/availability";
import { serverTransport, type TransportSecurity } from "./grpc/credentials";
import { HealthMonitor } from "./grpc/health";
import { RpcObserver } from "./grpc/interceptors";
import { reflectionServices } from "./grpc/reflection";
import { RpcMetrics } from "./grpc/rpc-metrics";
import { BindError, bind, createGrpcServer, logGrpcJsDiagnostics, shutdownGracefully } from "./grpc/server";
import { isUnexpected } from "./grpc/status";
import { InvoiceRepository } from "./invoices/repository";
import { invoiceService } from "./invoices/service";
import { createLogger, type Logger } from "./logger";
import { createMetricsRegistry, serveMetrics, type MetricsServer } from "./metrics";

/** A running service: what tests and the process entry point hold on to. */
export interface App {
  /** The port actually bound (the ephemeral one when GRPC_ADDR ends in :0). */
  readonly port: number;
  /** The port /metrics is served on; undefined when METRICS_ADDR is unset. */
  readonly metricsPort: number | undefined;
  readonly health: HealthMonitor;
  readonly database: Database;
  /** Health NOT_SERVING, drain calls for the grace period, final maintenance, close the database. */
  stop(): Promise<void>;
}

/** The single composition root: every dependency is built and wired here. */
export async function startApp(config: Config, logger: Logger): Promise<App> {
  await ensureDatabase({ databasePath: config.databasePath, ...config.chinook }, logger);
  // The app's own registry, not prom-client's global one: tests run several apps in one process.
  const registry = createMetricsRegistry();
  const database = openDatabase(config.databasePath, {
    log: queryLog({ logger, registry }),
    walAutocheckpointBytes: config.maintenance.walCheckpointBytes,
  });
  try {
    return await serve(config, logger, database, registry);
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function serve(config: Config, logger: Logger, database: Database, registry: Registry): Promise<App> {
  const applied = await migrateToLatest(database.db);
  if (applied.length > 0) logger.info({ migrations: applied }, `applied ${applied.length} migrations`);
  registerDatabaseGauges(database, registry);

  const { db } = database;
  const writes = new GroupCommit(db, { registry });
  const transactions = sqliteTransactions(writes);
  const customers = withReadCache(new Customers(new SqliteCustomerStore(db, transactions)), config.cache, registry);
  const invoices = new InvoiceRepository(db);
  const requestIds = new RequestIds(db);
  const applicationServices = [CustomerService.typeName, InvoiceService.typeName];
  const health = new HealthMonitor({
    services: applicationServices,
    probe: () => database.isReachable(),
    intervalMs: config.healthProbeIntervalMs,
    logger,
    onProbe: healthProbeRecorder(registry),
  });
  const rpcs = new RpcObserver({
    logger,
    metrics: new RpcMetrics(registry),
    inFlightServices: applicationServices,
  });
  const maintenance = new DatabaseMaintenance({
    database,
    logger,
    registry,
    ...config.maintenance,
    isIdle: () => rpcs.inFlight === 0,
  });
  // Fresh planner statistics before serving (deferred to the first check if another process is writing).
  maintenance.optimize();

  const options = { onError: logHandlerErrors(logger) };
  const server = createGrpcServer(
    [
      adaptService(CustomerService, customerService(customers), options),
      adaptService(InvoiceService, invoiceService({ db, invoices, requestIds, writes }), options),
      ...reflectionServices({ services: [CustomerService, InvoiceService, Health], ...options }),
    ],
    // The observer first, innermost: it also sees the statuses the availability gate sends.
    { interceptors: [rpcs.interceptor, refusingWhileUnavailable(applicationServices, () => health.databaseReachable)] },
  );
  health.addToServer(server);

  const transport = serverTransport(config.tls);
  const port = await bind(server, config.grpcAddress, transport.credentials);
  const metrics = await serveMetricsOrStop(server, registry, config.metricsAddress, logger);
  health.start();
  maintenance.start();
  logger.info(
    { listen: config.grpcAddress, port, tls: transport.security, metrics: config.metricsAddress, cache: config.cache },
    SERVING_MESSAGE[transport.security],
  );

  return {
    port,
    metricsPort: metrics?.port,
    health,
    database,
    async stop() {
      health.shutdown();
      await shutdownGracefully(server, config.shutdownGraceMs);
      await maintenance.stop();
      await metrics?.close();
      await database.close();
    },
  };
}

const SERVING_MESSAGE: Record<TransportSecurity, string> = {
  plaintext: "serving gRPC in plaintext (no TLS configured)",
  tls: "serving gRPC over TLS",
  mtls: "serving gRPC over mTLS (client certificates required)",
};

/** CACHE_SIZE=0 serves straight from the domain. */
function withReadCache(customers: Customers, cache: Config["cache"], registry: Registry): CustomerApi {
  return cache.maxEntries === 0 ? customers : new CachedCustomers(customers, { ...cache, registry });
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

/**
 * Domain errors are the client's business; anything else is ours, logged once
 * with its detail. So is why the database was unavailable: a busy lock clears
 * by itself (warn), a full disk or a read-only file does not (error).
 */
function logHandlerErrors(logger: Logger): (method: DescMethod, error: unknown) => void {
  return (method, error) => {
    if (isUnexpected(error)) {
      logger.error({ err: error, method: methodPath(method) }, "unexpected error in handler");
    } else if (error instanceof UnavailableError && error.cause !== undefined) {
      const level = isBusy(error.cause) ? "warn" : "error";
      logger[level]({ err: error.cause, method: methodPath(method) }, "database unavailable");
    }
  };
}

/** Failures an operator can fix from the message alone: no stack trace needed. */
function isExpectedStartupFailure(error: unknown): error is Error {
  return [ConfigError, BootstrapError, MigrationError, BindError, SqliteError].some((type) => error instanceof type);
}

/** SQLite's own messages ("file is not a database") never say which file. */
function describeStartupFailure(error: Error, config: Config): string {
  return error instanceof SqliteError ? `${config.databasePath}: ${error.message}` : error.message;
}

async function main(): Promise<void> {
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
  let app: App;
  try {
    app = await startApp(config, logger);
  } catch (error) {
    if (isExpectedStartupFailure(error)) logger.fatal(`cannot start: ${describeStartupFailure(error, config)}`);
    else logger.fatal({ err: error }, "cannot start");
    process.exitCode = 1;
    return;
  }
  stopOnSignals(app, logger);
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
