import { equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { LRUCache, type Perf } from "lru-cache";
import {
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  type Customer,
  type CustomerProfile,
} from "../../gen/chinook/v1/customer_pb";
import type { RecordedRequest } from "../db/request-ids";
import type { CustomerRow } from "../db/schema";
import { countWithinBudget, PROCESS_PAGE_TOKEN_KEYS, type PageTokenKey, type PageTokenKeys } from "../db/paging";
import {
  AlreadyExistsError,
  CUSTOMER_RESOURCE,
  customerResource,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../errors";
import {
  filterKey,
  pageTokenAfter,
  pagingBinding,
  positionFromPageToken,
  rowKeyOf,
  type Cursor,
  type CustomerFilter,
  type CustomerOrder,
  type PagePosition,
  type RowKey,
} from "./listing";
import { columnsFromCustomer, customerFromRow, etagMatches, statusToColumn, timeToColumn, type CustomerColumns } from "./rows";
import type { RowMemo } from "./row-memo";
import { sizeBoundOnce } from "./size";
import { EXACT_COUNT_LIMIT } from "./total-size";
import type { CustomerChanges, CustomerStore, NewCustomerRow } from "./store";

export { parseOrderBy, type CustomerFilter, type CustomerOrder, type CustomerOrderField } from "./listing";

export interface CustomerListQuery {
  filter: CustomerFilter;
  order: CustomerOrder;
  /** Already normalized (normalizePageSize). */
  pageSize: number;
  /** "" for the first page. */
  pageToken: string;
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
  const count = countWithinBudget(page.customers, MAX_PAGE_BYTES, sizeBoundOnce);
  if (count === page.customers.length) return page;
  return { ...page, customers: page.customers.slice(0, count), nextPageToken: tokenAfter(count) };
}

/** Reads up to `limit` rows after `cursor` (from the start without one). */
type PageReader<R> = (cursor: Cursor | undefined, limit: number) => Promise<R[]>;

/** What a listing's page tokens tell it and sign with, found before its snapshot opens. */
interface Paging {
  binding: string;
  /** Where the page starts; undefined on the first page. */
  position: PagePosition | undefined;
  signingKey: PageTokenKey;
  /** The total a first page counted (from the token), or an estimate reported again; else counted now. */
  totalSize: number | undefined;
  /** A first page's filters, as `estimates` knows them. */
  estimateKey?: string;
}

export interface CreateCustomerRequest {
  customer: Customer;
  requestId?: string;
}

export interface CustomersOptions {
  /**
   * The time a write stamps into created_at / updated_at, read once per
   * customer written. Imports of customers created in the past pass theirs.
   */
  clock?: () => Date;
  /**
   * The keys that sign and verify page tokens: the service passes the ones
   * every process on its database shares. By default, this process's own.
   */
  pageTokens?: PageTokenKeys;
  /** Where estimates' ESTIMATE_TTL_MS reads the time in ms: performance.now() unless a test sets its own. */
  perf?: Perf;
  /** Maps the rows reads return, remembering customers whose rows read back unchanged; customerFromRow without. */
  rowMemo?: RowMemo;
}

/** How long a list's estimated total_size is reported again without counting, per filter. */
export const ESTIMATE_TTL_MS = 10_000;
const MAX_ESTIMATES = 1000;

/** What the service needs of customers; the domain and the read cache both provide it. */
export interface CustomerApi {
  get(id: bigint): Promise<Customer>;
  batchGet(ids: readonly bigint[]): Promise<Customer[]>;
  list(query: CustomerListQuery): Promise<CustomerPage>;
  stream(filter: CustomerFilter, batchSize?: number): AsyncIterable<Customer>;
  create(customer: Customer, requestId?: string): Promise<Customer>;
  batchCreate(requests: readonly CreateCustomerRequest[]): Promise<Customer[]>;
  update(id: bigint, change: (current: Customer) => Customer, expectedEtag?: string): Promise<Customer>;
  softDelete(id: bigint, expectedEtag?: string): Promise<Customer>;
  undelete(id: bigint): Promise<Customer>;
}

const CREATE_OPERATION = "CreateCustomer";

/**
 * The customers domain: the AIP-164 lifecycle, etags, the support-rep rule,
 * request_id idempotency and the answers it replays, and paging, over any
 * engine's CustomerStore. Nothing here knows SQL or gRPC.
 */
export class Customers implements CustomerApi {
  private readonly clock: () => Date;
  private readonly pageTokens: PageTokenKeys;
  /**
   * Estimated totals (past EXACT_COUNT_LIMIT matches) by filter: a first page
   * reports one again for ESTIMATE_TTL_MS instead of counting. An estimate is
   * no promise, so replicas need not agree on it.
   */
  private readonly estimates: LRUCache<string, number>;
  /** customerFromRow for what reads return; frozen when remembered. */
  private readonly customerOf: (row: CustomerRow) => Customer;

  constructor(
    private readonly store: CustomerStore,
    options: CustomersOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.pageTokens = options.pageTokens ?? PROCESS_PAGE_TOKEN_KEYS;
    this.estimates = new LRUCache<string, number>({ max: MAX_ESTIMATES, ttl: ESTIMATE_TTL_MS, ttlResolution: 0, perf: options.perf });
    const memo = options.rowMemo;
    this.customerOf = memo === undefined ? customerFromRow : (row) => memo.customerOf(row);
  }

  /** Deleted customers too. */
  async get(id: bigint): Promise<Customer> {
    return this.customerOf(foundOrThrow(await this.store.find(id), id));
  }

  /** In the order asked, duplicates included; NOT_FOUND names the first missing id. */
  async batchGet(ids: readonly bigint[]): Promise<Customer[]> {
    const rows = ids.length === 0 ? new Map<bigint, CustomerRow>() : await this.store.findMany(ids);
    return ids.map((id) => this.customerOf(foundOrThrow(rows.get(id), id)));
  }

  async list(query: CustomerListQuery): Promise<CustomerPage> {
    const { filter, order } = query;
    const { rows, tokenAfter, ...page } = await this.readPage(
      query,
      (store) => (cursor, limit) => store.listRows(filter, order, cursor, limit),
      (row) => rowKeyOf(row, order),
    );
    return withinPageBytes({ customers: rows.map(this.customerOf), ...page }, tokenAfter);
  }

  /**
   * The page `list` would answer, as customer ids: read from the index that
   * serves the filter and order, without visiting the rows when it covers them.
   */
  async listIds(query: CustomerListQuery): Promise<CustomerIdPage> {
    const { filter, order } = query;
    const { rows, ...page } = await this.readPage(query, (store) => (cursor, limit) => store.listKeys(filter, order, cursor, limit), (key) => key);
    return { customerIds: rows.map((key) => key.CustomerId), ...page };
  }

  /** Every match in customer_id order, a batch of rows in memory at a time. */
  async *stream(filter: CustomerFilter, batchSize = 500): AsyncGenerator<Customer> {
    for await (const row of this.store.stream(filter, batchSize)) yield customerFromRow(row);
  }

  /**
   * Output-only fields of `customer` are ignored. With a `requestId`, a retry
   * of the same request returns the customer the first one created.
   */
  async create(customer: Customer, requestId?: string): Promise<Customer> {
    const item = withoutOutputOnlyFields(customer);
    if (requestId === undefined || requestId === "") return customerFromRow(await this.store.insertAlone(this.newRow(item)));
    return this.store.write((store) => this.createOne(store, item, requestId));
  }

  /**
   * All or nothing, in one transaction; an error names the failing item
   * (`requests[3].customer.email`), the first in request order.
   */
  batchCreate(requests: readonly CreateCustomerRequest[]): Promise<Customer[]> {
    return this.store.batch(async (store) => {
      const items = requests.map(({ customer, requestId }) => ({ customer: withoutOutputOnlyFields(customer), requestId }));
      const created: Customer[] = [];
      for (const [index, item] of items.entries()) {
        created.push(await namingItem(index, () => this.createOne(store, item.customer, item.requestId)));
      }
      return created;
    });
  }

  /**
   * Read-modify-write in one transaction: `change` gets the stored customer and
   * returns the new one (output-only fields ignored). FAILED_PRECONDITION when
   * `expectedEtag` is stale.
   */
  update(id: bigint, change: (current: Customer) => Customer, expectedEtag?: string): Promise<Customer> {
    return this.store.write(async (store) => {
      const row = foundOrThrow(await store.find(id), id);
      requireEtag(row, expectedEtag, "customer.etag");
      // AIP-164: a deleted customer is read-only until it is undeleted.
      if (isDeleted(row)) {
        throw new FailedPreconditionError(`customer ${id} is deleted; undelete it first`, {
          reason: "CUSTOMER_DELETED",
          subject: customerResource(id).name,
          metadata: { customerId: String(id) },
        });
      }
      const current = customerFromRow(row);
      const next = change(current);
      requireWritableStatus(next.status);
      if ((next.supportRepId ?? null) !== row.SupportRepId) {
        await requireSupportRep(store, next.supportRepId);
      }
      const columns = columnsFromCustomer(next, row.data);
      // Left alone, the stored profile stays as written: it may hold values this build cannot read.
      const data = sameProfile(current.profile, next.profile) ? row.data : columns.data;
      return customerFromRow(await this.writeChanged(store, row, { ...columns, data }));
    });
  }

  /** AIP-164 soft delete; invoices keep their customer. NOT_FOUND when already deleted. */
  softDelete(id: bigint, expectedEtag?: string): Promise<Customer> {
    return this.store.write(async (store) => {
      const row = foundOrThrow(await store.find(id), id);
      requireEtag(row, expectedEtag, "etag");
      // AIP-164: deleting a deleted resource is NOT_FOUND, as deleting a missing one is.
      if (isDeleted(row)) {
        throw new NotFoundError(`customer ${id} is already deleted`, {
          reason: "CUSTOMER_ALREADY_DELETED",
          resource: customerResource(id),
          metadata: { customerId: String(id) },
        });
      }
      return customerFromRow(await this.writeChanged(store, row, { status: statusToColumn(CustomerStatus.DELETED) }));
    });
  }

  /**
   * Back to ACTIVE; ALREADY_EXISTS when the customer is not deleted, or when a
   * live customer has taken the email meanwhile.
   */
  undelete(id: bigint): Promise<Customer> {
    return this.store.write(async (store) => {
      const row = foundOrThrow(await store.find(id), id);
      // AIP-164: undeleting a resource that is not deleted is ALREADY_EXISTS.
      if (!isDeleted(row)) {
        throw new AlreadyExistsError(`customer ${id} is not deleted`, {
          reason: "CUSTOMER_NOT_DELETED",
          resource: customerResource(id),
          metadata: { customerId: String(id) },
        });
      }
      return customerFromRow(await this.writeChanged(store, row, { status: statusToColumn(CustomerStatus.ACTIVE) }));
    });
  }

  /**
   * Outside the snapshot: the keys may have to be read from the database, which
   * on SQLite is the one connection the snapshot would be holding.
   */
  private async pagingOf(query: CustomerListQuery): Promise<Paging> {
    const binding = pagingBinding(query.filter, query.order);
    const signingKey = await this.pageTokens.signingKey();
    if (query.pageToken !== "") {
      const position = await positionFromPageToken(query.pageToken, binding, query.order, this.pageTokens);
      return { binding, position, signingKey, totalSize: position.totalSize };
    }
    const estimateKey = filterKey(query.filter);
    return { binding, position: undefined, signingKey, totalSize: this.estimates.get(estimateKey), estimateKey };
  }

  /**
   * A page and its total, read on one snapshot so that they agree; a first
   * page's estimate counted now is reported again for a while.
   */
  private async readPage<R>(
    query: CustomerListQuery,
    reader: (store: CustomerStore) => PageReader<R>,
    keyOf: (row: R) => RowKey,
  ): Promise<RowPage<R>> {
    const paging = await this.pagingOf(query);
    const page = await this.store.snapshot((store) => pageOf(store, query, paging, reader(store), keyOf), {
      counts: paging.totalSize === undefined,
    });
    this.rememberEstimate(paging, page.totalSize);
    return page;
  }

  /** A first page's estimate, counted just now, is reported again for a while. */
  private rememberEstimate({ estimateKey, totalSize }: Paging, counted: number): void {
    if (estimateKey !== undefined && totalSize === undefined && counted > EXACT_COUNT_LIMIT) this.estimates.set(estimateKey, counted);
  }

  private async createOne(store: CustomerStore, customer: Customer, requestId: string | undefined): Promise<Customer> {
    const key = requestId === undefined || requestId === "" ? undefined : { requestId, request: requestBytes(customer) };
    if (key !== undefined) {
      const earlier = await store.findRequest(CREATE_OPERATION, key.requestId, key.request);
      if (earlier !== undefined) return firstAnswer(store, earlier);
    }
    const row = await store.insert(this.newRow(customer));
    // What was inserted is what a read would return: no read-back.
    const created = customerFromRow(row);
    if (key !== undefined) {
      await store.recordRequest(CREATE_OPERATION, key.requestId, key.request, row.CustomerId, toBinary(CustomerSchema, created));
    }
    return created;
  }

  /** The row of a new customer, ACTIVE unless it says otherwise. */
  private newRow(customer: Customer): NewCustomerRow {
    const status = customer.status === CustomerStatus.UNSPECIFIED ? CustomerStatus.ACTIVE : customer.status;
    requireWritableStatus(status);
    const now = timeToColumn(this.clock());
    return { ...columnsFromCustomer({ ...customer, status }, null), created_at: now, updated_at: now };
  }

  /**
   * Writes the columns whose value differs from `row`'s, and the update time.
   * With nothing to write, the customer, its update time and its etag stay as
   * they are.
   */
  private async writeChanged(store: CustomerStore, row: CustomerRow, columns: Partial<CustomerColumns>): Promise<CustomerRow> {
    const changed = changedColumns(row, columns);
    if (Object.keys(changed).length === 0) return row;
    const changes: CustomerChanges = { ...changed, updated_at: timeToColumn(this.clock()) };
    return store.update(row, changes);
  }
}

async function requireSupportRep(store: CustomerStore, supportRepId: bigint | undefined): Promise<void> {
  if (supportRepId !== undefined && !(await store.employeeExists(supportRepId))) {
    throw supportRepNotFound(supportRepId);
  }
}

/**
 * AIP-155: a retry gets the first answer, whatever has happened to the
 * customer since. A key recorded without one (before migration 0008) gets
 * the customer as it is now.
 */
async function firstAnswer(store: CustomerStore, { resourceId, response }: RecordedRequest): Promise<Customer> {
  if (response !== undefined) return fromBinary(CustomerSchema, response);
  return customerFromRow(foundOrThrow(await store.find(resourceId), resourceId));
}

/**
 * The first page counts the matches (unless an estimate is known); later
 * pages repeat what it counted, carried by the token.
 */
async function pageOf<R>(
  store: CustomerStore,
  query: CustomerListQuery,
  { binding, position, signingKey, totalSize: known }: Paging,
  read: PageReader<R>,
  keyOf: (row: R) => RowKey,
): Promise<RowPage<R>> {
  const rows = await read(position?.cursor, query.pageSize + 1);
  const page = rows.slice(0, query.pageSize);
  const hasMore = rows.length > query.pageSize;
  const totalSize = known ?? (await store.countMatching(query.filter));
  const tokenAfter = (count: number) => {
    const lastKept = page[count - 1];
    if (lastKept === undefined) throw new RangeError(`a page of ${page.length} rows has no row ${count}`);
    return pageTokenAfter(keyOf(lastKept), binding, totalSize, signingKey);
  };
  return {
    rows: page,
    nextPageToken: hasMore ? tokenAfter(page.length) : "",
    totalSize,
    tokenAfter,
  };
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
  if (row === undefined) {
    throw new NotFoundError(`customer ${id} not found`, {
      reason: "CUSTOMER_NOT_FOUND",
      resource: customerResource(id),
      metadata: { customerId: String(id) },
    });
  }
  return row;
}

function isDeleted(row: CustomerRow): boolean {
  return row.status === statusToColumn(CustomerStatus.DELETED);
}

/** `field`: where the request carries the etag. */
function requireEtag(row: CustomerRow, expectedEtag: string | undefined, field: string): void {
  if (expectedEtag === undefined || expectedEtag === "") return;
  if (!etagMatches(row, expectedEtag)) {
    throw new FailedPreconditionError(`${field}: customer ${row.CustomerId} has changed since it was read`, {
      reason: "ETAG_MISMATCH",
      subject: customerResource(row.CustomerId).name,
      metadata: { customerId: String(row.CustomerId), field },
    });
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

/** What a store throws when a live customer holds the email already. */
export function emailTaken(): AlreadyExistsError {
  // The email is the client's personal data: neither the resource name nor the metadata repeats it.
  return new AlreadyExistsError("customer.email: already used by another customer", {
    reason: "EMAIL_TAKEN",
    resource: { type: CUSTOMER_RESOURCE, name: "" },
  });
}

export function supportRepNotFound(supportRepId: bigint): InvalidArgumentError {
  return new InvalidArgumentError("customer.support_rep_id", `employee ${supportRepId} does not exist`, {
    reason: "SUPPORT_REP_NOT_FOUND",
    metadata: { supportRepId: String(supportRepId) },
  });
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
  if (error instanceof InvalidArgumentError) return error.withFieldPrefix(prefix);
  if (error instanceof AlreadyExistsError) return error.withMessagePrefix(prefix);
  return error;
}
