/**
 * Reading `customers.data`, the profile's proto3 JSON, on every row a read
 * returns. protobuf-es reads it through reflection, which costs several times
 * JSON.parse itself; the direct reader here handles exactly the canonical form
 * this service writes (toJson: JSON names, enum names, int64 as decimal
 * strings, RFC 3339 timestamps) and hands anything else, a key or a value it
 * does not expect, to protobuf-es, which stays the reference. It builds the
 * message itself, as `create()` would lay it out, without `create()`'s walk
 * over the descriptor.
 */
import { fromJsonString, type JsonValue } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ContactChannel,
  ContactChannelSchema,
  CustomerProfileSchema,
  LoyaltyTier,
  LoyaltyTierSchema,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";
import { isInt64 } from "../int64";

/** Sets the field a key names from its canonical JSON value; false when the value is not canonical. */
type FieldReader = (value: JsonValue, profile: CustomerProfile) => boolean;

const DECIMAL = /^-?(0|[1-9]\d{0,18})$/;
/** Where a timestamp of this length (protobuf-es writes whole seconds, or 3, 6 or 9 fraction digits) has its fraction. */
const FRACTIONS_BY_LENGTH: ReadonlyMap<number, { digits: number; nanosPerUnit: number }> = new Map([
  [20, { digits: 0, nanosPerUnit: 0 }],
  [24, { digits: 3, nanosPerUnit: 1_000_000 }],
  [27, { digits: 6, nanosPerUnit: 1_000 }],
  [30, { digits: 9, nanosPerUnit: 1 }],
]);
const SECONDS_PER_DAY = 86_400;
const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;
const DIGIT_ZERO = 0x30;

const LOYALTY_TIERS = enumNumbersByName(LoyaltyTierSchema.values);
const CONTACT_CHANNELS = enumNumbersByName(ContactChannelSchema.values);

// Keyed by JSON name: a proto name ("loyalty_tier"), which toJson never writes, goes to protobuf-es.
// A Map, not an object: a key such as "__proto__" or "constructor" must find no reader either.
const FIELD_READERS: ReadonlyMap<string, FieldReader> = new Map<string, FieldReader>([
  ["loyaltyTier", (value, profile) => setIfDefined(profile, "loyaltyTier", enumNumber(LOYALTY_TIERS, value))],
  ["tags", (value, profile) => setIfDefined(profile, "tags", stringList(value))],
  ["favoriteGenreIds", (value, profile) => setIfDefined(profile, "favoriteGenreIds", int64List(value))],
  [
    "marketingOptIn",
    (value, profile) => setIfDefined(profile, "marketingOptIn", typeof value === "boolean" ? value : undefined),
  ],
  ["attributes", (value, profile) => setIfDefined(profile, "attributes", stringMap(value))],
  [
    "preferredContact",
    (value, profile) => setIfDefined(profile, "preferredContact", enumNumber(CONTACT_CHANNELS, value)),
  ],
  ["notes", (value, profile) => setIfDefined(profile, "notes", typeof value === "string" ? value : undefined)],
  [
    "lastContactTime",
    (value, profile) =>
      setIfDefined(profile, "lastContactTime", typeof value === "string" ? timestampFromText(value) : undefined),
  ],
]);

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
  const profile = emptyProfile();
  for (const key of Object.keys(json)) {
    const read = FIELD_READERS.get(key);
    const value = json[key];
    if (read === undefined || value === undefined || !read(value, profile)) return undefined;
  }
  return profile;
}

/** What `create(CustomerProfileSchema)` returns, field for field and in the same order. */
function emptyProfile(): CustomerProfile {
  return {
    $typeName: "chinook.v1.CustomerProfile",
    loyaltyTier: LoyaltyTier.UNSPECIFIED,
    tags: [],
    favoriteGenreIds: [],
    marketingOptIn: false,
    attributes: {},
    preferredContact: ContactChannel.UNSPECIFIED,
    notes: "",
  };
}

function setIfDefined<K extends keyof CustomerProfile>(
  profile: CustomerProfile,
  key: K,
  value: CustomerProfile[K] | undefined,
): boolean {
  if (value === undefined) return false;
  profile[key] = value;
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
    if (!isInt64(number)) return undefined;
    numbers.push(number);
  }
  return numbers;
}

function stringMap(value: JsonValue): Record<string, string> | undefined {
  return isJsonObject(value) && isStringRecord(value) ? value : undefined;
}

function isString(value: JsonValue): value is string {
  return typeof value === "string";
}

function isStringRecord(value: Record<string, JsonValue>): value is Record<string, string> {
  return Object.values(value).every(isString);
}

/** A JSON object, as opposed to an array, a string, a number, a boolean or null. */
export function isJsonObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The Timestamp of an RFC 3339 UTC text in the form protobuf-es writes
 * (`2020-03-23T18:07:48.253Z`, years 0000–9999); undefined for any other form
 * or an impossible date or time, which Date.parse would roll over instead.
 */
export function timestampFromText(text: string): Timestamp | undefined {
  const fraction = FRACTIONS_BY_LENGTH.get(text.length);
  if (fraction === undefined || !hasTimestampPunctuation(text, fraction.digits)) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  const fractionUnits = digitsAt(text, 20, fraction.digits);
  if (year < 0 || fractionUnits < 0 || !isDate(year, month, day) || !isTimeOfDay(hour, minute, second)) return undefined;
  return {
    $typeName: "google.protobuf.Timestamp",
    seconds: BigInt(daysSinceEpoch(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second),
    nanos: fractionUnits * fraction.nanosPerUnit,
  };
}

function hasTimestampPunctuation(text: string, fractionDigits: number): boolean {
  return (
    text.charCodeAt(4) === DASH &&
    text.charCodeAt(7) === DASH &&
    text.charCodeAt(10) === LETTER_T &&
    text.charCodeAt(13) === COLON &&
    text.charCodeAt(16) === COLON &&
    (fractionDigits === 0 || text.charCodeAt(19) === DOT) &&
    text.charCodeAt(text.length - 1) === LETTER_Z
  );
}

/** The decimal number written by `count` digits at `start`; -1 when one of them is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let number = 0;
  for (let index = start; index < start + count; index++) {
    const digit = text.charCodeAt(index) - DIGIT_ZERO;
    if (digit < 0 || digit > 9) return -1;
    number = number * 10 + digit;
  }
  return number;
}

function isDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function isTimeOfDay(hour: number, minute: number, second: number): boolean {
  return hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const marchYear = month <= 2 ? year - 1 : year;
  const era = Math.floor(marchYear / 400);
  const yearOfEra = marchYear - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
