import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  type Customer,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";
import { inWriteTransaction, type GroupCommit } from "../db/sqlite/group-commit";
import { compileOnly, withParameters } from "../db/sqlite/precompiled";
import { RequestIds, type RecordedRequest } from "../db/request-ids";
import type { CustomerRow } from "../db/schema";
import { countWithinBudget } from "../db/paging";
import { translatingErrors, uniqueViolationTarget } from "../db/sqlite/errors";
import { inReadTransaction, inTransaction } from "../db/sqlite/transaction";
import type { Executor } from "../db/transactions";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors";
import {
  inOrder,
  matchingFilter,
  pageTokenAfter,
  pagingBinding,
  positionFromPageToken,
  rowKeyOf,
  runsAfter,
  sortKeyOf,
  sortByFor,
  type Cursor,
  type CustomerFilter,
  type CustomerOrder,
  type RowCondition,
  type RowKey,
} from "./query";
import {
  CUSTOMER_COLUMNS,
  columnsFromCustomer,
  customerFromRow,
  etagMatches,
  statusToColumn,
  timeToColumn,
  type CustomerColumns,
} from "./rows";
import { comparesAsNoCase, sameText } from "./case-insensitive";
import { customerSizeBound } from "./size";
import { estimatedCount } from "./total-size";

export { parseOrderBy, type CustomerFilter, type CustomerOrder, type CustomerOrderField } from "./query";

export interface CustomerListQuery {
  filter: CustomerFilter;
  order: CustomerOrder;
  /** Already normalized (normalizePageSize). */
  pageSize: number;
  /** "" for the first page. */
  pageToken: string;
  /**
   * A total counted lately for the same filters, which a first page reports
   * instead of counting again (the read cache keeps estimates a short while).
   */
  knownTotalSize?: number;
}

export interface CustomerPage {
  customers: Customer[];
  /** "" on the last page. */
  nextPageToken: string;
  /**
   * How many customers match the filters, over all pages: exact up to
   * EXACT_COUNT_LIMIT, an estimate past it; counted by the first page only.
   */
  totalSize: number;
}

/** A page as ids, for a caller that holds the customers themselves (the read cache). */
export type CustomerIdPage = Omit<CustomerPage, "customers"> & {
  customerIds: bigint[];
  /** The token of the page after the first `count` ids (1 ≤ count), for a caller that keeps fewer. */
  tokenAfter: (count: number) => string;
};

/** A page of rows, whole or only their keys, before they become customers or ids. */
interface RowPage<R> {
  rows: R[];
  nextPageToken: string;
  totalSize: number;
  /** The token of the page after the first `count` rows (1 ≤ count). */
  tokenAfter: (count: number) => string;
}

/**
 * The most a ListCustomers page may take encoded, as customerSizeBound
 * counts it: below the 4 MiB a gRPC client accepts by default, with room for
 * the response's token and total, however large the customers (validation
 * allows ~0.5 MB each). Only pages of such customers are cut: 1,000 of
 * Chinook's or db:synth's count under 3.4 MiB.
 */
export const MAX_PAGE_BYTES = 4 * 2 ** 20 - 2 ** 16;

/** A page cut to MAX_PAGE_BYTES (AIP-158 lets a page hold fewer customers than asked for). */
export function withinPageBytes(page: CustomerPage, tokenAfter: (count: number) => string): CustomerPage {
  const count = countWithinBudget(page.customers, MAX_PAGE_BYTES, customerSizeBound);
  if (count === page.customers.length) return page;
  return { ...page, customers: page.customers.slice(0, count), nextPageToken: tokenAfter(count) };
}

/** Reads up to `limit` rows of one run of a page (see runsAfter). */
type RunReader<R> = (run: RowCondition, limit: number) => Promise<R[]>;

export interface CreateCustomerRequest {
  customer: Customer;
  requestId?: string;
}

export interface CustomerRepositoryOptions {
  /**
   * The time a write stamps into created_at / updated_at, read once per
   * customer written. Imports of customers created in the past pass theirs.
   */
  clock?: () => Date;
  /**
   * Runs single-customer writes (create, update, delete, undelete) in
   * transactions shared with the writes arriving beside them; without it
   * each write has a transaction of its own.
   */
  writes?: GroupCommit;
}

