import { status, type Deadline, type ServiceError, Metadata } from "@grpc/grpc-js";
import { DomainError, type DomainErrorKind } from "../errors";

const codeOf: Record<DomainErrorKind, status> = {
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  invalid_argument: status.INVALID_ARGUMENT,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unavailable: status.UNAVAILABLE,
};

export const INTERNAL_MESSAGE = "internal error";

/**
 * The one mapping from errors to gRPC statuses. Domain errors keep their
 * client-facing message; anything else becomes INTERNAL with a generic message
 * (the caller logs the detail), so no SQL, path or stack reaches a client.
 */
export function toServiceError(error: unknown): ServiceError {
  if (error instanceof DomainError) {
    return serviceError(codeOf[error.kind], error.message);
  }
  return serviceError(status.INTERNAL, INTERNAL_MESSAGE);
}

/** Whether a call's deadline (a Date, or ms since the epoch; Infinity for none) has passed. */
export function deadlineHasPassed(deadline: Deadline): boolean {
  return (deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now();
}

/** True when the error is not one the domain expected, i.e. worth logging with detail. */
export function isUnexpected(error: unknown): boolean {
  return !(error instanceof DomainError);
}

export function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}
