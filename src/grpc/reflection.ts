/**
 * gRPC server reflection, v1 and v1alpha, answered from the descriptors the
 * server is built from, as buf compiled them, comments included
 * (gen/descriptor_set.ts): protobuf-es embeds them without their source info,
 * and the comments are the contract's documentation. Not @grpc/reflection: its 1.0
 * re-encodes descriptors through protobufjs, which renames map entry
 * messages, and strict clients (buf curl, grpcurl) then reject the schema.
 * test/reflection-cli.test.ts runs buf curl against the real server to keep
 * it so.
 */
import * as grpc from "@grpc/grpc-js";
import { clone, create, createFileRegistry, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescField, DescFile, DescService, FileRegistry, MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { DESCRIPTOR_SET_BASE64 } from "../../gen/descriptor_set";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { quoteClientValue } from "../client-text";
import { adaptService, type AdapterOptions, type GrpcService } from "./adapter";
import { drainedOrClosed } from "./streams";

export interface ReflectionOptions extends AdapterOptions {
  /**
   * Every service the server registers besides reflection itself, e.g.
   * `Health` from gen/grpc/health/v1/health_pb: these are what list_services answers.
   */
  services: readonly DescService[];
  /** More files to describe, beyond those declaring the services. */
  files?: readonly DescFile[];
}

type MessageRequest = v1.ServerReflectionRequest["messageRequest"];
type MessageResponse = MessageInitShape<typeof v1.ServerReflectionResponseSchema>["messageResponse"];

/** Everything reflection can describe, indexed once at start-up. */
interface Catalog {
  readonly registry: FileRegistry;
  readonly serviceNames: readonly string[];
  /** Fully-qualified name of every type and member → the file declaring it. */
  readonly symbols: ReadonlyMap<string, DescFile>;
}

/**
 * Described whether or not a service imports them: health, and the error
 * model of every status's grpc-status-details-bin, so that clients can
 * decode the details (grpcurl, buf curl).
 */
const ALWAYS_DESCRIBED = [file_grpc_health_v1_health, file_google_rpc_status, file_google_rpc_error_details];

/** By file name: every file of proto/ and its imports, with its comments. */
const DOCUMENTED_FILES: ReadonlyMap<string, FileDescriptorProto> = new Map(
  fromBinary(FileDescriptorSetSchema, Buffer.from(DESCRIPTOR_SET_BASE64, "base64")).file.map((file) => [file.name, file]),
);

/**
 * grpc.reflection.v1 and v1alpha, answered with the descriptors of
 * gen/descriptor_set.ts, comments included, for the files given as they are
 * there, and with those protobuf-es embeds for any other. Register both
 * results like any other service.
 */
export function reflectionServices(options: ReflectionOptions): GrpcService[] {
  const catalog = buildCatalog(options);
  const answerV1 = (request: v1.ServerReflectionRequest) => answer(catalog, request);
  return [
    adaptService(v1.ServerReflection, { serverReflectionInfo: (call) => serveReflection(call, answerV1) }, options),
    adaptService(
      v1alpha.ServerReflection,
      { serverReflectionInfo: (call) => serveReflection(call, inV1alpha(answerV1)) },
      options,
    ),
  ];
}

function buildCatalog(options: ReflectionOptions): Catalog {
  const services = [...options.services, v1.ServerReflection, v1alpha.ServerReflection];
  const roots = [...services.map((service) => service.file), ...(options.files ?? []), ...ALWAYS_DESCRIBED];
  const files = inDependencyOrder(roots);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files.map(documented) }));
  return {
    registry,
    serviceNames: [...new Set(services.map((service) => service.typeName))],
    symbols: symbolIndex(registry),
  };
}

/** The file with its comments, unless what it was given differs (a test's own variant, a stale gen/). */
function documented(file: DescFile): FileDescriptorProto {
  const withComments = DOCUMENTED_FILES.get(file.proto.name);
  return withComments !== undefined && sameApartFromComments(withComments, file.proto) ? withComments : file.proto;
}

function sameApartFromComments(withComments: FileDescriptorProto, compiled: FileDescriptorProto): boolean {
  const withoutComments = clone(FileDescriptorProtoSchema, withComments);
  withoutComments.sourceCodeInfo = undefined;
  return equals(FileDescriptorProtoSchema, withoutComments, compiled);
}

/** The files and all they import, transitively, each after its dependencies, once. */
function inDependencyOrder(roots: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  roots.forEach(visit);
  return ordered;
}

function symbolIndex(registry: FileRegistry): Map<string, DescFile> {
  const index = new Map<string, DescFile>();
  for (const type of registry) {
    index.set(type.typeName, type.file);
    for (const member of memberNames(type)) index.set(member, type.file);
  }
  return index;
}

/**
 * Fully-qualified names declared inside a type: methods, fields, oneofs, map
 * entries, enum values (also as `Enum.VALUE`, the form people tend to ask for).
 */
