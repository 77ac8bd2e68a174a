import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { CustomerStatus } from "../../gen/chinook/v1/customer_pb";
import { InvoiceLineSchema, InvoiceSchema, type Invoice, type InvoiceLine } from "../../gen/chinook/v1/invoice_pb";
import { statusFromColumn } from "../customers/rows";
import { countWithinBudget, decodePageToken, encodePageToken } from "../db/paging";
import type { InvoiceItemRow, InvoiceRow } from "../db/schema";
import { translatingErrors } from "../db/sqlite/errors";
import type { Executor } from "../db/transactions";
import { InvalidArgumentError, NotFoundError } from "../errors";
import { centsFromReal, centsToReal, formatCents } from "./money";

/** Billing fields as stored: NULL when unknown. */
export interface BillingAddress {
  address: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  postalCode: string | null;
}

/** What an invoice needs to know about the customer it bills. */
export interface Buyer {
  status: CustomerStatus;
  address: BillingAddress;
}

export interface Track {
  name: string;
  unitPriceCents: bigint;
}

export interface NewInvoiceLine {
  trackId: bigint;
  /** As the invoice shows it: the track's name when it was priced. */
  trackName: string;
  quantity: number;
  unitPriceCents: bigint;
}

export interface NewInvoice {
  customerId: bigint;
  /** Stored to the second, as Chinook's `YYYY-MM-DD HH:MM:SS` UTC text. */
  invoiceTime: Date;
  billing: BillingAddress;
  lines: readonly NewInvoiceLine[];
}

export interface InvoicePage {
  invoices: Invoice[];
  nextPageToken: string;
}

/** An invoice row and how many lines it has. */
type CountedInvoiceRow = InvoiceRow & { lineCount: bigint | null };

/**
 * The most lines one page of invoices carries (whole invoices, and always at
 * least one): ~1.5 MB of answer at most, well below the 4 MB a gRPC client
 * accepts by default, however many lines each invoice holds. AIP-158 lets a
 * page hold fewer items than asked for.
 */
export const MAX_LINES_PER_PAGE = 10_000;

interface LineRow {
  InvoiceLineId: bigint;
  InvoiceId: bigint;
  TrackId: bigint;
  TrackName: string | null;
  UnitPrice: InvoiceItemRow["UnitPrice"];
  Quantity: bigint;
}

/** Invoices and their lines (tables `invoices`, `invoice_items`), read and written as chinook.v1 messages. */
export class InvoiceRepository {
  constructor(private readonly db: Executor) {}

  withTx(tx: Executor): InvoiceRepository {
    return new InvoiceRepository(tx);
  }

  async get(id: bigint): Promise<Invoice> {
    return translatingErrors(async () => {
      const row = await this.db.selectFrom("invoices").selectAll().where("InvoiceId", "=", id).executeTakeFirst();
      if (row === undefined) throw new NotFoundError(`invoice ${id} not found`);
      const linesByInvoice = await this.linesOf([row.InvoiceId]);
      return toInvoice(row, linesByInvoice.get(row.InvoiceId) ?? []);
    });
  }

  /**
   * A customer's invoices, newest first, paged by keyset on (InvoiceDate,
   * InvoiceId). `pageSize` is already normalized (normalizePageSize).
   */
  async listByCustomer(customerId: bigint, pageSize: number, pageToken: string): Promise<InvoicePage> {
    const limit = pageSize;
    const binding = pageBinding(customerId);
    const after = pageToken === "" ? undefined : decodeCursor(pageToken, binding);
    return translatingErrors(async () => {
      const rows = await this.newestFirst(customerId, after, limit + 1);
      const page = withinLineBudget(rows.slice(0, limit));
      const last = page.at(-1);
      const hasMore = rows.length > page.length && last !== undefined;
      return {
        invoices: await this.withLines(page),
        nextPageToken: hasMore ? encodePageToken(binding, [last.InvoiceDate, last.InvoiceId]) : "",
      };
    });
  }

