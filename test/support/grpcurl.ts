/**
 * grpcurl, modelled: it cannot be installed here (it is a Go program and no
 * npm package), so tests check a grpcurl command by reading its arguments and
 * its -d body as grpcurl 1.9 does, without running it.
 */
import { fromJson, type DescMessage, type DescMethod, type JsonObject, type JsonValue, type Message, type Registry } from "@bufbuild/protobuf";
import { protoCamelCase, protoSnakeCase } from "@bufbuild/protobuf/reflect";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";

export type GrpcurlCommand =
  | { kind: "list" }
  | { kind: "describe"; symbol: string }
  | { kind: "call"; method: DescMethod; body: string | undefined };

/**
 * Reads `grpcurl -plaintext [-d BODY] ADDRESS (list | describe SYMBOL | SERVICE/METHOD)`,
 * the only flags the README uses, with the names resolved in `registry`.
 */
export function parseGrpcurl(args: readonly string[], registry: Registry): GrpcurlCommand & { address: string } {
  const { flags, body, positional } = splitFlags(args);
  if (!flags.includes("-plaintext")) throw new Error(`grpcurl ${args.join(" ")}: the server speaks plaintext, which grpcurl needs -plaintext for`);
  const [address, verb, ...rest] = positional;
  if (address === undefined || verb === undefined) throw new Error(`grpcurl ${args.join(" ")}: expected an address and what to do`);
  if (verb === "list" && rest.length === 0) return { kind: "list", address };
  if (verb === "describe" && rest.length === 1 && rest[0] !== undefined) return { kind: "describe", symbol: describedSymbol(rest[0], registry), address };
  if (rest.length === 0) return { kind: "call", method: methodNamed(verb, registry), body, address };
  throw new Error(`grpcurl ${args.join(" ")}: unexpected arguments ${rest.join(" ")}`);
}

function splitFlags(args: readonly string[]): { flags: string[]; body: string | undefined; positional: string[] } {
  const flags: string[] = [];
  const positional: string[] = [];
  let body: string | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? "";
    if (arg === "-d") body = args[++index];
    else if (arg === "-plaintext") flags.push(arg);
    else if (arg.startsWith("-")) throw new Error(`grpcurl flag ${arg} is not modelled by test/support/grpcurl.ts`);
    else positional.push(arg);
  }
  return { flags, body, positional };
}

function describedSymbol(symbol: string, registry: Registry): string {
  if (registry.get(symbol) === undefined) throw new Error(`grpcurl describe ${symbol}: no such symbol is served`);
  return symbol;
}

/** `package.Service/Method`, as grpcurl names a method. */
export function methodNamed(name: string, registry: Registry): DescMethod {
  const [serviceName, methodName, ...extra] = name.split("/");
  const method = registry.getService(serviceName ?? "")?.methods.find((candidate) => candidate.name === methodName);
  if (method === undefined || extra.length > 0) throw new Error(`no method ${name} is served`);
  return method;
}

/**
 * The request grpcurl sends for a -d body. grpcurl reads proto3 JSON but for
 * one well-known type: a google.protobuf.FieldMask is read as a plain message,
 * `{"paths": ["a", "b.c"]}`, and its string form ("a,b.c") is refused
 * (fullstorydev/grpcurl#393).
 */
export function grpcurlRequest(method: DescMethod, body: string | undefined): Message {
  const json: JsonValue = body === undefined ? {} : (JSON.parse(body) as JsonValue);
  return fromJson(method.input, asProto3Json(method.input, json));
}

function asProto3Json(message: DescMessage, json: JsonValue): JsonValue {
  if (message.typeName === FieldMaskSchema.typeName) return fieldMaskAsProto3Json(json);
  if (!isJsonObject(json)) return json;
  return Object.fromEntries(Object.entries(json).map(([key, value]) => [key, fieldAsProto3Json(message, key, value)]));
}

function fieldAsProto3Json(message: DescMessage, key: string, value: JsonValue): JsonValue {
  const field = message.fields.find((candidate) => candidate.name === key || candidate.jsonName === key);
  if (field === undefined || value === null) return value;
  switch (field.fieldKind) {
    case "message":
      return asProto3Json(field.message, value);
    case "list":
      return field.listKind === "message" && Array.isArray(value) ? value.map((item) => asProto3Json(field.message, item)) : value;
    case "map":
      if (field.mapKind !== "message" || !isJsonObject(value)) return value;
      return Object.fromEntries(Object.entries(value).map(([entryKey, entry]) => [entryKey, asProto3Json(field.message, entry)]));
    default:
      return value;
  }
}

function fieldMaskAsProto3Json(json: JsonValue): string {
  const paths = isJsonObject(json) && Object.keys(json).length === 1 ? json.paths : undefined;
  if (!Array.isArray(paths) || !paths.every((path): path is string => typeof path === "string")) {
    throw new Error(`grpcurl reads a google.protobuf.FieldMask as {"paths": [...]} and refuses ${JSON.stringify(json)} (fullstorydev/grpcurl#393)`);
  }
  return paths.map(pathAsProto3Json).join(",");
}

/** grpcurl sends a path as written, so it must be the snake_case one the server resolves. */
function pathAsProto3Json(path: string): string {
  const camelCase = protoCamelCase(path);
  if (protoSnakeCase(camelCase) !== path) throw new Error(`grpcurl sends the FieldMask path "${path}" as written: write field names in snake_case`);
  return camelCase;
}

function isJsonObject(json: JsonValue): json is JsonObject {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}
