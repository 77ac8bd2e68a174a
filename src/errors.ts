/**
 * Domain errors: what went wrong in terms of the business, independent of
 * transport. Repositories and validators throw these; src/grpc/status.ts is the
 * one place that turns them into gRPC status codes. Messages are written for
 * clients and must never contain SQL, file paths or driver text.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
}

export type DomainErrorKind =
  | "not_found"
  | "already_exists"
  | "invalid_argument"
  | "failed_precondition"
  | "aborted"
  | "unavailable";

export class NotFoundError extends DomainError {
  readonly kind = "not_found";
}

export class AlreadyExistsError extends DomainError {
  readonly kind = "already_exists";
}

/** A request field is wrong; `field` is its proto name, e.g. `customer.email`. */
export class InvalidArgumentError extends DomainError {
  readonly kind = "invalid_argument";
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export class FailedPreconditionError extends DomainError {
  readonly kind = "failed_precondition";
}

/**
 * A transaction lost a race with another one (a serialization failure or a
 * deadlock) more often than it is retried: the client may retry the call.
 */
export class AbortedError extends DomainError {
  readonly kind = "aborted";
}

/**
 * Why the database cannot serve, for the operator's log and metrics (never
 * told to the client): a fixed set, whatever the engine.
 */
export type UnavailableReason = "disk_full" | "out_of_memory" | "io" | "read_only" | "locked" | "timeout" | "connection" | "other";

/** The database cannot be reached or is busy beyond its timeout. */
export class UnavailableError extends DomainError {
  readonly kind = "unavailable";
  readonly reason: UnavailableReason;

  constructor(message: string, options: ErrorOptions & { reason?: UnavailableReason } = {}) {
    super(message, options);
    this.reason = options.reason ?? "other";
  }

  /**
   * What a client is told whenever the database is the reason. The driver's
   * error, when there is one, stays as the cause, for the server's log only.
   */
  static database(cause?: unknown, reason?: UnavailableReason): UnavailableError {
    return new UnavailableError("the database is unavailable; retry later", { cause, reason });
  }
}
