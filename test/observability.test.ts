import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { Writable } from "node:stream";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { REQUEST_ID_KEY } from "../src/request-context";
import { createLogger } from "../src/logger";
import { eventually } from "./support/eventually";
import { labelValues, parseSamples, sampleValue, type Sample } from "./support/prometheus";
import { sqliteDatabaseOf, startTestServer, type TestServer } from "./support/server";
import { failureOf } from "./support/errors";

type LogLine = Record<string, unknown>;

const GET_CUSTOMER = "/chinook.v1.CustomerService/GetCustomer";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PINO_WARN = 40;
const PINO_ERROR = 50;

/** A client interceptor that keeps the response headers of every call made with it. */
function keepingHeaders(into: grpc.Metadata[]): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        const listener = new grpc.ListenerBuilder()
          .withOnReceiveMetadata((headers, nextListener) => {
            into.push(headers);
            nextListener(headers);
          })
          .build();
        next(metadata, listener);
      },
    });
}

function withRequestId(requestId: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(REQUEST_ID_KEY, requestId);
  return metadata;
}

/** The RPC lines (those with a gRPC code) for one method. */
function rpcLines(server: TestServer, method: string): LogLine[] {
  return server.logs.filter((line) => line.method === method && "code" in line);
}

function linesWithRequestId(server: TestServer, requestId: string): LogLine[] {
  return server.logs.filter((line) => line.request_id === requestId);
}

function newCustomer(overrides: Record<string, unknown> = {}) {
  return { firstName: "Test", lastName: "Customer", email: `${randomUUID()}@example.com`, ...overrides };
}

describe("per-RPC log lines", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  it("writes one info line per call with method, code, duration, peer and the client's request id, echoed back", async () => {
    const headers: grpc.Metadata[] = [];
    const requestId = `client-${randomUUID()}`;

    await server.client(CustomerService).getCustomer(
      { customerId: 1n },
      { metadata: withRequestId(requestId), interceptors: [keepingHeaders(headers)] },
    );

    expect(linesWithRequestId(server, requestId)).toEqual([
      expect.objectContaining({
        level: 30,
        method: GET_CUSTOMER,
        code: "OK",
        code_number: 0,
        duration_ms: expect.any(Number),
        peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        request_id: requestId,
      }),
    ]);
    expect(headers.map((metadata) => metadata.get(REQUEST_ID_KEY))).toEqual([[requestId]]);
  });

  it("generates a request id when the client sends none, and returns it even on an error", async () => {
    const before = rpcLines(server, GET_CUSTOMER).length;

    const error = await failureOf(server.client(CustomerService).getCustomer({ customerId: 999_999n }));

    const [generated] = error.metadata.get(REQUEST_ID_KEY);
    expect(generated).toEqual(expect.stringMatching(UUID));
    expect(rpcLines(server, GET_CUSTOMER).slice(before)).toEqual([
      expect.objectContaining({ level: 30, code: "NOT_FOUND", code_number: 5, request_id: generated }),
    ]);
  });

  it("replaces a request id that is too long or not plain text", async () => {
    const unfit = "x".repeat(129);

    await server.client(CustomerService).getCustomer({ customerId: 1n }, { metadata: withRequestId(unfit) });

    const [line] = rpcLines(server, GET_CUSTOMER).slice(-1);
    expect(line?.request_id).toEqual(expect.stringMatching(UUID));
  });

  it("logs a streaming call once, when it ends", async () => {
    await server.client(CustomerService).exportCustomers({ country: "Brazil" }).toArray();

    expect(rpcLines(server, "/chinook.v1.CustomerService/ExportCustomers")).toEqual([
      expect.objectContaining({ code: "OK", duration_ms: expect.any(Number) }),
    ]);
  });
});

