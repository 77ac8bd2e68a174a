import type { ColumnType, Selectable } from "kysely";

/**
 * The loyalty tier inside `data`, as migrations 0002, 0006 and 0007 index it:
 * SQLite uses an index on an expression only for a query that repeats its
 * text exactly.
 */
export const LOYALTY_TIER_EXPRESSION = "json_extract(data, '$.loyaltyTier')";

/**
 * The one typed view of every table the code touches. Column names are
 * Chinook's own (PascalCase) plus the columns our migrations add (snake_case).
 * Integers are bigint because the connection reads with safe integers: int64
 * ids travel without loss from SQLite to the wire. Times we write are UTC
 * ISO-8601 strings with milliseconds (`2026-01-02T03:04:05.678Z`), which sort
 * as text.
 */
export interface Database {
  customers: CustomersTable;
  customer_tags: CustomerTagsTable;
  employees: EmployeesTable;
  invoices: InvoicesTable;
  invoice_items: InvoiceItemsTable;
  tracks: TracksTable;
  request_ids: RequestIdsTable;
  page_token_keys: PageTokenKeysTable;
}

type Integer = ColumnType<bigint, bigint | number, bigint | number>;
type GeneratedInteger = ColumnType<bigint, bigint | number | undefined, never>;
/**
 * Chinook's NUMERIC(10,2) money: SQLite stores 0.99 as REAL but 99.0 as
 * INTEGER, which safe integers read as bigint; PostgreSQL's numeric travels
 * as exact decimal text both ways. Code computes in cents.
 */
type Money = ColumnType<number | bigint | string, number | string, number | string>;

export interface CustomersTable {
  CustomerId: GeneratedInteger;
  FirstName: string;
  LastName: string;
  Company: string | null;
  Address: string | null;
  City: string | null;
  State: string | null;
  Country: string | null;
  PostalCode: string | null;
  Phone: string | null;
  Fax: string | null;
  Email: string;
  SupportRepId: Integer | null;
  status: ColumnType<bigint, bigint | number | undefined, bigint | number>;
  /** proto3 JSON of chinook.v1.CustomerProfile; NULL when the profile is empty. */
  data: string | null;
  created_at: string;
  updated_at: string;
}

/** Maintained by triggers from `customers.data`: one row per profile tag. */
export interface CustomerTagsTable {
  CustomerId: Integer;
  tag: string;
}

export interface EmployeesTable {
  EmployeeId: GeneratedInteger;
  LastName: string;
  FirstName: string;
}

export interface InvoicesTable {
  InvoiceId: GeneratedInteger;
  CustomerId: Integer;
  /** Chinook's DATETIME text, `YYYY-MM-DD HH:MM:SS` in UTC. */
  InvoiceDate: string;
  BillingAddress: string | null;
  BillingCity: string | null;
  BillingState: string | null;
  BillingCountry: string | null;
  BillingPostalCode: string | null;
  Total: Money;
}

export interface InvoiceItemsTable {
  InvoiceLineId: GeneratedInteger;
  InvoiceId: Integer;
  TrackId: Integer;
  UnitPrice: Money;
  Quantity: Integer;
}

export interface TracksTable {
  TrackId: GeneratedInteger;
  Name: string;
  UnitPrice: Money;
}

/** Idempotency keys: which resource a request_id created. */
export interface RequestIdsTable {
  operation: string;
  request_id: string;
  request_hash: string;
  resource_id: Integer;
  created_at: string;
  /** The first answer, as protobuf bytes, where the operation keeps it. */
  response: ColumnType<Uint8Array | null, Uint8Array | undefined, Uint8Array | undefined>;
}

/** The keys every process on the database signs and verifies page tokens with (src/db/page-token-keys.ts). */
export interface PageTokenKeysTable {
  /** Numbered from 1, in the order the keys were made; the id a token names its key by. */
  id: Integer;
  /** HMAC-SHA256 key material: never logged. */
  secret: ColumnType<Uint8Array, Uint8Array, never>;
  created_at: string;
}

export type CustomerRow = Selectable<CustomersTable>;
export type InvoiceRow = Selectable<InvoicesTable>;
export type InvoiceItemRow = Selectable<InvoiceItemsTable>;