  /** The customer's status and address, or undefined when there is no such customer. */
  async findBuyer(customerId: bigint): Promise<Buyer | undefined> {
    return translatingErrors(async () => {
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

  /** The tracks that exist among `trackIds`, by id; missing ids are simply absent. */
  async findTracks(trackIds: readonly bigint[]): Promise<Map<bigint, Track>> {
    if (trackIds.length === 0) return new Map();
    return translatingErrors(async () => {
      const rows = await this.db
        .selectFrom("tracks")
        .select(["TrackId", "Name", "UnitPrice"])
        .where("TrackId", "in", trackIds)
        .execute();
      return new Map(rows.map((row) => [row.TrackId, { name: row.Name, unitPriceCents: centsFromReal(row.UnitPrice) }]));
    });
  }

  /**
   * Writes the invoice and all its lines (Total is the exact sum of the lines)
   * and returns it as reading it would, without reading it back.
   */
  async insert(invoice: NewInvoice): Promise<Invoice> {
    return translatingErrors(async () => {
      const values = {
        CustomerId: invoice.customerId,
        InvoiceDate: formatInvoiceDate(invoice.invoiceTime),
        BillingAddress: invoice.billing.address,
        BillingCity: invoice.billing.city,
        BillingState: invoice.billing.state,
        BillingCountry: invoice.billing.country,
        BillingPostalCode: invoice.billing.postalCode,
        Total: centsToReal(totalCentsOf(invoice.lines)),
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

  /** The lines as rows, in the order given, which is also their id order. */
  private async insertLines(invoiceId: bigint, lines: readonly NewInvoiceLine[]): Promise<LineRow[]> {
    if (lines.length === 0) return [];
    const rows = lines.map((line) => ({
      InvoiceId: invoiceId,
      TrackId: line.trackId,
      UnitPrice: centsToReal(line.unitPriceCents),
      Quantity: BigInt(line.quantity),
    }));
    const inserted = await this.db.insertInto("invoice_items").values(rows).returning("InvoiceLineId").execute();
    // One INSERT numbers its rows in VALUES order; RETURNING may list them in any order.
    const lineIds = inserted.map((row) => row.InvoiceLineId).sort((a, b) => (a < b ? -1 : 1));
    return rows.map((row, index) => ({
      ...row,
      InvoiceLineId: lineIds[index] ?? missingLineId(),
      TrackName: lines[index]?.trackName ?? null,
    }));
  }

  private newestFirst(customerId: bigint, after: Cursor | undefined, limit: number): Promise<CountedInvoiceRow[]> {
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
    return query.orderBy("InvoiceDate", "desc").orderBy("InvoiceId", "desc").limit(limit).execute();
  }

  /** The invoices with their lines, read for all of them in one query. */
  private async withLines(rows: readonly InvoiceRow[]): Promise<Invoice[]> {
    const linesByInvoice = await this.linesOf(rows.map((row) => row.InvoiceId));
    return rows.map((row) => toInvoice(row, linesByInvoice.get(row.InvoiceId) ?? []));
  }

  private async linesOf(invoiceIds: readonly bigint[]): Promise<Map<bigint, InvoiceLine[]>> {
    const linesByInvoice = new Map<bigint, InvoiceLine[]>();
    if (invoiceIds.length === 0) return linesByInvoice;
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
    for (const row of rows) {
      const lines = linesByInvoice.get(row.InvoiceId) ?? [];
      lines.push(toInvoiceLine(row));
      linesByInvoice.set(row.InvoiceId, lines);
    }
    return linesByInvoice;
  }
}

function withinLineBudget(rows: CountedInvoiceRow[]): CountedInvoiceRow[] {
  return rows.slice(0, countWithinBudget(rows, MAX_LINES_PER_PAGE, (row) => Number(row.lineCount ?? 0)));
}

function missingLineId(): never {
  throw new Error("INSERT … RETURNING returned fewer invoice lines than it inserted");
}

// Row ⇄ message mapping: the one place that knows both shapes.

function toInvoice(row: InvoiceRow, lines: InvoiceLine[]): Invoice {
  return create(InvoiceSchema, {
    invoiceId: row.InvoiceId,
    customerId: row.CustomerId,
    invoiceTime: timestampFromInvoiceDate(row.InvoiceDate),
    billingAddress: row.BillingAddress ?? undefined,
    billingCity: row.BillingCity ?? undefined,
    billingState: row.BillingState ?? undefined,
    billingCountry: row.BillingCountry ?? undefined,
    billingPostalCode: row.BillingPostalCode ?? undefined,
    total: formatCents(centsFromReal(row.Total)),
    lines,
  });
}

function toInvoiceLine(row: LineRow): InvoiceLine {
  return create(InvoiceLineSchema, {
    invoiceLineId: row.InvoiceLineId,
    trackId: row.TrackId,
    trackName: row.TrackName ?? "",
    unitPrice: formatCents(centsFromReal(row.UnitPrice)),
    quantity: Number(row.Quantity),
  });
}

/** Chinook's DATETIME text: `YYYY-MM-DD HH:MM:SS`, UTC. */
const INVOICE_DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

function timestampFromInvoiceDate(text: string): Timestamp {
  const date = new Date(`${text.replace(" ", "T")}Z`);
  if (!INVOICE_DATE.test(text) || Number.isNaN(date.getTime())) {
    throw new Error(`InvoiceDate is not Chinook's date format: ${text}`);
  }
  return timestampFromDate(date);
}

/** New rows keep Chinook's format so that dates keep sorting (and paging) as text. */
function formatInvoiceDate(time: Date): string {
  return time.toISOString().slice(0, 19).replace("T", " ");
}

function totalCentsOf(lines: readonly NewInvoiceLine[]): bigint {
  return lines.reduce((sum, line) => sum + line.unitPriceCents * BigInt(line.quantity), 0n);
}


// Keyset paging.

interface Cursor {
  invoiceDate: string;
  invoiceId: bigint;
}

/** A page token only continues the listing of the customer it was issued for. */
function pageBinding(customerId: bigint): string {
  return `invoices?customer_id=${customerId}`;
}

function decodeCursor(token: string, binding: string): Cursor {
  const [invoiceDate, invoiceId] = decodePageToken(token, binding, 2, "customer_id").cursor;
  if (typeof invoiceDate !== "string" || typeof invoiceId !== "bigint") {
    throw new InvalidArgumentError("page_token", "is not a token this service issued");
  }
  return { invoiceDate, invoiceId };
}
