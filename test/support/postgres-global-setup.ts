import { createTestPki } from "./certificates";
import { startTestPostgres } from "./postgres";

/** jest globalSetup: one PostgreSQL server and a Chinook template per run (test/support/postgres.ts). */
export default async function globalSetup(): Promise<void> {
  // The embedded server also speaks TLS, for the tests of sslmode.
  const { ca, server } = await createTestPki();
  await startTestPostgres({ cert: server.cert, key: server.key, ca: ca.cert });
}
