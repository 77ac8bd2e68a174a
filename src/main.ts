import { ServerCredentials } from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
import { SqliteError } from "better-sqlite3";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { ConfigError, loadConfig, type Config } from "./config";
import { CustomerRepository } from "./customers/repository";
import { customerService } from "./customers/service";
import { BootstrapError, ensureDatabase } from "./db/bootstrap";
import { openDatabase, type Database } from "./db/connection";
import { MigrationError, migrateToLatest } from "./db/migrate";
import { RequestIds } from "./db/request-ids";
import { adaptService, methodPath } from "./grpc/adapter";
import { HealthMonitor } from "./grpc/health";
import { reflectionServices } from "./grpc/reflection";
import { BindError, bind, createGrpcServer, shutdownGracefully } from "./grpc/server";
import { isUnexpected } from "./grpc/status";
import { InvoiceRepository } from "./invoices/repository";
import { invoiceService } from "./invoices/service";
import { createLogger, type Logger } from "./logger";

/** A running service: what tests and the process entry point hold on to. */
export interface App {
  /** The port actually bound (the ephemeral one when GRPC_ADDR ends in :0). */
  readonly port: number;
  readonly health: HealthMonitor;
  readonly database: Database;
  /** Health NOT_SERVING, drain calls for the grace period, close the database. */
  stop(): Promise<void>;
}

/** The single composition root: every dependency is built and wired here. */
export async function startApp(config: Config, logger: Logger): Promise<App> {
  await ensureDatabase({ databasePath: config.databasePath, ...config.chinook }, logger);
  const database = openDatabase(config.databasePath);
  try {
    return await serve(config, logger, database);
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function serve(config: Config, logger: Logger, database: Database): Promise<App> {
  const applied = await migrateToLatest(database.db);
  if (applied.length > 0) logger.info({ migrations: applied }, `applied ${applied.length} migrations`);
  database.optimize();

  const { db } = database;
  const customers = new CustomerRepository(db);
  const invoices = new InvoiceRepository(db);
  const requestIds = new RequestIds(db);
  const health = new HealthMonitor({
    services: [CustomerService.typeName, InvoiceService.typeName],
    probe: () => database.isReachable(),
    intervalMs: config.healthProbeIntervalMs,
    logger,
  });

  const options = { onError: logUnexpected(logger) };
  const server = createGrpcServer([
    adaptService(CustomerService, customerService(customers), options),
    adaptService(InvoiceService, invoiceService({ db, invoices, requestIds }), options),
    ...reflectionServices({ services: [CustomerService, InvoiceService, Health], ...options }),
  ]);
  health.implementation.addToServer(server);

  const port = await bind(server, config.grpcAddress, ServerCredentials.createInsecure());
  health.start();
  logger.info({ listen: config.grpcAddress, port, tls: false }, "serving gRPC in plaintext (no TLS configured)");

  return {
    port,
    health,
    database,
    async stop() {
      health.shutdown();
      await shutdownGracefully(server, config.shutdownGraceMs);
      await database.close();
    },
  };
}

/** Domain errors are the client's business; anything else is ours, logged once with its detail. */
function logUnexpected(logger: Logger): (method: DescMethod, error: unknown) => void {
  return (method, error) => {
    if (isUnexpected(error)) logger.error({ err: error, method: methodPath(method) }, "unexpected error in handler");
  };
}

/** Failures an operator can fix from the message alone: no stack trace needed. */
function isExpectedStartupFailure(error: unknown): error is Error {
  return [ConfigError, BootstrapError, MigrationError, BindError, SqliteError].some((type) => error instanceof type);
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
  let app: App;
  try {
    app = await startApp(config, logger);
  } catch (error) {
    if (isExpectedStartupFailure(error)) logger.fatal(`cannot start: ${error.message}`);
    else logger.fatal({ err: error }, "cannot start");
    process.exitCode = 1;
    return;
  }
  stopOnSignals(app, logger);
}

function stopOnSignals(app: App, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
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
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) void main();
