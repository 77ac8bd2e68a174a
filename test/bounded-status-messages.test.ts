import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb";
import * as reflection from "../gen/grpc/reflection/v1/reflection_pb";
import { boundedMessage, MAX_STATUS_MESSAGE_BYTES, quoteClientValue } from "../src/client-text";
import { startTestServer, type TestServer } from "./support/server";
import { failureOf } from "./support/errors";

const ONE_MB = 1024 * 1024;
const HUGE = "k".repeat(ONE_MB);
/** Long enough that no call, stalled or not, should take it: a stalled channel waits until it passes. */
const DEADLINE_MS = 5000;
const CUT_MARK = "…";

function withDeadline(): { deadline: number } {
  return { deadline: Date.now() + DEADLINE_MS };
}

function newCustomer(overrides: Record<string, unknown> = {}) {
  return { firstName: "Long", lastName: "Echo", email: `${randomUUID()}@example.com`, ...overrides };
}

/** The status a client got: the right code, a bounded message, and the cut marked. */
function expectBoundedEcho(error: grpc.ServiceError, code: grpc.status): void {
  expect(grpc.status[error.code]).toBe(grpc.status[code]);
  expect(Buffer.byteLength(error.details)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
  expect(error.details).toContain(CUT_MARK);
  expect(error.details).not.toContain("\uFFFD");
}

describe("status messages echoing a client's value", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  /** A call right after, on the same channel, is answered well before its deadline. */
  async function expectChannelServes(): Promise<void> {
    const customer = await server.client(CustomerService).getCustomer({ customerId: 1n }, withDeadline());
    expect(customer.customerId).toBe(1n);
  }

  it("CreateCustomer with a 1 MB attribute key: INVALID_ARGUMENT, the key cut", async () => {
    const customers = server.client(CustomerService);
    const customer = newCustomer({ profile: { attributes: { [HUGE]: "v" } } });

    const error = await failureOf(customers.createCustomer({ customer }, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^customer\.profile\.attributes\["k{48}…" \(1048576 characters\)\]: key must be at most 64/);
    await expectChannelServes();
  });

  it("CreateCustomer with a 1 MB key of emoji: cut between two characters, never inside one", async () => {
    const customers = server.client(CustomerService);
    const key = "😀".repeat(ONE_MB / 4);
    const customer = newCustomer({ profile: { attributes: { [key]: "v" } } });

    const error = await failureOf(customers.createCustomer({ customer }, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain(`"${"😀".repeat(48)}…" (${ONE_MB / 4} characters)`);
    await expectChannelServes();
  });

  it("CreateCustomer with a 1 MB key of control characters, each escaped when quoted: still bounded", async () => {
    const customers = server.client(CustomerService);
    const customer = newCustomer({ profile: { attributes: { ["\u0001".repeat(ONE_MB)]: "v" } } });

    const error = await failureOf(customers.createCustomer({ customer }, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    await expectChannelServes();
  });

  it("BatchCreateCustomers with a 1 MB attribute key: INVALID_ARGUMENT naming the item, the key cut", async () => {
    const customers = server.client(CustomerService);
    const requests = [{ customer: newCustomer() }, { customer: newCustomer({ profile: { attributes: { [HUGE]: "v" } } }) }];

    const error = await failureOf(customers.batchCreateCustomers({ requests }, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^requests\[1\]\.customer\.profile\.attributes\["k{48}…"/);
    await expectChannelServes();
  });

  it("UpdateCustomer with a 1 MB update_mask path: INVALID_ARGUMENT, the path cut", async () => {
    const customers = server.client(CustomerService);
    const request = { customer: { customerId: 1n, company: "Changed" }, updateMask: { paths: [HUGE] } };

    const error = await failureOf(customers.updateCustomer(request, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe(`update_mask: unknown field path "${"k".repeat(48)}…" (1048576 characters)`);
    await expectChannelServes();
  });

  it("UpdateCustomer with a 1 MB path into the profile: INVALID_ARGUMENT, the path cut", async () => {
    const customers = server.client(CustomerService);
    const request = { customer: { customerId: 1n }, updateMask: { paths: [`profile.${HUGE}`] } };

    const error = await failureOf(customers.updateCustomer(request, withDeadline()));

    expectBoundedEcho(error, grpc.status.INVALID_ARGUMENT);
    await expectChannelServes();
  });

  it("a call of an unknown method with a 40,000-character path: UNIMPLEMENTED, the path cut", async () => {
    const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
    try {
      const path = `/chinook.v1.CustomerService/${"m".repeat(40_000)}`;
      const identity = (bytes: Buffer) => bytes;
      const error = await failureOf(
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(path, identity, identity, Buffer.alloc(0), withDeadline(), (err, value) => (err ? reject(err) : resolve(value))),
        ),
      );
      expectBoundedEcho(error, grpc.status.UNIMPLEMENTED);
      expect(error.details).toMatch(/^The server does not implement the method "\/chinook\.v1\.CustomerService\/m+…" \(40028 characters\)$/);
    } finally {
      client.close();
    }
    await expectChannelServes();
  });

  it("a call with a 40,000-character grpc-timeout header: INTERNAL, the header cut", async () => {
    const session = http2.connect(`http://${server.address}`);
    try {
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/chinook.v1.CustomerService/GetCustomer",
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": "x".repeat(40_000),
        });
        let last: http2.IncomingHttpHeaders = {};
        stream.on("response", (headers) => (last = headers));
        stream.on("trailers", (headers) => (last = headers));
        stream.on("error", reject);
        stream.on("close", () => resolve(last));
        stream.end(Buffer.alloc(5));
      });
      const message = decodeURIComponent(String(trailers["grpc-message"]));
      expect(Number(trailers["grpc-status"])).toBe(grpc.status.INTERNAL);
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
      expect(message).toBe(`Invalid grpc-timeout value "${"x".repeat(48)}... (40000 characters)"`);
    } finally {
      session.close();
    }
  });

  it("Health/Check of a 1 MB service name: NOT_FOUND, the name cut", async () => {
    const health = server.client(Health);

    const error = await failureOf(health.check({ service: HUGE }, withDeadline()));

    expectBoundedEcho(error, grpc.status.NOT_FOUND);
    expect(error.details).toBe(`Health status unknown for service "${"k".repeat(48)}…" (1048576 characters)`);
    expect((await health.check({ service: "" }, withDeadline())).status).toBe(ServingStatus.SERVING);
    await expectChannelServes();
  });

  it("Health/Check of a short unknown name still names it whole", async () => {
    const error = await failureOf(server.client(Health).check({ service: "no.such.Service" }, withDeadline()));

    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(error.details).toBe('Health status unknown for service "no.such.Service"');
  });

  it("Health/Watch of a 1 MB service name: SERVICE_UNKNOWN, and the channel keeps serving", async () => {
    const health = server.client(Health);
    const stream = health.watch({ service: HUGE }, withDeadline());
    stream.on("error", () => undefined);
    try {
      const first = await new Promise<unknown>((resolve, reject) => {
        stream.once("data", resolve);
        stream.once("error", reject);
      });
      expect(first).toMatchObject({ status: ServingStatus.SERVICE_UNKNOWN });
    } finally {
      stream.cancel();
    }
    expect((await health.check({ service: "" }, withDeadline())).status).toBe(ServingStatus.SERVING);
    await expectChannelServes();
  });

  it("reflection of a 1 MB symbol: NOT_FOUND in the stream, the name cut", async () => {
    const stream = server.client(reflection.ServerReflection).serverReflectionInfo(withDeadline());
    try {
      const answered = new Promise<reflection.ServerReflectionResponse>((resolve, reject) => {
        stream.once("data", resolve);
        stream.once("error", reject);
      });
      stream.write({ messageRequest: { case: "fileContainingSymbol", value: HUGE } });
      const { messageResponse } = await answered;

      expect(messageResponse.case).toBe("errorResponse");
      const { errorCode, errorMessage } = messageResponse.value as reflection.ErrorResponse;
      expect(errorCode).toBe(grpc.status.NOT_FOUND);
      expect(Buffer.byteLength(errorMessage)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
      expect(errorMessage).toContain(CUT_MARK);
    } finally {
      stream.end();
    }
    await expectChannelServes();
  });
});

describe("quoteClientValue", () => {
  it("quotes a short value whole", () => {
    expect(quoteClientValue("profile.tags")).toBe('"profile.tags"');
    expect(quoteClientValue('a"b')).toBe('"a\\"b"');
  });

  it("cuts a long value to 48 characters, marked, with its length", () => {
    expect(quoteClientValue("x".repeat(49))).toBe(`"${"x".repeat(48)}…" (49 characters)`);
    expect(quoteClientValue("x".repeat(48))).toBe(`"${"x".repeat(48)}"`);
  });

  it("counts and cuts characters, not UTF-16 units: a surrogate pair stays whole", () => {
    const value = `a${"😀".repeat(60)}`;
    expect(quoteClientValue(value)).toBe(`"a${"😀".repeat(47)}…" (61 characters)`);
  });
});

describe("boundedMessage", () => {
  it("keeps a message of at most 1 KiB", () => {
    const fits = "é".repeat(MAX_STATUS_MESSAGE_BYTES / 2);
    expect(boundedMessage(fits)).toBe(fits);
    expect(boundedMessage("not found")).toBe("not found");
  });

  it("cuts a longer one to 1 KiB of UTF-8, marked", () => {
    const cut = boundedMessage("m".repeat(ONE_MB));
    expect(Buffer.byteLength(cut)).toBe(MAX_STATUS_MESSAGE_BYTES);
    expect(cut.endsWith(CUT_MARK)).toBe(true);
  });

  it("cuts between characters, never inside a surrogate pair or a multi-byte character", () => {
    for (const unit of ["😀", "é", "€", "a😀"]) {
      const cut = boundedMessage(unit.repeat(MAX_STATUS_MESSAGE_BYTES));
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
      expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      expect(Buffer.from(cut).toString()).toBe(cut);
    }
  });
});
