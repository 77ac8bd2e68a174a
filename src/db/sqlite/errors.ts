import { translating } from "../translating";
import { AlreadyExistsError, DomainError, FailedPreconditionError, UnavailableError, type UnavailableReason } from "../../errors";
import { SqliteError } from "./driver";

/** Result codes (primary, before the underscore) that mean "try again later", and why. */
const UNAVAILABLE = new Map<string, UnavailableReason>([
  ["SQLITE_BUSY", "locked"],
  ["SQLITE_LOCKED", "locked"],
  ["SQLITE_CANTOPEN", "io"],
  ["SQLITE_IOERR", "io"],
  ["SQLITE_FULL", "disk_full"],
  ["SQLITE_READONLY", "read_only"],
]);

/**
 * Turns a driver error into a domain error with a client-safe message, or
 * returns it unchanged when it is a bug (which then surfaces as INTERNAL and
 * is logged with its detail). Driver messages never reach a client.
 */
function translateSqliteError(error: unknown): unknown {
  if (error instanceof DomainError || !(error instanceof SqliteError)) return error;
  const primary = error.code.split("_").slice(0, 2).join("_");
  const reason = UNAVAILABLE.get(primary);
  if (reason !== undefined) return UnavailableError.database(error, reason);
  if (error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY") return AlreadyExistsError.constraint(error);
  if (error.code === "SQLITE_CONSTRAINT_FOREIGNKEY") return FailedPreconditionError.missingReference(error);
  return error;
}

/** Runs a database call, translating driver errors on the way out. */
export const translatingErrors = translating(translateSqliteError);

/** SQLITE_BUSY and its extended codes: another connection holds the lock. */
export function isBusy(error: unknown): boolean {
  return error instanceof SqliteError && error.code.startsWith("SQLITE_BUSY");
}

/** The name of the index or column a UNIQUE violation names, e.g. `customers.Email`. */
export function uniqueViolationTarget(error: unknown): string | undefined {
  if (!(error instanceof SqliteError) || error.code !== "SQLITE_CONSTRAINT_UNIQUE") return undefined;
  return /UNIQUE constraint failed: (.+)$/.exec(error.message)?.[1];
}
