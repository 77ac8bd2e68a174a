import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { reflectionServices } from "../src/grpc/reflection";
import { bindEphemeral } from "./support/grpc-server";

type Ask<Request, Response> = (request: Request) => Promise<Response>;
type V1Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

/** Requests on one open reflection stream, one answer each, in order. */
function askingOn<Request, Response>(stream: grpc.ClientDuplexStream<Request, Response>): Ask<Request, Response> {
  const responses: AsyncIterable<Response> = stream;
  const iterator = responses[Symbol.asyncIterator]();
  return async (request) => {
    stream.write(request);
    const next = await iterator.next();
    if (next.done === true) throw new Error("the reflection stream ended early");
    return next.value;
  };
}

function filesIn(response: v1.ServerReflectionResponse): FileDescriptorProto[] {
  if (response.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${response.messageResponse.case}: ${JSON.stringify(response.messageResponse.value)}`);
  }
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

function unresolvedImports(files: readonly FileDescriptorProto[]): string[] {
  const names = new Set(files.map((file) => file.name));
  return files.flatMap((file) => file.dependency.filter((dependency) => !names.has(dependency)));
}

function fileNamed(files: readonly FileDescriptorProto[], name: string): FileDescriptorProto {
  const file = files.find((each) => each.name === name);
  if (file === undefined) throw new Error(`${name} is not in the response`);
  return file;
}

function messageNamed(messages: readonly DescriptorProto[], name: string): DescriptorProto {
  const message = messages.find((each) => each.name === name);
  if (message === undefined) throw new Error(`no message ${name}`);
  return message;
}

function errorIn(response: { messageResponse: { case: string | undefined; value?: unknown } }): unknown {
  return response.messageResponse.case === "errorResponse" ? response.messageResponse.value : undefined;
}

describe("server reflection", () => {
  const server = new grpc.Server();
  let clientV1: TypedClient<typeof v1.ServerReflection>;
  let clientV1alpha: TypedClient<typeof v1alpha.ServerReflection>;
  let streamV1: grpc.ClientDuplexStream<V1Request, v1.ServerReflectionResponse>;
  let ask: Ask<V1Request, v1.ServerReflectionResponse>;

  beforeAll(async () => {
    for (const { definition, implementation } of reflectionServices({ services: [CustomerService, InvoiceService, Health] })) {
      server.addService(definition, implementation);
    }
    const address = `127.0.0.1:${await bindEphemeral(server)}`;
    clientV1 = typedClient(v1.ServerReflection, address, grpc.credentials.createInsecure());
    clientV1alpha = typedClient(v1alpha.ServerReflection, address, grpc.credentials.createInsecure());
    streamV1 = clientV1.serverReflectionInfo();
    ask = askingOn(streamV1);
  });

  afterAll(() => {
    streamV1.end();
    clientV1.close();
    clientV1alpha.close();
    server.forceShutdown();
  });

  it("lists every registered service, health and reflection included", async () => {
    const response = await ask({ host: "localhost:50051", messageRequest: { case: "listServices", value: "*" } });

    expect(response.messageResponse.case).toBe("listServicesResponse");
    const names = response.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service : [];
    expect(names.map(({ name }) => name).sort()).toEqual([
      "chinook.v1.CustomerService",
      "chinook.v1.InvoiceService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("echoes the request and its host", async () => {
    const response = await ask({ host: "localhost:50051", messageRequest: { case: "listServices", value: "" } });

    expect(response.validHost).toBe("localhost:50051");
    expect(response.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "" });
  });

  it.each([
    ["chinook.v1.CustomerService", "chinook/v1/customer_service.proto"],
    ["chinook.v1.Customer", "chinook/v1/customer.proto"],
    ["grpc.health.v1.Health", "grpc/health/v1/health.proto"],
    // The error details of grpc-status-details-bin, which grpcurl resolves by symbol.
    ["google.rpc.Status", "google/rpc/status.proto"],
    ["google.rpc.ErrorInfo", "google/rpc/error_details.proto"],
    ["google.rpc.BadRequest", "google/rpc/error_details.proto"],
  ])("describes %s with every file it needs, strictly loadable", async (symbol, declaringFile) => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } }));

    expect(files.map(({ name }) => name)).toContain(declaringFile);
    expect(unresolvedImports(files)).toEqual([]);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
    expect(registry.get(symbol)?.typeName).toBe(symbol);
  });

  it("sends the imported well-known types along", async () => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: "chinook.v1.CustomerService" } }));

    expect(files.map(({ name }) => name)).toEqual(
      expect.arrayContaining(["google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto"]),
    );
  });

  it.each([
    ["chinook.v1.CustomerService", "chinook/v1/customer_service.proto", "Manages Chinook customers."],
    ["chinook.v1.Customer", "chinook/v1/customer.proto", "A customer of the Chinook music store (table `customers`)."],
  ])("describes %s with the comments of its proto file, for grpcurl describe to show", async (symbol, declaringFile, comment) => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } }));
    const locations = fileNamed(files, declaringFile).sourceCodeInfo?.location ?? [];

    expect(locations.map(({ leadingComments }) => leadingComments.trim())).toContain(comment);
  });

  it("keeps map entry messages as protoc names them (AttributesEntry, mapEntry set)", async () => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: "chinook.v1.Customer" } }));
    const profile = messageNamed(fileNamed(files, "chinook/v1/customer.proto").messageType, "CustomerProfile");
    const entry = messageNamed(profile.nestedType, "AttributesEntry");

    expect(entry.options?.mapEntry).toBe(true);
    expect(profile.field.find(({ name }) => name === "attributes")?.typeName).toBe(
      ".chinook.v1.CustomerProfile.AttributesEntry",
    );
  });

  it("keeps health's map entry as StatusesEntry", async () => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.Health" } }));
    const listResponse = messageNamed(fileNamed(files, "grpc/health/v1/health.proto").messageType, "HealthListResponse");

    expect(messageNamed(listResponse.nestedType, "StatusesEntry").options?.mapEntry).toBe(true);
  });

  it.each([
    ["a method", "chinook.v1.CustomerService.GetCustomer", "chinook/v1/customer_service.proto"],
    ["a field", "chinook.v1.Customer.email", "chinook/v1/customer.proto"],
    ["a nested message", "chinook.v1.CreateInvoiceRequest.Line", "chinook/v1/invoice_service.proto"],
    ["a map entry", "chinook.v1.CustomerProfile.AttributesEntry", "chinook/v1/customer.proto"],
    ["an enum", "chinook.v1.CustomerStatus", "chinook/v1/customer.proto"],
    ["an enum value", "chinook.v1.CUSTOMER_STATUS_ACTIVE", "chinook/v1/customer.proto"],
    ["an enum value named within its enum", "chinook.v1.CustomerStatus.CUSTOMER_STATUS_ACTIVE", "chinook/v1/customer.proto"],
    ["a well-known type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
  ])("finds the file declaring %s", async (_kind, symbol, declaringFile) => {
    const files = filesIn(await ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } }));

    expect(files.map(({ name }) => name)).toContain(declaringFile);
    expect(unresolvedImports(files)).toEqual([]);
  });

  it("finds a file by its name", async () => {
    const files = filesIn(await ask({ messageRequest: { case: "fileByFilename", value: "chinook/v1/customer.proto" } }));

    expect(files.map(({ name }) => name)).toEqual(["google/protobuf/timestamp.proto", "chinook/v1/customer.proto"]);
  });

  it("answers NOT_FOUND for an unknown symbol and keeps the stream answering", async () => {
    const unknown = await ask({ messageRequest: { case: "fileContainingSymbol", value: "chinook.v1.Nope" } });
    const next = await ask({ messageRequest: { case: "fileByFilename", value: "chinook/v1/invoice.proto" } });

    expect(errorIn(unknown)).toMatchObject({ errorCode: grpc.status.NOT_FOUND, errorMessage: expect.stringContaining("chinook.v1.Nope") });
    expect(filesIn(next).map(({ name }) => name)).toContain("chinook/v1/invoice.proto");
  });

  it.each([
    ["an unknown file", { case: "fileByFilename", value: "chinook/v1/nope.proto" }],
    ["an unknown member of a known type", { case: "fileContainingSymbol", value: "chinook.v1.Customer.nope" }],
    [
      "an extension that does not exist",
      { case: "fileContainingExtension", value: { containingType: "chinook.v1.Customer", extensionNumber: 100 } },
    ],
    ["extensions of an unknown type", { case: "allExtensionNumbersOfType", value: "chinook.v1.Nope" }],
  ] as const)("answers NOT_FOUND for %s", async (_what, messageRequest) => {
    const response = await ask({ messageRequest });

    expect(errorIn(response)).toMatchObject({ errorCode: grpc.status.NOT_FOUND });
  });

  it("lists no extension numbers for a known message", async () => {
    const response = await ask({ messageRequest: { case: "allExtensionNumbersOfType", value: "chinook.v1.Customer" } });

    expect(response.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({ baseTypeName: "chinook.v1.Customer", extensionNumber: [] }),
    });
  });

  it("ends the call with OK once the client half-closes", async () => {
    const stream = clientV1.serverReflectionInfo();
    const status = once(stream, "status");
    stream.write({ messageRequest: { case: "listServices", value: "" } });
    stream.end();
    const responses: AsyncIterable<v1.ServerReflectionResponse> = stream;
    const cases: (string | undefined)[] = [];
    for await (const response of responses) cases.push(response.messageResponse.case);

    expect(cases).toEqual(["listServicesResponse"]);
    expect(await status).toEqual([expect.objectContaining({ code: grpc.status.OK })]);
  });

  it("answers v1alpha too, in v1alpha messages", async () => {
    const stream = clientV1alpha.serverReflectionInfo();
    const askV1alpha = askingOn(stream);
    try {
      const services = await askV1alpha({ host: "h", messageRequest: { case: "listServices", value: "" } });
      const files = await askV1alpha({ messageRequest: { case: "fileContainingSymbol", value: "chinook.v1.Customer" } });

      expect(services.$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionResponse");
      expect(services.validHost).toBe("h");
      expect(services.messageResponse.case).toBe("listServicesResponse");
      expect(files.messageResponse.case).toBe("fileDescriptorResponse");
      const encoded = files.messageResponse.case === "fileDescriptorResponse" ? files.messageResponse.value.fileDescriptorProto : [];
      expect(encoded.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name)).toContain("chinook/v1/customer.proto");
    } finally {
      stream.end();
    }
  });
});
