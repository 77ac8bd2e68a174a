import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { openDatabase } from "../src/db/sqlite/connection";
import { migrateToLatest } from "../src/db/migrate";
import { outputOf, spawnTracked, stderrTail } from "./children";
import { readFacts, type DatasetFacts } from "./facts";
import { benchScript, CHINOOK_SOURCE, DATA_DIR, REPO_ROOT } from "./paths";

/** A migrated database of a given size that every run copies, and what the load needs to know about it. */
export interface Dataset {
  rows: number;
  /** Never served directly: each run works on its own copy. */
  basePath: string;
  facts: DatasetFacts;
  factsFile: string;
}

const SYNTH_TIMEOUT_MS = 60 * 60_000;

/** The real Chinook, migrated: the smallest dataset and the base of every larger one. */
export async function chinookDataset(workDir: string): Promise<Dataset> {
  const basePath = path.join(workDir, "chinook.db");
  copyFileSync(CHINOOK_SOURCE, basePath);
  // The shared source is read-only and copies keep its mode.
  chmodSync(basePath, 0o644);
  await migrate(basePath);
  return described(basePath, workDir);
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
    await synthesizeInto(chinook.basePath, basePath, rows - chinook.rows, seed);
  }
  // A migration added since the cache was built applies here, once.
  await migrate(basePath);
  return described(basePath, workDir);
}

async function synthesizeInto(source: string, target: string, customers: number, seed: number): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  // Built beside the cache and renamed: an interrupted build never looks like a finished one.
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  copyFileSync(source, partial);
  const what = `${customers.toLocaleString("en-US")} synthetic customers`;
  process.stderr.write(`building ${path.relative(REPO_ROOT, target)}: ${what}\n`);
  const args = [benchScript("synth"), "--customers", String(customers), "--database", partial, "--seed", String(seed)];
  const child = spawnTracked(process.execPath, args, { cwd: REPO_ROOT });
  child.stderr?.pipe(process.stderr);
  const output = await outputOf(child, SYNTH_TIMEOUT_MS, stderrTail(child));
  process.stderr.write(output);
  renameSync(partial, target);
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

function described(basePath: string, workDir: string): Dataset {
  const facts = readFacts(basePath);
  const factsFile = path.join(workDir, `facts-${facts.rows}.json`);
  writeFileSync(factsFile, JSON.stringify(facts));
  return { rows: facts.rows, basePath, facts, factsFile };
}
