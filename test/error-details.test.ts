/**
 * Every error status carries a google.rpc.Status in grpc-status-details-bin
 * (AIP-193): read here as a program reads it, through the public client
 * (`chinook-grpc/client`) and its errorDetails().
 */
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { renameSync } from "node:fs";
import path from "node:path";
import {
  Code,
  ConnectError,
  createChinookClient,
  CustomerService,
  CustomerStatus,
  errorDetails,
  type ChinookClient,
  type ErrorDetails,
  type ErrorInfo,
} from "chinook-grpc/client";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb";
import { MAX_STATUS_MESSAGE_BYTES } from "../src/client-text";
import { AbortedError, ResourceExhaustedError, UnavailableError } from "../src/errors";
import { adaptService } from "../src/grpc/adapter";
import { ERROR_DOMAIN, STATUS_DETAILS_KEY } from "../src/grpc/status";
import { bindEphemeral, unusedCustomerHandlers } from "./support/grpc-server";
import { sqliteDatabaseOf, startTestServer, TEST_ENGINE, type TestServer } from "./support/server";

const MISSING_ID = 999_999n;
const TAKEN_EMAIL = "luisg@embraer.com.br"; // Chinook's customer 1
const BUF = path.resolve(__dirname, "../node_modules/.bin/buf");

interface Failure {
  readonly error: ConnectError;
  readonly details: ErrorDetails;
}

