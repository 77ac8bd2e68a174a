import { startTestPostgres } from "./postgres";

/** jest globalSetup: one PostgreSQL server and a Chinook template per run (test/support/postgres.ts). */
export default async function globalSetup(): Promise<void> {
  await startTestPostgres();
}
