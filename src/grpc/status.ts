import { status, type Deadline, type ServiceError, Metadata } from "@grpc/grpc-js";
import { create, toBinary, type DescMessage, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  BadRequest_FieldViolationSchema,
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb";
import { StatusSchema } from "../../gen/google/rpc/status_pb";
import { boundedMessage } from "../client-text";
import {
  AlreadyExistsError,
  DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  type DomainErrorKind,
  type ErrorMetadata,
  type ErrorReason,
  type FieldViolation,
} from "../errors";

const codeOf: Record<DomainErrorKind, status> = {
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  invalid_argument: status.INVALID_ARGUMENT,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
};

/** google.rpc.ErrorInfo.domain of every error this service sends. */
export const ERROR_DOMAIN = "chinook.v1";
/** The trailer carrying a binary google.rpc.Status with the details (AIP-193). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
/**
 * What BadRequest's field violations may take, encoded: with the message
 * (1 KiB) and ErrorInfo, the trailer stays well under a client's metadata
 * limit. Violations beyond it are counted in ErrorInfo's metadata instead.
 */
const MAX_FIELD_VIOLATION_BYTES = 2048;
/** A repeated field's tag and length prefix, at most, for a violation under the bound above. */
const REPEATED_FIELD_OVERHEAD_BYTES = 3;

export const INTERNAL_MESSAGE = "internal error";

/**
 * One google.rpc detail, a message with its schema: the gRPC door packs it in
 * a google.protobuf.Any, the HTTP door hands it to Connect's ConnectError.
 */
export interface ErrorDetail {
  readonly desc: DescMessage;
  readonly value: Message;
}

/** What a failed call answers, on every door: its code, a message for the client (at most 1 KiB), and google.rpc details. */
export interface RpcStatus {
  readonly code: status;
  readonly message: string;
  readonly details: readonly ErrorDetail[];
}

/**
 * The one mapping from errors to statuses. Domain errors keep their
 * client-facing message; anything else becomes INTERNAL with a generic message
 * (the caller logs the detail), so no SQL, path or stack reaches a client.
 */
export function toRpcStatus(error: unknown): RpcStatus {
  if (error instanceof DomainError) {
    return rpcStatus(codeOf[error.kind], error.message, detailsOf(error));
  }
  return rpcStatus(status.INTERNAL, INTERNAL_MESSAGE, [errorInfo("INTERNAL")]);
}

/** toRpcStatus, rendered for grpc-js. */
export function toServiceError(error: unknown): ServiceError {
  const { code, message, details } = toRpcStatus(error);
  return serviceError(code, message, details);
}

function rpcStatus(code: status, message: string, details: readonly ErrorDetail[]): RpcStatus {
  return { code, message: boundedMessage(message), details };
}

function detail<Desc extends DescMessage>(desc: Desc, init: MessageInitShape<Desc>): ErrorDetail {
  return { desc, value: create(desc, init) };
}

/** ErrorInfo always, then the detail AIP-193 asks for the error's code. */
function detailsOf(error: DomainError): ErrorDetail[] {
  if (error instanceof InvalidArgumentError) return badRequestDetails(error);
  return [errorInfo(error.errorReason, error.metadata), ...codeSpecificDetails(error)];
}

function codeSpecificDetails(error: DomainError): ErrorDetail[] {
  const description = boundedMessage(error.message);
  if (error instanceof NotFoundError || error instanceof AlreadyExistsError) {
    const resource = { resourceType: error.resource?.type, resourceName: error.resource?.name, description };
    return [detail(ResourceInfoSchema, resource)];
  }
  if (error instanceof FailedPreconditionError) {
    const violation = { type: error.errorReason, subject: error.subject, description };
    return [detail(PreconditionFailureSchema, { violations: [violation] })];
  }
  if (error instanceof UnavailableError) {
    return [detail(RetryInfoSchema, { retryDelay: durationFromMs(error.retryDelayMs) })];
  }
  if (error instanceof ResourceExhaustedError) {
    return [detail(QuotaFailureSchema, { violations: [error.limit] })];
  }
  return [];
}

function badRequestDetails(error: InvalidArgumentError): ErrorDetail[] {
  const sent = violationsWithinBound(error.violations);
  const omitted = error.violations.length - sent.length;
  const metadata = omitted === 0 ? error.metadata : { ...error.metadata, omittedFieldViolations: String(omitted) };
  return [errorInfo(error.errorReason, metadata), detail(BadRequestSchema, { fieldViolations: [...sent] })];
}

/** The leading violations whose encoding fits MAX_FIELD_VIOLATION_BYTES. */
function violationsWithinBound(violations: readonly FieldViolation[]): readonly FieldViolation[] {
  let bytes = 0;
  for (const [index, violation] of violations.entries()) {
    bytes += toBinary(BadRequest_FieldViolationSchema, create(BadRequest_FieldViolationSchema, violation)).length;
    bytes += REPEATED_FIELD_OVERHEAD_BYTES;
    if (bytes > MAX_FIELD_VIOLATION_BYTES) return violations.slice(0, index);
  }
  return violations;
}

function errorInfo(reason: ErrorReason, metadata: ErrorMetadata = {}): ErrorDetail {
  return detail(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata: { ...metadata } });
}

/** Whether a call's deadline (a Date, or ms since the epoch; Infinity for none) has passed. */
export function deadlineHasPassed(deadline: Deadline): boolean {
  return (deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now();
}

/** True when the error is not one the domain expected, i.e. worth logging with detail. */
export function isUnexpected(error: unknown): boolean {
  return !(error instanceof DomainError);
}

/**
 * A status to send; its message is cut to 1 KiB, whatever went into it. With
 * `details`, a google.rpc.Status carrying them goes in grpc-status-details-bin.
 */
export function serviceError(code: status, message: string, details: readonly ErrorDetail[] = []): ServiceError {
  const text = boundedMessage(message);
  const metadata = new Metadata();
  if (details.length > 0) {
    const packed = details.map(({ desc, value }) => anyPack(desc, value));
    const googleStatus = create(StatusSchema, { code, message: text, details: packed });
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, googleStatus)));
  }
  return Object.assign(new Error(text), { code, details: text, metadata });
}

/**
 * `callStatus` with its message cut to 1 KiB: the last bound, for the statuses
 * that libraries (grpc-health-check, grpc-js's handlers) write themselves.
 */
export function withBoundedMessage<S extends { details: string }>(callStatus: S): S {
  const details = boundedMessage(callStatus.details);
  return details === callStatus.details ? callStatus : { ...callStatus, details };
}
