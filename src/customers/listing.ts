/**
 * What a listing of customers is, whatever the engine: its filters and order,
 * the keyset cursor a page continues from, and the page token that carries
 * it, bound to the filters and order it was issued for. The SQL that finds
 * the rows is each engine's (src/customers/stores/).
 */
import { CustomerStatus, LoyaltyTier } from "../../gen/chinook/v1/customer_pb";
import { decodePageToken, encodePageToken, type CursorValue, type PageTokenKey, type PageTokenKeys } from "../db/paging";
import type { CustomerRow } from "../db/schema";
import { InvalidArgumentError } from "../errors";
import { timeToColumn } from "./rows";

/** ListCustomers' and ExportCustomers' filters, all ANDed; unset means any. */
export interface CustomerFilter {
  country?: string;
  /** UNSPECIFIED means any. Asking for DELETED shows deleted customers. */
  status?: CustomerStatus;
  /** Exact, case-insensitive. */
  email?: string;
  /** First or last name starts with this, case-insensitive (see case-insensitive.ts). */
  namePrefix?: string;
  supportRepId?: bigint;
  /** UNSPECIFIED means any. */
  loyaltyTier?: LoyaltyTier;
  tag?: string;
  /** Inclusive. */
  createdAfter?: Date;
  /** Exclusive. */
  createdBefore?: Date;
  showDeleted: boolean;
}

export type CustomerOrderField = "customer_id" | "last_name" | "email" | "country" | "create_time" | "update_time";

export interface CustomerOrder {
  field: CustomerOrderField;
  descending: boolean;
}

/** Where a keyset page starts: just past this sort key and id, in the page's order. */
export interface Cursor {
  /** The sort column's value; always null when ordering by customer_id. */
  key: string | null;
  id: bigint;
}

export type SortedField = Exclude<CustomerOrderField, "customer_id">;

export interface SortColumn {
  column: "LastName" | "Email" | "Country" | "created_at" | "updated_at";
  nullable: boolean;
}

/** The column each order sorts by (then by CustomerId), as the cursor carries its value. */
export const SORT_COLUMNS: Record<SortedField, SortColumn> = {
  last_name: { column: "LastName", nullable: false },
  email: { column: "Email", nullable: false },
  country: { column: "Country", nullable: true },
  create_time: { column: "created_at", nullable: false },
  update_time: { column: "updated_at", nullable: false },
};

/** The order ExportCustomers streams in, and the default of ListCustomers. */
export const ID_ORDER: CustomerOrder = { field: "customer_id", descending: false };

export const ORDER_FIELDS: readonly CustomerOrderField[] = [
  "customer_id",
  "last_name",
  "email",
  "country",
  "create_time",
  "update_time",
];

/** AIP-132 order_by: "" (customer_id), or one field optionally followed by "asc" or "desc". */
export function parseOrderBy(orderBy: string): CustomerOrder {
  const words = orderBy.trim().split(/\s+/).filter((word) => word !== "");
  const [field, direction, ...rest] = words;
  if (field === undefined) return ID_ORDER;
  if (!isOrderField(field) || rest.length > 0) throw invalidOrderBy();
  const keyword = (direction ?? "asc").toLowerCase();
  if (keyword !== "asc" && keyword !== "desc") throw invalidOrderBy();
  return { field, descending: keyword === "desc" };
}

function isOrderField(word: string): word is CustomerOrderField {
  return ORDER_FIELDS.some((field) => field === word);
}

function invalidOrderBy(): InvalidArgumentError {
  return new InvalidArgumentError(
    "order_by",
    `must be one of ${ORDER_FIELDS.join(", ")}, optionally followed by " asc" or " desc"`,
    { reason: "ORDER_BY_INVALID" },
  );
}

/** A canonical string of the filters and order a page token is bound to. */
export function pagingBinding(filter: CustomerFilter, order: CustomerOrder): string {
  return JSON.stringify({ order: [order.field, order.descending], filter: canonicalFilter(filter) });
}

/** A canonical string of the filters alone: equal for filters matching the same customers. */
export function filterKey(filter: CustomerFilter): string {
  return JSON.stringify(canonicalFilter(filter));
}

// Typed by the filter's keys so that a new filter cannot be left out of the binding.
function canonicalFilter(filter: CustomerFilter): Record<keyof CustomerFilter, string | number | boolean | null> {
  return {
    country: filter.country ?? null,
    status: filter.status ?? CustomerStatus.UNSPECIFIED,
    email: filter.email ?? null,
    namePrefix: filter.namePrefix || null,
    supportRepId: filter.supportRepId?.toString() ?? null,
    loyaltyTier: filter.loyaltyTier ?? LoyaltyTier.UNSPECIFIED,
    tag: filter.tag ?? null,
    createdAfter: filter.createdAfter === undefined ? null : timeToColumn(filter.createdAfter),
    createdBefore: filter.createdBefore === undefined ? null : timeToColumn(filter.createdBefore),
    showDeleted: filter.showDeleted,
  };
}

/** Where a later page starts, and the total the listing's first page reported. */
export interface PagePosition {
  cursor: Cursor;
  totalSize: number | undefined;
}

/** A page's customer id and its value of the sort column: all a keyset page needs of a row. */
export interface RowKey {
  CustomerId: bigint;
  /** Always null when ordering by customer_id. */
  sortKey: string | null;
}

export function rowKeyOf(row: CustomerRow, order: CustomerOrder): RowKey {
  const sortKey = order.field === "customer_id" ? null : row[SORT_COLUMNS[order.field].column];
  return { CustomerId: row.CustomerId, sortKey };
}

/** The token for the page after `last`, the last row of this one, signed with `key`. */
export function pageTokenAfter(last: RowKey, binding: string, totalSize: number, key: PageTokenKey): string {
  return encodePageToken(binding, [last.sortKey, last.CustomerId], totalSize, key);
}

/** The position in a token from pageTokenAfter, signed with one of `keys`; INVALID_ARGUMENT for anything else. */
export async function positionFromPageToken(
  token: string,
  binding: string,
  order: CustomerOrder,
  keys: PageTokenKeys,
): Promise<PagePosition> {
  const { cursor, totalSize } = await decodePageToken(token, binding, 2, "filters or order_by", keys);
  const [key, id] = cursor;
  // Customer ids are positive.
  if (!isCursorKey(key, order) || typeof id !== "bigint" || id < 1n) {
    throw new InvalidArgumentError("page_token", "is not a token this service issued", { reason: "PAGE_TOKEN_INVALID" });
  }
  return { cursor: { key, id }, totalSize };
}

function isCursorKey(value: CursorValue | undefined, order: CustomerOrder): value is string | null {
  if (order.field === "customer_id") return value === null;
  if (value === null) return SORT_COLUMNS[order.field].nullable;
  return typeof value === "string";
}