/** The error a call failed with, and its details. */
async function failureOf(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(error)}`);
    return { error, details: errorDetails(error) };
  }
  throw new Error("expected the call to fail");
}

/**
 * Checks what every error status carries, and returns its ErrorInfo. Connect
 * reads the code and message from grpc-status-details-bin alone, so the
 * trailer's grpc-status and grpc-message are checked against them here.
 */
function expectStatus({ error, details }: Failure, code: Code, reason: string): ErrorInfo {
  expect(Code[error.code]).toBe(Code[code]);
  expect(error.metadata.get("grpc-status")).toBe(String(code));
  expect(decodeURIComponent(error.metadata.get("grpc-message") ?? "")).toBe(error.rawMessage);
  expect(Buffer.byteLength(error.rawMessage)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
  const types = error.details.map((detail) => ("type" in detail ? detail.type : detail.desc.typeName));
  expect(new Set(types).size).toBe(types.length);
  const info = details.errorInfo;
  if (info === undefined) throw new Error(`no ErrorInfo in ${types.join(", ")}`);
  expect({ reason: info.reason, domain: info.domain }).toEqual({ reason, domain: ERROR_DOMAIN });
  return info;
}

/** The trailer as sent, decoded from base64: what a client without our types would see. */
function statusTrailer({ error }: Failure): string {
  return Buffer.from(error.metadata.get(STATUS_DETAILS_KEY) ?? "", "base64").toString("latin1");
}

describe("error details from the real service", () => {
  let server: TestServer;
  let client: ChinookClient;
  let customers: ChinookClient["customers"];
  let invoices: ChinookClient["invoices"];

  beforeAll(async () => {
    server = await startTestServer();
    client = createChinookClient({ address: server.address });
    ({ customers, invoices } = client);
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it("NOT_FOUND: ErrorInfo and ResourceInfo naming the customer", async () => {
    const failure = await failureOf(customers.getCustomer({ customerId: MISSING_ID }));

    const info = expectStatus(failure, Code.NotFound, "CUSTOMER_NOT_FOUND");
    expect(info.metadata).toEqual({ customerId: String(MISSING_ID) });
    expect(failure.details.resourceInfo).toMatchObject({
      resourceType: "chinook.v1.Customer",
      resourceName: `customers/${MISSING_ID}`,
    });
  });

  it("INVALID_ARGUMENT: BadRequest lists every field violation, the message names them all", async () => {
    const customer = { firstName: "x".repeat(41), lastName: "Valid", email: "not an address" };
    const failure = await failureOf(customers.createCustomer({ customer }));

    expectStatus(failure, Code.InvalidArgument, "FIELD_INVALID");
    const violations = failure.details.badRequest?.fieldViolations.map(({ field, description }) => ({
      field,
      description,
    }));
    expect(violations).toEqual([
      { field: "customer.first_name", description: "must be at most 40 characters, got 41" },
      { field: "customer.email", description: "must be a valid email address" },
    ]);
    expect(failure.error.rawMessage).toBe(
      "customer.first_name: must be at most 40 characters, got 41; customer.email: must be a valid email address",
    );
  });

  it("INVALID_ARGUMENT: the request's own fields are listed with the customer's", async () => {
    const customer = { firstName: "Valid", lastName: "Valid", email: "not an address" };
    const failure = await failureOf(customers.createCustomer({ customer, requestId: "not-a-uuid" }));

    expectStatus(failure, Code.InvalidArgument, "FIELD_INVALID");
    expect(failure.details.badRequest?.fieldViolations.map(({ field }) => field)).toEqual([
      "request_id",
      "customer.email",
    ]);
  });

  it("INVALID_ARGUMENT: every violation of a CreateInvoice request", async () => {
    const lines = [
      { trackId: 0n, quantity: 1 },
      { trackId: 1n, quantity: 0 },
    ];
    const failure = await failureOf(invoices.createInvoice({ customerId: 0n, lines }));

    expectStatus(failure, Code.InvalidArgument, "FIELD_INVALID");
    expect(failure.details.badRequest?.fieldViolations.map(({ field }) => field)).toEqual([
      "customer_id",
      "lines[0].track_id",
      "lines[1].quantity",
    ]);
  });

  it("NOT_FOUND: a health check of an unknown service", async () => {
    // Health is not part of the Chinook client; any Connect client reads the same details.
    const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${server.address}` }));
    const failure = await failureOf(health.check({ service: "no.such.Service" }));

    expectStatus(failure, Code.NotFound, "SERVICE_NOT_FOUND");
    expect(failure.details.resourceInfo?.resourceName).toBe("no.such.Service");
  });

  it("INVALID_ARGUMENT: a batch item's violations carry its place in the batch", async () => {
    const valid = { firstName: "Ok", lastName: "Fine", email: "batch.ok@example.test" };
    const invalid = { firstName: "", lastName: "", email: "batch.bad@example.test" };
    const failure = await failureOf(customers.batchCreateCustomers({ requests: [{ customer: valid }, { customer: invalid }] }));

    expectStatus(failure, Code.InvalidArgument, "FIELD_INVALID");
    expect(failure.details.badRequest?.fieldViolations.map(({ field }) => field)).toEqual([
      "requests[1].customer.first_name",
      "requests[1].customer.last_name",
    ]);
  });

  it("INVALID_ARGUMENT: a bad page token has its own reason", async () => {
    const failure = await failureOf(customers.listCustomers({ pageToken: "not-a-token" }));

    expectStatus(failure, Code.InvalidArgument, "PAGE_TOKEN_INVALID");
    expect(failure.details.badRequest?.fieldViolations.map(({ field }) => field)).toEqual(["page_token"]);
  });

  it("INVALID_ARGUMENT: violations past the trailer's bound are counted, and the message stays within 1 KiB", async () => {
    const tags = Array.from({ length: 100 }, (_, index) => `${index}`.padEnd(65, "t"));
    const customer = { firstName: "Many", lastName: "Tags", email: "many.tags@example.test", profile: { tags } };
    const failure = await failureOf(customers.createCustomer({ customer }));

    const info = expectStatus(failure, Code.InvalidArgument, "FIELD_INVALID");
    const sent = failure.details.badRequest?.fieldViolations ?? [];
    expect(sent.length).toBeGreaterThan(5);
    expect(sent[0]?.field).toBe("customer.profile.tags[0]");
    expect(Number(info.metadata.omittedFieldViolations)).toBe(tags.length - sent.length);
  });

  it("ALREADY_EXISTS: EMAIL_TAKEN with ResourceInfo, and the email repeated nowhere in the details", async () => {
    const customer = { firstName: "Second", lastName: "Luis", email: TAKEN_EMAIL };
    const failure = await failureOf(customers.createCustomer({ customer }));

    const info = expectStatus(failure, Code.AlreadyExists, "EMAIL_TAKEN");
    expect(info.metadata).toEqual({});
    expect(failure.details.resourceInfo?.resourceType).toBe("chinook.v1.Customer");
    expect(statusTrailer(failure)).not.toContain(TAKEN_EMAIL);
  });

  it("ALREADY_EXISTS: undeleting a live customer", async () => {
    const failure = await failureOf(customers.undeleteCustomer({ customerId: 2n }));

    expectStatus(failure, Code.AlreadyExists, "CUSTOMER_NOT_DELETED");
    expect(failure.details.resourceInfo?.resourceName).toBe("customers/2");
  });

  it("FAILED_PRECONDITION: ETAG_MISMATCH with a PreconditionFailure on the customer", async () => {
    const customer = { customerId: 3n, city: "Elsewhere", etag: '"stale"' };
    const failure = await failureOf(customers.updateCustomer({ customer, updateMask: { paths: ["city"] } }));

    expectStatus(failure, Code.FailedPrecondition, "ETAG_MISMATCH");
    const [violation] = failure.details.preconditionFailure?.violations ?? [];
    expect(violation).toMatchObject({ type: "ETAG_MISMATCH", subject: "customers/3" });
  });

  it("FAILED_PRECONDITION: CUSTOMER_NOT_ACTIVE for an invoice to an inactive customer", async () => {
    const inactive = await customers.createCustomer({
      customer: { firstName: "Idle", lastName: "Buyer", email: "idle.buyer@example.test", status: CustomerStatus.INACTIVE },
    });
    const lines = [{ trackId: 1n, quantity: 1 }];
    const failure = await failureOf(invoices.createInvoice({ customerId: inactive.customerId, lines }));

    const info = expectStatus(failure, Code.FailedPrecondition, "CUSTOMER_NOT_ACTIVE");
    expect(info.metadata).toEqual({ customerId: String(inactive.customerId) });
    const [violation] = failure.details.preconditionFailure?.violations ?? [];
    expect(violation?.subject).toBe(`customers/${inactive.customerId}`);
  });

  (TEST_ENGINE === "sqlite" ? it : it.skip)("UNAVAILABLE: DATABASE_UNAVAILABLE with a RetryInfo delay", async () => {
    const { path: databasePath } = sqliteDatabaseOf(server.app);
    renameSync(databasePath, `${databasePath}.away`);
    try {
      await server.app.health.check();
      const failure = await failureOf(customers.getCustomer({ customerId: 1n }));

      expectStatus(failure, Code.Unavailable, "DATABASE_UNAVAILABLE");
      const delay = failure.details.retryInfo?.retryDelay;
      expect(Number(delay?.seconds ?? 0n) * 1000 + (delay?.nanos ?? 0) / 1e6).toBeGreaterThan(0);
    } finally {
      renameSync(`${databasePath}.away`, databasePath);
      await server.app.health.check();
    }
  });

  // buf curl prints details it has no compiled-in type for as base64; grpcurl
  // resolves them through reflection (test/reflection.test.ts serves google.rpc).
  it("reach a Go client (buf curl) as google.rpc details", async () => {
    const stderr = await bufCurlFailure([
      "--data",
      JSON.stringify({ customerId: String(MISSING_ID) }),
      `http://${server.address}/chinook.v1.CustomerService/GetCustomer`,
    ]);

    const printed = JSON.parse(stderr) as { code: string; details: Array<{ type: string; value: string }> };
    expect(printed.code).toBe("not_found");
    expect(printed.details.map(({ type }) => type)).toEqual(["google.rpc.ErrorInfo", "google.rpc.ResourceInfo"]);
    const info = fromBinary(ErrorInfoSchema, Buffer.from(printed.details[0]?.value ?? "", "base64"));
    expect(info.reason).toBe("CUSTOMER_NOT_FOUND");
  });
});

