/**
 * The real service process exporting over OTLP/HTTP, switched on by
 * OTEL_EXPORTER_OTLP_ENDPOINT alone, to a receiver run here: the trace a
 * caller started arrives, flushed by the graceful stop; and a collector that
 * never answers does not hold the stop.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { typedClient } from "../src/client/grpc-js";
import { CHINOOK_SOURCE } from "./support/database";
import { assertBuilt, runMain, type MainProcess } from "./support/main-process";

/** The parts of an OTLP/JSON ExportTraceServiceRequest these tests read. */
interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; parentSpanId?: string; name: string }> }>;
  }>;
}

let dir: string;
const running: MainProcess[] = [];

beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync(path.join(tmpdir(), "chinook-tracing-"));
});

afterAll(() => {
  for (const run of running) if (run.child.exitCode === null) run.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function start(name: string, env: Record<string, string>): MainProcess {
  const run = runMain({
    DATABASE_PATH: path.join(dir, `${name}.db`),
    CHINOOK_DB: path.resolve(CHINOOK_SOURCE),
    GRPC_ADDR: "127.0.0.1:0",
    SHUTDOWN_GRACE_MS: "1000",
    ...env,
  });
  running.push(run);
  return run;
}

async function listening<S extends HttpServer | TcpServer>(server: S): Promise<{ server: S; url: string }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A collector: every OTLP/JSON export posted to /v1/traces, answered as a collector answers. */
async function otlpReceiver() {
  const exports: ExportTraceServiceRequest[] = [];
  const paths: string[] = [];
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      paths.push(request.url ?? "");
      exports.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportTraceServiceRequest);
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return { ...(await listening(server)), exports, paths };
}

async function getCustomerTraced(address: string, traceparent: string): Promise<void> {
  const client = typedClient(CustomerService, address, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("traceparent", traceparent);
  try {
    await client.getCustomer({ customerId: 3n }, { metadata });
  } finally {
    client.close();
  }
}

it("exports the caller's trace over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, flushed at the graceful stop", async () => {
  const receiver = await otlpReceiver();
  try {
    const run = start("exported", { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" });
    const serving = await run.logLine("serving");
    const traceId = randomBytes(16).toString("hex");
    const parentId = randomBytes(8).toString("hex");
    await getCustomerTraced(`127.0.0.1:${String(serving.port)}`, `00-${traceId}-${parentId}-01`);

    run.child.kill("SIGTERM");
    expect(await run.exitCode()).toBe(0);

    expect(receiver.paths.every((requested) => requested === "/v1/traces")).toBe(true);
    const resourceSpans = receiver.exports.flatMap((request) => request.resourceSpans ?? []);
    const spans = resourceSpans.flatMap((resource) => resource.scopeSpans ?? []).flatMap((scope) => scope.spans ?? []);
    expect(spans).toContainEqual(expect.objectContaining({ traceId, parentSpanId: parentId, name: "chinook.v1.CustomerService/GetCustomer" }));
    const serviceNames = resourceSpans.flatMap((resource) => resource.resource?.attributes ?? []).filter((attribute) => attribute.key === "service.name");
    expect(serviceNames.map((attribute) => attribute.value.stringValue)).toContain("chinook-grpc");
  } finally {
    receiver.server.close();
  }
});

it("stops within OTEL_EXPORTER_OTLP_TIMEOUT when the collector takes the connection and never answers", async () => {
  const sockets: Socket[] = [];
  const { server, url } = await listening(createTcpServer((socket) => sockets.push(socket)));
  try {
    // The test waits 10 s for the exit: the default timeout, 10 s, would be too close.
    const run = start("unanswered", { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_TIMEOUT: "1000" });
    const serving = await run.logLine("serving");
    await getCustomerTraced(`127.0.0.1:${String(serving.port)}`, `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`);

    run.child.kill("SIGTERM");
    expect(await run.exitCode()).toBe(0);
    expect(run.lines().map((line) => line.msg)).toContain("stopped");
    expect(sockets.length).toBeGreaterThan(0);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});