/** What the service needs of customer storage; the repository and the read cache both provide it. */
export type CustomerStore = Pick<
  CustomerRepository,
  "get" | "batchGet" | "list" | "stream" | "create" | "batchCreate" | "update" | "softDelete" | "undelete"
>;

const CREATE_OPERATION = "CreateCustomer";
const EMAIL_UNIQUE_TARGET = "customers.Email";
const ID_ORDER: CustomerOrder = { field: "customer_id", descending: false };

/** Ids are positive: excluding this one excludes nobody. */
const NO_CUSTOMER = 0n;

type InsertedValues = Omit<CustomerRow, "CustomerId">;

function insertedValues(columns: CustomerColumns, now: string): InsertedValues {
  return { ...columns, created_at: now, updated_at: now };
}

// The hottest queries, compiled once (see compileOnly).
const SELECT_BY_ID = compileOnly.selectFrom("customers").select(CUSTOMER_COLUMNS).where("CustomerId", "=", 0n).compile();
const INSERT_TEMPLATE = insertedValues(columnsFromCustomer(create(CustomerSchema), null), "");
const INSERT_CUSTOMER = compileOnly.insertInto("customers").values(INSERT_TEMPLATE).returning("CustomerId").compile();
/** The INSERT's parameters, in the order it was compiled with. */
const INSERTED_COLUMNS = Object.keys(INSERT_TEMPLATE) as ReadonlyArray<keyof InsertedValues>;

/**
 * Customers in the `customers` table, as `Customer` messages. Every method
 * translates driver errors into domain errors; writes run in a transaction
 * (the caller's, through withTx, or their own).
 */
export class CustomerRepository {
  private readonly clock: () => Date;

