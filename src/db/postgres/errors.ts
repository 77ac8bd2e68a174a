import { translating } from "../translating";
import { DatabaseError } from "pg";
import { AbortedError, AlreadyExistsError, DomainError, FailedPreconditionError, UnavailableError, type UnavailableReason } from "../../errors";

/** The primary key of request_ids (migrations/postgres/0003_request_ids.ts). */
export const REQUEST_IDS_PRIMARY_KEY = "request_ids_pk";

/** SQLSTATEs of a transaction that lost a race: the whole unit of work may run again. */
const SERIALIZATION_FAILURE = "40001";
const DEADLOCK_DETECTED = "40P01";
const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";

/**
 * SQLSTATEs that mean "the database cannot serve this now; try again later",
 * and why: class 08 (connection exceptions) and the rest of class 53
 * (insufficient resources) are matched by class below.
 */
const UNAVAILABLE_STATES = new Map<string, UnavailableReason>([
  ["57P01", "connection"], // admin_shutdown
  ["57P02", "connection"], // crash_shutdown
  ["57P03", "connection"], // cannot_connect_now (starting up, shutting down, recovering)
  ["57014", "timeout"], // query_canceled: statement_timeout
  ["55P03", "locked"], // lock_not_available: lock_timeout
  ["25006", "read_only"], // read_only_sql_transaction: a standby after a failover
  ["53100", "disk_full"],
  ["53200", "out_of_memory"],
  ["53300", "connection"], // too_many_connections
]);
const UNAVAILABLE_CLASSES = new Map<string, UnavailableReason>([
  ["08", "connection"],
  ["53", "other"],
]);

/** Node's socket errors. */
const UNAVAILABLE_NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

/** pg's own errors (no SQLSTATE) when a connection cannot be had or is lost. */
const UNAVAILABLE_DRIVER_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error and is not queryable/,
  /^Query read timeout/,
  /^Cannot use a pool after calling end on the pool/,
  /^Client was closed and is not queryable/,
];

/** The SQLSTATE of a server error, or undefined for anything else. */
function sqlState(error: unknown): string | undefined {
  return error instanceof DatabaseError ? error.code : undefined;
}

/** Why the database cannot serve this now, or undefined when that is not what the error says. */
function unavailableReason(error: unknown): UnavailableReason | undefined {
  const state = sqlState(error);
  if (state !== undefined) return UNAVAILABLE_STATES.get(state) ?? UNAVAILABLE_CLASSES.get(state.slice(0, 2));
  return isConnectionLost(error) ? "connection" : undefined;
}

function isConnectionLost(error: unknown): boolean {
  // Duck-typed: Node's socket errors may come from another realm (jest's), where instanceof Error fails.
  if (typeof error !== "object" || error === null) return false;
  const nested = "errors" in error && Array.isArray(error.errors) ? (error.errors as unknown[]) : [];
  if (nested.some((inner) => unavailableReason(inner) !== undefined)) return true; // an AggregateError: one per address tried
  const code = "code" in error && typeof error.code === "string" ? error.code : undefined;
  if (code !== undefined && UNAVAILABLE_NODE_CODES.has(code)) return true;
  const message = "message" in error && typeof error.message === "string" ? error.message : "";
  return UNAVAILABLE_DRIVER_MESSAGES.some((pattern) => pattern.test(message));
}

/**
 * A serialization failure or a deadlock: the transaction lost a race and
 * changed nothing, so running the whole unit of work again is safe. So is a
 * duplicate request_id: two retries of one request raced, and the one run
 * again finds the first one's answer.
 */
export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  if (state === SERIALIZATION_FAILURE || state === DEADLOCK_DETECTED) return true;
  return uniqueViolationConstraint(error) === REQUEST_IDS_PRIMARY_KEY;
}

/**
 * The constraint or unique index a unique violation names, e.g.
 * `customers_live_email_key`, from the driver's error or from the cause of the
 * AlreadyExistsError it was translated into.
 */
export function uniqueViolationConstraint(error: unknown): string | undefined {
  const driverError = error instanceof AlreadyExistsError ? error.cause : error;
  if (!(driverError instanceof DatabaseError) || driverError.code !== UNIQUE_VIOLATION) return undefined;
  return driverError.constraint;
}

/**
 * Turns a driver error into a domain error with a client-safe message (the
 * driver's error stays as its cause, for the server's log only), or returns it
 * unchanged when it is a bug (INTERNAL, logged with its detail).
 */
export function translatePostgresError(error: unknown): unknown {
  if (error instanceof DomainError) return error;
  const reason = unavailableReason(error);
  if (reason !== undefined) return UnavailableError.database(error, reason);
  const state = sqlState(error);
  if (state === SERIALIZATION_FAILURE || state === DEADLOCK_DETECTED) {
    return new AbortedError("the transaction conflicted with another one; retry", { cause: error });
  }
  if (state === UNIQUE_VIOLATION) return AlreadyExistsError.constraint(error);
  if (state === FOREIGN_KEY_VIOLATION) return FailedPreconditionError.missingReference(error);
  return error;
}

/** Runs a database call, translating driver errors on the way out. */
export const translatingErrors = translating(translatePostgresError);
