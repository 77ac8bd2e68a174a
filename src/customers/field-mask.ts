/**
 * UpdateCustomer's field mask (AIP-134, AIP-161): which fields of the client's
 * Customer replace the stored ones. Everything is driven by the descriptors, so a
 * field added to the proto is maskable without touching this file.
 */
import { clone, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { FieldMask } from "@bufbuild/protobuf/wkt";
import { CustomerSchema, type Customer } from "../../gen/chinook/v1/customer_pb";
import { quoteClientValue } from "../client-text";
import { InvalidArgumentError } from "../errors";

/** Fields the server owns (AIP-203): never taken from a client, ignored in masks. */
export const OUTPUT_ONLY_FIELDS: ReadonlySet<string> = new Set(["customer_id", "create_time", "update_time", "etag"]);

const FULL_REPLACEMENT = "*";
const MASK_FIELD = "update_mask";
const MASK_INVALID = { reason: "UPDATE_MASK_INVALID" } as const;

/** A mask path resolved to descriptors, from a Customer field down to the masked one. */
type FieldPath = readonly DescField[];

/** Throws InvalidArgumentError("update_mask") unless every path names a field of Customer. */
export function validateUpdateMask(mask: FieldMask | undefined): void {
  resolvePaths(mask?.paths ?? []);
}

/**
 * A new Customer: `current` with the fields named by `mask` taken from `patch`.
 * A masked field that `patch` leaves unset is cleared. An empty mask means every
 * field `patch` sets. Neither input is modified.
 */
export function applyUpdateMask(current: Customer, patch: Customer, mask: FieldMask | undefined): Customer {
  const paths = pathsToApply(patch, mask);
  const result = clone(CustomerSchema, current);
  // Copying from a private clone lets the result share its values without aliasing the caller's patch.
  const source = reflect(CustomerSchema, clone(CustomerSchema, patch));
  const target = reflect(CustomerSchema, result);
  for (const path of paths) {
    copyPath(target, source, path);
  }
  return result;
}

function pathsToApply(patch: Customer, mask: FieldMask | undefined): FieldPath[] {
  const paths = mask?.paths ?? [];
  const resolved = paths.length === 0 ? impliedPaths(reflect(CustomerSchema, patch)) : resolvePaths(paths);
  return resolved.filter(isMutable);
}

function resolvePaths(paths: readonly string[]): FieldPath[] {
  if (!paths.includes(FULL_REPLACEMENT)) {
    return paths.map(resolvePath);
  }
  if (paths.length > 1) {
    throw new InvalidArgumentError(MASK_FIELD, `"${FULL_REPLACEMENT}" must be the only path`, MASK_INVALID);
  }
  return CustomerSchema.fields.map((field) => [field]);
}

function resolvePath(path: string): FieldPath {
  const fields: DescField[] = [];
  let message: DescMessage | undefined = CustomerSchema;
  for (const name of path.split(".")) {
    const field = message?.fields.find((candidate) => candidate.name === name);
    if (field === undefined) {
      throw new InvalidArgumentError(MASK_FIELD, `unknown field path ${quoteClientValue(path)}`, MASK_INVALID);
    }
    fields.push(field);
    message = maskableMessage(field);
  }
  return fields;
}

/** The implied mask (AIP-134): the fields the patch sets, reaching into nested messages. */
function impliedPaths(message: ReflectMessage, parents: FieldPath = []): FieldPath[] {
  return message.fields
    .filter((field) => message.isSet(field))
    .flatMap((field) => {
      const path = [...parents, field];
      return field.fieldKind === "message" && maskableMessage(field) !== undefined
        ? impliedPaths(message.get(field), path)
        : [path];
    });
}

/** The message a path may continue into after this field, if any. */
function maskableMessage(field: DescField): DescMessage | undefined {
  // Well-known types such as Timestamp are values: replaced whole, never reached into.
  if (field.fieldKind !== "message" || field.message.typeName.startsWith("google.protobuf.")) {
    return undefined;
  }
  return field.message;
}

function isMutable([root]: FieldPath): boolean {
  return root !== undefined && !OUTPUT_ONLY_FIELDS.has(root.name);
}

function copyPath(target: ReflectMessage, source: ReflectMessage, [field, ...rest]: FieldPath): void {
  if (field === undefined) {
    return;
  }
  if (rest.length === 0 || field.fieldKind !== "message") {
    copyField(target, source, field);
    return;
  }
  if (!target.isSet(field) && !isPathSet(source, [field, ...rest])) {
    return; // clearing inside a message the target does not have changes nothing; don't materialize an empty one
  }
  if (!target.isSet(field)) {
    target.set(field, reflect(field.message));
  }
  copyPath(target.get(field), source.get(field), rest);
}

/** Whether `path` leads to a value set in `message`. */
function isPathSet(message: ReflectMessage, [field, ...rest]: FieldPath): boolean {
  if (field === undefined || !message.isSet(field)) return false;
  return rest.length === 0 || field.fieldKind !== "message" || isPathSet(message.get(field), rest);
}

function copyField(target: ReflectMessage, source: ReflectMessage, field: DescField): void {
  if (source.isSet(field)) {
    target.set(field, source.get(field));
  } else {
    target.clear(field);
  }
}
