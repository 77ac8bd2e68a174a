/**
 * The benchmark's datasets on PostgreSQL: the same Chinook and synthetic
 * customers as on SQLite (db:synth with the same seed), each built once as a
 * database of its own and copied (CREATE DATABASE … TEMPLATE) for every
 * measurement, as the SQLite path copies its file.
 */
import path from "node:path";
import { POSTGRES_MIGRATIONS, migrateToLatest } from "../src/db/migrate";
import { loadChinook } from "../src/db/postgres/chinook";
import { openPostgres } from "../src/db/postgres/connection";
import { databaseUrl } from "../src/db/postgres/url";
import { asAdmin, startEmbedded, type EmbeddedPostgres } from "../tools/embedded-postgres";
import { described, synthesize, type Dataset, type DatasetCopy } from "./datasets";
import { CHINOOK_SOURCE, DATA_DIR } from "./paths";

const CHINOOK_DATABASE = "bench_chinook";

/**
 * A server as production would run it (fsync on, synchronous commits) with
 * shared_buffers large enough for the million-customer dataset's hot indexes,
 * and the random_page_cost advised for SSDs (README, Running on PostgreSQL).
 */
const BENCH_SERVER_FLAGS = ["-c", "shared_buffers=256MB", "-c", "random_page_cost=1.1"];

/** The server the datasets live on: the one `--database-url` names, or one kept under bench/.data/. */
export interface BenchPostgres {
  /** A superuser's URL of any database of the server. */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

export async function benchPostgres(databaseUrl: string | undefined): Promise<BenchPostgres> {
  if (databaseUrl !== undefined) return { adminUrl: databaseUrl, stop: async () => undefined };
  const server: EmbeddedPostgres = await startEmbedded({
    dataDir: path.join(DATA_DIR, "postgres"),
    postgresFlags: BENCH_SERVER_FLAGS,
  });
  return server;
}

/** Chinook loaded and migrated: the smallest dataset, and the template of every larger one. */
export async function postgresChinookDataset(server: BenchPostgres, workDir: string): Promise<Dataset> {
  const name = CHINOOK_DATABASE;
  if (!(await databaseExists(server, name))) {
    await buildDatabase(server, name, undefined, async (url) => {
      const database = openPostgres(url, { poolSize: 1 });
      try {
        await loadChinook(database.db, CHINOOK_SOURCE);
      } finally {
        await database.close();
      }
    });
  }
  return postgresDataset(server, name, workDir);
}

/** Chinook plus synthetic customers up to `rows`, built once through db:synth and kept (per size and seed). */
export async function postgresSyntheticDataset(
  server: BenchPostgres,
  chinook: Dataset,
  rows: number,
  seed: number,
  workDir: string,
): Promise<Dataset> {
  const name = `bench_chinook_${rows}_seed${seed}`;
  if (await databaseExists(server, name)) {
    process.stderr.write(`reusing PostgreSQL database ${name}\n`);
  } else {
    const customers = rows - chinook.rows;
    process.stderr.write(`building PostgreSQL database ${name}: ${customers.toLocaleString("en-US")} synthetic customers\n`);
    await buildDatabase(server, name, CHINOOK_DATABASE, (url) => synthesize(["--database-url", url], customers, seed));
  }
  return postgresDataset(server, name, workDir);
}

/**
 * Built under another name and renamed when complete: an interrupted build
 * never looks like a finished one.
 */
async function buildDatabase(
  server: BenchPostgres,
  name: string,
  template: string | undefined,
  fill: (url: string) => Promise<void>,
): Promise<void> {
  const partial = `${name}_partial`;
  await asAdmin(server.adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(partial)} WITH (FORCE)`);
    const from = template === undefined ? "" : ` TEMPLATE ${client.escapeIdentifier(template)} STRATEGY FILE_COPY`;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(partial)}${from}`);
  });
  await fill(databaseUrl(server.adminUrl, partial));
  await asAdmin(server.adminUrl, (client) =>
    client.query(`ALTER DATABASE ${client.escapeIdentifier(partial)} RENAME TO ${client.escapeIdentifier(name)}`),
  );
}

/** Migrated (a migration added since the database was built applies here, once) and analyzed, then described. */
async function postgresDataset(server: BenchPostgres, name: string, workDir: string): Promise<Dataset> {
  // A migration rewriting a million customers outlasts any statement timeout.
  const database = openPostgres(databaseUrl(server.adminUrl, name), { poolSize: 1, statementTimeoutMs: 0 });
  try {
    await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
    await database.pool.query("VACUUM ANALYZE");
    return await described(database.db, "postgres", workDir, (runDir) => copyOf(server, name, runDir));
  } finally {
    await database.close();
  }
}

let copies = 0;

/** A database of its own for one measurement; FILE_COPY copies files instead of writing every page to the WAL. */
async function copyOf(server: BenchPostgres, template: string, runDir: string): Promise<DatasetCopy> {
  const name = `bench_run_${process.pid}_${++copies}_${path.basename(runDir).replace(/\W/g, "_")}`.slice(0, 63);
  await asAdmin(server.adminUrl, (client) =>
    client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE ${client.escapeIdentifier(template)} STRATEGY FILE_COPY`),
  );
  return {
    env: { DATABASE_URL: databaseUrl(server.adminUrl, name) },
    drop: () => asAdmin(server.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

async function databaseExists(server: BenchPostgres, name: string): Promise<boolean> {
  return asAdmin(server.adminUrl, async (client) => (await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1);
}
