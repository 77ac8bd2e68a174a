import type { Invoice, InvoiceLine } from "../../../gen/chinook/v1/invoice_pb";
import { statusFromColumn } from "../../customers/rows";
import { RequestIds, type RecordedRequest } from "../../db/request-ids";
import type { Executor, Transactions } from "../../db/transactions";
import { centsFromColumn } from "../money";
import type { Buyer, InvoiceCursor, InvoiceStore, ListedInvoice, NewInvoice, NewInvoiceLine, Track } from "../store";
import { byInvoice, formatInvoiceDate, insertedLineRows, toInvoice, toInvoiceLine, totalCentsOf, type LineRow } from "./rows";

/** How an engine writes an amount of money into Chinook's money columns. */
export type MoneyColumn = (cents: bigint) => number | string;

/**
 * Invoices in Chinook's tables (`invoices`, `invoice_items`), whichever the
 * engine: these statements are the same on SQLite and PostgreSQL, as Kysely
 * compiles them for each, and both pools read rows alike (ids as bigint,
 * InvoiceDate as `YYYY-MM-DD HH:MM:SS` text). The engines differ only in how
 * money is written, which each engine's store says (sqlite.ts, postgres.ts).
 */
export class InvoiceTables implements InvoiceStore {
  private readonly requestIds: RequestIds;

  constructor(
    private readonly db: Executor,
    private readonly transactions: Transactions,
    private readonly moneyColumn: MoneyColumn,
  ) {
    this.requestIds = new RequestIds(db);
  }

  write<T>(work: (store: InvoiceStore) => Promise<T>): Promise<T> {
    return this.transactions.write(this.db, (tx) => work(new InvoiceTables(tx, this.transactions, this.moneyColumn)));
  }

  get(invoiceId: bigint): Promise<Invoice | undefined> {
    return this.transactions.run(this.db, async () => {
      const row = await this.db.selectFrom("invoices").selectAll().where("InvoiceId", "=", invoiceId).executeTakeFirst();
      if (row === undefined) return undefined;
      const lines = await this.linesOf([row.InvoiceId]);
      return toInvoice(row, lines.get(row.InvoiceId) ?? []);
    });
  }

  newestFirst(customerId: bigint, after: InvoiceCursor | undefined, limit: number): Promise<ListedInvoice[]> {
    return this.transactions.run(this.db, async () => {
      let query = this.db
        .selectFrom("invoices")
        .selectAll()
        .select((eb) =>
          eb
            .selectFrom("invoice_items")
            .select(eb.fn.countAll<bigint>().as("lines"))
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
    return this.transactions.run(this.db, async () => {
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
    return this.transactions.run(this.db, async () => {
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
    return this.transactions.run(this.db, async () => {
      const rows = await this.db
        .selectFrom("tracks")
        .select(["TrackId", "Name", "UnitPrice"])
        .where("TrackId", "in", trackIds)
        .execute();
      return new Map(rows.map((row) => [row.TrackId, { name: row.Name, unitPriceCents: centsFromColumn(row.UnitPrice) }]));
    });
  }

  insert(invoice: NewInvoice): Promise<Invoice> {
    return this.transactions.run(this.db, async () => {
      const values = {
        CustomerId: invoice.customerId,
        InvoiceDate: formatInvoiceDate(invoice.invoiceTime),
        BillingAddress: invoice.billing.address,
        BillingCity: invoice.billing.city,
        BillingState: invoice.billing.state,
        BillingCountry: invoice.billing.country,
        BillingPostalCode: invoice.billing.postalCode,
        Total: this.moneyColumn(totalCentsOf(invoice.lines)),
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
    return this.transactions.run(this.db, () => this.requestIds.find(operation, requestId, request));
  }

  recordRequest(operation: string, requestId: string, request: Uint8Array, resourceId: bigint): Promise<void> {
    return this.transactions.run(this.db, () => this.requestIds.record(operation, requestId, request, resourceId));
  }

  /** The lines as rows, in the order given, which is also their id order. */
  private async insertLines(invoiceId: bigint, lines: readonly NewInvoiceLine[]): Promise<LineRow[]> {
    if (lines.length === 0) return [];
    const rows = lines.map((line) => ({
      InvoiceId: invoiceId,
      TrackId: line.trackId,
      UnitPrice: this.moneyColumn(line.unitPriceCents),
      Quantity: BigInt(line.quantity),
    }));
    const inserted = await this.db.insertInto("invoice_items").values(rows).returning("InvoiceLineId").execute();
    return insertedLineRows(rows, lines, inserted.map((row) => row.InvoiceLineId));
  }
}
