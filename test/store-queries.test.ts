/**
 * The committed SQL of the stores (src/customers/stores/*.sql,
 * src/invoices/stores/*.sql) must be what the stores run today: generated
 * again here, on a fresh SQLite copy of Chinook and a fresh PostgreSQL
 * database, and compared.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { generateStoreSql, type StoreSqlFile } from "../tools/store-sql/generate";
import { CHINOOK_SOURCE } from "./support/database";
import { freshPostgresDatabase } from "./support/postgres";

const REPO_ROOT = path.resolve(__dirname, "..");
/** Lines of each side shown from the first difference on. */
const SHOWN_LINES = 3;

test("the committed store SQL files are what the stores run", async () => {
  const stale = (await generated()).flatMap((file) => staleness(file) ?? []);
  if (stale.length > 0) throw new Error(`${stale.join("\n\n")}\n\nRun \`npm run sql\` and commit the result.`);
}, 120_000);

async function generated(): Promise<StoreSqlFile[]> {
  const database = await freshPostgresDatabase();
  try {
    return await generateStoreSql({ chinookPath: CHINOOK_SOURCE, postgresUrl: database.url });
  } finally {
    await database.drop();
  }
}

/** Where the committed file first differs from the generated one; undefined when they agree. */
function staleness(file: StoreSqlFile): string | undefined {
  const committed = readCommitted(file.path);
  if (committed === undefined) return `${file.path} is missing.`;
  if (committed === file.content) return undefined;
  const [committedLines, generatedLines] = [committed.split("\n"), file.content.split("\n")];
  const differing = firstDifference(committedLines, generatedLines);
  const shown = (lines: readonly string[]) =>
    lines.slice(differing, differing + SHOWN_LINES).map((line) => `    ${line}`).join("\n") || "    (end of file)";
  return [
    `${file.path} is not what the stores run, from line ${differing + 1}:`,
    `  committed:\n${shown(committedLines)}`,
    `  generated:\n${shown(generatedLines)}`,
  ].join("\n");
}

function firstDifference(a: readonly string[], b: readonly string[]): number {
  const index = a.findIndex((line, at) => line !== b[at]);
  return index === -1 ? a.length : index;
}

function readCommitted(relativePath: string): string | undefined {
  try {
    return readFileSync(path.join(REPO_ROOT, relativePath), "utf8");
  } catch {
    return undefined;
  }
}