describe("a call the client cancels", () => {
  it("is logged once, as CANCELLED", async () => {
    const server = await startTestServer();
    try {
      const watch = server.client(Health).watch({ service: "" });
      await new Promise((resolve) => watch.once("data", resolve));
      watch.on("error", () => undefined);
      watch.cancel();

      const method = "/grpc.health.v1.Health/Watch";
      await eventually(() => rpcLines(server, method).length > 0);
      expect(rpcLines(server, method)).toEqual([expect.objectContaining({ code: "CANCELLED", code_number: 1 })]);
    } finally {
      await server.stop();
    }
  });
});

describe("an unexpected error", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ HTTP_ADDR: "127.0.0.1:0" });
    // GetInvoice now fails in a way no domain rule expects.
    sqliteDatabaseOf(server.app).sqlite.exec("DROP TABLE invoice_items");
  });

  afterAll(async () => {
    await server.stop();
  });

  it("is logged once with its detail, and its RPC line carries only the code", async () => {
    const requestId = randomUUID();

    const error = await failureOf(
      server.client(InvoiceService).getInvoice({ invoiceId: 1n }, { metadata: withRequestId(requestId) }),
    );

    expect(error.code).toBe(grpc.status.INTERNAL);
    const lines = linesWithRequestId(server, requestId);
    const detailed = lines.filter((line) => JSON.stringify(line).includes("no such table"));
    expect(detailed).toEqual([
      expect.objectContaining({ level: PINO_ERROR, err: expect.objectContaining({ message: expect.any(String) }) }),
    ]);
    expect(lines.filter((line) => "code" in line)).toEqual([
      expect.objectContaining({ level: PINO_WARN, method: "/chinook.v1.InvoiceService/GetInvoice", code: "INTERNAL" }),
    ]);
    expect(lines).toHaveLength(2);
    expect(server.logs.filter((line) => JSON.stringify(line).includes("no such table"))).toHaveLength(1);
  });

  it("without a client's request id, shares the one generated for its RPC line", async () => {
    const error = await failureOf(server.client(InvoiceService).getInvoice({ invoiceId: 2n }));

    const [generated] = error.metadata.get(REQUEST_ID_KEY);
    expect(generated).toEqual(expect.stringMatching(UUID));
    expect(linesWithRequestId(server, String(generated)).map((line) => line.msg)).toEqual([
      "unexpected error in handler",
      "/chinook.v1.InvoiceService/GetInvoice INTERNAL",
    ]);
  });

  it("through the HTTP door, is logged with its detail and the call's request id too", async () => {
    const requestId = randomUUID();

    const response = await fetch(`http://127.0.0.1:${server.app.httpPort ?? 0}/chinook.v1.InvoiceService/GetInvoice`, {
      method: "POST",
      headers: { "content-type": "application/json", [REQUEST_ID_KEY]: requestId },
      body: JSON.stringify({ invoiceId: 1 }),
    });

    expect(response.status).toBe(500);
    const lines = linesWithRequestId(server, requestId);
    expect(lines.filter((line) => JSON.stringify(line).includes("no such table"))).toEqual([
      expect.objectContaining({ level: PINO_ERROR, msg: "unexpected error in handler" }),
    ]);
    expect(lines.filter((line) => "code" in line)).toEqual([expect.objectContaining({ protocol: "connect", code: "INTERNAL" })]);
  });
});

describe("an UNAVAILABLE answer", () => {
  it("tells the client to retry, and logs why for the operator: here a full disk, at error level", async () => {
    const server = await startTestServer();
    try {
      const { sqlite } = sqliteDatabaseOf(server.app);
      sqlite.pragma(`max_page_count = ${String(sqlite.pragma("page_count", { simple: true }))}`);
      const requestId = randomUUID();
      const requests = Array.from({ length: 200 }, () => ({ customer: newCustomer({ profile: { notes: "n".repeat(4000) } }) }));

      const error = await failureOf(
        server.client(CustomerService).batchCreateCustomers({ requests }, { metadata: withRequestId(requestId) }),
      );

      expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, "the database is unavailable; retry later"]);
      await eventually(() => linesWithRequestId(server, requestId).some((line) => "code" in line));
      expect(linesWithRequestId(server, requestId).filter((line) => line.msg === "database unavailable")).toEqual([
        expect.objectContaining({ level: PINO_ERROR, reason: "disk_full", error_code: "SQLITE_FULL" }),
      ]);
    } finally {
      await server.stop();
    }
  });
});

