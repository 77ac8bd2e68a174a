/**
 * Where the tests' pristine Chinook comes from, resolved once per run by
 * jest's globalSetup the way `npm start` obtains it: CHINOOK_DB when set;
 * else ../shared/chinook/chinook.db when present (this repository's CI
 * layout); else downloaded from CHINOOK_URL into data/, its sha256 checked
 * against CHINOOK_SHA256 by the service's own bootstrap code.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { ensureDatabase, withVerifiedChinook, type ChinookOrigin } from "../../src/db/bootstrap";
import { loadConfig } from "../../src/config";

/** Set by globalSetup for the workers: the pristine Chinook database every test copies. */
export const CHINOOK_SOURCE_ENV = "CHINOOK_TEST_SOURCE";

const REPO_ROOT = path.resolve(__dirname, "../..");
const CHINOOK_SETTINGS = ["CHINOOK_DB", "CHINOOK_URL", "CHINOOK_SHA256"] as const;

export interface ChinookLocations {
  /** Where CHINOOK_DB, CHINOOK_URL and CHINOOK_SHA256 are read (the other variables are ignored). */
  env: Readonly<Record<string, string | undefined>>;
  /** The CI layout's copy, used when present and CHINOOK_DB is unset. */
  sharedPath: string;
  /** Where a download is kept for later runs. */
  cacheDirectory: string;
}

export interface ResolvedChinook {
  path: string;
  /** One line saying where Chinook came from. */
  description: string;
}

export const DEFAULT_LOCATIONS: ChinookLocations = {
  env: process.env,
  sharedPath: path.resolve(REPO_ROOT, "../shared/chinook/chinook.db"),
  cacheDirectory: path.join(REPO_ROOT, "data"),
};

/** Finds, or downloads, a Chinook whose sha256 is the one the service expects. */
export async function resolveChinook(locations: ChinookLocations = DEFAULT_LOCATIONS): Promise<ResolvedChinook> {
  const origin = chinookOrigin(locations.env);
  if (origin.sourcePath !== undefined) {
    await verifyLocalCopy(origin, origin.sourcePath);
    return { path: origin.sourcePath, description: `Chinook for the tests: ${origin.sourcePath} (CHINOOK_DB)` };
  }
  if (existsSync(locations.sharedPath)) {
    await verifyLocalCopy(origin, locations.sharedPath);
    return { path: locations.sharedPath, description: `Chinook for the tests: ${locations.sharedPath} (../shared, as in CI; CHINOOK_DB is unset)` };
  }
  return downloadOnce(origin, locations.cacheDirectory);
}

/** The source globalSetup published; a test file outside a jest run has none. */
export function publishedChinookSource(): string {
  const source = process.env[CHINOOK_SOURCE_ENV];
  if (source === undefined) {
    throw new Error(`${CHINOOK_SOURCE_ENV} is unset: jest's globalSetup (test/support/global-setup.ts) resolves Chinook for the tests`);
  }
  return source;
}

/** The Chinook settings exactly as the service reads and validates them. */
function chinookOrigin(env: ChinookLocations["env"]): ChinookOrigin {
  const chinookOnly = Object.fromEntries(CHINOOK_SETTINGS.map((name) => [name, env[name]]));
  return loadConfig(chinookOnly).chinook;
}

/** Reads and checks the file as the service does when it copies CHINOOK_DB; the copy it hands over is not needed. */
async function verifyLocalCopy(origin: ChinookOrigin, sourcePath: string): Promise<void> {
  await withVerifiedChinook({ ...origin, sourcePath }, async () => undefined);
}

/**
 * The download is kept under a name holding the expected sha256, which it
 * was checked against when installed, so a changed CHINOOK_SHA256 downloads anew.
 */
async function downloadOnce(origin: ChinookOrigin, cacheDirectory: string): Promise<ResolvedChinook> {
  const databasePath = path.join(cacheDirectory, `chinook-test-source-${origin.sha256.slice(0, 16)}.db`);
  const outcome = await ensureDatabase({ databasePath, downloadUrl: origin.downloadUrl, sha256: origin.sha256 });
  const how =
    outcome === "downloaded"
      ? `downloaded from ${origin.downloadUrl} (CHINOOK_URL), sha256 verified`
      : "downloaded by an earlier run, sha256 verified then";
  return { path: databasePath, description: `Chinook for the tests: ${databasePath} (${how}; set CHINOOK_DB to use a local chinook.db)` };
}
