/**
 * The public client, `import … from "chinook-grpc/client"` (src/client/, run
 * as built in dist/ through package.json's `exports`), against the real service:
 * what a program calling it sees.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { typedClient } from "chinook-grpc/grpc-js";
import {
  Code,
  ConnectError,
  CustomerService,
  createChinookClient,
  errorDetails,
  type ChinookClient,
  type ChinookClientOptions,
} from "chinook-grpc/client";
import { createTestPki, writeIdentity, type TestPki } from "./support/certificates";
import { startTestServer, type TestServer } from "./support/server";

const EXAMPLE_JS = path.resolve(__dirname, "../dist/examples/customers.js");
/** Customers made for the file: an export of them takes far longer than 1 ms, and more than flow control lets arrive at once. */
const BULK_COUNTRY = "Bulkland";
const BULK_SIZE = 1000;
/** Native gRPC on GRPC_ADDR; the Connect protocol and gRPC-Web on HTTP_ADDR, over HTTP/1.1 (the default) and HTTP/2. */
const DOORS: ReadonlyArray<[name: string, door: Door]> = [
  ["gRPC", { protocol: "grpc" }],
  ["Connect, HTTP/1.1", { protocol: "connect" }],
  ["gRPC-Web, HTTP/1.1", { protocol: "grpc-web" }],
  ["Connect, HTTP/2", { protocol: "connect", httpVersion: "2" }],
  ["gRPC-Web, HTTP/2", { protocol: "grpc-web", httpVersion: "2" }],
];
const GRPC: Door = { protocol: "grpc" };

type Door = Pick<ChinookClientOptions, "protocol" | "httpVersion">;

/** The code a call failed with. */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error).code;
  }
  throw new Error("expected the call to fail");
}

async function countOf(stream: AsyncIterable<unknown>): Promise<number> {
  const iterator = stream[Symbol.asyncIterator]();
  let count = 0;
  while (!(await iterator.next()).done) count += 1;
  return count;
}

describe("against the real service", () => {
  let server: TestServer;
  const clients: ChinookClient[] = [];

  /** A client closed after the file; "grpc" calls GRPC_ADDR, the others HTTP_ADDR. */
  function clientWith(door: Door, options: Omit<ChinookClientOptions, "address" | keyof Door> = {}): ChinookClient {
    const client = createChinookClient({ address: addressFor(door.protocol), ...door, ...options });
    clients.push(client);
    return client;
  }

  function addressFor(protocol: Door["protocol"]): string {
    if (protocol === "grpc") return server.address;
    if (server.app.httpPort === undefined) throw new Error("the test server runs without HTTP_ADDR");
    return `127.0.0.1:${server.app.httpPort}`;
  }

  beforeAll(async () => {
    server = await startTestServer({ HTTP_ADDR: "127.0.0.1:0" });
    const requests = Array.from({ length: BULK_SIZE }, (_, index) => ({
      customer: { firstName: "Bulk", lastName: `No ${index}`, email: `bulk.${index}@example.test`, country: BULK_COUNTRY },
    }));
    await clientWith(GRPC).customers.batchCreateCustomers({ requests });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server.stop();
  });

  describe.each(DOORS)("over %s", (_name, door) => {
    it("calls each service with typed requests and responses", async () => {
      const { customers, invoices } = clientWith(door);

      const customer = await customers.getCustomer({ customerId: 1n });
      const invoice = await invoices.getInvoice({ invoiceId: 1n });

      expect(customer).toMatchObject({ customerId: 1n, firstName: "Luís", lastName: "Gonçalves", country: "Brazil" });
      expect(invoice).toMatchObject({ invoiceId: 1n, customerId: 2n, total: "1.98" });
      expect(invoice.lines.map(({ quantity }) => quantity)).toEqual([1, 1]);
    });

    it("streams ExportCustomers as an async iterable", async () => {
      const { customers } = clientWith(door);

      const exported: bigint[] = [];
      for await (const customer of customers.exportCustomers({ country: "Canada" })) exported.push(customer.customerId);
      const listed = await customers.listCustomers({ country: "Canada", pageSize: 1000 });

      expect(exported.length).toBeGreaterThan(1);
      expect(exported).toEqual(listed.customers.map(({ customerId }) => customerId));
    });

    it("ends a call whose deadline passes with DeadlineExceeded", async () => {
      const { customers } = clientWith(door);

      const exporting = customers.exportCustomers({ country: BULK_COUNTRY }, { timeoutMs: 1 });

      expect(Code[await codeOf(countOf(exporting))]).toBe(Code[Code.DeadlineExceeded]);
    });

    it("sends metadata and reads the response's: x-request-id echoed", async () => {
      const { customers } = clientWith(door);
      let echoed: string | null = null;
      const onHeader = (header: Headers) => (echoed = header.get("x-request-id"));

      await customers.getCustomer({ customerId: 1n }, { headers: { "x-request-id": "client-test-1" }, onHeader });

      expect(echoed).toBe("client-test-1");
    });

    it("NOT_FOUND: the code, the message and the google.rpc details", async () => {
      const { customers } = clientWith(door);

      const error = await customers.getCustomer({ customerId: 999_999n }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConnectError);
      expect(ConnectError.from(error)).toMatchObject({ code: Code.NotFound, rawMessage: "customer 999999 not found" });
      const { errorInfo, resourceInfo } = errorDetails(error);
      expect(errorInfo).toMatchObject({ reason: "CUSTOMER_NOT_FOUND", domain: "chinook.v1", metadata: { customerId: "999999" } });
      expect(resourceInfo).toMatchObject({ resourceType: "chinook.v1.Customer", resourceName: "customers/999999" });
    });

    it("INVALID_ARGUMENT: a BadRequest naming each field", async () => {
      const { customers } = clientWith(door);
      const customer = { firstName: "", lastName: "Valid", email: "not an address" };

      const error = await customers.createCustomer({ customer }).catch((caught: unknown) => caught);

      expect(ConnectError.from(error).code).toBe(Code.InvalidArgument);
      const { errorInfo, badRequest } = errorDetails(error);
      expect(errorInfo?.reason).toBe("FIELD_INVALID");
      expect(badRequest?.fieldViolations.map(({ field }) => field)).toEqual(["customer.first_name", "customer.email"]);
    });
  });

  it("gives every call the timeoutMs option's deadline unless the call sets its own", async () => {
    const { customers } = clientWith(GRPC, { timeoutMs: 1 });

    expect(await codeOf(countOf(customers.exportCustomers({ country: BULK_COUNTRY })))).toBe(Code.DeadlineExceeded);
    expect(await countOf(customers.exportCustomers({ country: BULK_COUNTRY }, { timeoutMs: 30_000 }))).toBe(BULK_SIZE);
  });

  it("sends the headers option with every call, a call's own headers first", async () => {
    const { customers } = clientWith(GRPC, { headers: { "x-request-id": "from-the-options" } });
    const echoed: Array<string | null> = [];
    const onHeader = (header: Headers) => echoed.push(header.get("x-request-id"));

    await customers.getCustomer({ customerId: 1n }, { onHeader });
    await customers.getCustomer({ customerId: 1n }, { onHeader, headers: { "x-request-id": "from-the-call" } });

    expect(echoed).toEqual(["from-the-options", "from-the-call"]);
  });

  it("close() ends the calls in flight with Canceled", async () => {
    const client = clientWith(GRPC);
    const exporting = client.customers.exportCustomers({ country: BULK_COUNTRY })[Symbol.asyncIterator]();
    await exporting.next();

    client.close();

    expect(await codeOf(countOf({ [Symbol.asyncIterator]: () => exporting }))).toBe(Code.Canceled);
  });

  it("chinook-grpc/grpc-js serves programs built on grpc-js, from the same generated types", async () => {
    const customers = typedClient(CustomerService, server.address, credentials.createInsecure());
    try {
      const customer = await customers.getCustomer({ customerId: 1n }, { deadline: Date.now() + 10_000 });
      expect(`${customer.firstName} ${customer.lastName}`).toBe("Luís Gonçalves");
    } finally {
      customers.close();
    }
  });

  it("runs the example program (examples/customers.ts), which prints what it read and exits", async () => {
    const { stdout, exitCode } = await runNode(EXAMPLE_JS, [server.address]);

    expect({ exitCode, lines: stdout.trim().split("\n") }).toEqual({
      exitCode: 0,
      lines: [
        "customer 1: Luís Gonçalves (Brazil)",
        expect.stringMatching(/^Brazil by last name: (\S+ \S+, ){2}\S+ \S+ \(5 in all\)$/),
        expect.stringMatching(/^customers in Canada live in [1-9]\d* cities: .*Montréal.*$/),
        "rejected: InvalidArgument FIELD_INVALID: customer.email: must be a valid email address",
      ],
    });
  });
});

