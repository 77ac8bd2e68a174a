import type { RecordedRequest } from "../db/request-ids";
import type { CustomerRow } from "../db/schema";
import type { CustomerFilter, CustomerOrder, Cursor, RowKey } from "./listing";
import type { CustomerColumns } from "./rows";

/** A row to insert: everything but the id the database assigns. */
export type NewCustomerRow = Omit<CustomerRow, "CustomerId">;

/**
 * What a snapshot's work will read, so that an engine can read it in fewer
 * statements: one page (listRows or listKeys), and its count when `counts`.
 */
export interface SnapshotPlan {
  /**
   * Whether it asks countMatching for the filter of its first page (an engine
   * may count while reading that page). Without the count, the page alone
   * may be read as one statement, outside any transaction.
   */
  counts: boolean;
}

/** The columns an update changes, and the update time it stamps. */
export type CustomerChanges = Partial<CustomerColumns> & Pick<CustomerRow, "updated_at">;

/**
 * What the customers domain needs of storage; each engine implements it in
 * src/customers/stores/. Methods hand back rows as stored (one row mapping,
 * src/customers/rows.ts, serves every engine) and fail with domain errors
 * only (src/errors.ts), never with a driver's.
 */
export interface CustomerStore {
  /** Runs `work` in one write transaction, with a store bound to it; an engine may share it with concurrent writes. */
  write<T>(work: (store: CustomerStore) => Promise<T>): Promise<T>;
  /** Runs `work` in one transaction of its own: all or nothing. */
  batch<T>(work: (store: CustomerStore) => Promise<T>): Promise<T>;
  /** Runs `work`, which only reads, on one snapshot; without a plan, as if it counts. */
  snapshot<T>(work: (store: CustomerStore) => Promise<T>, plan?: SnapshotPlan): Promise<T>;

  find(id: bigint): Promise<CustomerRow | undefined>;
  /** The rows of the ids that exist, by id. */
  findMany(ids: readonly bigint[]): Promise<Map<bigint, CustomerRow>>;
  /** Up to `limit` rows matching `filter`, in `order`, after `cursor` (from the start without one). */
  listRows(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<CustomerRow[]>;
  /** As listRows, only the keys: an engine may read them from an index alone. */
  listKeys(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<RowKey[]>;
  /** Every row matching `filter` in customer_id order, `batchSize` rows in memory at a time. */
  stream(filter: CustomerFilter, batchSize: number): AsyncIterable<CustomerRow>;
  /** How many customers match: exact up to EXACT_COUNT_LIMIT (total-size.ts), an estimate past it. */
  countMatching(filter: CustomerFilter): Promise<number>;
  employeeExists(id: bigint): Promise<boolean>;

  /**
   * Inserts a customer and returns its row. INVALID_ARGUMENT
   * (supportRepNotFound) when its support rep names no employee; else, as
   * live emails are unique but for case (case-insensitive.ts), ALREADY_EXISTS
   * (emailTaken) when a live customer holds its email.
   */
  insert(row: NewCustomerRow): Promise<CustomerRow>;
  /**
   * insert() as a write of its own, as write() would run it: committed when
   * it returns. An engine may need no transaction for one statement, and may
   * commit it with the creates made meanwhile (SQLite's group commit;
   * PostgreSQL gathers them into one INSERT).
   */
  insertAlone(row: NewCustomerRow): Promise<CustomerRow>;
  /**
   * Writes `changes` to the customer `row` stores and returns the row as it
   * now is. ALREADY_EXISTS (emailTaken) when the change gives a live customer
   * an email another live customer holds.
   */
  update(row: CustomerRow, changes: CustomerChanges): Promise<CustomerRow>;

  /** What an earlier request with this id created; INVALID_ARGUMENT when it was a different request. */
  findRequest(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined>;
  recordRequest(operation: string, requestId: string, request: Uint8Array, customerId: bigint, response: Uint8Array): Promise<void>;
}