describe("customer PII", () => {
  const pii = {
    firstName: "Zebediah",
    lastName: "Quillfeather",
    email: `zebediah.quillfeather.${randomUUID().slice(0, 8)}@example.org`,
    phone: "+44 20 7946 0958",
    fax: "+44 20 7946 0959",
    address: "221B Baker Street",
  };
  const updatedPii = { lastName: "Marchbanks", email: `marchbanks.${randomUUID().slice(0, 8)}@example.org` };

  it("never reaches the logs, even at debug level, through creates, updates, reads and lists", async () => {
    const server = await startTestServer({ LOG_LEVEL: "debug" });
    try {
      const client = server.client(CustomerService);
      const created = await client.createCustomer({ customer: pii, requestId: randomUUID() });
      await client.updateCustomer({ customer: { customerId: created.customerId, ...updatedPii } });
      await client.getCustomer({ customerId: created.customerId });
      await client.listCustomers({ email: updatedPii.email });
      await failureOf(client.createCustomer({ customer: { ...pii, email: updatedPii.email } }));

      const everything = JSON.stringify(server.logs).toLowerCase();
      for (const value of [...Object.values(pii), ...Object.values(updatedPii)]) {
        expect({ value, found: everything.includes(value.toLowerCase()) }).toEqual({ value, found: false });
      }
      expect(server.logs.filter((line) => line.msg === "query").length).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });

  it("is redacted when code logs a customer object", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const logger = createLogger({ level: "info", destination });

    logger.info({ customer: pii, request: { customer: pii } }, "oops");

    const written = lines.join("");
    for (const value of Object.values(pii)) expect(written).not.toContain(value);
    expect(written).toContain("[redacted]");
  });
});

