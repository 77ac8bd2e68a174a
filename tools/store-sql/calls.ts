/**
 * The representative calls whose SQL the committed files show: every store
 * method at least once (a method added to a store interface fails to compile
 * here until it has a call), and a labelled variant where a method builds
 * materially different SQL for other input. They run in this order on one
 * fresh Chinook per engine, so an engine reads the same rows on every run.
 */
import { create } from "@bufbuild/protobuf";
import { CustomerSchema, CustomerStatus, LoyaltyTier } from "../../gen/chinook/v1/customer_pb";
import { ID_ORDER, type CustomerFilter, type CustomerOrder, type Cursor } from "../../src/customers/listing";
import { columnsFromCustomer, timeToColumn } from "../../src/customers/rows";
import type { CustomerStore, NewCustomerRow } from "../../src/customers/store";
import type { CustomerRow } from "../../src/db/schema";
import type { Executor } from "../../src/db/transactions";
import type { InvoiceStore, NewInvoice } from "../../src/invoices/store";

export interface StoreCall<Store> {
  /** What sets this call apart from the method's others; none for a method's only call. */
  variant?: string;
  /** Puts the database in the state the call needs; its statements are not recorded. */
  setup?: (db: Executor) => Promise<void>;
  run(store: Store): Promise<unknown>;
}

/** A method's calls, under its name: the file's entries follow this order. */
export type StoreCalls<Store> = { readonly [Method in keyof Store]: ReadonlyArray<StoreCall<Store>> };

const EVERYONE: CustomerFilter = { showDeleted: false };
const PAGE = 10;
/** When the customers the count samples were created: one a minute from here on. */
const SYNTHETIC_FROM = new Date(Date.UTC(2020, 0, 1));
/** Past EXACT_COUNT_LIMIT (total-size.ts): the count estimates. */
const SYNTHETIC_CUSTOMERS = 1100;
const WRITTEN_AT = timeToColumn(new Date(Date.UTC(2024, 0, 1)));
const REQUEST = Uint8Array.of(1, 2, 3);
const RESPONSE = Uint8Array.of(4, 5, 6);

function listRows(filter: CustomerFilter, order: CustomerOrder = ID_ORDER, cursor?: Cursor) {
  return (store: CustomerStore) => store.listRows(filter, order, cursor, PAGE);
}

function newCustomer(email: string, lastName = "Lovelace"): NewCustomerRow {
  const customer = create(CustomerSchema, { firstName: "Ada", lastName, email, status: CustomerStatus.ACTIVE, country: "United Kingdom", supportRepId: 3n });
  return { ...columnsFromCustomer(customer, null), created_at: WRITTEN_AT, updated_at: WRITTEN_AT };
}

/** A stored customer as the domain hands it to update (update reads only its id, status and email). */
function storedCustomer(id: bigint, email: string): CustomerRow {
  return { CustomerId: id, ...newCustomer(email) };
}

/** Customers created a minute apart from SYNTHETIC_FROM, in a few INSERTs. */
async function addSyntheticCustomers(db: Executor): Promise<void> {
  const rows = Array.from({ length: SYNTHETIC_CUSTOMERS }, (_, index) => {
    const created = timeToColumn(new Date(SYNTHETIC_FROM.getTime() + index * 60_000));
    return { ...newCustomer(`synthetic.${index}@example.com`, `Synthetic${index}`), created_at: created, updated_at: created };
  });
  const chunk = 500;
  for (let start = 0; start < rows.length; start += chunk) await db.insertInto("customers").values(rows.slice(start, start + chunk)).execute();
}

async function drain<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const drained: T[] = [];
  for await (const row of rows) drained.push(row);
  return drained;
}

