import { credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect as connectTls } from "node:tls";
import {
  CustomerService,
  ExportCustomersRequestSchema,
  GetCustomerRequestSchema,
} from "../gen/chinook/v1/customer_service_pb";
import { Health, HealthCheckRequestSchema } from "../gen/grpc/health/v1/health_pb";
import { typedClient } from "../src/client/grpc-js";
import { createTestPki, writeIdentity } from "./support/certificates";
import { CHINOOK_SOURCE } from "./support/database";
import { eventually } from "./support/eventually";
import { assertBuilt, runMain, withinBound, type MainProcess } from "./support/main-process";
import { parseSamples, sampleValue } from "./support/prometheus";
import { startTestServer, type TestServer } from "./support/server";
import { addBulkyCustomers } from "./support/streams";

const EXPORT_PATH = "/chinook.v1.CustomerService/ExportCustomers";
const GET_CUSTOMER_PATH = "/chinook.v1.CustomerService/GetCustomer";
const WATCH_PATH = "/grpc.health.v1.Health/Watch";
/** The bytes every HTTP/2 client sends first, before its SETTINGS (RFC 9113, 3.4). */
const PREFACE_MAGIC = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** A request as it travels: the 5-byte gRPC prefix, then the message. */
function requestFrame<Schema extends DescMessage>(schema: Schema, request: MessageInitShape<Schema>): Buffer {
  const message = toBinary(schema, create(schema, request));
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

function exportRequestFrame(): Buffer {
  return requestFrame(ExportCustomersRequestSchema, {});
}

/** Connected once the server's SETTINGS have arrived. */
function connectedSession(address: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => undefined); // the tests read what happened from 'close' and 'goaway'
  return withinBound(
    new Promise((resolve) => session.once("remoteSettings", () => resolve(session))),
    "HTTP/2 settings from the server",
  );
}

/** A gRPC call on `session` that sends `body` and reads whatever comes back. */
function rawCall(session: http2.ClientHttp2Session, path: string, body: Buffer): http2.ClientHttp2Stream {
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => undefined);
  stream.end(body);
  return stream;
}

/** Opens an ExportCustomers stream that never reads; resolves once the server has answered its headers. */
function stalledExport(session: http2.ClientHttp2Session): Promise<http2.ClientHttp2Stream> {
  const stream = rawCall(session, EXPORT_PATH, exportRequestFrame());
  return new Promise((resolve, reject) => {
    stream.once("response", () => resolve(stream));
    stream.once("close", () => reject(new Error(`the export closed before any answer (RST code ${stream.rstCode})`)));
  });
}

/** A health Watch: a server stream that stays open with nothing to send once the first status is out. */
async function openWatch(session: http2.ClientHttp2Session): Promise<http2.ClientHttp2Stream> {
  const stream = rawCall(session, WATCH_PATH, requestFrame(HealthCheckRequestSchema, { service: "" }));
  stream.resume();
  await withinBound(new Promise((resolve) => stream.once("data", resolve)), "the first health status");
  return stream;
}

function closed(emitter: Socket | http2.ClientHttp2Session): Promise<void> {
  return withinBound(new Promise((resolve) => emitter.once("close", () => resolve())), "close of the connection");
}

function goaway(session: http2.ClientHttp2Session): Promise<{ code: number; debugData: string }> {
  return withinBound(
    new Promise((resolve) => session.once("goaway", (code, _lastStreamId, opaqueData) => resolve({ code, debugData: String(opaqueData ?? "") }))),
    "GOAWAY from the server",
  );
}

/** Resolves once the server has answered a ping: the connection is open and served. */
function pinged(session: http2.ClientHttp2Session): Promise<void> {
  return withinBound(
    new Promise((resolve, reject) => session.ping((error) => (error === null ? resolve() : reject(error)))),
    "answer to a ping",
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tcpConnection(address: string): Promise<Socket> {
  const [host = "", port = ""] = address.split(":");
  const socket = connectTcp(Number(port), host);
  socket.on("error", () => undefined);
  socket.resume(); // the server's SETTINGS
  return new Promise((resolve) => socket.once("connect", () => resolve(socket)));
}

/** The resident set of process `pid`, in MiB, as the kernel counts it. */
function residentMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** Chinook-sized customers: a few hundred bytes each, as the real ones. */
function customerRequests(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    customer: {
      firstName: "Stalled",
      lastName: `Reader ${index}`,
      company: "Embraer - Empresa Brasileira de Aeronáutica S.A.",
      address: "Av. Brigadeiro Faria Lima, 2170",
      city: "São José dos Campos",
      state: "SP",
      country: "Brazil",
      postalCode: "12227-000",
      phone: "+55 (12) 3923-5555",
      email: `stalled.reader.${index}@example.com`,
      profile: { notes: "n".repeat(200), tags: ["export", "stalled"] },
    },
  }));
}

