/**
 * Tracing through the real server: a traced call's SERVER span (RPC semantic
 * conventions, continuing the caller's traceparent), its statement spans
 * (the SQL's shape, never a value), a failing call's code, an export's
 * message count, and the trace ids on the call's log lines. Spans go to an
 * in-memory exporter handed to this app alone.
 */
import { randomBytes } from "node:crypto";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { core, tracing as sdk } from "@opentelemetry/sdk-node";
import { createChinookClient } from "chinook-grpc/client";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { startRpcSpan } from "../src/tracing/rpc-span";
import type { Tracing } from "../src/tracing/tracing";
import { readAll } from "./support/streams";
import { startTestServer, TEST_ENGINE, type TestServer } from "./support/server";

type ReadableSpan = sdk.ReadableSpan;

const exporter = new sdk.InMemorySpanExporter();
const provider = new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(exporter)] });
const tracing: Tracing = { tracer: provider.getTracer("test"), propagator: new core.W3CTraceContextPropagator() };
const DB_SYSTEM = TEST_ENGINE === "postgres" ? "postgresql" : "sqlite";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ HTTP_ADDR: "127.0.0.1:0" }, { tracing });
});

afterAll(async () => {
  await server.stop();
  await provider.shutdown();
});

beforeEach(() => exporter.reset());

/** A caller's trace context, as a W3C traceparent in the call's metadata. */
function callerContext(): { traceId: string; spanId: string; metadata: Metadata } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  const metadata = new Metadata();
  metadata.set("traceparent", `00-${traceId}-${spanId}-01`);
  metadata.set("tracestate", "caller=1");
  return { traceId, spanId, metadata };
}

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans();
}

function serverSpan(name: string): ReadableSpan {
  const found = spans().filter((span) => span.kind === SpanKind.SERVER && span.name === name);
  expect(found).toHaveLength(1);
  const [span] = found;
  if (span === undefined) throw new Error(`no span ${name}`);
  return span;
}

function childrenOf(parent: ReadableSpan): ReadableSpan[] {
  return spans().filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);
}

function allAttributeText(): string {
  return JSON.stringify(spans().map((span) => span.attributes));
}

