/**
 * The SQL of a PostgreSQL listing: its filters as WHERE conditions, its
 * order, and the keyset runs a page reads. Every expression here is spelled
 * exactly as migrations/postgres indexes it, so the planner walks an index:
 * text sorts under the "C" collation (byte order, as SQLite sorts), names and
 * emails compare through chinook_fold (case-insensitive.ts's case classes).
 */
import { enumToJson } from "@bufbuild/protobuf";
import { expressionBuilder, sql, type Expression, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from "kysely";
import { CustomerStatus, LoyaltyTier, LoyaltyTierSchema } from "../../../gen/chinook/v1/customer_pb";
import type { Database } from "../../db/schema";
import { SORT_COLUMNS, type CustomerFilter, type CustomerOrder, type Cursor, type SortedField } from "../listing";
import { LATEST_COLUMN_TIME, statusToColumn, timeToColumn } from "../rows";

type CustomerExpressions = ExpressionBuilder<Database, "customers">;
type Condition = Expression<SqlBool>;
type FilterCondition = (eb: CustomerExpressions, filter: CustomerFilter) => Condition | undefined;

/** A condition on the rows of `customers`. */
export type RowCondition = (eb: CustomerExpressions) => Condition;

const DELETED = statusToColumn(CustomerStatus.DELETED);
const LIKE_ESCAPE = "\\";

/** ORDER BY and keyset expressions: NOCASE's order (ASCII folded, then bytes) for names and emails. */
const SORT_KEYS: Record<SortedField, (value?: string) => RawBuilder<string | null>> = {
  last_name: (value) => sql`lower(${value === undefined ? sql.ref("LastName") : sql`${value}::text`} COLLATE "C")`,
  email: (value) => sql`lower(${value === undefined ? sql.ref("Email") : sql`${value}::text`} COLLATE "C")`,
  country: (value) => (value === undefined ? sql`${sql.ref("Country")} COLLATE "C"` : sql`${value}::text COLLATE "C"`),
  create_time: (value) => (value === undefined ? sql.ref("created_at") : sql`${value}::timestamptz`),
  update_time: (value) => (value === undefined ? sql.ref("updated_at") : sql`${value}::timestamptz`),
};

/** Every filter of `filter`, ANDed. */
export function matchingFilter(eb: CustomerExpressions, filter: CustomerFilter): Condition {
  return eb.and(FILTER_CONDITIONS.flatMap((condition) => condition(eb, filter) ?? []));
}

// A literal, as the partial indexes say it: the planner proves `WHERE status <> 4` from the query's text.
const hidingDeleted: FilterCondition = (_eb, filter) =>
  filter.showDeleted || filter.status === CustomerStatus.DELETED ? undefined : sql<SqlBool>`status <> ${sql.lit(DELETED)}`;

const byStatus: FilterCondition = (eb, { status }) =>
  status === undefined || status === CustomerStatus.UNSPECIFIED ? undefined : eb("status", "=", statusToColumn(status));

const byCountry: FilterCondition = (_eb, { country }) =>
  country === undefined ? undefined : sql<SqlBool>`${sql.ref("Country")} COLLATE "C" = ${country}::text`;

const byEmail: FilterCondition = (_eb, { email }) =>
  email === undefined ? undefined : sql<SqlBool>`${folded("Email")} = chinook_fold(${email}::text) COLLATE "C"`;

// Names are stored as sent, so a prefix is looked for as sent and in both Unicode spellings.
const byNamePrefix: FilterCondition = (eb, { namePrefix }) => {
  if (namePrefix === undefined || namePrefix === "") return undefined;
  const spellings = new Set([namePrefix, namePrefix.normalize("NFC"), namePrefix.normalize("NFD")]);
  return eb.or([...spellings].flatMap((prefix) => [startsWith("FirstName", prefix), startsWith("LastName", prefix)]));
};

const bySupportRep: FilterCondition = (eb, { supportRepId }) =>
  supportRepId === undefined ? undefined : eb("SupportRepId", "=", supportRepId);

// proto3 JSON stores enum names; loyalty_tier is generated from data (migrations/postgres/0006).
const byLoyaltyTier: FilterCondition = (_eb, { loyaltyTier }) =>
  loyaltyTier === undefined || loyaltyTier === LoyaltyTier.UNSPECIFIED
    ? undefined
    : sql<SqlBool>`loyalty_tier = ${enumToJson(LoyaltyTierSchema, loyaltyTier)}::text`;

// Containment, which the GIN index on data->'tags' serves.
const byTag: FilterCondition = (_eb, { tag }) =>
  tag === undefined ? undefined : sql<SqlBool>`(data->'tags') @> ${JSON.stringify([tag])}::jsonb`;

// Bounds past LATEST_COLUMN_TIME behave as on SQLite, whose text times end in year 9999.
const createdFrom: FilterCondition = (eb, { createdAfter }) => {
  if (createdAfter === undefined) return undefined;
  return createdAfter > LATEST_COLUMN_TIME ? sql<SqlBool>`false` : eb("created_at", ">=", timeToColumn(createdAfter));
};

const createdUntil: FilterCondition = (eb, { createdBefore }) =>
  createdBefore === undefined || createdBefore > LATEST_COLUMN_TIME
    ? undefined
    : eb("created_at", "<", timeToColumn(createdBefore));

const FILTER_CONDITIONS: readonly FilterCondition[] = [
  hidingDeleted,
  byStatus,
  byCountry,
  byEmail,
  byNamePrefix,
  bySupportRep,
  byLoyaltyTier,
  byTag,
  createdFrom,
  createdUntil,
];

const VALUE_CONDITIONS = FILTER_CONDITIONS.filter((condition) => condition !== hidingDeleted);

/**
 * Whether the plan of a listing in `order` filtered by `filter` reads only
 * matching rows, in order, whatever the filter's values: then a generic plan,
 * which reckons with an average match, is as good as one made for the values,
 * and its statement can be prepared. Otherwise a generic plan may walk the
 * order's index past every row for a value that matches few. True without
 * filter values (hiding deleted customers is a literal), and in id order for
 * a country, a live customer's loyalty tier or both, whose matches
 * customers_country_order_idx, customers_live_tier_idx and
 * customers_live_country_tier_idx hold in id order (migrations/postgres).
 */
export function planIsValueFree(filter: CustomerFilter, order: CustomerOrder): boolean {
  const eb = expressionBuilder<Database, "customers">();
  const comparing = VALUE_CONDITIONS.filter((condition) => condition(eb, filter) !== undefined);
  if (comparing.length === 0) return true;
  const liveOnly = hidingDeleted(eb, filter) !== undefined;
  const inIdOrderByIndex = (condition: FilterCondition) => condition === byCountry || (condition === byLoyaltyTier && liveOnly);
  return order.field === "customer_id" && comparing.every(inIdOrderByIndex);
}

function folded(column: "Email" | "FirstName" | "LastName"): RawBuilder<string> {
  return sql<string>`(chinook_fold(${sql.ref(column)}) COLLATE "C")`;
}

function startsWith(column: "FirstName" | "LastName", prefix: string): Condition {
  const pattern = prefix.replace(/[\\%_]/g, LIKE_ESCAPE + "$&");
  return sql<SqlBool>`${folded(column)} LIKE (chinook_fold(${pattern}::text) || '%') ESCAPE '\\'`;
}

/**
 * ORDER BY the sort key, then CustomerId in the same direction: a total order.
 * NULL keys (of Country) come first ascending and last descending, as SQLite
 * orders them and as the country index stores them. The other keys are never
 * NULL and say no NULLS clause: their indexes keep PostgreSQL's default (NULLS
 * LAST ascending), and an ORDER BY that names another placement is not one an
 * index walk can give, so every page would sort the whole table.
 */
export function inOrder<O>(
  query: SelectQueryBuilder<Database, "customers", O>,
  order: CustomerOrder,
): SelectQueryBuilder<Database, "customers", O> {
  const direction = order.descending ? "desc" : "asc";
  if (order.field === "customer_id") return query.orderBy("CustomerId", direction);
  return byKey(query, order.field, order.descending).orderBy("CustomerId", direction);
}

function byKey<O>(
  query: SelectQueryBuilder<Database, "customers", O>,
  field: SortedField,
  descending: boolean,
): SelectQueryBuilder<Database, "customers", O> {
  const key = SORT_KEYS[field]();
  if (!SORT_COLUMNS[field].nullable) return query.orderBy(key, descending ? "desc" : "asc");
  return descending
    ? query.orderBy(key, (item) => item.desc().nullsLast())
    : query.orderBy(key, (item) => item.asc().nullsFirst());
}

/**
 * The rows after `cursor` in `order`, as consecutive runs that a page reads in
 * turn until it is full: a row comparison past the cursor's key, and the NULL
 * keys on their side of the values, so both engines return the same pages and
 * tokens.
 */
export function runsAfter(order: CustomerOrder, cursor: Cursor | undefined): RowCondition[] {
  const past = order.descending ? "<" : ">";
  if (order.field === "customer_id") {
    return [cursor === undefined ? () => sql<SqlBool>`true` : (eb) => eb("CustomerId", past, cursor.id)];
  }
  const key = SORT_KEYS[order.field];
  const nulls: RowCondition = () => sql<SqlBool>`${key()} IS NULL`;
  const values: RowCondition = () => sql<SqlBool>`${key()} IS NOT NULL`;
  const nullable = SORT_COLUMNS[order.field].nullable;
  if (cursor === undefined) return [() => sql<SqlBool>`true`];
  const { key: value, id } = cursor;
  if (value === null) {
    const laterNulls: RowCondition = (eb) => eb.and([nulls(eb), eb("CustomerId", past, id)]);
    return order.descending ? [laterNulls] : [laterNulls, values];
  }
  const laterValues: RowCondition = () => sql<SqlBool>`(${key()}, ${sql.ref("CustomerId")}) ${sql.raw(past)} (${key(value)}, ${id})`;
  return nullable && order.descending ? [laterValues, nulls] : [laterValues];
}

/** What to select for RowKey.sortKey: the sort column, as stored. */
export function sortKeyOf(order: CustomerOrder): RawBuilder<string | null> {
  return order.field === "customer_id" ? sql<null>`NULL::text` : sql.ref(SORT_COLUMNS[order.field].column);
}
