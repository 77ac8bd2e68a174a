/**
 * Domain errors: what went wrong in terms of the business, independent of
 * transport. Repositories and validators throw these; src/grpc/status.ts is the
 * one place that turns them into gRPC statuses and their details. Messages are
 * written for clients and must never contain SQL, file paths or driver text;
 * metadata holds ids and limits, never a client's personal data.
 */

/**
 * google.rpc.ErrorInfo.reason, domain `chinook.v1`: stable, part of the
 * contract (README, "Error details"). A new reason is added here and there.
 */
export type ErrorReason =
  | InvalidArgumentReason
  | NotFoundReason
  | AlreadyExistsReason
  | FailedPreconditionReason
  | "TRANSACTION_CONFLICT"
  | UnavailableErrorReason
  | "STREAM_STALLED"
  | "INTERNAL";

export type InvalidArgumentReason =
  | "FIELD_INVALID"
  | "PAGE_TOKEN_INVALID"
  | "ORDER_BY_INVALID"
  | "UPDATE_MASK_INVALID"
  | "REQUEST_ID_REUSED"
  | "SUPPORT_REP_NOT_FOUND";
export type NotFoundReason =
  | "CUSTOMER_NOT_FOUND"
  | "CUSTOMER_ALREADY_DELETED"
  | "INVOICE_NOT_FOUND"
  | "TRACK_NOT_FOUND"
  | "SERVICE_NOT_FOUND";
export type AlreadyExistsReason = "EMAIL_TAKEN" | "CUSTOMER_NOT_DELETED" | "RESOURCE_EXISTS";
export type FailedPreconditionReason =
  | "ETAG_MISMATCH"
  | "CUSTOMER_DELETED"
  | "CUSTOMER_NOT_ACTIVE"
  | "CUSTOMER_MISSING"
  | "REFERENCE_MISSING";

export type UnavailableErrorReason = "DATABASE_UNAVAILABLE" | "SERVER_SHUTTING_DOWN";

/** google.rpc.ErrorInfo.metadata: ids and limits, never a client's personal data. */
export type ErrorMetadata = Readonly<Record<string, string>>;

/** google.rpc.ResourceInfo: a resource type (a proto type name) and its name, e.g. `customers/42`. */
export interface ResourceRef {
  readonly type: string;
  readonly name: string;
}

export const CUSTOMER_RESOURCE = "chinook.v1.Customer";
export const INVOICE_RESOURCE = "chinook.v1.Invoice";
/** Tracks are not an API resource: named by their Chinook table. */
export const TRACK_RESOURCE = "track";

export function customerResource(id: bigint): ResourceRef {
  return { type: CUSTOMER_RESOURCE, name: `customers/${id}` };
}

interface DetailOptions<Reason extends ErrorReason> extends ErrorOptions {
  readonly reason: Reason;
  readonly metadata?: ErrorMetadata;
}

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  abstract readonly errorReason: ErrorReason;
  readonly metadata: ErrorMetadata;

  constructor(message: string, options: ErrorOptions & { metadata?: ErrorMetadata } = {}) {
    super(message, options);
    this.metadata = options.metadata ?? {};
  }
}

export type DomainErrorKind =
  | "not_found"
  | "already_exists"
  | "invalid_argument"
  | "failed_precondition"
  | "aborted"
  | "unavailable"
  | "resource_exhausted";

interface ResourceOptions<Reason extends ErrorReason> extends DetailOptions<Reason> {
  /** Absent when naming it would tell a client more than it may know (a storage constraint). */
  readonly resource?: ResourceRef;
}

export class NotFoundError extends DomainError {
  readonly kind = "not_found";
  readonly errorReason: NotFoundReason;
  readonly resource: ResourceRef | undefined;

  constructor(message: string, options: ResourceOptions<NotFoundReason>) {
    super(message, options);
    this.errorReason = options.reason;
    this.resource = options.resource;
  }
}

export class AlreadyExistsError extends DomainError {
  readonly kind = "already_exists";
  readonly errorReason: AlreadyExistsReason;
  readonly resource: ResourceRef | undefined;

  constructor(message: string, options: ResourceOptions<AlreadyExistsReason>) {
    super(message, options);
    this.errorReason = options.reason;
    this.resource = options.resource;
  }

  /** A storage uniqueness constraint the domain did not check first: the client learns no more than that. */
  static constraint(cause: unknown): AlreadyExistsError {
    return new AlreadyExistsError("the resource already exists", { cause, reason: "RESOURCE_EXISTS" });
  }

  /** The same error, its message starting with `prefix` (a batch item's place). */
  withMessagePrefix(prefix: string): AlreadyExistsError {
    return new AlreadyExistsError(prefix + this.message, { reason: this.errorReason, resource: this.resource, metadata: this.metadata });
  }
}

/** google.rpc.BadRequest.FieldViolation: `field` is the proto path, e.g. `customer.email`. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/**
 * Request fields are wrong: every violation found, the first also as `field`.
 * The message is the violations as `${field}: ${description}`, joined by "; ".
 */
export class InvalidArgumentError extends DomainError {
  readonly kind = "invalid_argument";
  readonly errorReason: InvalidArgumentReason;
  readonly violations: readonly [FieldViolation, ...FieldViolation[]];

  constructor(
    readonly field: string,
    description: string,
    options: { reason?: InvalidArgumentReason; more?: readonly FieldViolation[]; metadata?: ErrorMetadata } = {},
  ) {
    const violations: [FieldViolation, ...FieldViolation[]] = [{ field, description }, ...(options.more ?? [])];
    super(violationsSentence(violations), options);
    this.errorReason = options.reason ?? "FIELD_INVALID";
    this.violations = violations;
  }

