/**
 * Obtains the Chinook SQLite database the service works on.
 *
 * When the working database is missing it is taken from a local file
 * (CHINOOK_DB) or downloaded (CHINOOK_URL, a zip or the plain .db), checked
 * against a pinned sha256 (CHINOOK_SHA256) and moved into place atomically:
 * the bytes go to a temp file in the destination directory which is then
 * linked into place, so a crash never leaves a half-written database, and of
 * two processes starting at once only one installs it. The source is never
 * touched, nor ever used as the working database.
 */
import { createHash, randomBytes } from "node:crypto";
import { link, mkdir, mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { unzipSync } from "fflate";
import type { Logger } from "pino";

export interface ChinookSource {
  databasePath: string; // where the working copy lives
  sourcePath?: string; // CHINOOK_DB
  downloadUrl: string; // CHINOOK_URL
  sha256: string; // CHINOOK_SHA256 (lowercase hex)
}

export type BootstrapOutcome = "existing" | "copied" | "downloaded";

/** A bootstrap failure; the message is one line saying what went wrong and what to set. */
export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
}

const DATABASE_ENTRY_NAME = "chinook.db";
const ZIP_MAGIC = Uint8Array.of(0x50, 0x4b, 0x03, 0x04); // "PK\x03\x04"
const SHA256_HEX = /^[0-9a-f]{64}$/;
const JOURNAL_SUFFIXES = ["-wal", "-shm", "-journal"];

/** Makes sure the working database exists, fetching and verifying it if it does not. */
export async function ensureDatabase(source: ChinookSource, logger?: Logger): Promise<BootstrapOutcome> {
  if (await pathExists(source.databasePath)) {
    await refuseTheSourceItself(source);
    return "existing";
  }
  const journal = await journalFound(source.databasePath);
  if (journal !== undefined) {
    // A peer starting beside this one may have installed and opened the database meanwhile: its journal is no leftover.
    if (await pathExists(source.databasePath)) return "existing";
    throw new BootstrapError(`${journal} is left from a database no longer at ${source.databasePath}: restore that database, or remove the file to start from a new copy`);
  }
  const expectedSha256 = normalizeSha256(source.sha256);
  const origin = source.sourcePath ?? source.downloadUrl;
  const bytes = source.sourcePath ? await readSourceFile(source.sourcePath) : await download(source.downloadUrl);
  verifyChecksum(bytes, expectedSha256, origin);
  if (!(await installAtomically(bytes, source.databasePath))) return "existing";
  const outcome: BootstrapOutcome = source.sourcePath ? "copied" : "downloaded";
  logger?.info({ from: origin, to: source.databasePath }, `${outcome} Chinook database from ${origin} to ${source.databasePath}`);
  return outcome;
}

async function pathExists(filePath: string): Promise<boolean> {
  try {
    await stat(filePath);
    return true;
  } catch (error) {
    if (errorCode(error) === "ENOENT") {
      return false;
    }
    throw new BootstrapError(`cannot check the working database at ${filePath} (${describe(error)}): fix its permissions or choose another database path`, { cause: error });
  }
}

/** The service migrates and writes its database: that must never be the source, under any name. */
async function refuseTheSourceItself({ databasePath, sourcePath }: ChinookSource): Promise<void> {
  if (sourcePath === undefined) return;
  const [working, original] = await Promise.all([stat(databasePath), stat(sourcePath).catch(() => undefined)]);
  if (original !== undefined && working.dev === original.dev && working.ino === original.ino) {
    throw new BootstrapError(`the working database ${databasePath} is the Chinook source CHINOOK_DB (${sourcePath}), which is never modified: choose another database path`);
  }
}

/**
 * A journal (-wal, -shm, -journal) beside a database path with no database:
 * SQLite would apply one left by a deleted database to a new copy under its
 * name, and corrupt it.
 */
async function journalFound(databasePath: string): Promise<string | undefined> {
  for (const suffix of JOURNAL_SUFFIXES) {
    const journal = `${databasePath}${suffix}`;
    if (await pathExists(journal)) return journal;
  }
  return undefined;
}

function normalizeSha256(sha256: string): string {
  const normalized = sha256.trim().toLowerCase();
  if (!SHA256_HEX.test(normalized)) {
    throw new BootstrapError(`invalid Chinook checksum "${oneLine(sha256)}": set CHINOOK_SHA256 to 64 hexadecimal characters`);
  }
  return normalized;
}