  constructor(
    private readonly db: Executor,
    private readonly options: CustomerRepositoryOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  withTx(tx: Executor): CustomerRepository {
    return new CustomerRepository(tx, this.options);
  }

  /** Deleted customers too. */
  get(id: bigint): Promise<Customer> {
    return translatingErrors(async () => customerFromRow(await this.existingRow(id)));
  }

  /** In the order asked, duplicates included; NOT_FOUND names the first missing id. */
  batchGet(ids: readonly bigint[]): Promise<Customer[]> {
    return translatingErrors(async () => {
      const rows = await this.rowsById(ids);
      return ids.map((id) => customerFromRow(foundOrThrow(rows.get(id), id)));
    });
  }

  list(query: CustomerListQuery): Promise<CustomerPage> {
    const { filter, order } = query;
    return translatingErrors(() =>
      // One snapshot, so the total agrees with the page.
      inReadTransaction(this.db, async (tx) => {
        const repository = this.withTx(tx);
        const readRun: RunReader<CustomerRow> = (run, limit) => repository.runRows(filter, order, run, limit);
        const { rows, tokenAfter, ...page } = await repository.pageOf(query, readRun, (row) => rowKeyOf(row, order));
        return withinPageBytes({ customers: rows.map(customerFromRow), ...page }, tokenAfter);
      }),
    );
  }

  /**
   * The page `list` would answer, as customer ids: read from the index that
   * serves the filter and order, without visiting the rows when it covers them.
   */
  listIds(query: CustomerListQuery): Promise<CustomerIdPage> {
    const { filter, order } = query;
    return translatingErrors(() =>
      inReadTransaction(this.db, async (tx) => {
        const repository = this.withTx(tx);
        const readRun: RunReader<RowKey> = (run, limit) => repository.runKeys(filter, order, run, limit);
        const { rows, ...page } = await repository.pageOf(query, readRun, (key) => key);
        return { customerIds: rows.map((key) => key.CustomerId), ...page };
      }),
    );
  }

  /** Every match in customer_id order, `batchSize` rows in memory at a time. */
  async *stream(filter: CustomerFilter, batchSize = 500): AsyncGenerator<Customer> {
    let cursor: Cursor | undefined;
    for (;;) {
      const rows = await translatingErrors(() => this.pageRows(filter, ID_ORDER, cursor, batchSize));
      for (const row of rows) yield customerFromRow(row);
      const last = rows.at(-1);
      if (rows.length < batchSize || last === undefined) return;
      cursor = { key: null, id: last.CustomerId };
    }
  }

  /**
   * Output-only fields of `customer` are ignored. With a `requestId`, a retry
   * of the same request returns the customer the first one created.
   */
  create(customer: Customer, requestId?: string): Promise<Customer> {
    return translatingErrors(() =>
      this.inWriteTransaction(async (tx) => {
        const repository = this.withTx(tx);
        const item = withoutOutputOnlyFields(customer);
        return repository.createOne(item, requestId, await repository.existingSupportReps([item]));
      }),
    );
  }

  /**
   * All or nothing, in one transaction; an error names the failing item
   * (`requests[3].customer.email`), the first in request order.
   */
  batchCreate(requests: readonly CreateCustomerRequest[]): Promise<Customer[]> {
    return translatingErrors(() =>
      inTransaction(this.db, async (tx) => {
        const repository = this.withTx(tx);
        const items = requests.map(({ customer, requestId }) => ({ customer: withoutOutputOnlyFields(customer), requestId }));
        const supportReps = await repository.existingSupportReps(items.map((item) => item.customer));
        const created: Customer[] = [];
        for (const [index, item] of items.entries()) {
          created.push(await namingItem(index, () => repository.createOne(item.customer, item.requestId, supportReps)));
        }
        return created;
      }),
    );
  }

  /**
   * Read-modify-write in one transaction: `change` gets the stored customer and
   * returns the new one (output-only fields ignored). FAILED_PRECONDITION when
   * `expectedEtag` is stale.
   */
  update(id: bigint, change: (current: Customer) => Customer, expectedEtag?: string): Promise<Customer> {
    return translatingErrors(() =>
      this.inWriteTransaction(async (tx) => {
        const repository = this.withTx(tx);
        const row = await repository.existingRow(id);
        requireEtag(row, expectedEtag, "customer.etag");
        // AIP-164: a deleted customer is read-only until it is undeleted.
        if (isDeleted(row)) throw new FailedPreconditionError(`customer ${id} is deleted; undelete it first`);
        const current = customerFromRow(row);
        const next = change(current);
        requireWritableStatus(next.status);
        if ((next.supportRepId ?? null) !== row.SupportRepId) {
          requireSupportRepIn(next.supportRepId, await repository.existingSupportReps([next]));
        }
        if (next.email !== row.Email) await repository.requireEmailFree(next.email, id);
        const columns = columnsFromCustomer(next, row.data);
        // Left alone, the stored profile stays as written: it may hold values this build cannot read.
        const data = sameProfile(current.profile, next.profile) ? row.data : columns.data;
        return customerFromRow(await repository.writeColumns(row, { ...columns, data }));
      }),
    );
  }

  /** AIP-164 soft delete; invoices keep their customer. NOT_FOUND when already deleted. */
  softDelete(id: bigint, expectedEtag?: string): Promise<Customer> {
    return translatingErrors(() =>
      this.inWriteTransaction(async (tx) => {
        const repository = this.withTx(tx);
        const row = await repository.existingRow(id);
        requireEtag(row, expectedEtag, "etag");
        // AIP-164: deleting a deleted resource is NOT_FOUND, as deleting a missing one is.
        if (isDeleted(row)) throw new NotFoundError(`customer ${id} is already deleted`);
        return customerFromRow(await repository.writeColumns(row, { status: statusToColumn(CustomerStatus.DELETED) }));
      }),
    );
  }

  /**
   * Back to ACTIVE; ALREADY_EXISTS when the customer is not deleted, or when a
   * live customer has taken the email meanwhile.
   */
  undelete(id: bigint): Promise<Customer> {
    return translatingErrors(() =>
      this.inWriteTransaction(async (tx) => {
        const repository = this.withTx(tx);
        const row = await repository.existingRow(id);
        // AIP-164: undeleting a resource that is not deleted is ALREADY_EXISTS.
        if (!isDeleted(row)) throw new AlreadyExistsError(`customer ${id} is not deleted`);
        await repository.requireEmailFree(row.Email, id);
        return customerFromRow(await repository.writeColumns(row, { status: statusToColumn(CustomerStatus.ACTIVE) }));
      }),
    );
  }

  private inWriteTransaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    return inWriteTransaction(this.db, this.options.writes, work);
  }

