/**
 * Reading `customers.data`, the profile's proto3 JSON, on every row a read
 * returns. protobuf-es reads it through reflection, which costs several times
 * JSON.parse itself; the direct reader here handles exactly the canonical form
 * this service writes (toJson: JSON names, enum names, int64 as decimal
 * strings, RFC 3339 timestamps) and hands anything else, a key or a value it
 * does not expect, to protobuf-es, which stays the reference.
 */
import { create, fromJsonString, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ContactChannelSchema,
  CustomerProfileSchema,
  LoyaltyTierSchema,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";

type ProfileInit = MessageInitShape<typeof CustomerProfileSchema>;

/** Sets the field a key names from its canonical JSON value; false when the value is not canonical. */
type FieldReader = (value: JsonValue, init: ProfileInit) => boolean;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^-?(0|[1-9]\d{0,18})$/;
/** What protobuf-es writes for a Timestamp: whole seconds, or 3, 6 or 9 fraction digits. */
const RFC3339_UTC = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}|\d{6}|\d{9}))?Z$/;
const NANOS_DIGITS = 9;
const MILLIS_PER_SECOND = 1000;

const LOYALTY_TIERS = enumNumbersByName(LoyaltyTierSchema.values);
const CONTACT_CHANNELS = enumNumbersByName(ContactChannelSchema.values);

// Keyed by JSON name: a proto name ("loyalty_tier"), which toJson never writes, goes to protobuf-es.
const FIELD_READERS: Readonly<Record<string, FieldReader>> = {
  loyaltyTier: (value, init) => setIfDefined(init, "loyaltyTier", enumNumber(LOYALTY_TIERS, value)),
  tags: (value, init) => setIfDefined(init, "tags", stringList(value)),
  favoriteGenreIds: (value, init) => setIfDefined(init, "favoriteGenreIds", int64List(value)),
  marketingOptIn: (value, init) => setIfDefined(init, "marketingOptIn", typeof value === "boolean" ? value : undefined),
  attributes: (value, init) => setIfDefined(init, "attributes", stringMap(value)),
  preferredContact: (value, init) => setIfDefined(init, "preferredContact", enumNumber(CONTACT_CHANNELS, value)),
  notes: (value, init) => setIfDefined(init, "notes", typeof value === "string" ? value : undefined),
  lastContactTime: (value, init) => setIfDefined(init, "lastContactTime", timestamp(value)),
};

/** The profile stored as `data`; the same message protobuf-es's fromJsonString would make of it. */
export function profileFromJsonText(data: string): CustomerProfile {
  return canonicalProfile(data) ?? fromJsonString(CustomerProfileSchema, data, { ignoreUnknownFields: true });
}

/** The profile when `data` is in the canonical form; undefined when it is for protobuf-es to read. */
export function canonicalProfile(data: string): CustomerProfile | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined; // protobuf-es reports it
  }
  if (!isJsonObject(json)) return undefined;
  const init: ProfileInit = {};
  for (const [key, value] of Object.entries(json)) {
    const read = FIELD_READERS[key];
    if (read === undefined || !read(value, init)) return undefined;
  }
  return create(CustomerProfileSchema, init);
}

function setIfDefined<K extends keyof ProfileInit>(init: ProfileInit, key: K, value: ProfileInit[K] | undefined): boolean {
  if (value === undefined) return false;
  init[key] = value;
  return true;
}

function enumNumbersByName(values: ReadonlyArray<{ name: string; number: number }>): ReadonlyMap<string, number> {
  return new Map(values.map((value) => [value.name, value.number]));
}

function enumNumber(numbers: ReadonlyMap<string, number>, value: JsonValue): number | undefined {
  return typeof value === "string" ? numbers.get(value) : undefined;
}

function stringList(value: JsonValue): string[] | undefined {
  return Array.isArray(value) && value.every(isString) ? value : undefined;
}

function int64List(value: JsonValue): bigint[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const numbers: bigint[] = [];
  for (const item of value) {
    if (typeof item !== "string" || !DECIMAL.test(item)) return undefined;
    const number = BigInt(item);
    if (number < INT64_MIN || number > INT64_MAX) return undefined;
    numbers.push(number);
  }
  return numbers;
}

function stringMap(value: JsonValue): Record<string, string> | undefined {
  return isJsonObject(value) && isStringRecord(value) ? value : undefined;
}

function timestamp(value: JsonValue): Timestamp | undefined {
  if (typeof value !== "string") return undefined;
  const match = RFC3339_UTC.exec(value);
  const [, wholeSeconds, fraction = ""] = match ?? [];
  if (wholeSeconds === undefined) return undefined;
  const millis = Date.parse(`${wholeSeconds}Z`);
  // Date.parse rolls "02-30" over into March; protobuf-es refuses it, so leave it to protobuf-es.
  if (Number.isNaN(millis) || new Date(millis).toISOString().slice(0, 19) !== wholeSeconds) return undefined;
  return create(TimestampSchema, {
    seconds: BigInt(millis / MILLIS_PER_SECOND),
    nanos: fraction === "" ? 0 : Number(fraction.padEnd(NANOS_DIGITS, "0")),
  });
}

function isString(value: JsonValue): value is string {
  return typeof value === "string";
}

function isStringRecord(value: Record<string, JsonValue>): value is Record<string, string> {
  return Object.values(value).every(isString);
}

function isJsonObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