function memberNames(type: TypeInRegistry): string[] {
  switch (type.kind) {
    case "service":
      return type.methods.map((method) => `${type.typeName}.${method.name}`);
    case "message":
      return [
        ...[...type.fields, ...type.oneofs].map((member) => `${type.typeName}.${member.name}`),
        ...type.fields.flatMap(mapEntryNames),
      ];
    case "enum":
      return type.values.flatMap((value) => [enumValueName(type.typeName, value.name), `${type.typeName}.${value.name}`]);
    case "extension":
      return [];
  }
}

/** protobuf-es has no descriptor for map entry messages, but protoc declares them. */
function mapEntryNames(field: DescField): string[] {
  if (field.fieldKind !== "map") return [];
  const entry = field.proto.typeName.replace(/^\./, "");
  return [entry, `${entry}.key`, `${entry}.value`];
}

type TypeInRegistry = NonNullable<ReturnType<FileRegistry["get"]>>;

/** Protobuf scopes enum values beside their enum, not inside it: `pkg.VALUE`. */
function enumValueName(enumTypeName: string, valueName: string): string {
  const lastDot = enumTypeName.lastIndexOf(".");
  return lastDot < 0 ? valueName : `${enumTypeName.slice(0, lastDot)}.${valueName}`;
}

function answer(catalog: Catalog, request: v1.ServerReflectionRequest): v1.ServerReflectionResponse {
  return create(v1.ServerReflectionResponseSchema, {
    validHost: request.host,
    originalRequest: request,
    messageResponse: responseTo(catalog, request.messageRequest),
  });
}

function responseTo(catalog: Catalog, request: MessageRequest): MessageResponse {
  switch (request.case) {
    case "listServices":
      return listServices(catalog);
    case "fileByFilename":
      return fileWithDependencies(catalog.registry.getFile(request.value), `file ${quoteClientValue(request.value)}`);
    case "fileContainingSymbol":
      return fileWithDependencies(catalog.symbols.get(request.value), `symbol ${quoteClientValue(request.value)}`);
    case "fileContainingExtension":
      return fileContainingExtension(catalog, request.value);
    case "allExtensionNumbersOfType":
      return allExtensionNumbersOfType(catalog, request.value);
    case undefined:
      return errorResponse(grpc.status.INVALID_ARGUMENT, "no request set in message_request");
  }
}

function listServices(catalog: Catalog): MessageResponse {
  return {
    case: "listServicesResponse",
    value: { service: catalog.serviceNames.map((name) => ({ name })) },
  };
}

function fileWithDependencies(file: DescFile | undefined, what: string): MessageResponse {
  if (file === undefined) return errorResponse(grpc.status.NOT_FOUND, `${what} not found`);
  return {
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: inDependencyOrder([file]).map(encodedAsCompiled) },
  };
}

/**
 * The FileDescriptorProto as protoc produced it, map entry messages included:
 * re-encoding through protobufjs renames them, which strict clients reject.
 */
function encodedAsCompiled(file: DescFile): Uint8Array {
  return toBinary(FileDescriptorProtoSchema, file.proto);
}

function fileContainingExtension(catalog: Catalog, request: v1.ExtensionRequest): MessageResponse {
  const extendee = catalog.registry.getMessage(request.containingType);
  if (extendee === undefined) return errorResponse(grpc.status.NOT_FOUND, `type ${quoteClientValue(request.containingType)} not found`);
  const extension = catalog.registry.getExtensionFor(extendee, request.extensionNumber);
  const what = `extension ${request.extensionNumber} of ${quoteClientValue(request.containingType)}`;
  return fileWithDependencies(extension?.file, what);
}

function allExtensionNumbersOfType(catalog: Catalog, typeName: string): MessageResponse {
  if (catalog.registry.getMessage(typeName) === undefined) {
    return errorResponse(grpc.status.NOT_FOUND, `type ${quoteClientValue(typeName)} not found`);
  }
  const numbers = [...catalog.registry].flatMap((type) =>
    type.kind === "extension" && type.extendee.typeName === typeName ? [type.number] : [],
  );
  return { case: "allExtensionNumbersResponse", value: { baseTypeName: typeName, extensionNumber: numbers } };
}

function errorResponse(code: grpc.status, message: string): MessageResponse {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

/** v1alpha is wire-identical to v1: answer it by re-reading each message as the other version. */
function inV1alpha(
  answerV1: (request: v1.ServerReflectionRequest) => v1.ServerReflectionResponse,
): (request: v1alpha.ServerReflectionRequest) => v1alpha.ServerReflectionResponse {
  return (request) => {
    const asV1 = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, request));
    const response = answerV1(asV1);
    return fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, response));
  };
}

/** One answer per request, in order, until the client half-closes. */
async function serveReflection<Request, Response>(
  call: grpc.ServerDuplexStream<Request, Response>,
  answerOne: (request: Request) => Response,
): Promise<void> {
  // A plain for-await destroys the stream when the loop ends, so the final
  // status could never be sent and the client would wait forever.
  const requests: AsyncIterable<Request> = call.iterator({ destroyOnReturn: false });
  for await (const request of requests) {
    if (!call.write(answerOne(request))) await drainedOrClosed(call);
  }
}
