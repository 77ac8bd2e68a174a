/**
 * The one mapping between `customers` rows and the `Customer` message:
 * NULL ⇄ unset for optional fields (an empty string stays an empty string),
 * `data` ⇄ the profile's proto3 JSON, ISO text ⇄ Timestamp, and the etag.
 */
import { hash } from "node:crypto";
import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  type Customer,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";
import type { CustomerRow } from "../db/schema";
import { profileFromJsonText } from "./profile-json";

/** The columns a write sets; the id and the audit times are the repository's. */
export type CustomerColumns = Omit<CustomerRow, "CustomerId" | "created_at" | "updated_at">;

// A Record, not an array, so that a column added to the schema fails to
// compile here until it is read (and hashed into the etag) too.
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

const STATUSES: readonly CustomerStatus[] = [
  CustomerStatus.ACTIVE,
  CustomerStatus.INACTIVE,
  CustomerStatus.SUSPENDED,
  CustomerStatus.DELETED,
];

// A JSON parser accepts both names of a field, so both count as known.
const KNOWN_PROFILE_KEYS: ReadonlySet<string> = new Set(
  CustomerProfileSchema.fields.flatMap((field) => [field.name, field.jsonName]),
);

export function customerFromRow(row: CustomerRow): Customer {
  return create(CustomerSchema, {
    customerId: row.CustomerId,
    firstName: row.FirstName,
    lastName: row.LastName,
    company: unsetIfNull(row.Company),
    address: unsetIfNull(row.Address),
    city: unsetIfNull(row.City),
    state: unsetIfNull(row.State),
    country: unsetIfNull(row.Country),
    postalCode: unsetIfNull(row.PostalCode),
    phone: unsetIfNull(row.Phone),
    fax: unsetIfNull(row.Fax),
    email: row.Email,
    supportRepId: unsetIfNull(row.SupportRepId),
    status: statusFromColumn(row.status),
    profile: profileFromColumn(row.data),
    createTime: timestampFromColumn(row.created_at),
    updateTime: timestampFromColumn(row.updated_at),
    etag: etagOf(row),
  });
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

/** The text stored in created_at / updated_at for an instant. */
export function timeToColumn(time: Date): string {
  return time.toISOString();
}

/** A strong etag (RFC 7232, quoted) over every column of the stored row. */
export function etagOf(row: CustomerRow): string {
  const canonical = JSON.stringify(CUSTOMER_COLUMNS.map((column) => columnText(row[column])));
  return `"${hash("sha256", canonical, "base64url").slice(0, 16)}"`;
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

function unsetIfNull<T>(value: T | null): T | undefined {
  return value ?? undefined;
}

function nullIfUnset<T>(value: T | undefined): T | null {
  return value ?? null;
}

function statusFromColumn(value: bigint): CustomerStatus {
  const status = STATUSES.find((candidate) => BigInt(candidate) === value);
  if (status === undefined) throw new Error(`customers.status holds unknown value ${value}`);
  return status;
}

function timestampFromColumn(text: string): Timestamp {
  return timestampFromDate(new Date(text));
}

function profileFromColumn(data: string | null): CustomerProfile | undefined {
  // A newer build may have written fields this one does not know: they are ignored.
  return data === null ? undefined : profileFromJsonText(data);
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

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