async function readSourceFile(sourcePath: string): Promise<Uint8Array> {
  try {
    return await readFile(sourcePath);
  } catch (error) {
    const problem = errorCode(error) === "ENOENT" ? `Chinook database not found at ${sourcePath}` : `cannot read Chinook database at ${sourcePath} (${describe(error)})`;
    throw new BootstrapError(`${problem}: set CHINOOK_DB to a readable chinook.db`, { cause: error });
  }
}

async function download(url: string): Promise<Uint8Array> {
  const body = await fetchBody(url);
  return isZip(body) ? extractDatabase(body, url) : body;
}

async function fetchBody(url: string): Promise<Uint8Array> {
  const advice = "set CHINOOK_URL to a reachable Chinook database (zip or .db) or CHINOOK_DB to a local chinook.db";
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new BootstrapError(`download of ${url} failed (${describe(error)}): ${advice}`, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new BootstrapError(`download of ${url} failed: ${describeStatus(response)}: ${advice}`);
  }
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new BootstrapError(`download of ${url} was interrupted (${describe(error)}): ${advice}`, { cause: error });
  }
}

function describeStatus(response: Response): string {
  return oneLine(`HTTP ${response.status} ${response.statusText}`);
}

function isZip(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((byte, index) => bytes[index] === byte);
}

/** Returns the bytes of the chinook.db entry (at any depth) of a zip archive. */
function extractDatabase(zip: Uint8Array, origin: string): Uint8Array {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip, { filter: (file) => path.posix.basename(file.name) === DATABASE_ENTRY_NAME });
  } catch (error) {
    throw new BootstrapError(`cannot unzip ${origin} (${describe(error)}): set CHINOOK_URL to a valid Chinook zip or CHINOOK_DB to a local chinook.db`, { cause: error });
  }
  const [database] = Object.values(entries);
  if (database === undefined) {
    throw new BootstrapError(`the zip at ${origin} contains no ${DATABASE_ENTRY_NAME}: set CHINOOK_URL to a Chinook zip or CHINOOK_DB to a local chinook.db`);
  }
  return database;
}

function verifyChecksum(bytes: Uint8Array, expected: string, origin: string): void {
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== expected) {
    throw new BootstrapError(`checksum mismatch for ${origin}: expected ${expected}, got ${actual}; set CHINOOK_SHA256 if you meant to use a different Chinook build`);
  }
}

/**
 * Writes to a temp file beside the destination, flushes it, then links it into
 * place, which unlike a rename never replaces a database another process
 * installed meanwhile (and may have opened). False when one did.
 */
async function installAtomically(bytes: Uint8Array, destination: string): Promise<boolean> {
  const directory = path.dirname(destination);
  const tempPath = path.join(directory, `.${path.basename(destination)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(directory, { recursive: true });
    await writeDurably(tempPath, bytes);
    await link(tempPath, destination);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw new BootstrapError(`cannot write the working database to ${destination} (${describe(error)}): make its directory writable or choose another database path`, { cause: error });
  } finally {
    await rm(tempPath, { force: true });
  }
}

async function writeDurably(filePath: string, bytes: Uint8Array): Promise<void> {
  const file = await open(filePath, "wx", 0o644);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return undefined;
}

/** A short, single-line description of an error, including fetch's underlying cause. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) {
    return oneLine(String(error));
  }
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return oneLine(`${error.message}${cause}`);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Where Chinook comes from, for an engine that copies its rows rather than the file (PostgreSQL). */
export type ChinookOrigin = Omit<ChinookSource, "databasePath">;

/**
 * Obtains Chinook as ensureDatabase does (CHINOOK_DB, else a download),
 * verifies its sha256 and hands `work` the path of a private copy, removed
 * afterwards: the PostgreSQL loader reads its rows from there. The SQLite
 * working database is neither read nor written.
 */
export async function withVerifiedChinook<T>(origin: ChinookOrigin, work: (chinookPath: string) => Promise<T>, logger?: Logger): Promise<T> {
  const expectedSha256 = normalizeSha256(origin.sha256);
  const from = origin.sourcePath ?? origin.downloadUrl;
  const bytes = origin.sourcePath ? await readSourceFile(origin.sourcePath) : await download(origin.downloadUrl);
  verifyChecksum(bytes, expectedSha256, from);
  let directory: string;
  try {
    directory = await mkdtemp(path.join(tmpdir(), "chinook-source-"));
  } catch (error) {
    throw new BootstrapError(`cannot make a temporary directory for Chinook (${describe(error)}): make ${tmpdir()} writable or set TMPDIR`, { cause: error });
  }
  try {
    const chinookPath = path.join(directory, DATABASE_ENTRY_NAME);
    await writeDurably(chinookPath, bytes);
    logger?.debug({ from }, `verified Chinook from ${from}`);
    return await work(chinookPath);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
