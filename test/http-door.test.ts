import { randomUUID } from "node:crypto";
import { renameSync } from "node:fs";
import http2 from "node:http2";
import { connect } from "node:net";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { CustomerStatus } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { loadConfig } from "../src/config";
import { CHINOOK_CUSTOMER_1 } from "./support/chinook";
import { eventually } from "./support/eventually";
import { withinBound } from "./support/main-process";
import { parseSamples, sampleValue } from "./support/prometheus";
import { sqliteDatabaseOf, startTestServer, type TestServer } from "./support/server";
import { addBulkyCustomers, readAll } from "./support/streams";

const ALLOWED_ORIGIN = "https://app.example";
const BULKY_CUSTOMERS = 60;

type LogLine = Record<string, unknown>;

interface Door {
  readonly name: string;
  readonly transport: Transport;
}

function newCustomer(name: string) {
  return { firstName: "Http", lastName: name, email: `${randomUUID()}@example.com`, country: "Brazil" };
}

/** Every method of both services through one transport, checking what each answers. */
async function callEveryMethod(transport: Transport, name: string): Promise<void> {
  const customers = createClient(CustomerService, transport);
  const invoices = createClient(InvoiceService, transport);

  expect(await customers.getCustomer({ customerId: 1n })).toMatchObject(CHINOOK_CUSTOMER_1);
  const page = await customers.listCustomers({ country: "Brazil", pageSize: 2 });
  expect(page.customers.map((customer) => customer.country)).toEqual(["Brazil", "Brazil"]);
  expect(page.nextPageToken).not.toBe("");

  const created = await customers.createCustomer({ customer: newCustomer(name), requestId: randomUUID() });
  const { customerId } = created;
  const updated = await customers.updateCustomer({ customer: { customerId, city: "London" }, updateMask: { paths: ["city"] } });
  expect(updated).toMatchObject({ customerId, city: "London", lastName: name });
  expect((await customers.deleteCustomer({ customerId })).status).toBe(CustomerStatus.DELETED);
  expect((await customers.undeleteCustomer({ customerId })).status).toBe(CustomerStatus.ACTIVE);
  const batch = await customers.batchGetCustomers({ customerIds: [1n, customerId] });
  expect(batch.customers.map((customer) => customer.customerId)).toEqual([1n, customerId]);
  const batchCreated = await customers.batchCreateCustomers({ requests: [{ customer: newCustomer(name) }, { customer: newCustomer(name) }] });
  expect(batchCreated.customers).toHaveLength(2);
  const exported = await readAll(customers.exportCustomers({ country: "Brazil" }));
  expect(exported.map((customer) => customer.country)).toEqual(Array(exported.length).fill("Brazil"));
  expect(exported.map((customer) => customer.customerId)).toEqual(expect.arrayContaining([1n, customerId]));

  const invoice = await invoices.createInvoice({ customerId, lines: [{ trackId: 1n, quantity: 1 }, { trackId: 2n, quantity: 1 }] });
  expect(invoice).toMatchObject({ customerId, total: "1.98", billingCity: "London" });
  expect(await invoices.getInvoice({ invoiceId: invoice.invoiceId })).toEqual(invoice);
  expect((await invoices.listInvoices({ customerId })).invoices.map((listed) => listed.invoiceId)).toEqual([invoice.invoiceId]);
}

interface ConnectStream {
  messages: Array<Record<string, unknown>>;
  end: unknown;
}

/** The messages of a Connect streaming answer in JSON, and its end-of-stream message. */
function connectStream(bytes: Buffer): ConnectStream {
  const messages: Array<Record<string, unknown>> = [];
  for (let offset = 0; offset < bytes.length; ) {
    const flags = bytes.readUInt8(offset);
    const length = bytes.readUInt32BE(offset + 1);
    const payload: unknown = JSON.parse(bytes.subarray(offset + 5, offset + 5 + length).toString("utf8"));
    offset += 5 + length;
    if (flags === 2) return { messages, end: payload };
    messages.push(payload as Record<string, unknown>);
  }
  throw new Error("the stream ended without its end-of-stream message");
}

/**
 * An export over HTTP/2 whose client takes its first bytes, then reads
 * nothing until `resume()`: with bulky customers, the server is still
 * writing. (Connect's own client reads ahead whatever the caller does.)
 */
