import { Migrator, type Kysely, type Migration, type MigrationResultSet } from "kysely";
import { migrations as postgresMigrations } from "../../migrations/postgres";
import { migrations as sqliteMigrations } from "../../migrations/sqlite";
import { isBusy } from "./sqlite/errors";
import { retryingWhileLocked, WRITE_LOCK_WAIT_MS } from "./sqlite/transaction";

export interface MigrationState {
  name: string;
  appliedAt: Date | undefined;
}

export class MigrationError extends Error {}

/** One engine's migrations, and how a run of them waits for another process migrating or writing. */
export interface EngineMigrations {
  readonly migrations: Readonly<Record<string, Migration>>;
  waitingForOthers(run: () => Promise<string[]>): Promise<string[]>;
}

export const SQLITE_MIGRATIONS: EngineMigrations = { migrations: sqliteMigrations, waitingForOthers: waitingForTheWriteLock };
/**
 * Applied over the Chinook tables src/db/postgres/chinook.ts loads. Kysely's
 * Migrator waits for an advisory lock on PostgreSQL by itself.
 */
export const POSTGRES_MIGRATIONS: EngineMigrations = { migrations: postgresMigrations, waitingForOthers: (run) => run() };

// Migrations see the schema as it was when they were written, never the current one.
function migrator<DB>(db: Kysely<DB>, { migrations }: EngineMigrations): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => ({ ...migrations }) } });
}

/**
 * Applies every pending migration; returns the names applied. With none
 * pending it only reads, so a restart needs no write lock another process
 * may hold (Kysely's Migrator would take it anyway).
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, engine: EngineMigrations = SQLITE_MIGRATIONS): Promise<string[]> {
  const pending = (await migrator(db, engine).getMigrations()).filter((migration) => migration.executedAt === undefined);
  if (pending.length === 0) return [];
  return engine.waitingForOthers(async () => applied(await migrator(db, engine).migrateToLatest()));
}

/** Reverts the most recent migration; returns its name, if any. */
export function migrateDown<DB>(db: Kysely<DB>, engine: EngineMigrations = SQLITE_MIGRATIONS): Promise<string[]> {
  return engine.waitingForOthers(async () => applied(await migrator(db, engine).migrateDown()));
}

/**
 * While another process holds SQLite's write lock, a run fails before it
 * changes anything (each migration is one transaction): try it again, as a
 * write would.
 */
async function waitingForTheWriteLock(run: () => Promise<string[]>): Promise<string[]> {
  const lockedElsewhere = (error: unknown) => error instanceof MigrationError && isBusy(error.cause);
  try {
    return await retryingWhileLocked(run, lockedElsewhere, Date.now() + WRITE_LOCK_WAIT_MS);
  } catch (error) {
    if (!lockedElsewhere(error)) throw error;
    const waited = `${WRITE_LOCK_WAIT_MS / 1000} s`;
    throw new MigrationError(`another process holds the database's write lock (waited ${waited})`, { cause: error });
  }
}

/** Reverts every migration, newest first. */
export async function migrateToEmpty<DB>(db: Kysely<DB>, engine: EngineMigrations = SQLITE_MIGRATIONS): Promise<string[]> {
  const reverted: string[] = [];
  for (;;) {
    const names = await migrateDown(db, engine);
    if (names.length === 0) return reverted;
    reverted.push(...names);
  }
}

/** Which migrations are applied; reads only (Kysely creates its tables when it first migrates). */
export async function migrationStatus<DB>(db: Kysely<DB>, engine: EngineMigrations = SQLITE_MIGRATIONS): Promise<MigrationState[]> {
  const infos = await migrator(db, engine).getMigrations();
  return infos.map((info) => ({ name: info.name, appliedAt: info.executedAt }));
}

function applied({ error, results = [] }: MigrationResultSet): string[] {
  if (error !== undefined) {
    const failed = results.find((result) => result.status === "Error");
    const detail = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migration ${failed?.migrationName ?? "(unknown)"} failed: ${detail}`, { cause: error });
  }
  return results.map((result) => result.migrationName);
}
