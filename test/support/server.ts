import { credentials } from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { Writable } from "node:stream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/config";
import { typedClient, type TypedClient } from "../../src/client/grpc-js";
import { createLogger } from "../../src/logger";
import type { Database } from "../../src/db/sqlite/connection";
import { startApp, type App } from "../../src/main";
import type { Tracing } from "../../src/tracing/tracing";
import { CHINOOK_SOURCE } from "./database";
import { freshPostgresDatabase } from "./postgres";

/** The engine the end-to-end tests run on: the jest project "postgres" sets TEST_ENGINE. */
export const TEST_ENGINE = process.env.TEST_ENGINE === "postgres" ? "postgres" : "sqlite";

export interface TestServer {
  readonly app: App;
  readonly address: string;
  readonly config: Config;
  /** Every log line the server wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The /metrics text; the server must run with METRICS_ADDR (e.g. 127.0.0.1:0). */
  scrapeMetrics(): Promise<string>;
  /** A typed client for `service`, closed by stop(). */
  client<S extends DescService>(service: S): TypedClient<S>;
  /** Stops the server (if still running), closes clients, deletes the database. */
  stop(): Promise<void>;
}

/**
 * The real service on an ephemeral loopback port, over a fresh copy of the real
 * Chinook database (a SQLite file, or a PostgreSQL database cloned from a
 * Chinook-filled template, per TEST_ENGINE), exactly as main() wires it.
 * `env` adds configuration; `tracing` traces its calls (e.g. to an in-memory exporter).
 */
export async function startTestServer(env: Record<string, string> = {}, { tracing }: { tracing?: Tracing } = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "chinook-server-"));
  const postgres = TEST_ENGINE === "postgres" ? await freshPostgresDatabase() : undefined;
  const config = loadConfig({
    ...(postgres === undefined ? {} : { DATABASE_URL: postgres.url }),
    DATABASE_PATH: path.join(dir, "chinook.db"),
    CHINOOK_DB: CHINOOK_SOURCE,
    GRPC_ADDR: "127.0.0.1:0",
    LOG_LEVEL: "info",
    SHUTDOWN_GRACE_MS: "2000",
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: config.logLevel, destination: collectLines(logs) });
  const app = await startApp(config, logger, tracing);
  const address = `127.0.0.1:${app.port}`;
  const clients: Array<{ close(): void }> = [];
  let stopped = false;
  return {
    app,
    address,
    config,
    logs,
    async scrapeMetrics() {
      if (app.metricsPort === undefined) throw new Error("start the test server with METRICS_ADDR to scrape metrics");
      const response = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
      if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
      return response.text();
    },
    client(service) {
      const client = typedClient(service, address, credentials.createInsecure());
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.close();
      if (!stopped) await app.stop();
      stopped = true;
      rmSync(dir, { recursive: true, force: true });
      await postgres?.drop();
    },
  };
}

function collectLines(into: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") into.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
}

/** The SQLite database under a server that runs on SQLite; a test of SQLite's own behaviour fails on any other engine. */
export function sqliteDatabaseOf(app: App): Database {
  if (app.storage.engine !== "sqlite") throw new Error(`this test needs SQLite; the server runs on ${app.storage.engine}`);
  return app.storage.database;
}