function heldExport(baseUrl: string, headers: Record<string, string> = {}) {
  const session = http2.connect(baseUrl);
  const stream = session.request({
    ":method": "POST",
    ":path": "/chinook.v1.CustomerService/ExportCustomers",
    "content-type": "application/connect+json",
    ...headers,
  });
  stream.end(Buffer.from([0, 0, 0, 0, 2, ...Buffer.from("{}")]));
  const chunks: Buffer[] = [];
  const first = new Promise<void>((resolve) => stream.once("data", () => resolve(void stream.pause())));
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    stream.once("end", resolve);
    stream.once("error", reject);
  });
  return {
    session,
    first: () => withinBound(first, "first exported bytes"),
    resume: () => stream.resume(),
    result: async () => {
      await withinBound(ended, "end of the export");
      session.close();
      return connectStream(Buffer.concat(chunks));
    },
  };
}

/** Whether a new TCP connection to `port` is accepted: "connected", or the error's code. */
function newConnection(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

/** A CreateCustomer that breaks several rules at once, and a request_id that is no UUID. */
const INVALID_CREATE = { customer: { firstName: "", lastName: "x".repeat(500), email: "not-an-email" }, requestId: "nope" };

describe("the HTTP door (Connect and gRPC-Web)", () => {
  let server: TestServer;
  let baseUrl: string;
  let doors: Door[];
  let grpcDoor: Transport;
  const sessions: Http2SessionManager[] = [];

  function http2Session(url: string): Http2SessionManager {
    const session = new Http2SessionManager(url);
    sessions.push(session);
    return session;
  }

  async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  }

  async function postJson(path: string, request: unknown): Promise<Record<string, unknown>> {
    const response = await post(path, JSON.stringify(request));
    const body = (await response.json()) as Record<string, unknown>;
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  }

  function rpcLines(method: string): LogLine[] {
    return server.logs.filter((line) => line.method === `/chinook.v1.${method}` && "code" in line);
  }

  beforeAll(async () => {
    server = await startTestServer({
      HTTP_ADDR: "127.0.0.1:0",
      METRICS_ADDR: "127.0.0.1:0",
      HTTP_CORS_ORIGINS: `${ALLOWED_ORIGIN},https://other.example:8443`,
      SHUTDOWN_GRACE_MS: "20000",
    });
    baseUrl = `http://127.0.0.1:${server.app.httpPort ?? 0}`;
    doors = [
      { name: "connect-json", transport: createConnectTransport({ baseUrl, httpVersion: "1.1" }) },
      { name: "connect-binary-h2c", transport: createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager: http2Session(baseUrl) }) },
      { name: "grpc-web", transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }) },
      { name: "grpc-web-json-h2c", transport: createGrpcWebTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, sessionManager: http2Session(baseUrl) }) },
    ];
    const grpcUrl = `http://${server.address}`;
    grpcDoor = createGrpcTransport({ baseUrl: grpcUrl, sessionManager: http2Session(grpcUrl) });
    await addBulkyCustomers(server, BULKY_CUSTOMERS);
  });

  afterAll(async () => {
    for (const session of sessions) session.abort();
    await server.stop();
  });

  it.each(["connect-json", "connect-binary-h2c", "grpc-web", "grpc-web-json-h2c"])("serves every method over %s", async (name) => {
    const door = doors.find((candidate) => candidate.name === name);
    if (door === undefined) throw new Error(name);
    await callEveryMethod(door.transport, name);
  });

  it("serves every method to plain fetch in proto3 JSON, lowerCamelCase, int64 as strings", async () => {
    const customer = await postJson("/chinook.v1.CustomerService/GetCustomer", { customerId: 1 });
    expect(customer).toMatchObject({ customerId: "1", firstName: "Luís", postalCode: "12227-000", supportRepId: "3", status: "CUSTOMER_STATUS_ACTIVE" });
    expect(Object.keys(customer).filter((key) => key.includes("_"))).toEqual([]);
    expect(customer.createTime).toMatch(/^\d{4}-\d\d-\d\dT/);

    const page = await postJson("/chinook.v1.CustomerService/ListCustomers", { country: "Brazil", pageSize: 2 });
    expect(page).toMatchObject({ customers: [{ country: "Brazil" }, { country: "Brazil" }], nextPageToken: expect.any(String) });
    const created = await postJson("/chinook.v1.CustomerService/CreateCustomer", { customer: newCustomer("fetch") });
    const customerId = String(created.customerId);
    const updated = await postJson("/chinook.v1.CustomerService/UpdateCustomer", { customer: { customerId, city: "Paris" }, updateMask: "city" });
    expect(updated).toMatchObject({ customerId, city: "Paris" });
    expect(await postJson("/chinook.v1.CustomerService/DeleteCustomer", { customerId })).toMatchObject({ status: "CUSTOMER_STATUS_DELETED" });
    expect(await postJson("/chinook.v1.CustomerService/UndeleteCustomer", { customerId })).toMatchObject({ status: "CUSTOMER_STATUS_ACTIVE" });
    const batch = await postJson("/chinook.v1.CustomerService/BatchGetCustomers", { customerIds: ["1", customerId] });
    expect(batch).toMatchObject({ customers: [{ customerId: "1" }, { customerId }] });
    const batchCreated = await postJson("/chinook.v1.CustomerService/BatchCreateCustomers", { requests: [{ customer: newCustomer("fetch") }] });
    expect(batchCreated).toMatchObject({ customers: [{ lastName: "fetch" }] });
    const exported = await exportOverFetch({ country: "Brazil" });
    expect(exported.end).toEqual({});
    expect(exported.messages.map((message) => message.country)).toEqual(Array(exported.messages.length).fill("Brazil"));

    const lines = [{ trackId: 1, quantity: 1 }, { trackId: "2", quantity: 1 }];
    const invoice = await postJson("/chinook.v1.InvoiceService/CreateInvoice", { customerId, lines });
    expect(invoice).toMatchObject({ customerId, total: "1.98", billingCity: "Paris", lines: [{ trackId: "1" }, { trackId: "2" }] });
    expect(await postJson("/chinook.v1.InvoiceService/GetInvoice", { invoiceId: invoice.invoiceId })).toEqual(invoice);
    expect(await postJson("/chinook.v1.InvoiceService/ListInvoices", { customerId })).toEqual({ invoices: [invoice] });
  });

  /** ExportCustomers as a Connect streaming call: enveloped JSON each way, the end-of-stream message last. */
  async function exportOverFetch(request: unknown): Promise<{ messages: Array<Record<string, unknown>>; end: unknown }> {
    const json = Buffer.from(JSON.stringify(request));
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
    envelope.writeUInt32BE(json.length, 1);
    const response = await fetch(`${baseUrl}/chinook.v1.CustomerService/ExportCustomers`, {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: envelope,
    });
    return connectStream(Buffer.from(await response.arrayBuffer()));
  }

  it("answers fetch with Connect's JSON error: the code's HTTP status, the message, the google.rpc details", async () => {
    const response = await post("/chinook.v1.CustomerService/GetCustomer", JSON.stringify({ customerId: 999 }));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      code: "not_found",
      message: "customer 999 not found",
      details: [
        expect.objectContaining({ type: "google.rpc.ErrorInfo", value: expect.any(String), debug: expect.objectContaining({ reason: "CUSTOMER_NOT_FOUND", domain: "chinook.v1" }) }),
        expect.objectContaining({ type: "google.rpc.ResourceInfo", debug: expect.objectContaining({ resourceName: "customers/999" }) }),
      ],
    });
  });

  it("fails a request as the gRPC door does, with the same code, message and details (every field violation)", async () => {
    const grpcError = await failureOf(createClient(CustomerService, grpcDoor).createCustomer(INVALID_CREATE));
    const violations = grpcError.findDetails(BadRequestSchema)[0]?.fieldViolations ?? [];
    expect(violations.map((violation) => violation.field)).toEqual(
      expect.arrayContaining(["request_id", "customer.first_name", "customer.last_name", "customer.email"]),
    );

    for (const { name, transport } of doors) {
      const error = await failureOf(createClient(CustomerService, transport).createCustomer(INVALID_CREATE));
      expect({ name, code: error.code, message: error.rawMessage }).toEqual({ name, code: Code.InvalidArgument, message: grpcError.rawMessage });
      expect(error.findDetails(BadRequestSchema)).toEqual(grpcError.findDetails(BadRequestSchema));
      expect(error.findDetails(ErrorInfoSchema)).toEqual(grpcError.findDetails(ErrorInfoSchema));
    }
  });

  it("answers DEADLINE_EXCEEDED, without running the handler, a call whose deadline is spent on arrival", async () => {
    const email = `${randomUUID()}@example.com`;
    const create = JSON.stringify({ customer: { firstName: "Late", lastName: "Comer", email } });

    const response = await post("/chinook.v1.CustomerService/CreateCustomer", create, { "connect-timeout-ms": "0" });
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: "deadline_exceeded" });

    const grpcWeb = await fetch(`${baseUrl}/chinook.v1.CustomerService/ExportCustomers`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json", "grpc-timeout": "1n" },
      body: Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]),
    });
    expect(Buffer.from(await grpcWeb.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: ?4\r\n/);

    const created = await postJson("/chinook.v1.CustomerService/ListCustomers", { email });
    expect(created.customers ?? []).toEqual([]);
    expect(rpcLines("CustomerService/CreateCustomer").filter((line) => line.code === "DEADLINE_EXCEEDED")).toHaveLength(1);
  });

  it("cuts to 1 KiB a message of Connect's own that repeats a client's value, compressed or not", async () => {
    const huge = JSON.stringify({ customerId: "9".repeat(20_000) });

    const gzipped = await post("/chinook.v1.CustomerService/GetCustomer", huge, { "accept-encoding": "gzip" });
    const error = (await gzipped.json()) as { code: string; message: string };
    expect(gzipped.status).toBe(400);
    expect(error.code).toBe("invalid_argument");
    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(1024);
    expect(error.message).toMatch(/^cannot decode .*…$/);

    const grpcWeb = await fetch(`${baseUrl}/chinook.v1.CustomerService/GetCustomer`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json" },
      body: Buffer.concat([Buffer.from([0, 0, 0, Math.floor(huge.length / 256), huge.length % 256]), Buffer.from(huge)]),
    });
    const trailer = Buffer.from(await grpcWeb.arrayBuffer()).toString("latin1");
    expect(trailer).toMatch(/grpc-status: ?3\r\n/);
    expect(decodeURIComponent(/grpc-message: ?(.*)\r\n/.exec(trailer)?.[1] ?? "")).toMatch(/^cannot decode .*…$/);
    expect(trailer.length).toBeLessThan(2048);
    const refusals = rpcLines("CustomerService/GetCustomer").filter((line) => line.code === "INVALID_ARGUMENT");
    expect(refusals.map((line) => line.protocol)).toEqual(expect.arrayContaining(["connect", "grpc-web"]));
  });

  it("echoes the client's x-request-id and logs each call with its protocol", async () => {
    const requestId = `http-door-${randomUUID()}`;
    const response = await post("/chinook.v1.CustomerService/GetCustomer", JSON.stringify({ customerId: 2 }), { "x-request-id": requestId });
    await response.arrayBuffer();
    expect(response.headers.get("x-request-id")).toBe(requestId);
    const grpcWebCall = createClient(CustomerService, doors[2]?.transport ?? grpcDoor).getCustomer({ customerId: 3n }, { headers: { "x-request-id": `${requestId}-web` } });
    await grpcWebCall;

    const lines = rpcLines("CustomerService/GetCustomer");
    expect(lines.filter((line) => line.request_id === requestId)).toEqual([
      expect.objectContaining({ protocol: "connect", code: "OK", peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }),
    ]);
    expect(lines.filter((line) => line.request_id === `${requestId}-web`)).toEqual([expect.objectContaining({ protocol: "grpc-web", code: "OK" })]);
  });

  it("counts calls under their protocol, those Connect refused before any handler too", async () => {
    const handled = async (protocol: string, code: string) =>
      sampleValue(parseSamples(await server.scrapeMetrics()), "grpc_server_handled_total", { grpc_method: "GetCustomer", protocol, grpc_code: code });
    const refusedBefore = await handled("connect", "InvalidArgument");

    const undecodable = await post("/chinook.v1.CustomerService/GetCustomer", '{"customerId": "one"}');
    expect(undecodable.status).toBe(400);
    await undecodable.arrayBuffer();

    expect(await handled("connect", "InvalidArgument")).toBe(refusedBefore + 1);
    expect(await handled("connect", "OK")).toBeGreaterThan(0);
    expect(await handled("grpc-web", "OK")).toBeGreaterThan(0);
    expect(await handled("connect", "NotFound")).toBeGreaterThan(0);
    expect(await handled("grpc", "InvalidArgument")).toBe(0);
  });

  it("lets the browser pages of HTTP_CORS_ORIGINS call, preflight included, and no other origin", async () => {
    const preflight = (origin: string) =>
      fetch(`${baseUrl}/chinook.v1.CustomerService/GetCustomer`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version,x-request-id" },
      });

    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(allowed.headers.get("access-control-allow-headers")?.split(", ")).toEqual(
      expect.arrayContaining(["Content-Type", "Connect-Protocol-Version", "X-Grpc-Web", "x-request-id"]),
    );
    const call = await post("/chinook.v1.CustomerService/GetCustomer", JSON.stringify({ customerId: 1 }), { origin: ALLOWED_ORIGIN });
    await call.arrayBuffer();
    expect(call.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(call.headers.get("access-control-expose-headers")?.split(", ")).toEqual(expect.arrayContaining(["Grpc-Status", "x-request-id"]));

    const refused = await preflight("https://evil.example");
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    const unlisted = await post("/chinook.v1.CustomerService/GetCustomer", JSON.stringify({ customerId: 1 }), { origin: "https://evil.example" });
    await unlisted.arrayBuffer();
    expect(unlisted.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("fails a start whose HTTP_ADDR is taken, naming it", async () => {
    const taken = `127.0.0.1:${server.app.httpPort ?? 0}`;

    await expect(startTestServer({ HTTP_ADDR: taken })).rejects.toThrow(new RegExp(`^cannot listen on ${taken}: .*EADDRINUSE`));
  });

  it("answers 404 to a path that is neither a method nor the page", async () => {
    const response = await fetch(`${baseUrl}/no/such/thing`);
    expect(response.status).toBe(404);
    const unknownMethod = await post("/chinook.v1.CustomerService/NoSuchMethod", "{}");
    expect(unknownMethod.status).toBe(404);
  });

  it("refuses calls UNAVAILABLE, with a RetryInfo, while the database is unreachable", async () => {
    const { path } = sqliteDatabaseOf(server.app);
    renameSync(path, `${path}.away`);
    try {
      expect(await server.app.health.check()).toBe(false);
      for (const { name, transport } of doors) {
        const error = await failureOf(createClient(CustomerService, transport).getCustomer({ customerId: 1n }));
        expect({ name, code: error.code, message: error.rawMessage }).toEqual({ name, code: Code.Unavailable, message: expect.stringMatching(/database/) });
        expect(error.findDetails(RetryInfoSchema)).toHaveLength(1);
      }
    } finally {
      renameSync(`${path}.away`, path);
    }
    expect(await server.app.health.check()).toBe(true);
  });

  it("ends a stream at its deadline even while its client reads nothing, as the gRPC door does", async () => {
    const requestId = `held-${randomUUID()}`;
    const exporting = heldExport(baseUrl, { "connect-timeout-ms": "300", "x-request-id": requestId });
    await exporting.first();

    await eventually(() => server.logs.some((line) => line.request_id === requestId));
    exporting.session.destroy();
    expect(server.logs.filter((line) => line.request_id === requestId)).toEqual([
      expect.objectContaining({ method: "/chinook.v1.CustomerService/ExportCustomers", protocol: "connect", code: "DEADLINE_EXCEEDED" }),
    ]);
  });

  // Last: it stops the server.
  it("lets an HTTP call in flight finish on stop, accepting no new connection", async () => {
    const customerCount = Number((await createClient(CustomerService, grpcDoor).listCustomers({})).totalSize);
    const exporting = heldExport(baseUrl);
    await exporting.first();

    const stopped = server.app.stop();
    expect(await newConnection(server.app.httpPort ?? 0)).toBe("ECONNREFUSED");

    exporting.resume();
    const { messages, end } = await exporting.result();
    expect(end).toEqual({});
    expect(messages).toHaveLength(customerCount);
    await withinBound(stopped, "end of app.stop()");
    expect(rpcLines("CustomerService/ExportCustomers").at(-1)).toMatchObject({ protocol: "connect", code: "OK" });
  });
});

describe("HTTP_ADDR and HTTP_CORS_ORIGINS", () => {
  it("are off and empty by default", () => {
    expect(loadConfig({}).http).toEqual({ address: undefined, corsOrigins: [] });
  });

  it("take host:port and a list of origins", () => {
    const config = loadConfig({ HTTP_ADDR: "[::1]:8080", HTTP_CORS_ORIGINS: "https://app.example, http://localhost:5173" });
    expect(config.http).toEqual({ address: "[::1]:8080", corsOrigins: ["https://app.example", "http://localhost:5173"] });
  });

  it.each([
    [{ HTTP_ADDR: "8080" }, /^HTTP_ADDR must be host:port/],
    [{ HTTP_CORS_ORIGINS: "https://app.example/" }, /^HTTP_CORS_ORIGINS must list origins .*got "https:\/\/app.example\/"/],
    [{ HTTP_CORS_ORIGINS: "*" }, /^HTTP_CORS_ORIGINS must list origins/],
    [{ HTTP_CORS_ORIGINS: "https://app.example/page" }, /^HTTP_CORS_ORIGINS must list origins/],
  ])("refuse %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