describe("database query lines at debug level", () => {
  it("carry the SQL without parameters, the duration and the request id", async () => {
    const server = await startTestServer({ LOG_LEVEL: "debug" });
    try {
      const requestId = randomUUID();
      await server.client(CustomerService).getCustomer({ customerId: 1n }, { metadata: withRequestId(requestId) });

      const queries = linesWithRequestId(server, requestId).filter((line) => line.msg === "query");
      expect(queries).toEqual([
        expect.objectContaining({
          level: 20,
          operation: "select",
          sql: expect.stringMatching(/^select .* from "customers" where "CustomerId" = \?$/),
          duration_ms: expect.any(Number),
          failed: false,
        }),
      ]);
    } finally {
      await server.stop();
    }
  });

  it("are not written at info level", async () => {
    const server = await startTestServer();
    try {
      await server.client(CustomerService).getCustomer({ customerId: 1n });
      expect(server.logs.filter((line) => line.msg === "query")).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});

describe("metrics over HTTP", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ METRICS_ADDR: "127.0.0.1:0" });
  });

  afterAll(async () => {
    await server.stop();
  });

  async function scrape(): Promise<Sample[]> {
    return parseSamples(await server.scrapeMetrics());
  }

  const getCustomerLabels = { grpc_type: "unary", grpc_service: "chinook.v1.CustomerService", grpc_method: "GetCustomer" };

  it("counts started and handled calls by Go's code names, and times them", async () => {
    const client = server.client(CustomerService);
    const before = await scrape();

    await client.getCustomer({ customerId: 2n });
    await client.getCustomer({ customerId: 3n });
    await failureOf(client.getCustomer({ customerId: 999_999n }));
    await failureOf(client.getCustomer({ customerId: 0n }));

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string>) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(moved("grpc_server_started_total", getCustomerLabels)).toBe(4);
    expect(moved("grpc_server_handled_total", { ...getCustomerLabels, grpc_code: "OK" })).toBe(2);
    expect(moved("grpc_server_handled_total", { ...getCustomerLabels, grpc_code: "NotFound" })).toBe(1);
    expect(moved("grpc_server_handled_total", { ...getCustomerLabels, grpc_code: "InvalidArgument" })).toBe(1);
    expect(moved("grpc_server_handling_seconds_count", getCustomerLabels)).toBe(4);
    expect(moved("grpc_server_handling_seconds_bucket", { ...getCustomerLabels, le: "+Inf" })).toBe(4);
  });

  it("labels streaming calls by their type", async () => {
    await server.client(CustomerService).exportCustomers({ country: "Canada" }).toArray();

    const labels = { grpc_type: "server_stream", grpc_service: "chinook.v1.CustomerService", grpc_method: "ExportCustomers" };
    expect(sampleValue(await scrape(), "grpc_server_handled_total", { ...labels, grpc_code: "OK" })).toBe(1);
  });

  it("counts cache hits and misses and reports the hit ratio", async () => {
    const client = server.client(CustomerService);
    const before = await scrape();

    // Read twice, customer 10 is cached; the third read and the batch's 10 hit.
    for (let read = 0; read < 3; read++) await client.getCustomer({ customerId: 10n });
    await client.batchGetCustomers({ customerIds: [10n, 11n] });

    const after = await scrape();
    const moved = (name: string) => sampleValue(after, name) - sampleValue(before, name);
    expect(moved("customer_cache_misses_total")).toBe(3);
    expect(moved("customer_cache_hits_total")).toBe(2);
    expect(sampleValue(after, "customer_cache_hit_ratio")).toBeGreaterThan(0);
    expect(sampleValue(after, "customer_cache_entries")).toBeGreaterThanOrEqual(1);
  });

  it("reports the database file, WAL, pages, query durations and health probes", async () => {
    await server.client(CustomerService).createCustomer({ customer: newCustomer() });

    const samples = await scrape();

    expect(sampleValue(samples, "db_file_size_bytes")).toBeGreaterThan(0);
    expect(sampleValue(samples, "db_wal_size_bytes")).toBeGreaterThan(0);
    expect(sampleValue(samples, "db_page_count")).toBeGreaterThan(0);
    expect(samples.some((sample) => sample.name === "db_freelist_pages")).toBe(true);
    expect(sampleValue(samples, "db_query_duration_seconds_count", { operation: "select" })).toBeGreaterThan(0);
    expect(sampleValue(samples, "db_query_duration_seconds_count", { operation: "insert" })).toBeGreaterThan(0);
    expect(sampleValue(samples, "db_health_probe_duration_seconds_count")).toBeGreaterThan(0);
    expect(sampleValue(samples, "db_health_probe_up")).toBe(1);
    expect(sampleValue(samples, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
  });

  it("keeps ids, emails and unknown method names out of labels", async () => {
    const email = `label-check-${randomUUID()}@example.com`;
    const created = await server.client(CustomerService).createCustomer({ customer: newCustomer({ email }) });
    await server.client(CustomerService).getCustomer({ customerId: created.customerId });
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const unimplemented = await new Promise<grpc.ServiceError | null>((resolve) => {
      const identity = (bytes: Buffer) => bytes;
      raw.makeUnaryRequest("/chinook.v1.CustomerService/NoSuchMethod", identity, identity, Buffer.alloc(0), resolve);
    });
    raw.close();
    expect(unimplemented?.code).toBe(grpc.status.UNIMPLEMENTED);

    const values = labelValues(await scrape());

    expect(values.filter((value) => value.includes("@") || value.includes("NoSuchMethod"))).toEqual([]);
    expect(values).not.toContain(String(created.customerId));
    expect(values).toContain("GetCustomer");
  });

  it("answers 404 off /metrics", async () => {
    const response = await fetch(`http://127.0.0.1:${server.app.metricsPort}/other`);
    expect(response.status).toBe(404);
  });
});

describe("without METRICS_ADDR", () => {
  it("serves no metrics port", async () => {
    const server = await startTestServer();
    try {
      expect(server.app.metricsPort).toBeUndefined();
    } finally {
      await server.stop();
    }
  });
});
