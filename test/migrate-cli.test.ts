import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, USAGE, runMigrateCli } from "../src/db/migrate-cli";
import { migrations } from "../migrations/sqlite";
import { CHINOOK_SOURCE } from "./support/database";

const MIGRATION_NAMES = Object.keys(migrations).sort();
const LATEST = MIGRATION_NAMES.at(-1);
const ISO_UTC_MILLIS = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
}

let dir: string;
let databasePath: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "chinook-migrate-cli-"));
  databasePath = path.join(dir, "data", "chinook.db");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function env(overrides: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_PATH: databasePath, CHINOOK_DB: CHINOOK_SOURCE, ...overrides };
}

async function cli(argv: string[], environment = env()): Promise<Run> {
  const run: Run = { code: -1, stdout: [], stderr: [] };
  run.code = await runMigrateCli(argv, environment, {
    stdout: (line) => run.stdout.push(line),
    stderr: (line) => run.stderr.push(line),
  });
  return run;
}

/** SQLite removes the WAL file when the last connection closes. */
function isClosed(): boolean {
  return !existsSync(`${databasePath}-wal`);
}

describe("a fresh clone, walked through status, up, down and up", () => {
  test("status lists every migration pending, and neither creates nor copies a database", async () => {
    const run = await cli(["status"]);

    expect(run).toEqual({
      code: EXIT_OK,
      stdout: MIGRATION_NAMES.map((name) => `pending  ${name}`),
      stderr: [expect.stringContaining(`there is no database at ${databasePath} yet`)],
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("up applies every migration, then reports nothing to do", async () => {
    expect(await cli(["up"])).toMatchObject({ code: EXIT_OK, stdout: MIGRATION_NAMES.map((name) => `applied ${name}`) });

    expect(await cli(["up"])).toEqual({ code: EXIT_OK, stdout: ["already up to date"], stderr: [] });
    expect(isClosed()).toBe(true);
  });

  test("up with nothing to do needs no write lock: another process may hold it", async () => {
    expect((await cli(["up"])).code).toBe(EXIT_OK);
    const other = new SqliteDatabase(databasePath);
    try {
      other.exec("BEGIN IMMEDIATE");

      expect(await cli(["up"])).toEqual({ code: EXIT_OK, stdout: ["already up to date"], stderr: [] });
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
  });

  test("status lists every migration applied, with when", async () => {
    await cli(["up"]);

    const run = await cli(["status"]);

    expect(run.code).toBe(EXIT_OK);
    expect(run.stderr).toEqual([]);
    expect(run.stdout).toHaveLength(MIGRATION_NAMES.length);
    run.stdout.forEach((line, index) => expect(line).toMatch(new RegExp(`^applied ${ISO_UTC_MILLIS}  ${MIGRATION_NAMES[index]}$`)));
  });

  test("down reverts only the latest migration, and up applies it again", async () => {
    await cli(["up"]);

    expect(await cli(["down"])).toEqual({ code: EXIT_OK, stdout: [`reverted ${LATEST}`], stderr: [] });
    const status = await cli(["status"]);
    expect(status.stdout.at(-1)).toBe(`pending  ${LATEST}`);
    expect(status.stdout.filter((line) => line.startsWith("applied "))).toHaveLength(MIGRATION_NAMES.length - 1);

    expect(await cli(["up"])).toEqual({ code: EXIT_OK, stdout: [`applied ${LATEST}`], stderr: [] });
    expect(isClosed()).toBe(true);
  });

  test("down on an unmigrated database has nothing to revert", async () => {
    expect(await cli(["down"])).toMatchObject({ code: EXIT_OK, stdout: ["nothing to revert"] });
  });
});

describe("usage", () => {
  test.each([[["--help"]], [["-h"]], [["status", "--help"]]])("%j prints the usage and exits 0 without touching anything", async (argv) => {
    const run = await cli(argv);

    expect(run).toMatchObject({ code: EXIT_OK, stderr: [] });
    expect(run.stdout[0]).toBe(USAGE);
    expect(run.stdout.join("\n")).toContain("status  list every migration");
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("usage errors", () => {
  test.each([[[]], [["sideways"]], [["up", "now"]]])("%j prints the usage and exits 2 without touching anything", async (argv) => {
    expect(await cli(argv)).toEqual({ code: EXIT_USAGE, stdout: [], stderr: [USAGE] });
    expect(existsSync(databasePath)).toBe(false);
  });
});

describe("failures", () => {
  test("a missing CHINOOK_DB exits 1 with one line naming the file", async () => {
    const missing = path.join(dir, "nowhere", "chinook.db");

    const run = await cli(["up"], env({ CHINOOK_DB: missing }));

    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toHaveLength(1);
    expect(run.stderr[0]).toContain(missing);
    expect(run.stderr[0]).toContain("CHINOOK_DB");
    expect(run.stderr[0]).not.toContain("\n");
    expect(existsSync(databasePath)).toBe(false);
  });

  test("invalid configuration exits 1 with one line naming the variable", async () => {
    const run = await cli(["status"], env({ CHINOOK_SHA256: "not-a-checksum" }));

    expect(run).toEqual({ code: EXIT_FAILURE, stdout: [], stderr: [expect.stringContaining("CHINOOK_SHA256")] });
  });

  test("a failing migration exits 1 with one line naming it, and closes the database", async () => {
    mkdirSync(path.dirname(databasePath));
    copyFileSync(CHINOOK_SOURCE, databasePath);
    const sqlite = new SqliteDatabase(databasePath);
    sqlite.exec("CREATE TABLE request_ids (id INTEGER PRIMARY KEY)");
    sqlite.close();

    const run = await cli(["up"]);

    expect(run).toEqual({ code: EXIT_FAILURE, stdout: [], stderr: [expect.stringMatching(/^migrate up failed: migration 0004_request_ids failed: /)] });
    expect(run.stderr[0]).not.toContain("\n");
    expect(isClosed()).toBe(true);
    expect((await cli(["status"])).stdout).toEqual(MIGRATION_NAMES.map((name) => `pending  ${name}`));
  });

  test("a working database that is not SQLite exits 1 with one line", async () => {
    copyFileSync(__filename, path.join(dir, "not-a-database"));

    const run = await cli(["status"], env({ DATABASE_PATH: path.join(dir, "not-a-database") }));

    expect(run).toEqual({ code: EXIT_FAILURE, stdout: [], stderr: [expect.stringContaining("not a database")] });
  });
});