export const CUSTOMER_CALLS: StoreCalls<CustomerStore> = {
  write: [
    {
      variant: "UpdateCustomer: a find, then an update",
      run: (store) =>
        store.write(async (tx) => {
          const row = await tx.find(1n);
          if (row === undefined) throw new Error("Chinook has no customer 1");
          return tx.update(row, { Company: "Analytical Engines Ltd", updated_at: WRITTEN_AT });
        }),
    },
  ],
  batch: [
    {
      variant: "BatchCreateCustomers: two inserts",
      run: (store) =>
        store.batch(async (tx) => {
          await tx.insert(newCustomer("batch.one@example.com"));
          await tx.insert(newCustomer("batch.two@example.com"));
        }),
    },
  ],
  snapshot: [
    {
      variant: "ListCustomers: a page and its total",
      run: (store) =>
        store.snapshot(async (tx) => {
          await listRows(EVERYONE)(tx);
          return tx.countMatching(EVERYONE);
        }),
    },
  ],
  find: [{ run: (store) => store.find(1n) }],
  findMany: [{ variant: "three ids", run: (store) => store.findMany([1n, 2n, 3n]) }],
  listRows: [
    { variant: "first page, no filter", run: listRows(EVERYONE) },
    { variant: "deleted customers shown", run: listRows({ showDeleted: true }) },
    { variant: "filtered by tag", run: listRows({ ...EVERYONE, tag: "vip" }) },
    { variant: "filtered by loyalty tier", run: listRows({ ...EVERYONE, loyaltyTier: LoyaltyTier.GOLD }) },
    { variant: "filtered by name prefix, by last name", run: listRows({ ...EVERYONE, namePrefix: "Go" }, { field: "last_name", descending: false }) },
    {
      variant: "filtered by country, status, email, support rep and creation time",
      run: listRows({
        ...EVERYONE,
        country: "Brazil",
        status: CustomerStatus.ACTIVE,
        email: "luisg@embraer.com.br",
        supportRepId: 3n,
        createdAfter: new Date(Date.UTC(2000, 0, 1)),
        createdBefore: new Date(Date.UTC(3000, 0, 1)),
      }),
    },
    { variant: "by customer_id descending, after a cursor", run: listRows(EVERYONE, { field: "customer_id", descending: true }, { key: null, id: 30n }) },
    { variant: "by last_name, after a cursor", run: listRows(EVERYONE, { field: "last_name", descending: false }, { key: "Gonçalves", id: 1n }) },
    { variant: "by email descending, after a cursor", run: listRows(EVERYONE, { field: "email", descending: true }, { key: "m@example.com", id: 1n }) },
    {
      variant: "by country descending, after a cursor (countries before it, then those without one)",
      run: listRows(EVERYONE, { field: "country", descending: true }, { key: "Brazil", id: 1n }),
    },
    {
      variant: "by create_time, after a cursor",
      run: listRows(EVERYONE, { field: "create_time", descending: false }, { key: timeToColumn(SYNTHETIC_FROM), id: 1n }),
    },
    {
      variant: "by update_time descending, after a cursor",
      run: listRows(EVERYONE, { field: "update_time", descending: true }, { key: timeToColumn(SYNTHETIC_FROM), id: 1n }),
    },
  ],
  listKeys: [
    { variant: "first page, no filter", run: (store) => store.listKeys(EVERYONE, ID_ORDER, undefined, PAGE) },
    {
      variant: "by last_name, after a cursor",
      run: (store) => store.listKeys(EVERYONE, { field: "last_name", descending: false }, { key: "Gonçalves", id: 1n }, PAGE),
    },
  ],
  stream: [{ variant: "everyone, 25 rows at a time", run: (store) => drain(store.stream(EVERYONE, 25)) }],
  countMatching: [
    { variant: "a few matches: counted", run: (store) => store.countMatching({ ...EVERYONE, country: "Brazil" }) },
    { variant: "past 1,000 matches: estimated", setup: addSyntheticCustomers, run: (store) => store.countMatching(EVERYONE) },
    {
      variant: "past 1,000 matches created in a window: estimated",
      run: (store) =>
        store.countMatching({ ...EVERYONE, createdAfter: SYNTHETIC_FROM, createdBefore: new Date(Date.UTC(2021, 0, 1)) }),
    },
  ],
  employeeExists: [{ run: (store) => store.employeeExists(3n) }],
  insert: [
    { variant: "an ASCII email", run: (store) => store.insert(newCustomer("ada.lovelace@example.com")) },
    { variant: "an email with a letter beyond ASCII", run: (store) => store.insert(newCustomer("zoë.lovelace@example.com")) },
  ],
  insertAlone: [
    { variant: "CreateCustomer without a request_id", run: (store) => store.insertAlone(newCustomer("grace.hopper@example.com")) },
    {
      variant: "three CreateCustomer calls at once, without a request_id",
      run: (store) =>
        Promise.all(["alan.turing@example.com", "edsger.dijkstra@example.com", "barbara.liskov@example.com"].map((email) => store.insertAlone(newCustomer(email)))),
    },
  ],
  update: [
    { variant: "a name", run: (store) => store.update(storedCustomer(2n, "leonekohler@surfeu.de"), { FirstName: "Leo", updated_at: WRITTEN_AT }) },
    {
      variant: "an email",
      run: (store) => store.update(storedCustomer(2n, "leonekohler@surfeu.de"), { Email: "leo.kohler@example.com", updated_at: WRITTEN_AT }),
    },
  ],
  findRequest: [{ variant: "a new request id", run: (store) => store.findRequest("CreateCustomer", "store-sql-customer", REQUEST) }],
  recordRequest: [{ run: (store) => store.recordRequest("CreateCustomer", "store-sql-customer", REQUEST, 1n, RESPONSE) }],
};