  /** `supportReps`: which of the batch's support rep ids exist, read once for the batch. */
  private async createOne(
    customer: Customer,
    requestId: string | undefined,
    supportReps: ReadonlySet<bigint>,
  ): Promise<Customer> {
    const key = requestId === undefined || requestId === "" ? undefined : { requestId, request: requestBytes(customer) };
    const requestIds = new RequestIds(this.db);
    if (key !== undefined) {
      const earlier = await requestIds.find(CREATE_OPERATION, key.requestId, key.request);
      if (earlier !== undefined) return this.firstAnswer(earlier);
    }
    const status = customer.status === CustomerStatus.UNSPECIFIED ? CustomerStatus.ACTIVE : customer.status;
    requireWritableStatus(status);
    requireSupportRepIn(customer.supportRepId, supportReps);
    if (!comparesAsNoCase(customer.email)) await this.requireEmailFree(customer.email);
    const row = await this.insert(columnsFromCustomer({ ...customer, status }, null));
    // What was inserted is what a read would return: no read-back.
    const created = customerFromRow(row);
    if (key !== undefined) {
      const answer = toBinary(CustomerSchema, created);
      await requestIds.record(CREATE_OPERATION, key.requestId, key.request, row.CustomerId, answer);
    }
    return created;
  }

  /**
   * AIP-155: a retry gets the first answer, whatever has happened to the
   * customer since. A key recorded without one (before migration 0008) gets
   * the customer as it is now.
   */
  private firstAnswer({ resourceId, response }: RecordedRequest): Promise<Customer> {
    return response === undefined ? this.get(resourceId) : Promise.resolve(fromBinary(CustomerSchema, response));
  }

  /**
   * The first page counts the matches (unless the query knows the total);
   * later pages repeat what it counted, carried by the token.
   */
  private async pageOf<R>(
    query: CustomerListQuery,
    readRun: RunReader<R>,
    keyOf: (row: R) => RowKey,
  ): Promise<RowPage<R>> {
    const binding = pagingBinding(query.filter, query.order);
    const position =
      query.pageToken === "" ? undefined : positionFromPageToken(query.pageToken, binding, query.order);
    const runs = runsAfter(query.order, position?.cursor, sortByFor(query.filter));
    const rows = await readRuns(runs, query.pageSize + 1, readRun);
    const page = rows.slice(0, query.pageSize);
    const hasMore = rows.length > query.pageSize;
    const totalSize = position?.totalSize ?? query.knownTotalSize ?? (await estimatedCount(this.db, query.filter));
    const tokenAfter = (count: number) => {
      const lastKept = page[count - 1];
      if (lastKept === undefined) throw new RangeError(`a page of ${page.length} rows has no row ${count}`);
      return pageTokenAfter(keyOf(lastKept), binding, totalSize);
    };
    return {
      rows: page,
      nextPageToken: hasMore ? tokenAfter(page.length) : "",
      totalSize,
      tokenAfter,
    };
  }

  private selectRows() {
    return this.db.selectFrom("customers").select(CUSTOMER_COLUMNS);
  }

  private async existingRow(id: bigint): Promise<CustomerRow> {
    const { rows } = await this.db.executeQuery(withParameters(SELECT_BY_ID, [id]));
    return foundOrThrow(rows[0], id);
  }

  private async rowsById(ids: readonly bigint[]): Promise<Map<bigint, CustomerRow>> {
    if (ids.length === 0) return new Map();
    const rows = await this.selectRows()
      .where("CustomerId", "in", [...new Set(ids)])
      .execute();
    return new Map(rows.map((row) => [row.CustomerId, row]));
  }

