import { ConnectError } from "@connectrpc/connect";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
  type BadRequest,
  type ErrorInfo,
  type PreconditionFailure,
  type QuotaFailure,
  type ResourceInfo,
  type RetryInfo,
} from "../../gen/google/rpc/error_details_pb";

/**
 * The google.rpc details the service attaches to an error status (AIP-193).
 * ErrorInfo is always there (its `reason` is the machine-readable cause,
 * `domain` is "chinook.v1"); the others depend on the code.
 */
export interface ErrorDetails {
  readonly errorInfo?: ErrorInfo;
  /** INVALID_ARGUMENT: every field violation. */
  readonly badRequest?: BadRequest;
  /** FAILED_PRECONDITION: what the request's state contradicts (e.g. a stale etag). */
  readonly preconditionFailure?: PreconditionFailure;
  /** NOT_FOUND, ALREADY_EXISTS: the resource concerned. */
  readonly resourceInfo?: ResourceInfo;
  /** UNAVAILABLE: how long to wait before retrying. */
  readonly retryInfo?: RetryInfo;
  /** RESOURCE_EXHAUSTED: the limit that was hit. */
  readonly quotaFailure?: QuotaFailure;
}

/** The details of a failed call's error (anything a call threw); empty for an error that carries none. */
export function errorDetails(error: unknown): ErrorDetails {
  const connectError = ConnectError.from(error);
  return {
    errorInfo: firstDetail(connectError, ErrorInfoSchema),
    badRequest: firstDetail(connectError, BadRequestSchema),
    preconditionFailure: firstDetail(connectError, PreconditionFailureSchema),
    resourceInfo: firstDetail(connectError, ResourceInfoSchema),
    retryInfo: firstDetail(connectError, RetryInfoSchema),
    quotaFailure: firstDetail(connectError, QuotaFailureSchema),
  };
}

function firstDetail<Desc extends DescMessage>(error: ConnectError, schema: Desc): MessageShape<Desc> | undefined {
  return error.findDetails(schema)[0];
}

