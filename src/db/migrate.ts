import { Migrator, type Kysely, type MigrationResultSet } from "kysely";
import { migrations } from "../../migrations";

export interface MigrationState {
  name: string;
  appliedAt: Date | undefined;
}

export class MigrationError extends Error {}

// Migrations see the schema as it was when they were written, never the current one.
function migrator<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  return applied(await migrator(db).migrateToLatest());
}

/** Reverts the most recent migration; returns its name, if any. */
export async function migrateDown<DB>(db: Kysely<DB>): Promise<string[]> {
  return applied(await migrator(db).migrateDown());
}

/** Reverts every migration, newest first. */
export async function migrateToEmpty<DB>(db: Kysely<DB>): Promise<string[]> {
  const reverted: string[] = [];
  for (;;) {
    const names = await migrateDown(db);
    if (names.length === 0) return reverted;
    reverted.push(...names);
  }
}

export async function migrationStatus<DB>(db: Kysely<DB>): Promise<MigrationState[]> {
  const infos = await migrator(db).getMigrations();
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