  /** Every violation of a request at once. */
  static of(
    [first, ...more]: readonly [FieldViolation, ...FieldViolation[]],
    reason?: InvalidArgumentReason,
  ): InvalidArgumentError {
    return new InvalidArgumentError(first.field, first.description, { reason, more });
  }

  /** The same error, each field path starting with `prefix` (a batch item's place). */
  withFieldPrefix(prefix: string): InvalidArgumentError {
    const [first, ...more] = this.violations.map(({ field, description }) => ({ field: prefix + field, description }));
    return new InvalidArgumentError(first?.field ?? prefix, first?.description ?? "", {
      reason: this.errorReason,
      more,
      metadata: this.metadata,
    });
  }
}

/**
 * The field violations of one request, gathered from checks that throw
 * InvalidArgumentError, so that the client hears of all of them at once.
 * Other errors (another reason, another kind) pass through at once.
 */
export class FieldViolations {
  private readonly found: FieldViolation[] = [];

  /** Whether `check` passed; its violations are kept when it did not. */
  passes(check: () => void): boolean {
    return this.value(() => {
      check();
      return true;
    }) ?? false;
  }

  /** What `check` returns, or undefined when it found violations (kept). */
  value<T>(check: () => T): T | undefined {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof InvalidArgumentError) || error.errorReason !== "FIELD_INVALID") throw error;
      this.found.push(...error.violations);
      return undefined;
    }
  }

  /** One InvalidArgumentError with every violation kept, if there is any. */
  throwIfAny(): void {
    const [first, ...more] = this.found;
    if (first !== undefined) throw InvalidArgumentError.of([first, ...more]);
  }
}

/** Violations the message spells out; google.rpc.BadRequest carries the rest. */
const MAX_VIOLATIONS_IN_MESSAGE = 10;

function violationsSentence(violations: readonly FieldViolation[]): string {
  const spelled = violations.slice(0, MAX_VIOLATIONS_IN_MESSAGE).map(({ field, description }) => `${field}: ${description}`);
  const more = violations.length - spelled.length;
  return more > 0 ? `${spelled.join("; ")}; and ${more} more` : spelled.join("; ");
}

/** google.rpc.PreconditionFailure: the violation's type is the reason; `subject` the resource, e.g. `customers/42`. */
export class FailedPreconditionError extends DomainError {
  readonly kind = "failed_precondition";
  readonly errorReason: FailedPreconditionReason;
  readonly subject: string;

  constructor(message: string, options: DetailOptions<FailedPreconditionReason> & { subject?: string }) {
    super(message, options);
    this.errorReason = options.reason;
    this.subject = options.subject ?? "";
  }

  /** A storage foreign key the domain did not check first. */
  static missingReference(cause: unknown): FailedPreconditionError {
    return new FailedPreconditionError("the change refers to a resource that does not exist", { cause, reason: "REFERENCE_MISSING" });
  }
}

/**
 * A transaction lost a race with another one (a serialization failure or a
 * deadlock) more often than it is retried: the client may retry the call.
 */
export class AbortedError extends DomainError {
  readonly kind = "aborted";
  readonly errorReason = "TRANSACTION_CONFLICT";
}

/** A limit of the server was hit (google.rpc.QuotaFailure): `subject` names it, `description` says how. */
export class ResourceExhaustedError extends DomainError {
  readonly kind = "resource_exhausted";
  readonly errorReason = "STREAM_STALLED";

  constructor(
    message: string,
    readonly limit: { readonly subject: string; readonly description: string },
    options: ErrorOptions & { metadata?: ErrorMetadata } = {},
  ) {
    super(message, options);
  }
}

/**
 * Why the database cannot serve, for the operator's log and metrics (never
 * told to the client): a fixed set, whatever the engine.
 */
export type UnavailableReason = "disk_full" | "out_of_memory" | "io" | "read_only" | "locked" | "timeout" | "connection" | "other";

/** How long a client is told to wait before retrying (google.rpc.RetryInfo). */
export const DEFAULT_RETRY_DELAY_MS = 1000;

interface UnavailableOptions extends ErrorOptions {
  readonly reason?: UnavailableReason;
  readonly errorReason?: UnavailableErrorReason;
  readonly retryDelayMs?: number;
}

/** The database cannot be reached or is busy beyond its timeout, or the server is stopping. */
export class UnavailableError extends DomainError {
  readonly kind = "unavailable";
  readonly errorReason: UnavailableErrorReason;
  readonly reason: UnavailableReason;
  readonly retryDelayMs: number;

  constructor(message: string, options: UnavailableOptions = {}) {
    super(message, options);
    this.reason = options.reason ?? "other";
    this.errorReason = options.errorReason ?? "DATABASE_UNAVAILABLE";
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  }

  /** What a call still running when the server stops is told: retry, elsewhere or later. */
  static shutDown(): UnavailableError {
    return new UnavailableError("the server shut down before the call finished", { errorReason: "SERVER_SHUTTING_DOWN" });
  }

  /**
   * What a client is told whenever the database is the reason. The driver's
   * error, when there is one, stays as the cause, for the server's log only.
   */
  static database(cause?: unknown, reason?: UnavailableReason): UnavailableError {
    return new UnavailableError("the database is unavailable; retry later", { cause, reason });
  }
}
