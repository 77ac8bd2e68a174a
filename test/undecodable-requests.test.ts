import * as grpc from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { eventually } from "./support/eventually";
import { parseSamples, sampleValue } from "./support/prometheus";
import { startTestServer, type TestServer } from "./support/server";

const GET_CUSTOMER = "/chinook.v1.CustomerService/GetCustomer";
const EXPORT_CUSTOMERS = "/chinook.v1.CustomerService/ExportCustomers";
/** Served by grpc-health-check with decoders of its own. */
const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const DEADLINE_MS = 5000;
const PINO_WARN = 40;
const BODY_MARKER = "BODY-BYTES-NOT-FOR-LOGS";
/** Tag 0x0f: field 1 with wire type 7, which does not exist; then text that must never reach a log. */
const UNDECODABLE = Buffer.concat([Buffer.from([0x0f]), Buffer.from(BODY_MARKER)]);
/** A varint of eleven bytes, longer than any: the health library's lenient decoder refuses this one. */
const LONG_VARINT = Buffer.concat([Buffer.alloc(11, 0xff), Buffer.from(BODY_MARKER)]);

const asIs = (bytes: Buffer): Buffer => bytes;

function withDeadline(): grpc.CallOptions {
  return { deadline: Date.now() + DEADLINE_MS };
}

/** Sends `body` as it is, not as a message of the method's request type. */
function rawUnary(client: grpc.Client, path: string, body: Buffer): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(path, asIs, asIs, body, withDeadline(), () => undefined);
    call.on("status", resolve);
  });
}

function rawServerStreaming(client: grpc.Client, path: string, body: Buffer): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, asIs, asIs, body, withDeadline());
    call.on("error", () => undefined);
    call.on("data", () => undefined);
    call.on("status", resolve);
  });
}

function handled(samples: ReturnType<typeof parseSamples>, method: string, code: string): number {
  return sampleValue(samples, "grpc_server_handled_total", { grpc_method: method, grpc_code: code });
}

describe("a request body that does not decode", () => {
  let server: TestServer;
  let client: grpc.Client;

  beforeAll(async () => {
    server = await startTestServer({ METRICS_ADDR: "127.0.0.1:0" });
    client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  function linesFor(method: string): Array<Record<string, unknown>> {
    return server.logs.filter((line) => line.method === method && "code" in line);
  }

  it.each([
    ["GetCustomer", GET_CUSTOMER, rawUnary, UNDECODABLE],
    ["ExportCustomers", EXPORT_CUSTOMERS, rawServerStreaming, UNDECODABLE],
    ["Check", HEALTH_CHECK, rawUnary, LONG_VARINT],
  ])("%s: the client gets INTERNAL; one warn line names the method and why; the metric counts Internal", async (name, path, send, body) => {
    const status = await send(client, path, body);

    expect(grpc.status[status.code]).toBe("INTERNAL");
    await eventually(() => linesFor(path).length > 0);
    expect(linesFor(path)).toEqual([
      expect.objectContaining({
        level: PINO_WARN,
        code: "INTERNAL",
        reason: expect.stringMatching(/^request did not decode: ./),
      }),
    ]);
    expect(server.logs.filter((line) => line.method === path && Number(line.level) >= PINO_WARN)).toHaveLength(1);
    expect(JSON.stringify(server.logs)).not.toContain(BODY_MARKER);
    const samples = parseSamples(await server.scrapeMetrics());
    expect(handled(samples, name, "Internal")).toBe(1);
    expect(handled(samples, name, "Canceled")).toBe(0);
  });

  it("leaves the next good call on the method observed as what it is", async () => {
    const customer = await server.client(CustomerService).getCustomer({ customerId: 1n }, withDeadline());

    expect(customer.customerId).toBe(1n);
    await eventually(() => linesFor(GET_CUSTOMER).length === 2);
    expect(linesFor(GET_CUSTOMER)[1]).toMatchObject({ code: "OK" });
    expect(linesFor(GET_CUSTOMER)[1]).not.toHaveProperty("reason");
    const samples = parseSamples(await server.scrapeMetrics());
    expect(handled(samples, "GetCustomer", "OK")).toBe(1);
    expect(handled(samples, "GetCustomer", "Internal")).toBe(1);
  });

  it("counts each of many concurrent undecodable calls as Internal, none as Canceled", async () => {
    const before = handled(parseSamples(await server.scrapeMetrics()), "GetCustomer", "Internal");

    const statuses = await Promise.all(Array.from({ length: 20 }, () => rawUnary(client, GET_CUSTOMER, UNDECODABLE)));

    expect(statuses.map((status) => grpc.status[status.code])).toEqual(Array(20).fill("INTERNAL"));
    await eventually(async () => handled(parseSamples(await server.scrapeMetrics()), "GetCustomer", "Internal") === before + 20);
    expect(handled(parseSamples(await server.scrapeMetrics()), "GetCustomer", "Canceled")).toBe(0);
  });
});