/** Runs a `buf curl` expected to fail; resolves with what it wrote to stderr. */
function bufCurlFailure(args: readonly string[]): Promise<string> {
  const command = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args];
  return new Promise((resolve, reject) => {
    execFile(BUF, command, { timeout: 20_000 }, (error, _stdout, stderr) => {
      if (error !== null && typeof error.code === "number") resolve(stderr);
      else reject(error ?? new Error("buf curl succeeded"));
    });
  });
}

describe("error details of statuses the real service rarely sends", () => {
  const EXHAUSTED_ID = 1n;
  const CONFLICT_ID = 2n;
  const SHUT_DOWN_ID = 4n;
  let server: grpc.Server;
  let client: ChinookClient;

  beforeAll(async () => {
    server = new grpc.Server();
    const service = adaptService(CustomerService, {
      ...unusedCustomerHandlers(),
      async getCustomer({ customerId }) {
        if (customerId === EXHAUSTED_ID) {
          throw new ResourceExhaustedError("the client accepted nothing of this stream for 10 ms", {
            subject: "GRPC_STREAM_STALL_TIMEOUT_MS",
            description: "10 ms without the client accepting a message",
          });
        }
        if (customerId === CONFLICT_ID) throw new AbortedError("the transaction conflicted with another one; retry");
        if (customerId === SHUT_DOWN_ID) throw UnavailableError.shutDown();
        throw new Error("SQLITE_CORRUPT: SELECT * FROM customers in /secret/path/chinook.db");
      },
    });
    server.addService(service.definition, service.implementation);
    const port = await bindEphemeral(server);
    client = createChinookClient({ address: `127.0.0.1:${port}` });
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it("INTERNAL: reason INTERNAL and nothing of the cause", async () => {
    const failure = await failureOf(client.customers.getCustomer({ customerId: 3n }));

    const info = expectStatus(failure, Code.Internal, "INTERNAL");
    expect(info.metadata).toEqual({});
    expect(failure.error.details).toHaveLength(1);
    expect(statusTrailer(failure)).not.toMatch(/SQLITE|SELECT|secret/);
  });

  it("RESOURCE_EXHAUSTED: a QuotaFailure naming the limit hit", async () => {
    const failure = await failureOf(client.customers.getCustomer({ customerId: EXHAUSTED_ID }));

    expectStatus(failure, Code.ResourceExhausted, "STREAM_STALLED");
    expect(failure.details.quotaFailure?.violations).toMatchObject([{ subject: "GRPC_STREAM_STALL_TIMEOUT_MS" }]);
  });

  it("ABORTED: reason TRANSACTION_CONFLICT", async () => {
    const failure = await failureOf(client.customers.getCustomer({ customerId: CONFLICT_ID }));

    expectStatus(failure, Code.Aborted, "TRANSACTION_CONFLICT");
  });

  it("UNAVAILABLE: SERVER_SHUTTING_DOWN with a RetryInfo", async () => {
    const failure = await failureOf(client.customers.getCustomer({ customerId: SHUT_DOWN_ID }));

    expectStatus(failure, Code.Unavailable, "SERVER_SHUTTING_DOWN");
    expect(failure.details.retryInfo?.retryDelay).toBeDefined();
  });
});