const NEW_INVOICE: NewInvoice = {
  customerId: 1n,
  invoiceTime: new Date(Date.UTC(2024, 0, 1, 12)),
  billing: { address: "Av. Brigadeiro Faria Lima, 2170", city: "São José dos Campos", state: "SP", country: "Brazil", postalCode: "12227-000" },
  lines: [
    { trackId: 1n, trackName: "For Those About To Rock (We Salute You)", quantity: 1, unitPriceCents: 99n },
    { trackId: 2n, trackName: "Balls to the Wall", quantity: 2, unitPriceCents: 99n },
  ],
};

export const INVOICE_CALLS: StoreCalls<InvoiceStore> = {
  write: [
    {
      variant: "CreateInvoice with a request id",
      run: (store) =>
        store.write(async (tx) => {
          await tx.findRequest("CreateInvoice", "store-sql-invoice-write", REQUEST);
          await tx.findBuyer(NEW_INVOICE.customerId);
          await tx.findTracks(NEW_INVOICE.lines.map((line) => line.trackId));
          const invoice = await tx.insert(NEW_INVOICE);
          await tx.recordRequest("CreateInvoice", "store-sql-invoice-write", REQUEST, invoice.invoiceId);
        }),
    },
  ],
  get: [{ run: (store) => store.get(1n) }],
  newestFirst: [
    { variant: "first page", run: (store) => store.newestFirst(2n, undefined, 5) },
    { variant: "after a cursor", run: (store) => store.newestFirst(2n, { invoiceDate: "2012-01-01 00:00:00", invoiceId: 300n }, 5) },
  ],
  linesOf: [{ variant: "two invoices", run: (store) => store.linesOf([1n, 2n]) }],
  findBuyer: [{ run: (store) => store.findBuyer(1n) }],
  findTracks: [{ variant: "three tracks", run: (store) => store.findTracks([1n, 2n, 3n]) }],
  insert: [{ variant: "two lines", run: (store) => store.insert(NEW_INVOICE) }],
  findRequest: [{ variant: "a new request id", run: (store) => store.findRequest("CreateInvoice", "store-sql-invoice", REQUEST) }],
  recordRequest: [{ run: (store) => store.recordRequest("CreateInvoice", "store-sql-invoice", REQUEST, 1n) }],
};
