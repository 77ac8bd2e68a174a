import * as grpc from "@grpc/grpc-js";
import { clone, create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { HealthImplementation } from "grpc-health-check";
import { execFile } from "node:child_process";
import path from "node:path";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb";
import { reflectionServices } from "../src/grpc/reflection";
import { startTestServer, type TestServer } from "./support/server";
import { bindEphemeral } from "./support/grpc-server";

/**
 * `buf curl` is a Go reflection client that builds its schema with protodesc,
 * which validates descriptors as strictly as current grpcurl releases do.
 */
const BUF = path.resolve(__dirname, "../node_modules/.bin/buf");
const BUF_TIMEOUT_MS = 20_000;

interface BufOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl` over plaintext HTTP/2 with the gRPC protocol; resolves however it exits. */
function bufCurl(args: readonly string[]): Promise<BufOutcome> {
  const command = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args];
  return new Promise((resolve, reject) => {
    execFile(BUF, command, { timeout: BUF_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error === null) resolve({ exitCode: 0, stdout, stderr });
      else if (typeof error.code === "number") resolve({ exitCode: error.code, stdout, stderr });
      else reject(error); // not started, or killed by the timeout
    });
  });
}

async function bufCurlJson(args: readonly string[]): Promise<unknown> {
  const outcome = await bufCurl(args);
  if (outcome.exitCode !== 0) throw new Error(`buf curl ${args.join(" ")} exited ${outcome.exitCode}: ${outcome.stderr}`);
  return JSON.parse(outcome.stdout);
}

function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

describe("reflection through buf curl", () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    server = await startTestServer();
    url = `http://${server.address}`;
  });

  afterAll(async () => {
    await server.stop();
  });

  it.each(["grpc-v1", "grpc-v1alpha"])("lists every service on the port (%s)", async (protocol) => {
    const outcome = await bufCurl(["--reflect-protocol", protocol, "--list-services", url]);

    expect(outcome).toMatchObject({ exitCode: 0, stderr: "" });
    expect(linesOf(outcome.stdout)).toEqual([
      "chinook.v1.CustomerService",
      "chinook.v1.InvoiceService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("lists the methods of every service", async () => {
    const outcome = await bufCurl(["--list-methods", url]);

    expect(outcome.exitCode).toBe(0);
    expect(linesOf(outcome.stdout)).toEqual(
      expect.arrayContaining([
        "chinook.v1.CustomerService/ExportCustomers",
        "chinook.v1.CustomerService/GetCustomer",
        "chinook.v1.InvoiceService/CreateInvoice",
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
      ]),
    );
  });

  it.each(["grpc-v1", "grpc-v1alpha"])("gets customer 1 with no proto files (%s)", async (protocol) => {
    const customer = await bufCurlJson([
      "--reflect-protocol",
      protocol,
      "-d",
      '{"customerId": 1}',
      `${url}/chinook.v1.CustomerService/GetCustomer`,
    ]);

    expect(customer).toMatchObject({ customerId: "1", firstName: "Luís", lastName: "Gonçalves" });
  });

  it("checks health", async () => {
    expect(await bufCurlJson([`${url}/grpc.health.v1.Health/Check`])).toEqual({ status: "SERVING" });
    expect(await bufCurlJson(["-d", '{"service": "chinook.v1.CustomerService"}', `${url}/grpc.health.v1.Health/Check`])).toEqual({
      status: "SERVING",
    });
  });

  // The map-entry trap: both calls carry a map<> field, which strict clients
  // refuse unless its entry message is declared as protoc declares it.
  it("sends and receives map fields: CustomerProfile.attributes", async () => {
    const request = {
      customer: {
        firstName: "Ada",
        lastName: "Lovelace",
        email: "ada.reflection@example.com",
        profile: { attributes: { team: "engines", since: "1843" } },
      },
    };

    const created = await bufCurlJson(["-d", JSON.stringify(request), `${url}/chinook.v1.CustomerService/CreateCustomer`]);

    expect(created).toMatchObject({ profile: { attributes: { team: "engines", since: "1843" } } });
  });

  it("receives map fields: HealthListResponse.statuses", async () => {
    const listed = await bufCurlJson([`${url}/grpc.health.v1.Health/List`]);

    expect(listed).toEqual({
      statuses: {
        "": { status: "SERVING" },
        "chinook.v1.CustomerService": { status: "SERVING" },
        "chinook.v1.InvoiceService": { status: "SERVING" },
      },
    });
  });

  it("reports a gRPC error as its code", async () => {
    const outcome = await bufCurl(["-d", '{"customerId": 999999}', `${url}/chinook.v1.CustomerService/GetCustomer`]);

    // buf curl exits with the gRPC code shifted three bits left.
    expect(outcome.exitCode).toBe(grpc.status.NOT_FOUND << 3);
    expect(JSON.parse(outcome.stderr)).toMatchObject({ code: "not_found" });
  });
});

/**
 * The health proto served by reflection, as generated, or with its map entry
 * renamed the way protobufjs re-encodes it (`Statuses` instead of
 * `StatusesEntry`), which is what @grpc/reflection 1.0 serves.
 */
function healthService({ renameMapEntries }: { renameMapEntries: boolean }): DescService {
  const proto: FileDescriptorProto = clone(FileDescriptorProtoSchema, file_grpc_health_v1_health.proto);
  if (renameMapEntries) proto.messageType.forEach(renameMapEntriesOf);
  const service = createFileRegistry(create(FileDescriptorSetSchema, { file: [proto] })).getService("grpc.health.v1.Health");
  if (service === undefined) throw new Error("no grpc.health.v1.Health in the health proto");
  return service;
}

function renameMapEntriesOf(message: DescriptorProto): void {
  for (const entry of message.nestedType.filter((nested) => nested.options?.mapEntry === true)) {
    for (const field of message.field.filter((each) => each.typeName.endsWith(`.${entry.name}`))) {
      field.typeName = field.typeName.replace(/Entry$/, "");
    }
    entry.name = entry.name.replace(/Entry$/, "");
  }
}

/** Health and reflection only, on an ephemeral port; returns its base URL. */
async function startHealthOnlyServer(server: grpc.Server, health: DescService): Promise<string> {
  for (const { definition, implementation } of reflectionServices({ services: [health] })) {
    server.addService(definition, implementation);
  }
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  return `http://127.0.0.1:${await bindEphemeral(server)}`;
}

// Proves the map-field tests above have teeth: the same server, differing only
// in the map entry's name, is refused by buf curl.
describe.each([
  { entries: "named as protoc names them", renameMapEntries: false, refused: false },
  { entries: "renamed as protobufjs renames them", renameMapEntries: true, refused: true },
])("buf curl against map entries $entries (control)", ({ renameMapEntries, refused }) => {
  const server = new grpc.Server();
  let url: string;

  beforeAll(async () => {
    url = await startHealthOnlyServer(server, healthService({ renameMapEntries }));
  });

  afterAll(() => {
    server.forceShutdown();
  });

  it(refused ? "refuses the method" : "calls the method", async () => {
    const outcome = await bufCurl([`${url}/grpc.health.v1.Health/List`]);

    if (refused) {
      expect(outcome.exitCode).not.toBe(0);
      // protodesc's verdict is swallowed: the service just is not "in schema".
      expect(outcome.stderr).toMatch(/failed to find service named "grpc.health.v1.Health"/);
    } else {
      expect(outcome).toMatchObject({ exitCode: 0, stderr: "" });
      expect(JSON.parse(outcome.stdout)).toEqual({ statuses: { "": { status: "SERVING" } } });
    }
  });
});