describe("the handshake timeout", () => {
  const HANDSHAKE_TIMEOUT_MS = 300;
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS) });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("closes a TCP connection that sends nothing", async () => {
    const socket = await tcpConnection(server.address);
    await closed(socket);
  });

  it("closes a connection that sends the start of the preface but never its SETTINGS", async () => {
    const socket = await tcpConnection(server.address);
    socket.write(PREFACE_MAGIC);
    await closed(socket);
  });

  it("leaves a connection that sent its preface open, and served", async () => {
    const session = await connectedSession(server.address);
    try {
      await sleep(3 * HANDSHAKE_TIMEOUT_MS);
      await pinged(session);
      expect(session.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("the handshake timeout over TLS", () => {
  let dir: string;
  let server: TestServer;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "chinook-limits-tls-"));
    const pki = await createTestPki();
    const files = writeIdentity(dir, "server", pki.server);
    ca = pki.ca.cert;
    server = await startTestServer({ TLS_CERT: files.cert, TLS_KEY: files.key, GRPC_HANDSHAKE_TIMEOUT_MS: "300" });
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("closes a connection that sends nothing, not even a TLS hello", async () => {
    const socket = await tcpConnection(server.address);
    await closed(socket);
  });

  it("closes a connection that completes TLS but never sends the HTTP/2 preface", async () => {
    const [host = "", port = ""] = server.address.split(":");
    const socket = connectTls({ host, port: Number(port), ca, servername: "localhost", ALPNProtocols: ["h2"] });
    socket.on("error", () => undefined);
    socket.resume();
    await withinBound(new Promise((resolve) => socket.once("secureConnect", resolve)), "TLS handshake");
    await withinBound(new Promise((resolve) => socket.once("close", resolve)), "close of the connection");
  });
});

describe("the idle timeout", () => {
  const IDLE_TIMEOUT_MS = 300;
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS) });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("closes a connection, with a GOAWAY, once its calls are over and it stays idle", async () => {
    const session = await connectedSession(server.address);
    const told = goaway(session);
    const call = rawCall(session, GET_CUSTOMER_PATH, requestFrame(GetCustomerRequestSchema, { customerId: 1n }));
    call.resume();
    await withinBound(new Promise((resolve) => call.once("close", resolve)), "end of GetCustomer");

    expect((await told).code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await closed(session);
  });

  it("leaves a connection with a call open alone", async () => {
    const session = await connectedSession(server.address);
    try {
      const watch = await openWatch(session);
      await sleep(3 * IDLE_TIMEOUT_MS);
      await pinged(session);
      expect(watch.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("the cap on concurrent streams", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_MAX_CONCURRENT_STREAMS: "2" });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("is announced in the server's SETTINGS", async () => {
    const session = await connectedSession(server.address);
    try {
      expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
    } finally {
      session.destroy();
    }
  });

  it("makes a gRPC client queue a call past it until one ends, while other connections are served", async () => {
    const health = server.client(Health);
    const customers = server.client(CustomerService); // the same channel options: the same connection
    // Each channel's first call waits for it to connect: a slow answer for a reason of its own.
    await health.check({ service: "" });
    await customers.getCustomer({ customerId: 1n });
    const watches = [health.watch({ service: "" }), health.watch({ service: "" })];
    for (const watch of watches) {
      watch.on("error", () => undefined);
      await withinBound(new Promise((resolve) => watch.once("data", resolve)), "the first health status");
    }
    let answered = false;
    const queued = customers.getCustomer({ customerId: 1n }).then((customer) => {
      answered = true;
      return customer;
    });
    const elsewhere = typedClient(CustomerService, server.address, credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
    });
    try {
      expect(await elsewhere.getCustomer({ customerId: 2n })).toMatchObject({ customerId: 2n });
      await sleep(100);
      expect(answered).toBe(false);

      watches[0]?.cancel();

      expect(await withinBound(queued, "the queued GetCustomer")).toMatchObject({ customerId: 1n });
    } finally {
      elsewhere.close();
      watches[1]?.cancel();
    }
  });
});

describe("the server's keepalive pings", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_KEEPALIVE_TIME_MS: "1000", GRPC_KEEPALIVE_TIMEOUT_MS: "200" });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("drop a connection whose client stops answering them", async () => {
    // HTTP/2 by hand: the preface and an empty SETTINGS frame, then silence (Node's clients answer pings themselves).
    const socket = await tcpConnection(server.address);
    socket.write(Buffer.concat([Buffer.from(PREFACE_MAGIC), Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0])]));
    await closed(socket);
  });

  it("leave a connection whose client answers them open", async () => {
    const session = await connectedSession(server.address);
    try {
      await sleep(2_000);
      await pinged(session);
      expect(session.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("keepalive enforcement", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_KEEPALIVE_MIN_TIME_MS: "60000" });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("closes an idle connection pinged too often with GOAWAY ENHANCE_YOUR_CALM, too_many_pings", async () => {
    const session = await connectedSession(server.address);
    const told = goaway(session);
    const pings = Array.from({ length: 4 }, () => pinged(session).catch(() => undefined));

    expect(await told).toEqual({ code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, debugData: "too_many_pings" });
    await closed(session);
    await Promise.all(pings);
  });

  it("answers as many pings as a client sends while a call is open", async () => {
    const session = await connectedSession(server.address);
    try {
      await openWatch(session);
      for (let i = 0; i < 10; i++) await pinged(session);
      expect(session.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("the stall timeout", () => {
  const STALL_TIMEOUT_MS = 300;
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ GRPC_STREAM_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS), METRICS_ADDR: "127.0.0.1:0" });
    await addBulkyCustomers(server, 60);
  });

  afterAll(async () => {
    await server.stop();
  });

  it("ends an export whose client reads nothing RESOURCE_EXHAUSTED, and logs and counts it so", async () => {
    const exporting = server.client(CustomerService).exportCustomers({});
    exporting.once("data", () => exporting.pause());
    const failure = new Promise<ServiceError>((resolve) => exporting.on("error", resolve));

    expect((await withinBound(failure, "end of the stalled export")).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);

    await eventually(() => server.logs.some((line) => line.method === EXPORT_PATH));
    expect(server.logs.filter((line) => line.method === EXPORT_PATH)).toEqual([
      expect.objectContaining({ code: "RESOURCE_EXHAUSTED", level: 30 }),
    ]);
    const samples = parseSamples(await server.scrapeMetrics());
    const labels = { grpc_method: "ExportCustomers", grpc_code: "ResourceExhausted" };
    expect(sampleValue(samples, "grpc_server_handled_total", labels)).toBe(1);
  });

  it("leaves a stream with nothing to send open for longer", async () => {
    const session = await connectedSession(server.address);
    try {
      const watch = await openWatch(session);
      await sleep(3 * STALL_TIMEOUT_MS);
      await pinged(session);
      expect(watch.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("1,000 exports whose clients read nothing, against the compiled service", () => {
  const STALLED_EXPORTS = 1_000;
  const CONNECTIONS = 20;
  /** Far more than one HTTP/2 window of customers: every export blocks on flow control. */
  const EXTRA_CUSTOMERS = 1_000;
  const MAX_RSS_MIB = 400;

  let dir: string;
  let run: MainProcess | undefined;
  const sessions: http2.ClientHttp2Session[] = [];

  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(path.join(tmpdir(), "chinook-limits-"));
  });

  afterAll(() => {
    for (const session of sessions) session.destroy();
    if (run?.child.exitCode === null) run.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps GetCustomer answering and the process under 400 MB", async () => {
    run = runMain({
      DATABASE_PATH: path.join(dir, "chinook.db"),
      CHINOOK_DB: path.resolve(CHINOOK_SOURCE),
      GRPC_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "info",
    });
    const serving = await run.logLine("serving");
    const address = `127.0.0.1:${String(serving.port)}`;
    const customers = typedClient(CustomerService, address, credentials.createInsecure());
    try {
      await customers.batchCreateCustomers({ requests: customerRequests(EXTRA_CUSTOMERS) });
      const pid = run.child.pid;
      if (pid === undefined) throw new Error("the service has no pid");

      // Within GRPC_MAX_CONCURRENT_STREAMS (100) per connection.
      for (let i = 0; i < CONNECTIONS; i++) sessions.push(await connectedSession(address));
      const perConnection = STALLED_EXPORTS / CONNECTIONS;
      await withinBound(
        Promise.all(sessions.flatMap((session) => Array.from({ length: perConnection }, () => stalledExport(session)))),
        "answers to every export",
      );
      // Once every export is blocked, the resident set stops growing.
      let peak = residentMiB(pid);
      await eventually(async () => {
        await sleep(200);
        const now = residentMiB(pid);
        const grew = now > peak;
        peak = Math.max(peak, now);
        return !grew;
      });

      expect(await customers.getCustomer({ customerId: 1n })).toMatchObject({ customerId: 1n });
      expect(peak).toBeLessThan(MAX_RSS_MIB);
    } finally {
      customers.close();
    }
  });
});
