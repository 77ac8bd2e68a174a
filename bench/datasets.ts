import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { openDatabase } from "../src/db/sqlite/connection";
import { migrateToLatest } from "../src/db/migrate";
import { outputOf, spawnTracked, stderrTail } from "./children";
import { readFacts, type DatasetFacts } from "./facts";
import type { Kysely } from "kysely";
import type { Database } from "../src/db/schema";
import { benchScript, CHINOOK_SOURCE, DATA_DIR, REPO_ROOT } from "./paths";

export type Engine = "sqlite" | "postgres";

/** A migrated database of a given size that every run copies, and what the load needs to know about it. */
export interface Dataset {
  engine: Engine;
  rows: number;
  facts: DatasetFacts;
  factsFile: string;
  /** A copy of its own for one measurement (never the dataset itself: runs write). */
  copy(runDir: string): Promise<DatasetCopy>;
}

export interface DatasetCopy {
  /** What points the service at the copy: DATABASE_PATH or DATABASE_URL. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

const SYNTH_TIMEOUT_MS = 60 * 60_000;

/** The real Chinook, migrated: the smallest dataset and the base of every larger one. */
export async function chinookDataset(workDir: string): Promise<Dataset> {
  const basePath = chinookBasePath(workDir);
  copyFileSync(CHINOOK_SOURCE, basePath);
  // The shared source is read-only and copies keep its mode.
  chmodSync(basePath, 0o644);
  await migrate(basePath);
  return sqliteDataset(basePath, workDir);
}

/**
 * Chinook plus synthetic customers up to `rows`, built once through db:synth
 * and cached under bench/.data/ (per size and seed); later runs reuse it.
 */
export async function syntheticDataset(
  chinook: Dataset,
  rows: number,
  seed: number,
  workDir: string,
): Promise<Dataset> {
  const basePath = path.join(DATA_DIR, `chinook-${rows}-seed${seed}.db`);
  if (existsSync(basePath)) {
    process.stderr.write(`reusing ${path.relative(REPO_ROOT, basePath)}\n`);
  } else {
    await synthesizeInto(chinookBasePath(workDir), basePath, rows - chinook.rows, seed);
  }
  // A migration added since the cache was built applies here, once.
  await migrate(basePath);
  return sqliteDataset(basePath, workDir);
}

function chinookBasePath(workDir: string): string {
  return path.join(workDir, "chinook.db");
}

async function synthesizeInto(source: string, target: string, customers: number, seed: number): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  // Built beside the cache and renamed: an interrupted build never looks like a finished one.
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  copyFileSync(source, partial);
  process.stderr.write(`building ${path.relative(REPO_ROOT, target)}: ${customers.toLocaleString("en-US")} synthetic customers\n`);
  await synthesize(["--database", partial], customers, seed);
  renameSync(partial, target);
}

/** Runs db:synth: `customers` more customers into the database `target` names, as a flag and its value. */
export async function synthesize(target: readonly [flag: string, value: string], customers: number, seed: number): Promise<void> {
  const args = [benchScript("synth"), "--customers", String(customers), ...target, "--seed", String(seed)];
  const child = spawnTracked(process.execPath, args, { cwd: REPO_ROOT });
  child.stderr?.pipe(process.stderr);
  process.stderr.write(await outputOf(child, SYNTH_TIMEOUT_MS, stderrTail(child)));
}

async function migrate(databasePath: string): Promise<void> {
  const database = openDatabase(databasePath);
  try {
    const applied = await migrateToLatest(database.db);
    // An index a migration built has no statistics yet: without them every
    // service started on a copy would spend its start-up gathering some.
    if (applied.length > 0) database.sqlite.exec("ANALYZE");
    // Everything into the main file: copying that file alone must copy the whole database.
    database.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    await database.close();
  }
}

/** The facts of a dataset read through `db`, written where load processes read them. */
export async function described(
  db: Kysely<Database>,
  engine: Engine,
  workDir: string,
  copy: Dataset["copy"],
): Promise<Dataset> {
  const facts = await readFacts(db);
  const factsFile = path.join(workDir, `facts-${engine}-${facts.rows}.json`);
  writeFileSync(factsFile, JSON.stringify(facts));
  return { engine, rows: facts.rows, facts, factsFile, copy };
}

/** Described, and copied as a file: each run serves a copy of `basePath` in its own directory. */
async function sqliteDataset(basePath: string, workDir: string): Promise<Dataset> {
  const database = openDatabase(basePath);
  try {
    return await described(database.db, "sqlite", workDir, async (runDir) => {
      const databasePath = path.join(runDir, "chinook.db");
      copyFileSync(basePath, databasePath);
      return { env: { DATABASE_PATH: databasePath }, drop: async () => rmSync(databasePath, { force: true }) };
    });
  } finally {
    await database.close();
  }
}
