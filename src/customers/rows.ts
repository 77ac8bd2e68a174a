/**
 * The one mapping between `customers` rows and the `Customer` message:
 * NULL ⇄ unset for optional fields (an empty string stays an empty string),
 * `data` ⇄ the profile's proto3 JSON, ISO text ⇄ Timestamp, and the etag.
 * Every read maps each row it returns, so the row's Customer is built by hand,
 * exactly as `create()` would lay it out, without `create()`'s walk over the
 * descriptor.
 */
import { hash } from "node:crypto";
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  CustomerProfileSchema,
  CustomerStatus,
  type Customer,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";
import type { CustomerRow } from "../db/schema";
import { isJsonObject, profileFromJsonText, timestampFromText } from "./profile-json";

/** The columns a write sets; the id and the audit times are the repository's. */
export type CustomerColumns = Omit<CustomerRow, "CustomerId" | "created_at" | "updated_at">;

// A Record, not an array, so that a column added to the schema fails to
// compile here until it is read; test/rows.test.ts then fails until the etag
// hashes it too.
const EVERY_COLUMN: Record<keyof CustomerRow, true> = {
  CustomerId: true,
  FirstName: true,
  LastName: true,
  Company: true,
  Address: true,
  City: true,
  State: true,
  Country: true,
  PostalCode: true,
  Phone: true,
  Fax: true,
  Email: true,
  SupportRepId: true,
  status: true,
  data: true,
  created_at: true,
  updated_at: true,
};

/** Every column of a customer row, in the order the etag hashes them. */
export const CUSTOMER_COLUMNS = Object.keys(EVERY_COLUMN) as ReadonlyArray<keyof CustomerRow>;

/** Every column but the id the database assigns: what an INSERT writes, in CUSTOMER_COLUMNS order. */
export const INSERTED_COLUMNS = CUSTOMER_COLUMNS.filter((column): column is Exclude<keyof CustomerRow, "CustomerId"> => column !== "CustomerId");

const STATUSES: readonly CustomerStatus[] = [
  CustomerStatus.ACTIVE,
  CustomerStatus.INACTIVE,
  CustomerStatus.SUSPENDED,
  CustomerStatus.DELETED,
];
const STATUS_BY_COLUMN: ReadonlyMap<bigint, CustomerStatus> = new Map(STATUSES.map((status) => [BigInt(status), status]));
/** What toISOString writes for years 0000–9999: milliseconds, all a Date holds. */
const ISO_TEXT_LENGTH = 24;

// A JSON parser accepts both names of a field, so both count as known.
const KNOWN_PROFILE_KEYS: ReadonlySet<string> = new Set(
  CustomerProfileSchema.fields.flatMap((field) => [field.name, field.jsonName]),
);

export function customerFromRow(row: CustomerRow): Customer {
  // create() starts from the fields without presence, then adds those set in field order.
  const customer: Customer = {
    $typeName: "chinook.v1.Customer",
    customerId: row.CustomerId,
    firstName: row.FirstName,
    lastName: row.LastName,
    email: row.Email,
    status: statusFromColumn(row.status),
    etag: etagOf(row),
  };
  if (row.Company !== null) customer.company = row.Company;
  if (row.Address !== null) customer.address = row.Address;
  if (row.City !== null) customer.city = row.City;
  if (row.State !== null) customer.state = row.State;
  if (row.Country !== null) customer.country = row.Country;
  if (row.PostalCode !== null) customer.postalCode = row.PostalCode;
  if (row.Phone !== null) customer.phone = row.Phone;
  if (row.Fax !== null) customer.fax = row.Fax;
  if (row.SupportRepId !== null) customer.supportRepId = row.SupportRepId;
  // A newer build may have written profile fields this one does not know: they are ignored.
  if (row.data !== null) customer.profile = profileFromJsonText(row.data);
  customer.createTime = timestampFromColumn(row.created_at);
  customer.updateTime = timestampFromColumn(row.updated_at);
  return customer;
}

/**
 * The columns that store `customer`. `storedData` is the row's current `data`:
 * JSON keys this build does not know (written by a newer one) are kept.
 */