  private pageRows(
    filter: CustomerFilter,
    order: CustomerOrder,
    cursor: Cursor | undefined,
    limit: number,
  ): Promise<CustomerRow[]> {
    const runs = runsAfter(order, cursor, sortByFor(filter));
    return readRuns(runs, limit, (run, left) => this.runRows(filter, order, run, left));
  }

  private runRows(
    filter: CustomerFilter,
    order: CustomerOrder,
    run: RowCondition,
    limit: number,
  ): Promise<CustomerRow[]> {
    const matching = this.matchingRun(filter, run).select(CUSTOMER_COLUMNS);
    return inOrder(matching, order, sortByFor(filter)).limit(limit).execute();
  }

  private runKeys(filter: CustomerFilter, order: CustomerOrder, run: RowCondition, limit: number): Promise<RowKey[]> {
    const matching = this.matchingRun(filter, run).select(["CustomerId", sortKeyOf(order).as("sortKey")]);
    return inOrder(matching, order, sortByFor(filter)).limit(limit).execute();
  }

  private matchingRun(filter: CustomerFilter, run: RowCondition) {
    return this.db
      .selectFrom("customers")
      .where((eb) => matchingFilter(eb, filter))
      .where(run);
  }

  /** Which of the customers' support rep ids name an employee: one query for a whole batch. */
  private async existingSupportReps(customers: readonly Customer[]): Promise<Set<bigint>> {
    const ids = [...new Set(customers.flatMap((customer) => customer.supportRepId ?? []))];
    if (ids.length === 0) return new Set();
    const employees = await this.db
      .selectFrom("employees")
      .select("EmployeeId")
      .where("EmployeeId", "in", ids)
      .execute();
    return new Set(employees.map((employee) => employee.EmployeeId));
  }

  /**
   * ALREADY_EXISTS when a live customer other than `ownerId` has this email but
   * for case. The unique index folds only ASCII (NOCASE): alone it would let
   * "STANISŁAW.WÓJCIK@WP.PL" past a live "stanisław.wójcik@wp.pl". Checked in
   * the write's transaction; for ASCII the index still guards other processes,
   * and creates leave an ASCII email to the index alone.
   */
  private async requireEmailFree(email: string, ownerId?: bigint): Promise<void> {
    const holder = await this.db
      .selectFrom("customers")
      .select("CustomerId")
      .where((eb) => eb.and([sameText(eb, "Email", email), eb("status", "<>", statusToColumn(CustomerStatus.DELETED))]))
      .where("CustomerId", "<>", ownerId ?? NO_CUSTOMER)
      .executeTakeFirst();
    if (holder !== undefined) throw emailTaken();
  }

  private async insert(columns: CustomerColumns): Promise<CustomerRow> {
    const values: InsertedValues = insertedValues(columns, timeToColumn(this.clock()));
    const { rows } = await refusingDuplicateEmail(() =>
      this.db.executeQuery(withParameters(INSERT_CUSTOMER, INSERTED_COLUMNS.map((column) => values[column]))),
    );
    const [inserted] = rows;
    if (inserted === undefined) throw new Error("INSERT … RETURNING returned no row");
    return { CustomerId: inserted.CustomerId, ...values };
  }

  /**
   * Writes the columns whose value differs from `row`'s, and the update time:
   * SQLite rewrites the entries of every index on a column an UPDATE sets,
   * changed or not. Returns the row as it now is, without reading it back.
   */
  private async writeColumns(row: CustomerRow, columns: Partial<CustomerColumns>): Promise<CustomerRow> {
    const changed = changedColumns(row, columns);
    // Nothing to write: the customer, its update time and its etag stay as they are.
    if (Object.keys(changed).length === 0) return row;
    const updatedAt = timeToColumn(this.clock());
    await refusingDuplicateEmail(() =>
      this.db
        .updateTable("customers")
        .set({ ...changed, updated_at: updatedAt })
        .where("CustomerId", "=", row.CustomerId)
        .execute(),
    );
    return { ...row, ...changed, updated_at: updatedAt };
  }

}

