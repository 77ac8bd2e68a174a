import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { ConfigError, loadConfig } from "../src/config";
import { typedClient } from "../src/client/grpc-js";
import { serverTransport } from "../src/grpc/credentials";
import { createTestPki, writeIdentity, type TestPki } from "./support/certificates";
import { startTestServer, type TestServer } from "./support/server";

let pki: TestPki;
let dir: string;
let files: Record<"server" | "client" | "otherClient", { cert: string; key: string }> & { ca: string };

beforeAll(async () => {
  pki = await createTestPki();
  dir = mkdtempSync(path.join(tmpdir(), "chinook-tls-"));
  files = {
    server: writeIdentity(dir, "server", pki.server),
    client: writeIdentity(dir, "client", pki.client),
    otherClient: writeIdentity(dir, "other-client", pki.otherClient),
    ca: writeIdentity(dir, "ca", pki.ca).cert,
  };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The server certificate names localhost; SNI may not carry an IP address. */
const AS_LOCALHOST: grpc.ChannelOptions = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };

/** GetCustomer over `credentials`: the customer's first name, or the status code of the failure. */
async function callWith(server: TestServer, credentials: grpc.ChannelCredentials): Promise<string> {
  const client = typedClient(CustomerService, server.address, credentials, AS_LOCALHOST);
  try {
    const customer = await client.getCustomer({ customerId: 1n }, { deadline: Date.now() + 10_000 });
    return customer.firstName;
  } catch (error) {
    return grpc.status[(error as grpc.ServiceError).code] ?? "no status";
  } finally {
    client.close();
  }
}

function trusting(ca: string, identity?: { cert: string; key: string }): grpc.ChannelCredentials {
  const pem = (text: string) => Buffer.from(text);
  return identity === undefined
    ? grpc.credentials.createSsl(pem(ca))
    : grpc.credentials.createSsl(pem(ca), pem(identity.key), pem(identity.cert));
}

function startLine(server: TestServer): Record<string, unknown> | undefined {
  return server.logs.find((line) => typeof line.msg === "string" && line.msg.startsWith("serving gRPC"));
}

describe("without TLS configuration", () => {
  it("serves plaintext and says so when it starts", async () => {
    const server = await startTestServer();
    try {
      expect(startLine(server)).toEqual(
        expect.objectContaining({ tls: "plaintext", msg: "serving gRPC in plaintext (no TLS configured)" }),
      );
      expect(await callWith(server, grpc.credentials.createInsecure())).toBe("Luís");
    } finally {
      await server.stop();
    }
  });
});

describe("with TLS_CERT and TLS_KEY", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ TLS_CERT: files.server.cert, TLS_KEY: files.server.key });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("says TLS when it starts", () => {
    expect(startLine(server)).toEqual(expect.objectContaining({ tls: "tls", msg: "serving gRPC over TLS" }));
  });

  it("answers a client that trusts its CA", async () => {
    expect(await callWith(server, trusting(pki.ca.cert))).toBe("Luís");
  });

  it("refuses a plaintext client", async () => {
    expect(await callWith(server, grpc.credentials.createInsecure())).toBe("UNAVAILABLE");
  });

  it("is refused by a client that trusts another CA", async () => {
    expect(await callWith(server, trusting(pki.otherCa.cert))).toBe("UNAVAILABLE");
  });
});

describe("with TLS_CLIENT_CA too (mTLS)", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ TLS_CERT: files.server.cert, TLS_KEY: files.server.key, TLS_CLIENT_CA: files.ca });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("says mTLS when it starts", () => {
    expect(startLine(server)).toEqual(expect.objectContaining({ tls: "mtls" }));
  });

  it("answers a client presenting a certificate from the client CA", async () => {
    expect(await callWith(server, trusting(pki.ca.cert, pki.client))).toBe("Luís");
  });

  it("refuses a client without a certificate", async () => {
    expect(await callWith(server, trusting(pki.ca.cert))).toBe("UNAVAILABLE");
  });

  it("refuses a client whose certificate another CA issued", async () => {
    expect(await callWith(server, trusting(pki.ca.cert, pki.otherClient))).toBe("UNAVAILABLE");
  });

  it("refuses a plaintext client", async () => {
    expect(await callWith(server, grpc.credentials.createInsecure())).toBe("UNAVAILABLE");
  });
});

describe("TLS configuration errors", () => {
  it.each([
    [{ TLS_CERT: "server.crt" }, /^TLS_CERT is set without TLS_KEY/],
    [{ TLS_KEY: "server.key" }, /^TLS_KEY is set without TLS_CERT/],
    [{ TLS_KEY: "server.key", TLS_CLIENT_CA: "ca.crt" }, /^TLS_KEY is set without TLS_CERT/],
    [{ TLS_CLIENT_CA: "ca.crt" }, /^TLS_CLIENT_CA requires TLS_CERT and TLS_KEY/],
  ])("%j is a ConfigError that starts from what was set", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("an unreadable certificate is a ConfigError naming the file", () => {
    const missing = path.join(dir, "missing.crt");
    const config = loadConfig({ TLS_CERT: missing, TLS_KEY: files.server.key });

    expect(() => serverTransport(config.tls)).toThrow(ConfigError);
    expect(() => serverTransport(config.tls)).toThrow(missing);
  });

  it.each([
    ["empty", () => ""],
    ["a private key", () => readFileSync(files.client.key, "utf8")],
  ])("a client CA file that holds no certificate (%s) is a ConfigError naming it", (_case, contents) => {
    const clientCa = path.join(dir, "no-certificate.crt");
    writeFileSync(clientCa, contents());
    const config = loadConfig({ TLS_CERT: files.server.cert, TLS_KEY: files.server.key, TLS_CLIENT_CA: clientCa });

    expect(() => serverTransport(config.tls)).toThrow(ConfigError);
    expect(() => serverTransport(config.tls)).toThrow(clientCa);
  });

  it("a key that does not belong to the certificate is a ConfigError naming the two files, and no client CA", () => {
    const config = loadConfig({ TLS_CERT: files.server.cert, TLS_KEY: files.client.key });

    expect(() => serverTransport(config.tls)).toThrow(ConfigError);
    expect(() => serverTransport(config.tls)).toThrow(`the TLS certificate ${files.server.cert} and private key ${files.client.key} do not go together`);
    expect(() => serverTransport(config.tls)).not.toThrow(/client CA/);
  });

  it("a key that does not belong to the certificate is about the key even with a client CA", () => {
    const config = loadConfig({ TLS_CERT: files.server.cert, TLS_KEY: files.client.key, TLS_CLIENT_CA: files.ca });

    expect(() => serverTransport(config.tls)).toThrow(`the TLS certificate ${files.server.cert} and private key ${files.client.key} do not go together`);
    expect(() => serverTransport(config.tls)).not.toThrow(/client CA/);
  });

  it("stops the service from starting", async () => {
    await expect(startTestServer({ TLS_CERT: files.server.cert, TLS_KEY: files.client.key })).rejects.toThrow(ConfigError);
  });
});
