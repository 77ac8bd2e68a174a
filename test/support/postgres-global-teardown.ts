import { stopTestPostgres } from "./postgres";

/** jest globalTeardown: stops what globalSetup started. */
export default async function globalTeardown(): Promise<void> {
  await stopTestPostgres();
}
