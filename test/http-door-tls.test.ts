import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { createTestPki, writeIdentity, type Identity } from "./support/certificates";
import { CHINOOK_CUSTOMER_1 } from "./support/chinook";
import { eventually } from "./support/eventually";
import { startTestServer, type TestServer } from "./support/server";
import { withinBound } from "./support/main-process";
import { bulkyCustomers, readAll } from "./support/streams";

/** The HTTP door over the gRPC door's TLS configuration, here mTLS; and CORS as it is when HTTP_CORS_ORIGINS is unset. */
describe("the HTTP door with TLS_CERT, TLS_KEY and TLS_CLIENT_CA", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "chinook-http-tls-"));
  let server: TestServer;
  let baseUrl: string;
  let ca: string;
  let client: Identity;
  const sessions: Http2SessionManager[] = [];

  function tlsOptions(identity: Identity | undefined) {
    return { ca, servername: "localhost", ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }) };
  }

  function http2Transport(identity: Identity | undefined): Transport {
    const sessionManager = new Http2SessionManager(baseUrl, undefined, tlsOptions(identity));
    sessions.push(sessionManager);
    return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager });
  }

  beforeAll(async () => {
    const pki = await createTestPki();
    const files = writeIdentity(dir, "server", pki.server);
    ca = pki.ca.cert;
    client = pki.client;
    server = await startTestServer({
      TLS_CERT: files.cert,
      TLS_KEY: files.key,
      TLS_CLIENT_CA: writeIdentity(dir, "ca", pki.ca).cert,
      HTTP_ADDR: "127.0.0.1:0",
      SHUTDOWN_GRACE_MS: "100",
      GRPC_STREAM_STALL_TIMEOUT_MS: "500",
    });
    baseUrl = `https://127.0.0.1:${server.app.httpPort ?? 0}`;
  });

  afterAll(async () => {
    for (const session of sessions) session.abort();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves Connect over HTTP/2, negotiated by ALPN, to a client with a certificate the CA issued", async () => {
    const customers = createClient(CustomerService, http2Transport(client));

    expect(await customers.getCustomer({ customerId: 1n })).toMatchObject(CHINOOK_CUSTOMER_1);
    expect((await readAll(customers.exportCustomers({ country: "Brazil" }))).length).toBeGreaterThan(1);
  });

  it("serves gRPC-Web over HTTP/1.1 on the same port", async () => {
    const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: tlsOptions(client) });

    expect(await createClient(CustomerService, transport).getCustomer({ customerId: 1n })).toMatchObject(CHINOOK_CUSTOMER_1);
  });

  it("refuses a client without a certificate, as the gRPC door does", async () => {
    const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: tlsOptions(undefined) });

    await expect(createClient(CustomerService, transport).getCustomer({ customerId: 1n })).rejects.toThrow();
  });

  it("allows no browser origin when HTTP_CORS_ORIGINS is unset", async () => {
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const request = https.request(
        `${baseUrl}/chinook.v1.CustomerService/GetCustomer`,
        {
          method: "OPTIONS",
          headers: { origin: "https://app.example", "access-control-request-method": "POST" },
          ...tlsOptions(client),
        },
        (response) => {
          response.resume();
          resolve({ status: response.statusCode, ...response.headers });
        },
      );
      request.on("error", reject);
      request.end();
    });

    expect(headers.status).toBe(204);
    expect(Object.keys(headers).filter((name) => name.startsWith("access-control-"))).toEqual([]);
  });

  /** An export over HTTP/2 whose client takes its first bytes, then reads nothing: with bulky customers, the server is still writing. */
  async function heldExport(requestId: string): Promise<http2.ClientHttp2Session> {
    const session = http2.connect(baseUrl, tlsOptions(client));
    const stream = session.request({
      ":method": "POST",
      ":path": "/chinook.v1.CustomerService/ExportCustomers",
      "content-type": "application/connect+json",
      "x-request-id": requestId,
    });
    stream.on("error", () => undefined);
    stream.end(Buffer.from([0, 0, 0, 0, 2, ...Buffer.from("{}")]));
    await withinBound(new Promise((resolve) => stream.once("data", () => resolve(stream.pause()))), "first exported bytes");
    return session;
  }

  function linesOf(requestId: string): Array<Record<string, unknown>> {
    return server.logs.filter((line) => line.request_id === requestId);
  }

  it("drops an export whose client takes nothing for GRPC_STREAM_STALL_TIMEOUT_MS, logged RESOURCE_EXHAUSTED", async () => {
    await createClient(CustomerService, http2Transport(client)).batchCreateCustomers({ requests: bulkyCustomers(60) });
    const session = await heldExport("stalled-export");

    await eventually(() => linesOf("stalled-export").length > 0);
    session.destroy();
    expect(linesOf("stalled-export")).toEqual([expect.objectContaining({ protocol: "connect", code: "RESOURCE_EXHAUSTED" })]);
  });

  // Last: it stops the server.
  it("ends the call that outlasts SHUTDOWN_GRACE_MS, logged UNAVAILABLE, and still stops", async () => {
    const session = await heldExport("outlasting-export");

    await withinBound(server.app.stop(), "end of app.stop()");
    session.destroy();

    expect(linesOf("outlasting-export")).toEqual([expect.objectContaining({ protocol: "connect", code: "UNAVAILABLE" })]);
    expect(server.logs.filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});
