/**
 * `npm run migrate -- up|down|status`: applies, reverts or lists the schema
 * migrations of the working database. `up` and `down` create it from Chinook
 * first when it is missing (so they work on a fresh clone); `status` only looks.
 */
import { existsSync } from "node:fs";
import type { Kysely } from "kysely";
import { DatabaseError } from "pg";
import { ConfigError, loadConfig, type Config, type PostgresConfig, type SqliteConfig } from "../config";
import { asksForHelp } from "../usage";
import { BootstrapError, ensureDatabase } from "./bootstrap";
import { ensureChinookLoaded } from "./postgres/chinook";
import { openPostgres } from "./postgres/connection";
import type { Database as Schema } from "./schema";
import { openDatabase } from "./sqlite/connection";
import { SqliteError } from "./sqlite/driver";
import {
  MigrationError,
  POSTGRES_MIGRATIONS,
  SQLITE_MIGRATIONS,
  migrateDown,
  migrateToLatest,
  migrationStatus,
  type EngineMigrations,
  type MigrationState,
} from "./migrate";

export interface CliOutput {
  stdout(line: string): void;
  stderr(line: string): void;
}

type Env = Readonly<Record<string, string | undefined>>;
type Command = "up" | "down" | "status";
/** The database a command works on, and its engine's migrations. */
interface Target {
  db: Kysely<Schema>;
  migrations: EngineMigrations;
}
type CommandRunner = (target: Target, out: CliOutput) => Promise<void>;

export const USAGE = "usage: npm run migrate -- up|down|status";
const HELP = [
  USAGE,
  "",
  "  up      apply every pending migration, creating the database from Chinook when it is missing",
  "  down    revert the most recent migration",
  "  status  list every migration, applied (and when) or pending; creates nothing",
  "",
  "The database is DATABASE_URL's when set, else the SQLite file DATABASE_PATH (data/chinook.db);",
  "node dist/src/main.js --help lists every setting.",
];
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const RUNNERS: Readonly<Record<Command, CommandRunner>> = { up, down, status };

/** Runs one CLI invocation; returns the process exit code. */
export async function runMigrateCli(argv: readonly string[], env: Env, out: CliOutput): Promise<number> {
  if (asksForHelp(argv)) {
    HELP.forEach((line) => out.stdout(line));
    return EXIT_OK;
  }
  const command = parseCommand(argv);
  if (command === undefined) {
    out.stderr(USAGE);
    return EXIT_USAGE;
  }
  try {
    const config = loadConfig(env);
    const run = (target: Target) => RUNNERS[command](target, out);
    if (config.database.engine === "postgres") await withPostgres(config, config.database, command, out, run);
    else if (command === "status" && !existsSync(config.database.path)) statusOfNoDatabase(config.database, out);
    else await withDatabase(config, config.database, out, run);
    return EXIT_OK;
  } catch (error) {
    out.stderr(`migrate ${command} failed: ${describeFailure(error)}`);
    return EXIT_FAILURE;
  }
}

function parseCommand(argv: readonly string[]): Command | undefined {
  const [command, ...extra] = argv;
  if (extra.length > 0) return undefined;
  return command === "up" || command === "down" || command === "status" ? command : undefined;
}

async function withDatabase(config: Config, { path }: SqliteConfig, out: CliOutput, work: (target: Target) => Promise<void>): Promise<void> {
  const outcome = await ensureDatabase({ databasePath: path, ...config.chinook });
  if (outcome !== "existing") {
    // On stderr so that stdout stays the command's own answer.
    out.stderr(`${outcome} the Chinook database to ${path}`);
  }
  const database = openDatabase(path);
  try {
    await work({ db: database.db, migrations: SQLITE_MIGRATIONS });
  } finally {
    await database.close();
  }
}

/**
 * PostgreSQL: `up` loads Chinook first when its tables are missing (as SQLite
 * copies the file); `status` and `down` create nothing.
 */
async function withPostgres(config: Config, postgres: PostgresConfig, command: Command, out: CliOutput, work: (target: Target) => Promise<void>): Promise<void> {
  const database = openPostgres(postgres.url, {
    poolSize: 1,
    connectTimeoutMs: postgres.connectTimeoutMs,
    statementTimeoutMs: 0,
    sequentialScans: true,
  });
  try {
    if (command === "up" && (await ensureChinookLoaded(database.db, config.chinook))) {
      out.stderr(`loaded the Chinook database into ${database.redactedUrl}`);
    }
    await work({ db: database.db, migrations: POSTGRES_MIGRATIONS });
  } finally {
    await database.close();
  }
}

/** Nothing is applied to a database that does not exist, and looking creates none. */
function statusOfNoDatabase({ path }: SqliteConfig, out: CliOutput): void {
  out.stderr(`there is no database at ${path} yet: "npm run migrate -- up" or "npm start" creates it from Chinook`);
  for (const name of Object.keys(SQLITE_MIGRATIONS.migrations).sort()) out.stdout(statusLine({ name, appliedAt: undefined }));
}

async function up({ db, migrations }: Target, out: CliOutput): Promise<void> {
  const applied = await migrateToLatest(db, migrations);
  if (applied.length === 0) out.stdout("already up to date");
  for (const name of applied) out.stdout(`applied ${name}`);
}

async function down({ db, migrations }: Target, out: CliOutput): Promise<void> {
  const reverted = await migrateDown(db, migrations);
  if (reverted.length === 0) out.stdout("nothing to revert");
  for (const name of reverted) out.stdout(`reverted ${name}`);
}

async function status({ db, migrations }: Target, out: CliOutput): Promise<void> {
  for (const migration of await migrationStatus(db, migrations)) out.stdout(statusLine(migration));
}

function statusLine({ name, appliedAt }: MigrationState): string {
  return appliedAt === undefined ? `pending  ${name}` : `applied ${appliedAt.toISOString()}  ${name}`;
}

/** Expected failures get their message alone; anything else is a bug, so it keeps its stack. */
function describeFailure(error: unknown): string {
  const expected = [ConfigError, BootstrapError, MigrationError, SqliteError, DatabaseError].some((type) => error instanceof type);
  if (expected && error instanceof Error) return error.message.replace(/\s+/g, " ").trim();
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

if (require.main === module) {
  const consoleOutput: CliOutput = {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  };
  void runMigrateCli(process.argv.slice(2), process.env, consoleOutput).then((code) => {
    process.exitCode = code;
  });
}