/** The runs' rows in turn, until `limit` of them. */
async function readRuns<R>(runs: readonly RowCondition[], limit: number, readRun: RunReader<R>): Promise<R[]> {
  const rows: R[] = [];
  for (const run of runs) {
    if (rows.length >= limit) break;
    rows.push(...(await readRun(run, limit - rows.length)));
  }
  return rows;
}

function changedColumns(row: CustomerRow, columns: Partial<CustomerColumns>): Partial<CustomerColumns> {
  const changed: Partial<CustomerColumns> = {};
  for (const column of Object.keys(columns) as Array<keyof CustomerColumns>) {
    if (columns[column] !== row[column]) Object.assign(changed, { [column]: columns[column] });
  }
  return changed;
}

function sameProfile(a: CustomerProfile | undefined, b: CustomerProfile | undefined): boolean {
  return a === undefined || b === undefined ? a === b : equals(CustomerProfileSchema, a, b);
}

function foundOrThrow(row: CustomerRow | undefined, id: bigint): CustomerRow {
  if (row === undefined) throw new NotFoundError(`customer ${id} not found`);
  return row;
}

function isDeleted(row: CustomerRow): boolean {
  return row.status === statusToColumn(CustomerStatus.DELETED);
}

/** `field`: where the request carries the etag. */
function requireEtag(row: CustomerRow, expectedEtag: string | undefined, field: string): void {
  if (expectedEtag === undefined || expectedEtag === "") return;
  if (!etagMatches(row, expectedEtag)) {
    throw new FailedPreconditionError(`${field}: customer ${row.CustomerId} has changed since it was read`);
  }
}

function requireSupportRepIn(supportRepId: bigint | undefined, existing: ReadonlySet<bigint>): void {
  if (supportRepId !== undefined && !existing.has(supportRepId)) {
    throw new InvalidArgumentError("customer.support_rep_id", `employee ${supportRepId} does not exist`);
  }
}

/** DELETED is reached only through softDelete; UNSPECIFIED and unknown numbers are not states. */
function requireWritableStatus(status: CustomerStatus): void {
  if (status === CustomerStatus.DELETED) {
    throw new InvalidArgumentError("customer.status", "cannot be set to DELETED; delete the customer instead");
  }
  if (status !== CustomerStatus.ACTIVE && status !== CustomerStatus.INACTIVE && status !== CustomerStatus.SUSPENDED) {
    throw new InvalidArgumentError("customer.status", "must be ACTIVE, INACTIVE or SUSPENDED");
  }
}

function withoutOutputOnlyFields(customer: Customer): Customer {
  return { ...customer, customerId: 0n, createTime: undefined, updateTime: undefined, etag: "" };
}

/**
 * What a request_id is recorded with: the same bytes for the same customer.
 * Protobuf leaves the order of map entries to the sender (Go shuffles them),
 * so a retry may carry profile.attributes in another order; they are sorted.
 */
function requestBytes(customer: Customer): Uint8Array {
  const { profile } = customer;
  if (profile === undefined || Object.keys(profile.attributes).length < 2) return toBinary(CustomerSchema, customer);
  const attributes = Object.fromEntries(Object.entries(profile.attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return toBinary(CustomerSchema, { ...customer, profile: { ...profile, attributes } });
}

/** The partial UNIQUE index on live emails reports itself as `customers.Email`. */
async function refusingDuplicateEmail<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (uniqueViolationTarget(error) === EMAIL_UNIQUE_TARGET) throw emailTaken();
    throw error;
  }
}

function emailTaken(): AlreadyExistsError {
  return new AlreadyExistsError("customer.email: already used by another customer");
}

/** Prefixes the field an item's error names with the item's place in the batch. */
async function namingItem<T>(index: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw withItemPrefix(error, `requests[${index}].`);
  }
}

function withItemPrefix(error: unknown, prefix: string): unknown {
  if (error instanceof InvalidArgumentError) {
    // Its message is `${field}: ${reason}`; only the field moves.
    return new InvalidArgumentError(prefix + error.field, error.message.slice(error.field.length + 2));
  }
  if (error instanceof AlreadyExistsError) return new AlreadyExistsError(prefix + error.message);
  return error;
}
