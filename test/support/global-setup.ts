import { CHINOOK_SOURCE_ENV, resolveChinook } from "./chinook-source";
import postgresGlobalSetup from "./postgres-global-setup";

/** jest globalSetup: Chinook for every test, then PostgreSQL, whose template is filled from it. */
export default async function globalSetup(): Promise<void> {
  const chinook = await resolveChinook();
  process.stderr.write(`\n${chinook.description}\n`);
  process.env[CHINOOK_SOURCE_ENV] = chinook.path;
  await postgresGlobalSetup();
}