export function columnsFromCustomer(customer: Customer, storedData: string | null): CustomerColumns {
  return {
    FirstName: customer.firstName,
    LastName: customer.lastName,
    Company: nullIfUnset(customer.company),
    Address: nullIfUnset(customer.address),
    City: nullIfUnset(customer.city),
    State: nullIfUnset(customer.state),
    Country: nullIfUnset(customer.country),
    PostalCode: nullIfUnset(customer.postalCode),
    Phone: nullIfUnset(customer.phone),
    Fax: nullIfUnset(customer.fax),
    Email: customer.email,
    SupportRepId: nullIfUnset(customer.supportRepId),
    status: BigInt(customer.status),
    data: profileToColumn(customer.profile, storedData),
  };
}

export function statusToColumn(status: CustomerStatus): bigint {
  return BigInt(status);
}

/** The latest instant timeToColumn can write: the text orders correctly through year 9999 only. */
export const LATEST_COLUMN_TIME = new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999));

/** The text stored in created_at / updated_at for an instant. */
export function timeToColumn(time: Date): string {
  return time.toISOString();
}

/** A strong etag (RFC 7232, quoted) over every column of the stored row. */
export function etagOf(row: CustomerRow): string {
  return `"${hash("sha256", JSON.stringify(columnTexts(row)), "base64url").slice(0, 16)}"`;
}

/**
 * Every column as text, in CUSTOMER_COLUMNS order (test/rows.test.ts holds it
 * to that order): written out, as looking each column up by name costs a
 * third of the etag.
 */
function columnTexts(row: CustomerRow): ReadonlyArray<string | null> {
  return [
    columnText(row.CustomerId),
    row.FirstName,
    row.LastName,
    row.Company,
    row.Address,
    row.City,
    row.State,
    row.Country,
    row.PostalCode,
    row.Phone,
    row.Fax,
    row.Email,
    columnText(row.SupportRepId),
    columnText(row.status),
    row.data,
    row.created_at,
    row.updated_at,
  ];
}

/** Whether a client's etag names this row; accepts it bare, quoted or weak (`W/"…"`). */
export function etagMatches(row: CustomerRow, expected: string): boolean {
  return bareEtag(expected) === bareEtag(etagOf(row));
}

function bareEtag(etag: string): string {
  return etag
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
}

function columnText(value: string | bigint | null): string | null {
  return typeof value === "bigint" ? value.toString() : value;
}

function nullIfUnset<T>(value: T | undefined): T | null {
  return value ?? null;
}

/** The status a `customers.status` value stores; an unknown value is corrupt data, not a state. */
export function statusFromColumn(value: bigint): CustomerStatus {
  const status = STATUS_BY_COLUMN.get(value);
  if (status === undefined) throw new Error(`customers.status holds unknown value ${value}`);
  return status;
}

/** As `timestampFromDate(new Date(text))`, without the Date for the text this service writes. */
function timestampFromColumn(text: string): Timestamp {
  const written = text.length === ISO_TEXT_LENGTH ? timestampFromText(text) : undefined;
  return written ?? timestampFromDate(new Date(text));
}

/**
 * An absent profile clears the column, unknown keys included: the client asked
 * for no profile at all. A present one is merged over the unknown keys so an
 * older build's update does not erase what a newer build stored.
 */
function profileToColumn(profile: CustomerProfile | undefined, storedData: string | null): string | null {
  if (profile === undefined) return null;
  return JSON.stringify({ ...unknownProfileKeys(storedData), ...profileJson(profile) });
}

function profileJson(profile: CustomerProfile): JsonObject {
  const json = toJson(CustomerProfileSchema, profile);
  if (!isJsonObject(json)) throw new Error("a message's JSON is not an object");
  return json;
}

function unknownProfileKeys(storedData: string | null): JsonObject {
  if (storedData === null) return {};
  const stored: unknown = JSON.parse(storedData);
  if (!isJsonObject(stored)) return {};
  return Object.fromEntries(Object.entries(stored).filter(([key]) => !KNOWN_PROFILE_KEYS.has(key)));
}