describe("with mutual TLS", () => {
  let pki: TestPki;
  let dir: string;
  let server: TestServer;

  beforeAll(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(path.join(tmpdir(), "chinook-client-tls-"));
    const identity = writeIdentity(dir, "server", pki.server);
    const clientCa = writeIdentity(dir, "ca", pki.ca).cert;
    server = await startTestServer({ TLS_CERT: identity.cert, TLS_KEY: identity.key, TLS_CLIENT_CA: clientCa, HTTP_ADDR: "127.0.0.1:0" });
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GetCustomer with `tls`: the first name, or the code of the failure. */
  async function firstNameOver(door: Door, tls: ChinookClientOptions["tls"]): Promise<string> {
    const address = door.protocol === "grpc" ? server.address : `127.0.0.1:${server.app.httpPort ?? 0}`;
    const client = createChinookClient({ address, ...door, tls, timeoutMs: 10_000 });
    try {
      return (await client.customers.getCustomer({ customerId: 1n })).firstName;
    } catch (error) {
      return Code[ConnectError.from(error).code];
    } finally {
      client.close();
    }
  }

  describe.each(DOORS)("over %s", (_name, door) => {
    it("answers a client that trusts the server's CA and presents its own certificate", async () => {
      // The certificate names localhost; the address is 127.0.0.1.
      const tls = { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, serverName: "localhost" };

      expect(await firstNameOver(door, tls)).toBe("Luís");
    });

    // Connect-ES reports a TLS alert as Internal (grpc-js says UNAVAILABLE); a reset connection would be Aborted.
    it("is refused without a client certificate", async () => {
      expect(["Internal", "Aborted"]).toContain(await firstNameOver(door, { ca: pki.ca.cert, serverName: "localhost" }));
    });
  });
});

/** `node script args…`: its stdout and exit code (a program that does not exit fails the test at its timeout). */
function runNode(script: string, args: readonly string[]): Promise<{ stdout: string; exitCode: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error === null) resolve({ stdout, exitCode: 0 });
      else if (typeof error.code === "number") resolve({ stdout, exitCode: error.code });
      else reject(new Error(`${script}: ${error.message}\n${stderr}`));
    });
  });
}
