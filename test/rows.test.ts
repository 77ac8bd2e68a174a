import { hash } from "node:crypto";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CustomerProfileSchema, CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import type { CustomerRow } from "../src/db/schema";
import { columnsFromCustomer, CUSTOMER_COLUMNS, customerFromRow, etagOf } from "../src/customers/rows";
import { Random } from "../bench/random";
import { syntheticCustomer } from "../bench/synthetic-customers";

/** customerFromRow as it was written with `create()`: the reference the hand-built message must equal. */
function reference(row: CustomerRow): Customer {
  return create(CustomerSchema, {
    customerId: row.CustomerId,
    firstName: row.FirstName,
    lastName: row.LastName,
    company: row.Company ?? undefined,
    address: row.Address ?? undefined,
    city: row.City ?? undefined,
    state: row.State ?? undefined,
    country: row.Country ?? undefined,
    postalCode: row.PostalCode ?? undefined,
    phone: row.Phone ?? undefined,
    fax: row.Fax ?? undefined,
    email: row.Email,
    supportRepId: row.SupportRepId ?? undefined,
    status: Number(row.status),
    profile: row.data === null ? undefined : fromJsonString(CustomerProfileSchema, row.data, { ignoreUnknownFields: true }),
    createTime: timestampFromDate(new Date(row.created_at)),
    updateTime: timestampFromDate(new Date(row.updated_at)),
    etag: referenceEtag(row),
  });
}

/** The etag as clients have always received it: sha256 over the JSON of every column as text, by name. */
function referenceEtag(row: CustomerRow): string {
  const texts = CUSTOMER_COLUMNS.map((column) => {
    const value = row[column];
    return typeof value === "bigint" ? value.toString() : value;
  });
  return `"${hash("sha256", JSON.stringify(texts), "base64url").slice(0, 16)}"`;
}

/** Equal, and laid out alike: same own keys in the same order, all the way down. */
function expectAsReference(row: CustomerRow): void {
  const customer = customerFromRow(row);
  const expected = reference(row);
  expect(customer).toStrictEqual(expected);
  expect(keyOrder(customer)).toEqual(keyOrder(expected));
}

function keyOrder(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return typeof value;
  return Object.entries(value).map(([key, child]) => [key, keyOrder(child)]);
}

function syntheticRow(random: Random, serial: number): CustomerRow {
  const { customer, createdAt } = syntheticCustomer(random, serial);
  const created = createdAt.toISOString();
  const updated = new Date(createdAt.getTime() + random.integer(0, 1e10)).toISOString();
  return {
    CustomerId: BigInt(serial),
    ...columnsFromCustomer(create(CustomerSchema, customer), null),
    created_at: created,
    updated_at: updated,
  };
}

const ADA: CustomerRow = {
  CustomerId: 60n,
  FirstName: "Ada",
  LastName: "Lovelace",
  Company: null,
  Address: "",
  City: "London",
  State: null,
  Country: "United Kingdom",
  PostalCode: null,
  Phone: "+44 20 7946 0000",
  Fax: null,
  Email: "ada@example.com",
  SupportRepId: 3n,
  status: 1n,
  data: '{"loyaltyTier":"LOYALTY_TIER_GOLD","tags":["vip","é\\""]}',
  created_at: "2024-02-29T12:34:56.789Z",
  updated_at: "2025-01-01T00:00:00.000Z",
};

describe("customerFromRow", () => {
  it("builds what create() builds, for a thousand varied rows", () => {
    const random = new Random(7);
    for (let serial = 1; serial <= 1000; serial++) expectAsReference(syntheticRow(random, serial));
  });

  it.each<[string, Partial<CustomerRow>]>([
    ["every optional column NULL", { Company: null, Address: null, City: null, State: null, Country: null, PostalCode: null, Phone: null, Fax: null, SupportRepId: null, data: null }],
    ["every optional column set, empty strings kept", { Company: "", Address: "", City: "", State: "", Country: "", PostalCode: "", Phone: "", Fax: "", SupportRepId: 0n }],
    ["a deleted customer with an empty profile", { status: 4n, data: "{}" }],
    ["a profile protobuf-es reads (proto names)", { data: '{"loyalty_tier":"LOYALTY_TIER_GOLD","lastContactTime":"2020-01-01T01:00:00+01:00"}' }],
    ["a profile with every field", { data: toJsonString(CustomerProfileSchema, create(CustomerProfileSchema, { loyaltyTier: 4, tags: ["a"], favoriteGenreIds: [1n], marketingOptIn: true, attributes: { k: "v" }, preferredContact: 2, notes: "n", lastContactTime: { seconds: 1n, nanos: 5 } })) }],
    ["times with no fraction", { created_at: "2020-01-01T00:00:00Z", updated_at: "1969-12-31T23:59:59Z" }],
    ["times with microseconds (a Date keeps milliseconds)", { created_at: "2020-01-01T00:00:00.123456Z", updated_at: "2020-01-01T00:00:00.999999999Z" }],
    ["times in SQLite's own format", { created_at: "2020-01-01 10:20:30", updated_at: "2020-06-01T10:20:30.5+02:00" }],
    ["times before 1970 and at the ends of the Date-friendly years", { created_at: "1900-02-28T23:59:59.999Z", updated_at: "0000-01-01T00:00:00.000Z" }],
    ["a day past the end of the month (a Date rolls it over)", { created_at: "2021-02-29T00:00:00.000Z", updated_at: "2021-04-31T12:00:00.000Z" }],
    ["hour 24 (a Date rolls it over)", { created_at: "2020-01-01T24:00:00.000Z" }],
  ])("builds what create() builds with %s", (_name, columns) => {
    expectAsReference({ ...ADA, ...columns });
  });

  it("fails on a status it does not know", () => {
    expect(() => customerFromRow({ ...ADA, status: 9n })).toThrow("customers.status holds unknown value 9");
  });

  it("fails on a time that is no time, as a Date would", () => {
    expect(() => customerFromRow({ ...ADA, created_at: "yesterday" })).toThrow();
  });
});

describe("etagOf", () => {
  it("is the etag clients already hold for a row", () => {
    expect(etagOf(ADA)).toBe('"isjHZUFZ-Do_bj4n"');
    expect(etagOf({ ...ADA, Company: "x", SupportRepId: null, data: null })).toBe('"UsxXOfvGxcqyB5Pw"');
  });

  it("hashes every column, in CUSTOMER_COLUMNS order", () => {
    const random = new Random(11);
    for (let serial = 1; serial <= 200; serial++) {
      const row = syntheticRow(random, serial);
      expect(etagOf(row)).toBe(referenceEtag(row));
    }
  });

  it("changes whenever any one column changes", () => {
    const changed: { [K in keyof CustomerRow]: CustomerRow[K] } = {
      CustomerId: 61n,
      FirstName: "Augusta",
      LastName: "King",
      Company: "",
      Address: null,
      City: "Paris",
      State: "LDN",
      Country: null,
      PostalCode: "",
      Phone: null,
      Fax: "",
      Email: "augusta@example.com",
      SupportRepId: null,
      status: 2n,
      data: null,
      created_at: "2024-02-29T12:34:56.788Z",
      updated_at: "2025-01-01T00:00:00.001Z",
    };
    const etags = CUSTOMER_COLUMNS.map((column) => etagOf({ ...ADA, [column]: changed[column] }));
    expect(new Set([etagOf(ADA), ...etags]).size).toBe(CUSTOMER_COLUMNS.length + 1);
  });
});
