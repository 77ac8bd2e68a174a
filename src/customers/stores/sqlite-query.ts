import { enumToJson } from "@bufbuild/protobuf";
import { sql, type Expression, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from "kysely";
/**
 * The SQL of a SQLite listing: its filters as WHERE conditions, its order, and
 * the keyset runs a page reads, each shaped so SQLite walks an index.
 */
import { CustomerStatus, LoyaltyTier, LoyaltyTierSchema } from "../../../gen/chinook/v1/customer_pb";
import { LOYALTY_TIER_EXPRESSION, type Database } from "../../db/schema";
import { INT64_MAX, INT64_MIN } from "../../int64";
import { comparesAsNoCase, sameText, startsWithText } from "../case-insensitive";
import { SORT_COLUMNS, type CustomerFilter, type CustomerOrder, type Cursor, type SortedField } from "../listing";
import { LATEST_COLUMN_TIME, statusToColumn, timeToColumn } from "../rows";

type CustomerExpressions = ExpressionBuilder<Database, "customers">;
type Condition = Expression<SqlBool>;
type FilterCondition = (eb: CustomerExpressions, filter: CustomerFilter) => Condition | undefined;

interface SortKey {
  /** Carries the collation of the column's index, so ORDER BY and the keyset walk that index. */
  expression: Expression<string | null>;
  nullable: boolean;
}

const SORT_KEYS: Record<SortedField, SortKey> = {
  last_name: { expression: noCase("LastName"), nullable: false },
  email: { expression: noCase("Email"), nullable: false },
  country: { expression: sql.ref("Country"), nullable: SORT_COLUMNS.country.nullable },
  create_time: { expression: sql.ref("created_at"), nullable: false },
  update_time: { expression: sql.ref("updated_at"), nullable: false },
};

/** Every filter of `filter`, ANDed. */
export function matchingFilter(eb: CustomerExpressions, filter: CustomerFilter): Condition {
  return eb.and(FILTER_CONDITIONS.flatMap((condition) => condition(eb, filter) ?? []));
}

// `<>`, not `<`: a range on status would tempt the planner into the status
// index and a sort, instead of walking the index of the requested order. A
// literal, not a parameter: SQLite uses an index `WHERE status <> 4` only for
// a query that says so in its text.
const hidingDeleted: FilterCondition = (eb, filter) =>
  filter.showDeleted || filter.status === CustomerStatus.DELETED
    ? undefined
    : eb("status", "<>", sql.lit(statusToColumn(CustomerStatus.DELETED)));

const byStatus: FilterCondition = (eb, { status }) =>
  status === undefined || status === CustomerStatus.UNSPECIFIED
    ? undefined
    : eb("status", "=", statusToColumn(status));

const byCountry: FilterCondition = (eb, { country }) =>
  country === undefined ? undefined : eb("Country", "=", country);

const byEmail: FilterCondition = (eb, { email }) => (email === undefined ? undefined : sameText(eb, "Email", email));

// An empty prefix matches everyone, and as a LIKE pattern it would defeat the indexes. Names are
// stored as sent, so a prefix is looked for as sent and in both Unicode spellings (é as one
// character or as e + an accent): Chinook's are precomposed, macOS often sends decomposed.
const byNamePrefix: FilterCondition = (eb, { namePrefix }) => {
  if (namePrefix === undefined || namePrefix === "") return undefined;
  const spellings = new Set([namePrefix, namePrefix.normalize("NFC"), namePrefix.normalize("NFD")]);
  return eb.or([...spellings].flatMap((prefix) => [startsWithText(eb, "FirstName", prefix), startsWithText(eb, "LastName", prefix)]));
};

const bySupportRep: FilterCondition = (eb, { supportRepId }) =>
  supportRepId === undefined ? undefined : eb("SupportRepId", "=", supportRepId);

// proto3 JSON stores enum names; the expression must be the indexed one verbatim.
const byLoyaltyTier: FilterCondition = (_eb, { loyaltyTier }) =>
  loyaltyTier === undefined || loyaltyTier === LoyaltyTier.UNSPECIFIED
    ? undefined
    : sql<SqlBool>`${sql.raw(LOYALTY_TIER_EXPRESSION)} = ${enumToJson(LoyaltyTierSchema, loyaltyTier)}`;

const byTag: FilterCondition = (eb, { tag }) =>
  tag === undefined
    ? undefined
    : eb("CustomerId", "in", eb.selectFrom("customer_tags").select("CustomerId").where("tag", "=", tag));

// A bound later than any stored time (the maximum Timestamp, rounded up to the
// millisecond, is in year 10000) would not order as text: nobody is created
// from it, and everybody before it.
const createdFrom: FilterCondition = (eb, { createdAfter }) => {
  if (createdAfter === undefined) return undefined;
  return createdAfter > LATEST_COLUMN_TIME ? sql<SqlBool>`0` : eb("created_at", ">=", timeToColumn(createdAfter));
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

/**
 * How a page is put in order: by walking the index of its sort key ("index"),
 * or by sorting the rows its filter finds ("rows"), for which ORDER BY and
 * the keyset conditions name the key and the id behind a unary + (the same
 * value and collation, which no index serves).
 */
export type SortBy = "index" | "rows";

/**
 * How pages of `filter` are put in order. A name prefix (and an email with
 * other than ASCII letters) is matched by an OR of index ranges, one per case
 * variant and spelling: with four variants (Т, Θ, Ι) over two name columns,
 * SQLite would rather walk the order's whole index, or the whole table for
 * customer_id, testing every row; the matches are few enough to sort.
 */
export function sortByFor(filter: CustomerFilter): SortBy {
  const prefixed = filter.namePrefix !== undefined && filter.namePrefix !== "";
  return prefixed || (filter.email !== undefined && !comparesAsNoCase(filter.email)) ? "rows" : "index";
}

/** ORDER BY the sort key, then CustomerId in the same direction: a total order. */
export function inOrder<O>(
  query: SelectQueryBuilder<Database, "customers", O>,
  order: CustomerOrder,
  sortBy: SortBy = "index",
): SelectQueryBuilder<Database, "customers", O> {
  const direction = order.descending ? "desc" : "asc";
  const id = idOf(sortBy);
  if (order.field === "customer_id") return query.orderBy(id, direction);
  return query.orderBy(sortKeyFor(order.field, sortBy).expression, direction).orderBy(id, direction);
}

function idOf(sortBy: SortBy): Expression<bigint> {
  return sortBy === "index" ? sql.ref<bigint>("CustomerId") : sql<bigint>`+${sql.ref("CustomerId")}`;
}

function sortKeyFor(field: SortedField, sortBy: SortBy): SortKey {
  const key = SORT_KEYS[field];
  return sortBy === "index" ? key : { ...key, expression: sql<string | null>`+${key.expression}` };
}

/** A condition on the rows of `customers`. */
export type RowCondition = (eb: CustomerExpressions) => Condition;

/**
 * The rows after `cursor` in `order`, as consecutive runs: a page reads them in
 * turn until it is full. Each run is one index range SQLite can seek, which an
 * OR of a range and `IS NULL` is not. SQLite sorts NULL first, so ascending
 * NULL keys come before every value and descending ones after.
 */
export function runsAfter(order: CustomerOrder, cursor: Cursor | undefined, sortBy: SortBy = "index"): RowCondition[] {
  const past = order.descending ? "<" : ">";
  if (cursor === undefined) return [everyRow(order, sortBy)];
  const id = idOf(sortBy);
  if (order.field === "customer_id") return [(eb) => eb(id, past, cursor.id)];
  const key = sortKeyFor(order.field, sortBy);
  const laterNulls: RowCondition = (eb) => eb.and([eb(key.expression, "is", null), eb(id, past, cursor.id)]);
  const everyValue: RowCondition = (eb) => eb(key.expression, "is not", null);
  const { key: value } = cursor;
  if (value === null) return order.descending ? [laterNulls] : [laterNulls, everyValue];
  const laterValues: RowCondition = (eb) => afterValue(eb, key, id, { key: value, id: cursor.id }, order.descending);
  const everyNull: RowCondition = (eb) => eb(key.expression, "is", null);
  return key.nullable && order.descending ? [laterValues, everyNull] : [laterValues];
}

/** The whole walk in `order`, as one run. */
export function everyRow(order: CustomerOrder, sortBy: SortBy = "index"): RowCondition {
  return order.field === "customer_id" && sortBy === "index" ? fromKeysetStart(order) : (eb) => eb.and([]);
}

/**
 * Where an id-ordered walk starts: at the smallest (or largest) possible rowid.
 * Stating it makes the first page seek the primary key like every later one,
 * instead of a bare table scan the planner cannot bound.
 */
function fromKeysetStart(order: CustomerOrder): RowCondition {
  return (eb) => (order.descending ? eb("CustomerId", "<=", INT64_MAX) : eb("CustomerId", ">=", INT64_MIN));
}

function afterValue(
  eb: CustomerExpressions,
  key: SortKey,
  id: Expression<bigint>,
  cursor: { key: string; id: bigint },
  descending: boolean,
): Condition {
  const [past, pastOrAt] = descending ? (["<", "<="] as const) : ([">", ">="] as const);
  return eb.and([
    // Implied by the OR below; stated alone it lets SQLite seek the index instead of scanning it.
    eb(key.expression, pastOrAt, cursor.key),
    eb.or([
      eb(key.expression, past, cursor.key),
      eb.and([eb(key.expression, "=", cursor.key), eb(id, past, cursor.id)]),
    ]),
  ]);
}

/** What to select for RowKey.sortKey: the sort column, as stored. */
export function sortKeyOf(order: CustomerOrder): RawBuilder<string | null> {
  return order.field === "customer_id" ? sql<null>`NULL` : sql.ref(SORT_COLUMNS[order.field].column);
}

function noCase(column: "LastName" | "Email"): Expression<string> {
  return sql<string>`${sql.ref(column)} COLLATE NOCASE`;
}