describe("a traced call", () => {
  it("is one SERVER span continuing the caller's trace, with the RPC conventions' attributes", async () => {
    const caller = callerContext();
    await server.client(CustomerService).getCustomer({ customerId: 7n }, { metadata: caller.metadata });

    const span = serverSpan("chinook.v1.CustomerService/GetCustomer");
    expect(span.spanContext().traceId).toBe(caller.traceId);
    expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(span.spanContext().traceState?.get("caller")).toBe("1");
    expect(span.attributes).toEqual({
      "rpc.system": "grpc",
      "rpc.service": "chinook.v1.CustomerService",
      "rpc.method": "GetCustomer",
      "rpc.grpc.status_code": status.OK,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("has its statements as CLIENT spans under it, their SQL without the values", async () => {
    const caller = callerContext();
    const email = `traced.${randomBytes(6).toString("hex")}@example.com`;
    const client = server.client(CustomerService);
    await client.createCustomer({ customer: { firstName: "Trace", lastName: "Able", email } }, { metadata: caller.metadata });

    const span = serverSpan("chinook.v1.CustomerService/CreateCustomer");
    const statements = childrenOf(span);
    expect(statements.map((statement) => statement.attributes["db.operation.name"])).toContain("INSERT");
    for (const statement of statements) {
      expect(statement.kind).toBe(SpanKind.CLIENT);
      expect(statement.spanContext().traceId).toBe(caller.traceId);
      expect(statement.attributes["db.system"]).toBe(DB_SYSTEM);
      expect(statement.attributes["db.system.name"]).toBe(DB_SYSTEM);
      expect(statement.attributes["db.query.text"]).toEqual(expect.any(String));
    }
    const insert = statements.find((statement) => statement.attributes["db.operation.name"] === "INSERT");
    expect(String(insert?.attributes["db.query.text"])).toMatch(/insert into .*(\?|\$1)/is);

    exporter.reset();
    await readAll(client.exportCustomers({ email }, { metadata: callerContext().metadata }));
    expect(childrenOf(serverSpan("chinook.v1.CustomerService/ExportCustomers")).length).toBeGreaterThan(0);
    expect(allAttributeText()).not.toContain(email.split("@")[0]);
  });

  it("writes that share a group commit each keep their own statements; the group's BEGIN and COMMIT are no call's", async () => {
    const callers = [callerContext(), callerContext(), callerContext()];
    const client = server.client(CustomerService);
    await Promise.all(
      callers.map((caller, index) =>
        client.createCustomer({ customer: { firstName: "Group", lastName: `Write ${index}`, email: `group.${index}.${caller.traceId}@example.com` } }, { metadata: caller.metadata }),
      ),
    );
    for (const caller of callers) {
      const [span] = spans().filter((candidate) => candidate.kind === SpanKind.SERVER && candidate.spanContext().traceId === caller.traceId);
      if (span === undefined) throw new Error("no server span for a caller");
      const operations = childrenOf(span).map((statement) => statement.attributes["db.operation.name"]);
      expect(operations).toEqual(expect.arrayContaining(["SAVEPOINT", "INSERT", "RELEASE"]));
      if (TEST_ENGINE === "sqlite") expect(operations).not.toContain("COMMIT");
    }
  });

  it("without a traceparent starts a trace of its own", async () => {
    await server.client(CustomerService).getCustomer({ customerId: 8n });
    const span = serverSpan("chinook.v1.CustomerService/GetCustomer");
    expect(span.parentSpanContext).toBeUndefined();
  });

  it("that fails records its code; a client's fault leaves the status unset", async () => {
    const call = server.client(CustomerService).getCustomer({ customerId: 999_999n }, { metadata: callerContext().metadata });
    await expect(call).rejects.toMatchObject({ code: status.NOT_FOUND } satisfies Partial<ServiceError>);
    const span = serverSpan("chinook.v1.CustomerService/GetCustomer");
    expect(span.attributes["rpc.grpc.status_code"]).toBe(status.NOT_FOUND);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("an export is one span counting the messages it sent", async () => {
    const exported = await readAll(server.client(CustomerService).exportCustomers({ country: "Brazil" }, { metadata: callerContext().metadata }));
    expect(exported.length).toBeGreaterThan(1);
    const span = serverSpan("chinook.v1.CustomerService/ExportCustomers");
    expect(span.attributes["chinook.rpc.messages_sent"]).toBe(exported.length);
    expect(span.attributes["rpc.grpc.status_code"]).toBe(status.OK);
  });

  it("writes the span's trace and span ids on the call's log lines", async () => {
    const caller = callerContext();
    server.logs.length = 0;
    await server.client(CustomerService).getCustomer({ customerId: 9n }, { metadata: caller.metadata });
    const span = serverSpan("chinook.v1.CustomerService/GetCustomer");
    const line = server.logs.find((entry) => entry.method === "/chinook.v1.CustomerService/GetCustomer");
    expect(line).toMatchObject({ trace_id: caller.traceId, span_id: span.spanContext().spanId });
  });
});

describe("a traced call through the HTTP door", () => {
  it("is a connect_rpc SERVER span naming its protocol, continuing the caller's trace", async () => {
    const caller = callerContext();
    const traceparent = caller.metadata.get("traceparent")[0];
    const response = await fetch(`http://127.0.0.1:${String(server.app.httpPort)}/chinook.v1.CustomerService/GetCustomer`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: String(traceparent) },
      body: JSON.stringify({ customerId: "999999" }),
    });
    expect(response.status).toBe(404);

    const span = serverSpan("chinook.v1.CustomerService/GetCustomer");
    expect(span.spanContext().traceId).toBe(caller.traceId);
    expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(span.attributes).toEqual({
      "rpc.system": "connect_rpc",
      "rpc.service": "chinook.v1.CustomerService",
      "rpc.method": "GetCustomer",
      "chinook.rpc.protocol": "connect",
      "rpc.connect_rpc.error_code": "not_found",
    });
    expect(childrenOf(span).map((statement) => statement.attributes["db.system"])).toContain(DB_SYSTEM);
  });

  it("counts the messages an export sent", async () => {
    const client = createChinookClient({ address: `127.0.0.1:${String(server.app.httpPort)}`, protocol: "connect" });
    try {
      let exported = 0;
      for await (const customer of client.customers.exportCustomers({ country: "Brazil" })) exported += customer.customerId > 0n ? 1 : 0;
      expect(exported).toBeGreaterThan(1);
      const span = serverSpan("chinook.v1.CustomerService/ExportCustomers");
      expect(span.attributes).toMatchObject({ "rpc.system": "connect_rpc", "chinook.rpc.messages_sent": exported });
    } finally {
      client.close();
    }
  });
});

describe("an RPC span", () => {
  const call = { service: "chinook.v1.CustomerService", method: "GetCustomer" } as const;

  it("is an error for the codes that are the server's fault, as the conventions list them", () => {
    for (const code of [status.UNKNOWN, status.DEADLINE_EXCEEDED, status.UNIMPLEMENTED, status.INTERNAL, status.UNAVAILABLE, status.DATA_LOSS]) {
      startRpcSpan(tracing, { ...call, system: "grpc" }, {}, { keys: () => [], get: () => undefined }).end(code);
    }
    expect(spans().map((span) => span.status)).toEqual(
      ["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"].map((message) => ({ code: SpanStatusCode.ERROR, message })),
    );
  });

  it("on the Connect door names its protocol and its error code as Connect spells it", () => {
    const headers = { traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01` };
    const getter = { keys: (carrier: Record<string, string>) => Object.keys(carrier), get: (carrier: Record<string, string>, key: string) => carrier[key] };
    startRpcSpan(tracing, { ...call, system: "connect_rpc", protocol: "grpc-web" }, headers, getter).end(status.NOT_FOUND);
    const [span] = spans();
    expect(span?.spanContext().traceId).toBe("a".repeat(32));
    expect(span?.attributes).toMatchObject({ "rpc.system": "connect_rpc", "chinook.rpc.protocol": "grpc-web", "rpc.connect_rpc.error_code": "not_found" });
  });
});
