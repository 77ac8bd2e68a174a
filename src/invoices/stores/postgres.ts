import type { Invoice, InvoiceLine } from "../../../gen/chinook/v1/invoice_pb";
import { statusFromColumn } from "../../customers/rows";
import { RequestIds, type RecordedRequest } from "../../db/request-ids";
import type { Executor, Transactions } from "../../db/transactions";
import { centsFromColumn, formatCents } from "../money";
import type { Buyer, InvoiceCursor, InvoiceStore, ListedInvoice, NewInvoice, NewInvoiceLine, Track } from "../store";
import { byInvoice, formatInvoiceDate, insertedLineRows, toInvoice, toInvoiceLine, totalCentsOf, type LineRow } from "./rows";

/**
 * Invoices in PostgreSQL's Chinook (tables `invoices`, `invoice_items`):
 * money is numeric(10,2), read and written as exact decimal text;
 * `InvoiceDate` is a timestamp, read as `YYYY-MM-DD HH:MM:SS` text.
 */
export class PostgresInvoiceStore implements InvoiceStore {
  private readonly requestIds: RequestIds;

  constructor(
    private readonly db: Executor,
    private readonly transactions: Transactions,
  ) {
    this.requestIds = new RequestIds(db);
  }

  write<T>(work: (store: InvoiceStore) => Promise<T>): Promise<T> {
    return this.transactions.write(this.db, (tx) => work(new PostgresInvoiceStore(tx, this.transactions)));
  }

  get(invoiceId: bigint): Promise<Invoice | undefined> {
    return this.run(async () => {
      const row = await this.db.selectFrom("invoices").selectAll().where("InvoiceId", "=", invoiceId).executeTakeFirst();
      if (row === undefined) return undefined;
      const lines = await this.linesOf([row.InvoiceId]);
      return toInvoice(row, lines.get(row.InvoiceId) ?? []);
    });
  }

  newestFirst(customerId: bigint, after: InvoiceCursor | undefined, limit: number): Promise<ListedInvoice[]> {
    return this.run(async () => {
      let query = this.db
        .selectFrom("invoices")
        .selectAll()
        .select((eb) =>
          eb
            .selectFrom("invoice_items")
            .select(eb.fn.countAll<bigint | string>().as("lines"))
            .whereRef("invoice_items.InvoiceId", "=", "invoices.InvoiceId")
            .as("lineCount"),
        )
        .where("CustomerId", "=", customerId);
      if (after !== undefined) {
        query = query.where(({ eb, refTuple, tuple }) =>
          eb(refTuple("InvoiceDate", "InvoiceId"), "<", tuple(after.invoiceDate, after.invoiceId)),
        );
      }
      const rows = await query.orderBy("InvoiceDate", "desc").orderBy("InvoiceId", "desc").limit(limit).execute();
      return rows.map(({ lineCount, ...row }) => ({
        invoice: toInvoice(row, []),
        cursor: { invoiceDate: row.InvoiceDate, invoiceId: row.InvoiceId },
        lineCount: Number(lineCount ?? 0),
      }));
    });
  }

  linesOf(invoiceIds: readonly bigint[]): Promise<Map<bigint, InvoiceLine[]>> {
    if (invoiceIds.length === 0) return Promise.resolve(new Map());
    return this.run(async () => {
      const rows: LineRow[] = await this.db
        .selectFrom("invoice_items as item")
        // A left join: a line whose track went missing still counts towards the total, so it must still be shown.
        .leftJoin("tracks as track", "track.TrackId", "item.TrackId")
        .select([
          "item.InvoiceLineId",
          "item.InvoiceId",
          "item.TrackId",
          "track.Name as TrackName",
          "item.UnitPrice",
          "item.Quantity",
        ])
        .where("item.InvoiceId", "in", invoiceIds)
        .orderBy("item.InvoiceId")
        .orderBy("item.InvoiceLineId")
        .execute();
      return byInvoice(rows);
    });
  }

  findBuyer(customerId: bigint): Promise<Buyer | undefined> {
    return this.run(async () => {
      const row = await this.db
        .selectFrom("customers")
        .select(["status", "Address", "City", "State", "Country", "PostalCode"])
        .where("CustomerId", "=", customerId)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        status: statusFromColumn(row.status),
        address: { address: row.Address, city: row.City, state: row.State, country: row.Country, postalCode: row.PostalCode },
      };
    });
  }

  findTracks(trackIds: readonly bigint[]): Promise<Map<bigint, Track>> {
    if (trackIds.length === 0) return Promise.resolve(new Map());
    return this.run(async () => {
      const rows = await this.db
        .selectFrom("tracks")
        .select(["TrackId", "Name", "UnitPrice"])
        .where("TrackId", "in", trackIds)
        .execute();
      return new Map(rows.map((row) => [row.TrackId, { name: row.Name, unitPriceCents: centsFromColumn(row.UnitPrice) }]));
    });
  }

  insert(invoice: NewInvoice): Promise<Invoice> {
    return this.run(async () => {
      const values = {
        CustomerId: invoice.customerId,
        InvoiceDate: formatInvoiceDate(invoice.invoiceTime),
        BillingAddress: invoice.billing.address,
        BillingCity: invoice.billing.city,
        BillingState: invoice.billing.state,
        BillingCountry: invoice.billing.country,
        BillingPostalCode: invoice.billing.postalCode,
        Total: formatCents(totalCentsOf(invoice.lines)),
      };
      const { InvoiceId } = await this.db
        .insertInto("invoices")
        .values(values)
        .returning("InvoiceId")
        .executeTakeFirstOrThrow();
      const lines = await this.insertLines(InvoiceId, invoice.lines);
      return toInvoice({ InvoiceId, ...values }, lines.map(toInvoiceLine));
    });
  }

  findRequest(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined> {
    return this.run(() => this.requestIds.find(operation, requestId, request));
  }

  recordRequest(operation: string, requestId: string, request: Uint8Array, resourceId: bigint): Promise<void> {
    return this.run(() => this.requestIds.record(operation, requestId, request, resourceId));
  }

  /**
   * Translates driver errors outside a unit of work. Inside one, they reach
   * it as they are: its engine decides by the driver's code what to run again
   * (PostgreSQL a serialization failure), then translates them itself.
   */
  private run<T>(work: () => Promise<T>): Promise<T> {
    return this.db.isTransaction ? work() : this.transactions.run(work);
  }

  /** The lines as rows, in the order given, which is also their id order. */
  private async insertLines(invoiceId: bigint, lines: readonly NewInvoiceLine[]): Promise<LineRow[]> {
    if (lines.length === 0) return [];
    const rows = lines.map((line) => ({
      InvoiceId: invoiceId,
      TrackId: line.trackId,
      UnitPrice: formatCents(line.unitPriceCents),
      Quantity: BigInt(line.quantity),
    }));
    const inserted = await this.db.insertInto("invoice_items").values(rows).returning("InvoiceLineId").execute();
    return insertedLineRows(rows, lines, inserted.map((row) => row.InvoiceLineId));
  }
}
