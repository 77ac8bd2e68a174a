import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, type Database } from "../../src/db/sqlite/connection";
import { migrateToLatest } from "../../src/db/migrate";
import { publishedChinookSource } from "./chinook-source";

/** The pristine Chinook database, as globalSetup found or downloaded it (test/support/chinook-source.ts). */
export const CHINOOK_SOURCE = publishedChinookSource();

export interface TestDatabase extends Database {
  /** Closes the database and deletes its directory. */
  dispose(): Promise<void>;
}

/** A private copy of the real Chinook database, unmigrated. */
export function copyChinook(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "chinook-test-"));
  const file = path.join(dir, "chinook.db");
  copyFileSync(CHINOOK_SOURCE, file);
  return { dir, file };
}

/** A private, migrated copy of the real Chinook database. */
export async function freshDatabase(): Promise<TestDatabase> {
  const { dir, file } = copyChinook();
  const database = openDatabase(file);
  await migrateToLatest(database.db);
  database.optimize();
  return {
    ...database,
    dispose: async () => {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
