import { status, type Deadline, type ServiceError, Metadata } from "@grpc/grpc-js";
import { boundedMessage } from "../client-text";
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

/** A status to send; its message is cut to 1 KiB, whatever went into it. */
export function serviceError(code: status, message: string): ServiceError {
  const details = boundedMessage(message);
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

/**
 * `callStatus` with its message cut to 1 KiB: the last bound, for the statuses
 * that libraries (grpc-health-check, grpc-js's handlers) write themselves.
 */
export function withBoundedMessage<S extends { details: string }>(callStatus: S): S {
  const details = boundedMessage(callStatus.details);
  return details === callStatus.details ? callStatus : { ...callStatus, details };
}
